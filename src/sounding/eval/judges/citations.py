"""A citation-accuracy judge in the style of DRB's FACT: statement-URL pairs taken from a
report, each checked against the text of the page it cites.

Accuracy = supported pairs / judged pairs; effective citations = supported pairs (unique
statement and URL) per report. Differences from FACT: pairs are read from the Markdown
(numbered citations resolved through the reference list, and inline links) rather than
extracted by an LLM; pages come from the caller's fetcher (the offline corpus, or the
web tools), and the statements citing one URL are judged in one call.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from ..._templates import render
from ...errors import LLMResponseError, SoundingError
from ...llm.base import ChatModel, ChatRequest
from ...types import JSONObject, Message, Usage, cjk_count
from ._parse import json_object
from .llm import JUDGE_SAMPLING

__all__ = ["Citation", "CitationJudge", "CitationScore", "Fetch", "extract_citations"]

Fetch = Callable[[str], Awaitable[str | None]]
"""url -> the page's text, or None when it cannot be had."""

_URL = re.compile(r"https?://[^\s)\]>\"']+")
_REF = re.compile(r"^\s*(?:[-*]\s*)?(?:\[(\d+)\]|(\d+)[.)])\s*(.*)$")
_REF_HEADING = re.compile(r"^#{1,6}\s*(references|sources|bibliography|works cited|参考文献|"
                          r"参考资料|来源|引用)\b", re.I)
_NUM_CITE = re.compile(r"\[(\d+(?:\s*[,，、\-–]\s*\d+)*)\]")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
# Sentence ends: . ! ? before a space, or a full-width stop; citations right after stay.
_SPLIT = re.compile(r"(?<=[.!?])\s+(?!\[\d)|(?<=[。！？])(?!\s*\[\d)")
_MARK = re.compile("\x00(\\d+)\x00")
_MAX_PAGE_CHARS = 12_000


@dataclass(frozen=True, slots=True)
class Citation:
    statement: str
    url: str


def _references(lines: Sequence[str]) -> dict[int, str]:
    refs: dict[int, str] = {}
    for line in lines:
        m = _REF.match(line)
        url = _URL.search(line)
        if m and url:
            refs[int(m.group(1) or m.group(2))] = url.group(0).rstrip(".,;")
    return refs


