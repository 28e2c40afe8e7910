"""The ZPD filter (closed-book fails, agent succeeds) and MinHash near-duplicate removal."""

from __future__ import annotations

import json
from pathlib import Path

from sounding.config import Settings
from sounding.env import build_environment
from sounding.llm.base import ChatRequest
from sounding.llm.testing import ScriptedModel
from sounding.synth.dedup import NearDuplicates, jaccard, minhash, run_dedup, shingles
from sounding.synth.stage import read_jsonl
from sounding.synth.zpd import ZPDConfig, run_zpd


def item(key: str, question: str, answer: str) -> dict[str, object]:
    return {"key": key, "answer": answer, "aliases": [answer], "question": {"en": question},
            "provenance": {"pipeline": "formal", "checks": ["unique"]}}


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


async def test_zpd_filter(settings: Settings, tmp_path: Path) -> None:
    items = write(tmp_path / "items.jsonl", [
        item("easy", "Capital of France?", "Paris"),
        item("zpd", "Which lighthouse keeper ...?", "Ada Marlowe"),
        item("hard", "Which obscure thing ...?", "Zanzibar Nine"),
    ])
    # closed book: right on "easy" at once; wrong three times on each of the others
    solver = ScriptedModel(["<answer>Paris</answer>"] + ["<answer>no idea</answer>"] * 6)

    def agent_reply(request: ChatRequest) -> str:
        question = request.messages[1].content
        said = "Ada Marlowe" if "lighthouse" in question else "Someone"
        return f"<think>recall</think>\n<answer>{said}</answer>"

    agent = ScriptedModel.cycle([agent_reply])
    env = build_environment(settings, summary_model=None)
    try:
        stage = await run_zpd(items, tmp_path / "z", settings, solver=solver, agent_model=agent,
                              environment=env, config=ZPDConfig(closed_book=3, agent_tries=2))
    finally:
        await env.aclose()
    solver.assert_all_used()
    assert stage.reasons == {"closed_book_solved": 1, "agent_failed": 1}
    kept = list(read_jsonl(tmp_path / "z" / "items.jsonl"))
    assert [r["key"] for r in kept] == ["zpd"]
    assert kept[0]["zpd"] == {"closed_book": "0/3", "agent": "2/2"}
    assert "zpd" in kept[0]["provenance"]["checks"]  # type: ignore[index,operator]
    assert stage.llm_calls == 1 + 3 + 2 + 3 + 2


def test_minhash_near_duplicates() -> None:
    a = "Which painter born in the 1880s in Spain co-founded a movement with a French artist?"
    b = "Which painter born in the 1880s in Spain co-founded a movement with a French artist ?"
    c = "Which river flows through five countries and ends in the Black Sea near a delta?"
    sa, sb, sc = (minhash(shingles(t)) for t in (a, b, c))
    assert jaccard(sa, sb) == 1.0 and jaccard(sa, sc) < 0.3
    index = NearDuplicates(threshold=0.7)
    assert index.add("a", a) is None
    assert index.add("b", b.replace("French", "a French")) == "a"
    assert index.add("c", c) is None
    assert shingles("北京是首都") == {"北京是", "京是首", "是首都"}  # CJK: character 3-grams
    assert index.add("zh1", "哪座城市的人口介于1000万到2000万之间？") is None
    assert index.add("zh2", "哪座城市的人口介于1000万到2000万之间?") == "zh1"


def test_dedup_stage(tmp_path: Path) -> None:
    q = "Which painter born in the 1880s in Spain co-founded a movement with a French artist?"
    items = write(tmp_path / "items.jsonl", [
        item("1", q, "Pablo Picasso"), item("2", q.replace("?", " ?"), "Pablo Picasso"),
        item("3", "Which river ends in the Black Sea?", "Danube")])
    stage = run_dedup(items, tmp_path / "d")
    assert stage.kept == 2 and stage.reasons == {"near_duplicate": 1}
    again = run_dedup(items, tmp_path / "d")
    assert again.kept == 2 and again.seen == 3
