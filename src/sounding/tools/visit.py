"""`visit`: read pages and extract what serves the goal, in the trained frame.

Each URL is resolved by a PageBackend (the web fetcher or the offline corpus),
then a summary model extracts `rational`, `evidence` and `summary` as JSON.
Long pages are split into chunks that fit the summary model and the extractions
merged. Unreadable JSON gets one repair attempt; after that the passages of the
page that best match the goal stand in as evidence, so a page is never lost to
a summary model's formatting.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import json_repair

from .._templates import render
from ..config import Sampling
from ..errors import LLMError, ProviderError
from ..llm.base import ChatModel, ChatRequest, ToolSchema
from ..providers.base import CallStats, Page, PageBackend
from ..types import JSON, Message, estimate_tokens, is_cjk
from .base import ToolContext, ToolOutput, join_observations, string_list

__all__ = [
    "VISIT_SCHEMA",
    "Extraction",
    "VisitTool",
    "best_passages",
    "format_visit",
    "split_token_chunks",
]

VISIT_SCHEMA = ToolSchema(
    name="visit",
    description="Visit webpage(s) and return the summary of the content.",
    parameters={
        "type": "object",
        "properties": {
            "url": {
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
                "description": "The URL(s) of the webpage(s) to visit. Can be a single URL "
                "or an array of URLs.",
            },
            "goal": {
                "type": "string",
                "description": "The goal of the visit for webpage(s).",
            },
        },
        "required": ["url", "goal"],
    },
)

UNREADABLE_EVIDENCE = (
    "The provided webpage content could not be accessed. Please check the URL or file format."
)
UNREADABLE_SUMMARY = (
    "The webpage content could not be processed, and therefore, no information is available."
)
_EXTRACT_SAMPLING = Sampling(temperature=0.7, top_p=0.95, presence_penalty=0.0, max_tokens=4096)


@dataclass(frozen=True, slots=True)
class Extraction:
    evidence: str
    summary: str
    rational: str = ""
    fallback: bool = False
    """True when the evidence came from passage ranking, not from the summary model."""


def format_visit(url: str, goal: str, extraction: Extraction | None,
                 reason: str | None = None) -> str:
    """The trained observation frame for one URL.

    None: the page could not be read; the trained sentences say so, and `reason`
    (what went wrong: blocked, HTTP error, unreadable PDF...) follows them.
    """
    evidence = extraction.evidence if extraction else UNREADABLE_EVIDENCE
    if extraction is None and reason:
        evidence += f"\nReason: {reason}"
    summary = extraction.summary if extraction else UNREADABLE_SUMMARY
    return (
        f"The useful information in {url} for user goal {goal} as follows: \n\n"
        f"Evidence in page: \n{evidence}\n\nSummary: \n{summary}\n\n"
    )


class VisitTool:
    """Fetch each URL concurrently and extract goal-directed evidence."""

    def __init__(
        self,
        pages: PageBackend,
        summary_model: ChatModel | None,
        *,
        chunk_tokens: int = 24_000,
        max_chunks: int = 4,
    ) -> None:
        self.pages = pages
        self.summary_model = summary_model
        self.chunk_tokens = chunk_tokens
        """Page tokens per summary-model call (estimated, CJK-aware); fit the model's context."""
        self.max_chunks = max_chunks
        """Most summary-model calls per page; longer pages keep the chunks nearest the goal."""

    @property
    def schema(self) -> ToolSchema:
        return VISIT_SCHEMA

    async def __call__(
        self, arguments: Mapping[str, JSON], context: ToolContext, *, code: str | None = None
    ) -> ToolOutput:
        urls = string_list(arguments, "url")
        goal = str(arguments.get("goal") or "")
        results = await asyncio.gather(*(self._one(u, goal, context.stats) for u in urls))
        errors: dict[str, JSON] = {u: r for u, r in zip(urls, results, strict=True)
                                   if isinstance(r, str)}
        return ToolOutput(
            # Upstream strips the whole visit observation (its frame ends in blank lines).
            text=join_observations([
                format_visit(u, goal, r, None) if isinstance(r, Extraction)
                else format_visit(u, goal, None, r)
                for u, r in zip(urls, results, strict=True)]).strip(),
            sources=tuple(u for u, r in zip(urls, results, strict=True)
                          if isinstance(r, Extraction)),
            meta={
                "unreadable": len(errors),
                "fallbacks": sum(1 for r in results if isinstance(r, Extraction) and r.fallback),
                "errors": errors,
            },
        )

    async def _one(self, url: str, goal: str, stats: CallStats) -> Extraction | str:
        """The extraction, or why the page could not be read."""
        try:
            page = await self.pages.fetch(url, stats=stats)
        except ProviderError as exc:
            return str(exc)
        if page is None:
            return "there is no page at this address (HTTP 404 or 410, or not in the corpus)"
        if not page.text.strip():
            return f"the page ({page.content_type}) has no readable text"
        return await self.extract(page, goal, stats)

    def chunks(self, text: str, goal: str) -> list[str]:
        """The page split to fit the summary model; if too many, the ones nearest the goal."""
        chunks = split_token_chunks(text, self.chunk_tokens)
        if len(chunks) <= self.max_chunks:
            return chunks
        keep = sorted(_bm25_rank(chunks, goal)[: self.max_chunks])
        return [chunks[i] for i in keep]

    async def extract(self, page: Page, goal: str, stats: CallStats | None = None) -> Extraction:
        """Goal-directed extraction over the page's chunks, merged in page order."""
        if self.summary_model is None:
            return _passage_fallback(page.text, goal)
        chunks = self.chunks(page.text, goal)
        parts = await asyncio.gather(*(self._extract_chunk(c, goal, stats) for c in chunks))
        found = [p for p in parts if p is not None and (p.evidence.strip() or p.summary.strip())]
        if not found:
            return _passage_fallback(page.text, goal)
        if len(found) == 1:
            return found[0]
        return Extraction(
            evidence="\n\n".join(dict.fromkeys(p.evidence for p in found if p.evidence)),
            summary=" ".join(dict.fromkeys(p.summary for p in found if p.summary)),
            rational=" ".join(p.rational for p in found if p.rational),
        )

    async def _extract_chunk(self, chunk: str, goal: str, stats: CallStats | None
                             ) -> Extraction | None:
        assert self.summary_model is not None
        prompt = render("sounding.tools", "extract.txt", content=chunk, goal=goal)
        messages: list[Message] = [Message("user", prompt)]
        for attempt in range(2):
            request = ChatRequest(
                messages=messages,
                sampling=_EXTRACT_SAMPLING,
                response_format={"type": "json_object"},
                purpose="extract",
            )
            try:
                completion = await self.summary_model.complete(request)
            except LLMError:
                return None
            if stats is not None:
                stats.record_model_call(request, completion)
            parsed = parse_extraction(completion.text)
            if parsed is not None:
                return parsed
            if attempt == 0:
                messages = [
                    *messages,
                    Message("assistant", completion.text),
                    Message("user", "That was not a JSON object with the fields \"rational\", "
                            "\"evidence\" and \"summary\". Reply with only that JSON object."),
                ]
        return None


