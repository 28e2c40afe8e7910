"""The planner's tools: the environment's own tools wrapped so that what they return
lands in the evidence bank (with ids shown to the model), plus `write_outline`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import json_repair

from ..errors import ConfigError, ToolArgumentError
from ..llm.base import ToolSchema
from ..providers.base import PageBackend
from ..tools.base import Tool, ToolContext, ToolOutput
from ..tools.visit import UNREADABLE_EVIDENCE
from ..types import JSON
from ._text import ground_quote, has_cjk, sentences
from .evidence import Evidence, EvidenceBank
from .outline import Outline, parse_outline_json

__all__ = ["OUTLINE_SCHEMA", "EvidenceTool", "OutlineTool", "PlannerState"]

_MAX_PER_PAGE = 6
_VISIT_BLOCK = re.compile(
    r"The useful information in (?P<url>\S+) for user goal .*? as follows: \s*\n\s*"
    r"Evidence in page: \s*\n(?P<evidence>.*?)\n\nSummary: \s*\n(?P<summary>.*?)\s*$", re.S)
_SEARCH_ENTRY = re.compile(r"^\d+\. \[(?P<title>[^\n]*)\]\((?P<url>[^)\s]+)\)(?P<rest>.*)$", re.S)
_ENTRY_START = re.compile(r"\n\n(?=\d+\. \[)")
_ELLIPSIS = re.compile(r"^(?:…|\.\.\.)\s*|\s*(?:…|\.\.\.)$")
_META_LINE = re.compile(r"^(Date published|Source|publicationInfo|citedBy|pdfUrl):")


@dataclass
class PlannerState:
    """What the planner has built so far (shared by its tools)."""

    topic: str
    bank: EvidenceBank
    outline: Outline | None = None
    revisions: int = 0
    pages: PageBackend | None = None
    """The environment's page reader (visit's), to check quotes against the page."""


class EvidenceTool:
    """A search or visit tool whose results are also stored as evidence.

    Visit evidence is grounded against the fetched page when the tool exposes its
    page backend (the built-in visit does): each quote kept is page text verbatim.
    """

    def __init__(self, inner: Tool, state: PlannerState) -> None:
        self.inner = inner
        self.state = state
        pages = getattr(inner, "pages", None)
        self.pages: PageBackend | None = pages if hasattr(pages, "fetch") else None
        if self.pages is not None and state.pages is None:
            state.pages = self.pages

    @property
    def schema(self) -> ToolSchema:
        return self.inner.schema

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        out = await self.inner(arguments, context, code=code)
        blocks = out.text.split("\n=======\n")
        if any(_VISIT_BLOCK.search(b) for b in blocks):
            blocks = [await self._visit_block(b) for b in blocks]
        else:
            blocks = [self._search_block(b) for b in blocks]
        return ToolOutput("\n=======\n".join(blocks), out.sources, out.meta)

    def _search_block(self, block: str) -> str:
        head, sep, body = block.partition("Results\n")
        if not sep:
            return block
        entries = _ENTRY_START.split(body)  # a blank line also sits inside each entry
        out = []
        for entry in entries:
            m = _SEARCH_ENTRY.match(entry.strip())
            if m is None:
                out.append(entry)
                continue
            snippet = " ".join(ln for ln in m.group("rest").strip().splitlines()
                               if not _META_LINE.match(ln)).strip()
            snippet = _ELLIPSIS.sub("", snippet).strip()
            if snippet:  # not yet checked against the page: see `verify_cited`
                ev = self.state.bank.add(m.group("url"), m.group("title"), snippet,
                                         m.group("title"), verbatim=False)
                entry = f"{entry.rstrip()}\n(evidence {ev.id})"
            out.append(entry)
        return head + sep + "\n\n".join(out)

    async def _visit_block(self, block: str) -> str:
        m = _VISIT_BLOCK.search(block)
        if m is None or m.group("evidence").startswith(UNREADABLE_EVIDENCE):
            return block
        url, summary = m.group("url"), m.group("summary").strip()
        page_text, title = await self._page(url)
        found: list[Evidence] = []
        for chunk in _chunks(m.group("evidence")):
            quote = ground_quote(chunk, page_text) if page_text else None
            if page_text and quote is None:
                continue  # the extraction said something the page does not: not evidence
            ev = self.state.bank.add(url, title or url, quote or chunk, summary,
                                     verbatim=quote is not None)
            if ev not in found:
                found.append(ev)
            if len(found) >= _MAX_PER_PAGE:
                break
        if not found:
            return block
        listing = "\n".join(f"[{ev.id}] \"{ev.quote}\"" for ev in found)
        return f"{block.rstrip()}\n\nEvidence recorded:\n{listing}\n\n"

    async def _page(self, url: str) -> tuple[str, str]:
        if self.pages is None:
            return "", ""
        page = await self.pages.fetch(url)
        return (page.text, page.title) if page is not None else ("", "")


async def verify_cited(state: PlannerState, ids: list[str]) -> None:
    """Check the cited search snippets against their pages: a snippet found in the page
    is marked verbatim; otherwise the page passage that best matches it becomes the quote.
    Only cited evidence is checked, so a plan costs at most one fetch per cited page."""
    if state.pages is None:
        return
    pages: dict[str, str] = {}
    for ev in state.bank.resolve(ids):
        if ev.verbatim:
            continue
        if ev.url not in pages:
            page = await state.pages.fetch(ev.url)
            pages[ev.url] = page.text if page is not None else ""
        quote = ground_quote(ev.quote, pages[ev.url]) if pages[ev.url] else None
        if quote is not None:
            state.bank.update(replace(ev, quote=quote, verbatim=True))


def _chunks(evidence: str) -> list[str]:
    """Evidence text cut into quotable passages of a few sentences each."""
    out: list[str] = []
    for para in (p.strip() for p in evidence.split("\n")):
        if not para:
            continue
        cjk = has_cjk(para)
        sep, limit = ("", 120) if cjk else (" ", 60)  # characters of Chinese vs words
        group: list[str] = []
        size = 0
        for s in sentences(para):
            group.append(s)
            size += len(s) if cjk else len(s.split())
            if size >= limit:
                out.append(sep.join(group))
                group, size = [], 0
        if group:
            out.append(sep.join(group))
    return out


OUTLINE_SCHEMA = ToolSchema(
    name="write_outline",
    description=(
        "Save (or replace) the outline of the report. Each section has a title and "
        "sub-points; each sub-point lists the evidence ids (E1, E2, ...) it rests on. "
        "Call it again to revise the outline as you learn more."),
    parameters={
        "type": "object",
        "properties": {
            "sections": {
                "type": "array",
                "description": "Sections in order: {\"title\": str, \"points\": "
                               "[{\"text\": str, \"evidence\": [\"E1\", ...]}]}",
                "items": {"type": "object"},
            },
        },
        "required": ["sections"],
    },
)


class OutlineTool:
    """`write_outline`: checks the evidence ids and keeps the newest outline."""

    def __init__(self, state: PlannerState) -> None:
        self.state = state

    @property
    def schema(self) -> ToolSchema:
        return OUTLINE_SCHEMA

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        sections = arguments.get("sections")
        if isinstance(sections, list) and len(sections) == 1 and isinstance(sections[0], str) \
                and sections[0].lstrip().startswith("["):
            # Models sometimes send the array JSON-encoded inside a string.
            decoded = json_repair.loads(sections[0])
            sections = decoded if isinstance(decoded, list) else sections
        try:
            outline = parse_outline_json(self.state.topic, sections)
        except ConfigError as exc:
            raise ToolArgumentError(f"write_outline: {exc}") from None
        unknown = [i for i in outline.evidence() if i not in self.state.bank]
        self.state.outline = outline
        self.state.revisions += 1
        uncited = [s.title for s in outline.sections if not s.evidence]
        text = (f"Outline saved (revision {self.state.revisions}): {len(outline.sections)} "
                f"sections citing {len(outline.evidence())} pieces of evidence.")
        if unknown:
            text += f" Unknown evidence ids (ignored): {', '.join(unknown)}."
        if uncited:
            text += f" Sections without evidence yet: {'; '.join(uncited)}."
        text += (" Research more and revise, or reply <answer>done</answer> when the "
                 "outline's coverage is sufficient.")
        return ToolOutput(text)
