"""The research jobs API: POST/GET/list/DELETE, the trajectory, and the events as SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from ..errors import ConfigError
from ._context import ServerState, caller, check_concurrency, state_of
from ._jobs import TERMINAL, ResearchRequest
from ._store import JobRow

__all__ = ["ResearchBody", "router", "sse"]

router = APIRouter(prefix="/v1/research", tags=["research"])
Caller = Annotated[str, Depends(caller)]


class ResearchBody(BaseModel):
    """A research request. Endpoints, keys and tools are the server's to choose."""

    model_config = {"extra": "forbid"}
    question: str = Field(min_length=1, max_length=8000)
    mode: Literal["react", "iter", "heavy", "resum"] | None = None
    env: Literal["offline", "web"] | None = None
    protocol: Literal["tags", "native"] | None = None
    max_rounds: int | None = Field(None, ge=1, le=200)
    max_seconds: float | None = Field(None, gt=0, le=24 * 3600)
    max_context_tokens: int | None = Field(None, ge=1024)
    max_total_tokens: int | None = Field(None, ge=1024)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    seed: int | None = None
    branches: int | None = Field(None, ge=1, le=16)
    stream: bool = False
    """Also record the model's text as it is written (model_delta events)."""


async def start_job(state: ServerState, name: str, body: ResearchBody) -> JobRow:
    await check_concurrency(state, name)
    data = body.model_dump(exclude_none=True)
    request = ResearchRequest(data.pop("question"), stream=data.pop("stream"), options=data)
    try:
        return await state.jobs.submit(name, request)
    except ConfigError as exc:
        raise HTTPException(422, str(exc)) from None


async def own_job(state: ServerState, name: str, job_id: str, *,
                  trajectory: bool = False) -> JobRow:
    job = await state.jobs.store.get(job_id, trajectory=trajectory)
    if job is None or (job.owner != name and not state.config.no_auth):
        raise HTTPException(404, "no such job")
    return job


# The routes answer with JSONResponse (json.dumps) rather than a dict: FastAPI would walk
# a returned dict with its jsonable_encoder first, in Python, which under hundreds of
# running jobs cost more than the rest of a status read.

@router.post("", status_code=202, response_class=JSONResponse)
async def create(body: ResearchBody, request: Request, name: Caller) -> JSONResponse:
    """Start a research job; returns its id at once."""
    job = await start_job(state_of(request), name, body)
    return JSONResponse({"id": job.id, "status": job.status,
                         "events": f"/v1/research/{job.id}/events"}, 202)


@router.get("", response_class=JSONResponse)
async def list_jobs(request: Request, name: Caller, limit: int = Query(20, ge=1, le=200),
                    offset: int = Query(0, ge=0)) -> JSONResponse:
    """Jobs of the calling key, newest first."""
    state = state_of(request)
    owner = None if state.config.no_auth and name == "local" else name
    rows = await state.jobs.store.list_jobs(owner, limit + 1, offset)
    more = len(rows) > limit
    return JSONResponse({"jobs": [r.summary() for r in rows[:limit]], "offset": offset,
                         "limit": limit, "next_offset": offset + limit if more else None})


@router.get("/{job_id}", response_class=JSONResponse)
async def get_job(job_id: str, request: Request, name: Caller) -> JSONResponse:
    """Status, answer, sources, usage and termination of one job."""
    return JSONResponse((await own_job(state_of(request), name, job_id)).summary())


@router.delete("/{job_id}")
async def cancel(job_id: str, request: Request, name: Caller) -> dict[str, Any]:
    """Cancel a queued or running job."""
    state = state_of(request)
    await own_job(state, name, job_id)
    cancelled = await state.jobs.cancel(job_id)
    job = await own_job(state, name, job_id)
    return {"id": job_id, "cancelled": cancelled, "status": job.status}


@router.post("/{job_id}/rerun", status_code=202)
async def rerun(job_id: str, request: Request, name: Caller) -> dict[str, Any]:
    """Run an interrupted (or failed, cancelled) job again under the same id."""
    state = state_of(request)
    job = await own_job(state, name, job_id)
    if job.status not in TERMINAL or job.status == "finished":
        raise HTTPException(409, f"the job is {job.status}")
    await check_concurrency(state, name)
    job = await state.jobs.rerun(job)
    return {"id": job.id, "status": job.status, "events": f"/v1/research/{job.id}/events"}


@router.get("/{job_id}/trajectory")
async def trajectory(job_id: str, request: Request, name: Caller) -> JSONResponse:
    """The full trajectory record, as a JSON download."""
    job = await own_job(state_of(request), name, job_id, trajectory=True)
    if job.trajectory is None:
        raise HTTPException(404, f"the job is {job.status}: no trajectory yet")
    return JSONResponse(job.trajectory, headers={
        "Content-Disposition": f'attachment; filename="{job_id}.json"'})


@router.get("/{job_id}/events")
async def events(job_id: str, request: Request, name: Caller,
                 last_event_id: Annotated[str | None, Header()] = None) -> StreamingResponse:
    """The run events as Server-Sent Events (`id` is the event's number): reconnect with
    `Last-Event-ID` to go on where the stream stopped."""
    state = state_of(request)
    await own_job(state, name, job_id)
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    return StreamingResponse(sse(state, job_id, after), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def sse(state: ServerState, job_id: str, after: int) -> AsyncIterator[str]:
    yield "retry: 1000\n\n"
    async for seq, data in state.jobs.follow(job_id, after,
                                             idle_s=state.config.keepalive_s or None):
        if not seq:  # a quiet spell: a comment line, which EventSource clients skip
            yield ": keep-alive\n\n"
            continue
        kind = json.loads(data).get("kind", "message")
        yield f"id: {seq}\nevent: {kind}\ndata: {data}\n\n"