def parse_extraction(text: str) -> Extraction | None:
    """Read the summary model's JSON (tolerantly); None when it has no evidence."""
    body = re.sub(r"<think>.*?</think>", "", text, flags=re.S).strip()
    match = re.search(r"\{.*\}", body, flags=re.S)
    if not match:
        return None
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError:
        data = json_repair.loads(match.group(0))
    if not isinstance(data, dict) or "evidence" not in data or "summary" not in data:
        return None
    return Extraction(
        evidence=_as_text(data.get("evidence")),
        summary=_as_text(data.get("summary")),
        rational=_as_text(data.get("rational")),
    )


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_as_text(v) for v in value)
    return "" if value is None else json.dumps(value, ensure_ascii=False)


def split_chunks(text: str, size: int) -> list[str]:
    """Split at line boundaries into chunks of at most about `size` characters."""
    return _split(text, size, len)


def split_token_chunks(text: str, max_tokens: int) -> list[str]:
    """Split at line boundaries into chunks of at most about `max_tokens` estimated tokens."""
    return _split(text, max_tokens, estimate_tokens)


def _split(text: str, limit: int, cost: Callable[[str], int]) -> list[str]:
    if cost(text) <= limit:
        return [text]
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for line in text.split("\n"):
        for piece in _cut(line, limit, cost):
            size = cost(piece) + 1
            if used + size > limit and current:
                chunks.append("\n".join(current))
                current, used = [], 0
            current.append(piece)
            used += size
    if current:
        chunks.append("\n".join(current))
    return chunks


def _cut(line: str, limit: int, cost: Callable[[str], int]) -> list[str]:
    """A line too long for one chunk, cut by characters in proportion to its cost."""
    size = cost(line) + 1
    if size <= limit:
        return [line]
    step = max(1, len(line) * limit // size)
    return [line[i:i + step] for i in range(0, len(line), step)]


_WORD = re.compile(r"\w+", re.UNICODE)


def _terms(text: str) -> list[str]:
    words = _WORD.findall(text.lower())
    # Unsegmented scripts (Chinese, Japanese) get character bigrams as terms.
    out: list[str] = []
    for w in words:
        if is_cjk(w):
            out.extend(w[i:i + 2] for i in range(max(1, len(w) - 1)))
        else:
            out.append(w)
    return out


def _bm25_rank(passages: Sequence[str], goal: str) -> list[int]:
    """Indices of `passages` from the best BM25 match for `goal` to the worst."""
    docs = [Counter(_terms(p)) for p in passages]
    n = len(docs)
    avg = sum(sum(d.values()) for d in docs) / max(1, n) or 1.0
    query = set(_terms(goal))
    df = {t: sum(1 for d in docs if t in d) for t in query}

    def score(d: Counter[str]) -> float:
        length = sum(d.values())
        s = 0.0
        for t in query:
            if d[t]:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += idf * d[t] * 2.2 / (d[t] + 1.2 * (0.25 + 0.75 * length / avg))
        return s

    return sorted(range(n), key=lambda i: score(docs[i]), reverse=True)


def best_passages(text: str, goal: str, *, k: int = 3, passage_chars: int = 1200) -> list[str]:
    """The k passages of `text` that best match `goal` by BM25, in page order."""
    passages = [p for p in split_chunks(text, passage_chars) if p.strip()]
    if len(passages) <= k:
        return passages
    return [passages[i] for i in sorted(_bm25_rank(passages, goal)[:k])]


def _passage_fallback(text: str, goal: str) -> Extraction:
    passages: Sequence[str] = best_passages(text, goal)
    return Extraction(
        evidence="\n\n".join(passages),
        summary="The summary model gave no usable extraction; the passages above are the "
        "parts of the page that best match the goal.",
        fallback=True,
    )
