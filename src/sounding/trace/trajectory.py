"""The Trajectory: the single, versioned record of a run.

Ask, eval, synthesis and training all read and write it. Model calls refer to
their prompt by indices into one message pool, so a 100-round ReAct run does
not store its growing context 100 times, while iter and resum (which rebuild
the context) still record the exact prompt of every call.
"""

from __future__ import annotations

import json
import re
import traceback
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, cast, get_args

from ..types import JSON, JSONObject, Message, ToolCall, Usage

__all__ = [
    "SCHEMA_VERSION",
    "ModelCallRecord",
    "RunError",
    "Termination",
    "ToolCallRecord",
    "Trajectory",
    "read_trajectories",
]

SCHEMA_VERSION = 1

Termination = Literal["answer", "forced_answer", "max_rounds", "max_time", "max_tokens", "error",
                      "cancelled"]
"""`cancelled`: a heavy-mode branch stopped early because enough other branches agreed."""
TERMINATIONS: tuple[str, ...] = get_args(Termination)


@dataclass(slots=True)
class ModelCallRecord:
    """One model call: prompt (pool indices), raw output, tokens, latency."""

    round: int
    purpose: str
    prompt: list[int]
    output: str
    usage: Usage
    latency_s: float
    finish_reason: str | None = None
    retries: int = 0
    tool_calls: tuple[ToolCall, ...] = ()
    branch: str | None = None
    token_ids: tuple[int, ...] | None = None
    logprobs: tuple[float, ...] | None = None
    error: str | None = None
    prompt_token_ids: tuple[int, ...] | None = None
    """The prompt as the server tokenised it (llm.record_tokens; vLLM)."""
    raw_output: str | None = None
    """The completion text as the server sent it, before post-processing (llm.record_tokens)."""

    def to_dict(self) -> JSONObject:
        out: JSONObject = {
            "round": self.round,
            "purpose": self.purpose,
            "prompt": list(self.prompt),
            "output": self.output,
            "usage": self.usage.to_dict(),
            "latency_s": round(self.latency_s, 6),
            "finish_reason": self.finish_reason,
            "retries": self.retries,
        }
        if self.tool_calls:
            out["tool_calls"] = [c.to_dict() for c in self.tool_calls]
        for name in ("branch", "error"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.token_ids is not None:
            out["token_ids"] = list(self.token_ids)
        if self.logprobs is not None:
            out["logprobs"] = list(self.logprobs)
        if self.prompt_token_ids is not None:
            out["prompt_token_ids"] = list(self.prompt_token_ids)
        if self.raw_output is not None:
            out["raw_output"] = self.raw_output
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, JSON]) -> ModelCallRecord:
        calls = d.get("tool_calls") or []
        tids = d.get("token_ids")
        lps = d.get("logprobs")
        return cls(
            round=int(cast(int, d["round"])),
            purpose=str(d["purpose"]),
            prompt=[int(cast(int, i)) for i in cast(list[JSON], d.get("prompt") or [])],
            output=str(d.get("output") or ""),
            usage=Usage.from_dict(cast(dict[str, JSON], d.get("usage") or {})),
            latency_s=float(cast(float, d.get("latency_s") or 0.0)),
            finish_reason=cast(str | None, d.get("finish_reason")),
            retries=int(cast(int, d.get("retries") or 0)),
            tool_calls=tuple(ToolCall.from_dict(c) for c in cast(list[dict[str, JSON]], calls)),
            branch=cast(str | None, d.get("branch")),
            token_ids=tuple(cast(list[int], tids)) if tids is not None else None,
            logprobs=tuple(cast(list[float], lps)) if lps is not None else None,
            error=cast(str | None, d.get("error")),
            prompt_token_ids=(tuple(cast(list[int], d["prompt_token_ids"]))
                              if d.get("prompt_token_ids") is not None else None),
            raw_output=cast(str | None, d.get("raw_output")),
        )


@dataclass(slots=True)
class ToolCallRecord:
    """One tool call: what was asked, what came back, and how it was obtained."""

    round: int
    call: ToolCall
    observation: str
    latency_s: float
    provider: str | None = None
    cache_hit: bool = False
    retries: int = 0
    error: str | None = None
    """`ErrorType: message` when the call failed (the observation then explains it)."""
    sources: tuple[str, ...] = ()
    branch: str | None = None
    meta: JSONObject = field(default_factory=dict)
    """What the tool reported beyond its text (e.g. pages it could not read, and why)."""

    def to_dict(self) -> JSONObject:
        out: JSONObject = {
            "round": self.round,
            "call": self.call.to_dict(),
            "observation": self.observation,
            "latency_s": round(self.latency_s, 6),
            "provider": self.provider,
            "cache_hit": self.cache_hit,
            "retries": self.retries,
            "error": self.error,
            "sources": list(self.sources),
        }
        if self.branch is not None:
            out["branch"] = self.branch
        if self.meta:
            out["meta"] = self.meta
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, JSON]) -> ToolCallRecord:
        return cls(
            round=int(cast(int, d["round"])),
            call=ToolCall.from_dict(cast(dict[str, JSON], d["call"])),
            observation=str(d.get("observation") or ""),
            latency_s=float(cast(float, d.get("latency_s") or 0.0)),
            provider=cast(str | None, d.get("provider")),
            cache_hit=bool(d.get("cache_hit", False)),
            retries=int(cast(int, d.get("retries") or 0)),
            error=cast(str | None, d.get("error")),
            sources=tuple(str(s) for s in cast(list[JSON], d.get("sources") or [])),
            branch=cast(str | None, d.get("branch")),
            meta=cast(JSONObject, d.get("meta") or {}),
        )


