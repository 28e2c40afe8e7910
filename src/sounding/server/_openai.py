"""The OpenAI-compatible endpoint: `/v1/models` and `/v1/chat/completions`, where the last
user message is the question and the model name picks the mode. Streaming sends the
research progress as `reasoning_content` and the answer with its sources as `content`."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from ..types import JSONObject
from ._api import ResearchBody, start_job
from ._context import ServerState, caller, state_of

__all__ = ["MODELS", "progress_line", "router"]

router = APIRouter(prefix="/v1", tags=["openai"])
_THINK = re.compile(r"<think>(.*?)</think>", re.S)
MODELS = {"sounding-react": "react", "sounding-iter": "iter", "sounding-heavy": "heavy"}
Caller = Annotated[str, Depends(caller)]


class ChatBody(BaseModel):
    """The fields we read; the rest of an OpenAI request is accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    temperature: float | None = None
    max_rounds: int | None = None


@router.get("/models")
async def models(name: Caller) -> dict[str, Any]:
    return {"object": "list", "data": [
        {"id": m, "object": "model", "created": 0, "owned_by": "sounding"} for m in MODELS]}


def _question(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if isinstance(content, str) and content.strip():
            return content
    raise HTTPException(400, "no user message with text")


def answer_text(result: JSONObject) -> str:
    answer = str(result.get("answer") or "(no answer)")
    sources = result.get("sources") or []
    if not isinstance(sources, list) or not sources:
        return answer
    return answer + "\n\nSources:\n" + "\n".join(f"[{i}] {u}" for i, u in
                                                  enumerate(sources, 1))


def progress_line(event: JSONObject) -> str:
    """One line of progress for an event, or "" for events not worth a line."""
    kind = event.get("kind")
    if kind == "round_started":
        return f"Round {event['round']}\n"
    if kind == "tool_call_started":
        return f"→ {event['name']}({json.dumps(event.get('arguments'), ensure_ascii=False)})\n"
    if kind == "model_call_finished" and isinstance(event.get("record"), dict):
        # The model's thinking once its call is back (streaming every token of every
        # call would store thousands of events per job).
        output = str(event["record"].get("output") or "")  # type: ignore[union-attr]
        think = _THINK.search(output)
        return f"{think.group(1).strip()}\n" if think and think.group(1).strip() else ""
    if kind == "report_updated":
        return f"Report updated (round {event['round']})\n"
    if kind == "note":
        return f"Note: {event.get('message')}\n"
    return ""


@router.post("/chat/completions", response_model=None)
async def chat(body: ChatBody, request: Request, name: Caller) -> Response:
    if body.model not in MODELS:
        raise HTTPException(404, f"unknown model {body.model!r}; try {', '.join(MODELS)}")
    state = state_of(request)
    job = await start_job(state, name, ResearchBody.model_validate({
        "question": _question(body.messages), "mode": MODELS[body.model],
        "temperature": body.temperature, "max_rounds": body.max_rounds}))
    chunk_id, created = f"chatcmpl-{job.id}", int(time.time())
    if body.stream:
        return StreamingResponse(_stream(state, job.id, chunk_id, created, body.model),
                                 media_type="text/event-stream")
    result = await _result(state, job.id)
    return JSONResponse({"id": chunk_id, "object": "chat.completion", "created": created,
            "model": body.model, "choices": [{
                "index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": answer_text(result)}}],
            "usage": _usage(result)})


def _usage(result: JSONObject) -> JSONObject:
    usage = result.get("usage")
    counts = usage if isinstance(usage, dict) else {}
    prompt, completion = (int(str(counts.get(k) or 0)) for k in ("prompt_tokens",
                                                                  "completion_tokens"))
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


async def _result(state: ServerState, job_id: str) -> JSONObject:
    result: JSONObject = {}
    async for _seq, data in state.jobs.follow(job_id):
        event = json.loads(data)
        if event.get("kind") == "job_finished":
            result = event
    return result


async def _stream(state: ServerState, job_id: str, chunk_id: str, created: int,
                  model: str) -> AsyncIterator[str]:
    def chunk(delta: JSONObject, finish: str | None = None) -> str:
        return "data: " + json.dumps({
            "id": chunk_id, "object": "chat.completion.chunk", "created": created,
            "model": model, "choices": [{"index": 0, "delta": delta,
                                         "finish_reason": finish}]}) + "\n\n"

    yield chunk({"role": "assistant", "content": ""})
    async for seq, data in state.jobs.follow(job_id, idle_s=state.config.keepalive_s or None):
        if not seq:  # a quiet spell: an SSE comment, which OpenAI clients skip
            yield ": keep-alive\n\n"
            continue
        event = json.loads(data)
        if event.get("kind") == "job_finished":
            yield chunk({"content": answer_text(event)})
            yield chunk({}, "stop")
            break
        if line := progress_line(event):
            yield chunk({"reasoning_content": line})
    yield "data: [DONE]\n\n"
