"""The research jobs API against a real server: create, status, list, events, cancel."""

from __future__ import annotations

import json

import httpx

from .conftest import Served, wait_done


def read_sse(response: httpx.Response, stop_after: int | None = None) -> list[tuple[int, dict]]:
    events: list[tuple[int, dict]] = []
    seq, data = 0, ""
    for line in response.iter_lines():
        if line.startswith("id: "):
            seq = int(line[4:])
        elif line.startswith("data: "):
            data = line[6:]
        elif line == "" and data:
            events.append((seq, json.loads(data)))
            data = ""
            if stop_after is not None and len(events) >= stop_after:
                break
    return events


def test_a_job_runs_and_reports_answer_sources_usage(served: Served) -> None:
    with served.client() as client:
        created = client.post("/v1/research", json={"question": "Who won two Nobel prizes?",
                                                    "max_rounds": 4})
        assert created.status_code == 202
        job = wait_done(client, created.json()["id"])
        assert job["status"] == "finished" and job["answer"].startswith("Marie Curie")
        assert job["termination"] == "answer" and job["usage"]["prompt_tokens"] > 0
        assert any("Marie_Curie" in s for s in job["sources"])
        traj = client.get(f"/v1/research/{job['id']}/trajectory")
        assert traj.status_code == 200 and "attachment" in traj.headers["content-disposition"]
        assert traj.json()["answer"] == job["answer"] and traj.json()["tool_calls"]
        assert client.get("/docs").status_code == 200


def test_events_stream_and_resume_with_last_event_id(served: Served) -> None:
    with served.client() as client:
        job_id = client.post("/v1/research", json={"question": "q"}).json()["id"]
        with client.stream("GET", f"/v1/research/{job_id}/events") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            first = read_sse(response, stop_after=3)
        # Reconnect as a browser would, with the last id seen: the rest, nothing twice.
        last = str(first[-1][0])
        with client.stream("GET", f"/v1/research/{job_id}/events",
                           headers={"Last-Event-ID": last}) as response:
            rest = read_sse(response)
    seqs = [s for s, _ in first + rest]
    assert seqs == list(range(1, len(seqs) + 1))
    kinds = [e["kind"] for _, e in first + rest]
    assert kinds[0] == "run_started" and kinds[-1] == "job_finished"
    assert {"round_started", "tool_call_started", "tool_call_finished",
            "run_finished"} <= set(kinds)
    assert rest[-1][1]["status"] == "finished"


def test_list_pages_newest_first(served: Served) -> None:
    with served.client() as client:
        ids = [client.post("/v1/research", json={"question": f"q{i}"}).json()["id"]
               for i in range(3)]
        for job_id in ids:
            wait_done(client, job_id)
        page1 = client.get("/v1/research", params={"limit": 2}).json()
        page2 = client.get("/v1/research", params={"limit": 2, "offset": 2}).json()
    assert [j["id"] for j in page1["jobs"] + page2["jobs"]] == ids[::-1]
    assert page1["next_offset"] == 2 and page2["next_offset"] is None


def test_cancel_stops_a_running_job(served: Served, llm: object) -> None:
    llm.latency = 2.0  # type: ignore[attr-defined]
    with served.client() as client:
        job_id = client.post("/v1/research", json={"question": "q"}).json()["id"]
        with client.stream("GET", f"/v1/research/{job_id}/events") as response:
            read_sse(response, stop_after=1)
        cancelled = client.delete(f"/v1/research/{job_id}").json()
        assert cancelled["cancelled"] is True and cancelled["status"] == "cancelled"
        assert client.delete(f"/v1/research/{job_id}").json()["cancelled"] is False
        with client.stream("GET", f"/v1/research/{job_id}/events") as response:
            events = read_sse(response)
    assert events[-1][1] == {**events[-1][1], "kind": "job_finished", "status": "cancelled"}
    kinds = [e["kind"] for _, e in events]
    assert kinds.count("run_finished") == 1 and kinds.count("job_finished") == 1
    assert "CancelledError" in events[-1][1]["error"]  # the partial record was closed
    with served.client() as client:
        assert client.get(f"/v1/research/{job_id}/trajectory").json()["termination"] == "error"


def test_bad_requests_are_refused(served: Served) -> None:
    with served.client() as client:
        assert client.post("/v1/research", json={"question": ""}).status_code == 422
        assert client.post("/v1/research", json={"question": "q", "base_url": "http://x"}
                           ).status_code == 422  # endpoints are the server's
        assert client.post("/v1/research", json={"question": "q", "mode": "x"}
                           ).status_code == 422
        assert client.get("/v1/research/nope").status_code == 404