@dataclass(slots=True)
class RunError:
    """Why a run ended in `error`, with the traceback kept for the record."""

    type: str
    message: str
    traceback: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException) -> RunError:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(type=type(exc).__name__, message=str(exc), traceback=tb)

    def to_dict(self) -> JSONObject:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}


@dataclass(slots=True)
class Trajectory:
    """The record of one run (or, nested in `branches`, of one heavy-mode branch)."""

    question: str
    mode: str = "react"
    protocol: str = "tags"
    model: str = ""
    settings: JSONObject = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    messages: list[Message] = field(default_factory=list)
    """The message pool; model calls point into it."""
    model_calls: list[ModelCallRecord] = field(default_factory=list)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    answer: str | None = None
    termination: Termination | None = None
    error: RunError | None = None
    rounds: int = 0
    seconds: float = 0.0
    branches: list[Trajectory] = field(default_factory=list)
    notes: JSONObject = field(default_factory=dict)
    """Mode-specific facts: iter reports, resum summaries, heavy agreement, ..."""
    version: int = SCHEMA_VERSION

    # -- building -------------------------------------------------------------
    def add_message(self, message: Message) -> int:
        self.messages.append(message)
        return len(self.messages) - 1

    def prompt_of(self, call: ModelCallRecord) -> list[Message]:
        """The exact messages a model call was sent."""
        return [self.messages[i] for i in call.prompt]

    # -- derived totals -------------------------------------------------------
    @property
    def usage(self) -> Usage:
        total = Usage()
        for call in self.model_calls:
            total = total + call.usage
        for branch in self.branches:
            total = total + branch.usage
        return total

    def tool_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for rec in self.all_tool_calls():
            counts[rec.call.name] = counts.get(rec.call.name, 0) + 1
        return counts

    def all_tool_calls(self) -> Iterator[ToolCallRecord]:
        yield from self.tool_calls
        for branch in self.branches:
            yield from branch.all_tool_calls()

    def sources(self) -> list[str]:
        """URLs visited or cited, first-seen order, without duplicates."""
        seen: dict[str, None] = {}
        for rec in self.all_tool_calls():
            if rec.call.name == "visit":
                for url in rec.sources:
                    seen.setdefault(url, None)
        for url in _urls_in(self.answer or ""):
            seen.setdefault(url, None)
        return list(seen)

    # -- serialisation --------------------------------------------------------
    def to_dict(self) -> JSONObject:
        return {
            "version": self.version,
            "id": self.id,
            "question": self.question,
            "mode": self.mode,
            "protocol": self.protocol,
            "model": self.model,
            "settings": self.settings,
            "started_at": self.started_at,
            "answer": self.answer,
            "termination": self.termination,
            "error": self.error.to_dict() if self.error else None,
            "rounds": self.rounds,
            "seconds": round(self.seconds, 6),
            "usage": self.usage.to_dict(),
            "messages": [m.to_dict() for m in self.messages],
            "model_calls": [c.to_dict() for c in self.model_calls],
            "tool_calls": [t.to_dict() for t in self.tool_calls],
            "branches": [b.to_dict() for b in self.branches],
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, JSON]) -> Trajectory:
        version = int(cast(int, d.get("version") or 0))
        if version > SCHEMA_VERSION:
            raise ValueError(f"trajectory version {version} is newer than this Sounding "
                             f"({SCHEMA_VERSION}); upgrade to read it")
        err = d.get("error")
        term = d.get("termination")
        if term is not None and term not in TERMINATIONS:
            raise ValueError(f"unknown termination {term!r}")
        return cls(
            version=version,
            id=str(d.get("id") or uuid.uuid4().hex),
            question=str(d["question"]),
            mode=str(d.get("mode") or "react"),
            protocol=str(d.get("protocol") or "tags"),
            model=str(d.get("model") or ""),
            settings=cast(JSONObject, d.get("settings") or {}),
            started_at=str(d.get("started_at") or ""),
            messages=[Message.from_dict(cast(dict[str, JSON], m))
                      for m in cast(list[JSON], d.get("messages") or [])],
            model_calls=[ModelCallRecord.from_dict(cast(dict[str, JSON], c))
                         for c in cast(list[JSON], d.get("model_calls") or [])],
            tool_calls=[ToolCallRecord.from_dict(cast(dict[str, JSON], t))
                        for t in cast(list[JSON], d.get("tool_calls") or [])],
            answer=cast(str | None, d.get("answer")),
            termination=cast(Termination | None, term),
            error=RunError(**cast(dict[str, str], err)) if isinstance(err, dict) else None,
            rounds=int(cast(int, d.get("rounds") or 0)),
            seconds=float(cast(float, d.get("seconds") or 0.0)),
            branches=[cls.from_dict(cast(dict[str, JSON], b))
                      for b in cast(list[JSON], d.get("branches") or [])],
            notes=cast(JSONObject, d.get("notes") or {}),
        )

    @classmethod
    def from_json(cls, text: str) -> Trajectory:
        return cls.from_dict(json.loads(text))

    def append_to(self, path: Path) -> None:
        """Append this trajectory as one JSONL line (one write call, flushed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.write(self.to_json() + "\n")
            fh.flush()


def read_trajectories(path: Path) -> list[Trajectory]:
    """Read every trajectory of a JSONL file; a truncated last line is skipped."""
    out: list[Trajectory] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(Trajectory.from_json(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break  # a crash mid-write leaves a partial last line
            raise
    return out


_URL = re.compile(r"https?://[^\s<>\"')\]]+")


def _urls_in(text: str) -> Sequence[str]:
    return [u.rstrip(".,;:)]}'\"") for u in _URL.findall(text)]