def _numbers(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*[,，、]\s*", group):
        bounds = re.split(r"\s*[\-–]\s*", part)
        if len(bounds) == 2 and all(b.isdigit() for b in bounds) and int(bounds[1]) - int(
                bounds[0]) < 50:
            out.extend(range(int(bounds[0]), int(bounds[1]) + 1))
        elif part.isdigit():
            out.append(int(part))
    return out


def extract_citations(markdown: str) -> list[Citation]:
    """Unique (statement, URL) pairs: sentences with `[n]` resolved through the reference
    list, and sentences holding inline `[text](url)` links."""
    lines = markdown.splitlines()
    cut = next((i for i, ln in enumerate(lines) if _REF_HEADING.match(ln.strip())), len(lines))
    refs = _references(lines[cut:]) or _references(lines)
    pairs: dict[tuple[str, str], None] = {}
    no_heading = cut == len(lines)
    for line in lines[:cut]:
        if not line.strip() or line.lstrip().startswith(("#", ">", "|")):
            continue
        if no_heading and _REF.match(line) and _URL.search(line) and not _NUM_CITE.search(line):
            continue  # a reference entry of a list without a heading
        for sent, urls in _sentences(line, refs):
            for url in urls:
                pairs[(sent, url)] = None
    return [Citation(s, u) for s, u in pairs]


def _sentences(line: str, refs: dict[int, str]) -> list[tuple[str, list[str]]]:
    """The line's sentences with the URLs each cites; links are set aside while splitting,
    so the dots in a URL do not end a sentence."""
    links: list[str] = []

    def park(m: re.Match[str]) -> str:
        links.append(m.group(2))
        return f"{m.group(1)}\x00{len(links) - 1}\x00"

    out = []
    for sent in _SPLIT.split(_LINK.sub(park, line)):
        urls = [refs[n] for g in _NUM_CITE.findall(sent) for n in _numbers(g) if n in refs]
        urls += [links[int(k)] for k in _MARK.findall(sent)]
        text = _MARK.sub("", re.sub(r"\s*" + _NUM_CITE.pattern, "", sent)).strip(" -*")
        long_enough = len(text.split()) >= 3 or cjk_count(text) >= 4
        if urls and long_enough:
            out.append((text, urls))
    return out


@dataclass
class CitationScore:
    pairs: int
    judged: int
    supported: int
    unreachable: int
    details: list[JSONObject] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    @property
    def accuracy(self) -> float | None:
        return self.supported / self.judged if self.judged else None

    @property
    def effective(self) -> int:
        return self.supported

    def to_dict(self) -> JSONObject:
        return {"pairs": self.pairs, "judged": self.judged, "supported": self.supported,
                "unreachable": self.unreachable, "accuracy": self.accuracy,
                "effective_citations": self.effective, "details": list(self.details),
                "usage": self.usage.to_dict()}


class CitationJudge:
    """Fetch each cited URL once, judge the statements citing it in one call."""

    name = "drb-citations"

    def __init__(self, model: ChatModel, fetch: Fetch, *, concurrency: int = 8) -> None:
        self._model = model
        self._fetch = fetch
        self._sem = asyncio.Semaphore(concurrency)

    async def score(self, markdown: str) -> CitationScore:
        pairs = extract_citations(markdown)
        by_url: dict[str, list[str]] = {}
        for c in pairs:
            by_url.setdefault(c.url, []).append(c.statement)
        results = await asyncio.gather(*(self._url(u, s) for u, s in by_url.items()))
        score = CitationScore(len(pairs), 0, 0, 0)
        for rows, usage in results:
            score.details.extend(rows)
            score.usage = score.usage + usage
        for row in score.details:
            if row["supported"] is None:
                score.unreachable += 1
            else:
                score.judged += 1
                score.supported += bool(row["supported"])
        return score

    async def _url(self, url: str, statements: list[str]) -> tuple[list[JSONObject], Usage]:
        async with self._sem:
            try:
                page = await self._fetch(url)
            except SoundingError:
                page = None
            if not page or not page.strip():
                return [{"url": url, "statement": s, "supported": None} for s in statements], \
                    Usage()
            verdicts, usage = await self._judge(url, _focus(page, statements), statements)
        return [{"url": url, "statement": s, "supported": verdicts[n]}
                for n, s in enumerate(statements, 1)], usage

    async def _judge(self, url: str, page: str, statements: list[str],
                     ) -> tuple[dict[int, bool], Usage]:
        listing = "\n".join(f"{n}. {s}" for n, s in enumerate(statements, 1))
        request = ChatRequest([Message("user", render(
            "sounding.eval", "fact_judge.txt", url=url, page=page, statements=listing))],
            sampling=JUDGE_SAMPLING, purpose="judge", response_format={"type": "json_object"})
        usage = Usage()
        for _attempt in range(2):
            completion = await self._model.complete(request)
            usage = usage + completion.usage
            got = _verdicts(completion.text)
            if all(n in got for n in range(1, len(statements) + 1)):
                return got, usage
        raise LLMResponseError(f"the citation judge skipped statements for {url}: "
                               f"{completion.text[:200]!r}")


def _verdicts(text: str) -> dict[int, bool]:
    data = json_object(text) or {}
    rows = data.get("results")
    out: dict[int, bool] = {}
    for row in rows if isinstance(rows, list) else []:
        if isinstance(row, dict) and str(row.get("statement", "")).isdigit():
            word = str(row.get("supported") or "").strip().lower()
            if word in ("yes", "no", "true", "false"):
                out[int(str(row["statement"]))] = word in ("yes", "true")
    return out


def _focus(page: str, statements: Sequence[str]) -> str:
    """The page, or when long, its paragraphs sharing most words with the statements."""
    if len(page) <= _MAX_PAGE_CHARS:
        return page
    want = {w for s in statements for w in re.findall(r"\w{3,}", s.lower())}
    paras = [p for p in page.split("\n") if p.strip()]
    ranked = sorted(range(len(paras)), key=lambda i: -len(want & set(
        re.findall(r"\w{3,}", paras[i].lower()))))
    keep: list[int] = []
    size = 0
    for i in ranked:
        if size + len(paras[i]) > _MAX_PAGE_CHARS:
            continue
        keep.append(i)
        size += len(paras[i])
    return "\n".join(paras[i] for i in sorted(keep))
