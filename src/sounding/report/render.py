"""The report's files: Markdown with numbered citations, a self-contained HTML page,
and the Markdown read back (for `verify` on an edited report)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ._text import has_cjk
from .check import paragraphs
from .evidence import EVIDENCE_ID, Evidence, EvidenceBank
from .revise import FLAG, CheckStats

__all__ = ["Document", "number_citations", "parse_markdown", "to_html", "to_markdown"]

_GROUP = re.compile(r"\s*\[(E\d+(?:\s*,\s*E\d+)*)\]")
_NUMBERED = re.compile(r"((?:\s*\[\d+(?:\s*,\s*\d+)*\])+)")
_REF_LINE = re.compile(r"^\s*(\d+)\.\s+.*?\((E\d+)\)")
_REF_HEADINGS = ("References", "参考文献")


@dataclass
class Document:
    """A finished report: sections hold `[E..]` citations until rendered."""

    topic: str
    sections: list[tuple[str, str]]
    bank: EvidenceBank
    stats: CheckStats | None = None

    @property
    def chinese(self) -> bool:
        return has_cjk(self.topic)

    def order(self) -> list[str]:
        """Cited evidence ids in order of first citation: reference n is order[n-1]."""
        return number_citations([t for _, t in self.sections])[1]

    def references(self) -> list[tuple[int, Evidence]]:
        return [(n, ev) for n, ev in enumerate(self.bank.resolve(self.order()), 1)]


def number_citations(texts: Sequence[str]) -> tuple[list[str], list[str]]:
    """Texts with `[E3, E7]` written as `[1][2]`, and the evidence id of each number."""
    order: dict[str, int] = {}

    def sub(m: re.Match[str]) -> str:
        ids = [f"E{n}" for n in EVIDENCE_ID.findall(m.group(1))]
        nums = [order.setdefault(i, len(order) + 1) for i in ids]
        return "".join(f"[{n}]" for n in nums)

    out = []
    for text in texts:
        lead = "" if has_cjk(text) else " "

        def cite(m: re.Match[str], lead: str = lead) -> str:
            return lead + sub(m)

        out.append(_GROUP.sub(cite, text))
    return out, list(order)


def to_markdown(doc: Document) -> str:
    texts, _order = number_citations([t for _, t in doc.sections])
    lines = [f"# {doc.topic}", ""]
    if doc.stats is not None:
        lines += [f"> {doc.stats.sentence(doc.chinese)}", ""]
    for (title, _), text in zip(doc.sections, texts, strict=True):
        lines += [f"## {title}", "", text.replace("\n", "\n\n"), ""]
    lines += [f"## {_REF_HEADINGS[1] if doc.chinese else _REF_HEADINGS[0]}", ""]
    for n, ev in doc.references():
        lines.append(f"{n}. [{ev.title or ev.url}]({ev.url}) ({ev.id}): \"{_one_line(ev.quote)}\"")
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace('"', "'")


def parse_markdown(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(topic, sections) of a report's Markdown, citations turned back into evidence ids
    through its reference list (`n. [title](url) (E3): ...`)."""
    topic = ""
    sections: list[tuple[str, list[str]]] = []
    refs: dict[int, str] = {}
    in_refs = False
    for line in text.splitlines():
        if line.startswith("# ") and not topic:
            topic = line[2:].strip()
        elif line.startswith("## "):
            heading = line[3:].strip()
            in_refs = heading in _REF_HEADINGS
            if not in_refs:
                sections.append((heading, []))
        elif in_refs:
            m = _REF_LINE.match(line)
            if m:
                refs[int(m.group(1))] = m.group(2)
        elif sections and line.strip() and not line.startswith(">"):
            sections[-1][1].append(line.strip())

    def back(m: re.Match[str]) -> str:
        ids = [refs[int(n)] for n in re.findall(r"\d+", m.group(1)) if int(n) in refs]
        return f" [{', '.join(dict.fromkeys(ids))}]" if ids else ""

    return topic, [(title, "\n".join(_NUMBERED.sub(back, ln) for ln in body))
                   for title, body in sections]


_CSS = """
body{font:16px/1.6 Georgia,'Noto Serif SC',serif;max-width:46rem;margin:2rem auto;padding:0 1rem;
color:#222}h1{font-size:1.8rem}h2{margin-top:2rem;border-bottom:1px solid #ddd}
.check{background:#f4f6f8;border-left:4px solid #6a8;padding:.6rem 1rem;font-size:.92rem}
a.cite{text-decoration:none;font-size:.8em;vertical-align:super;color:#1a5fb4}
a.cite:hover{background:#e8f0fe}.unsupported{background:#fde2e1;border-bottom:2px dotted #c01c28}
.flag{font-size:.75em;color:#c01c28}ol.refs li{margin-bottom:.8rem}
ol.refs blockquote{margin:.3rem 0 0 0;padding-left:.8rem;border-left:3px solid #ccc;color:#555;
font-size:.9rem}
"""


def to_html(doc: Document) -> str:
    """One page with nothing external: hover a citation for its quote; unsupported
    sentences kept by `--on-unsupported flag` are marked."""
    order = {eid: n for n, eid in enumerate(doc.order(), 1)}
    esc = html.escape
    parts = [f"<!DOCTYPE html>\n<html lang=\"{'zh' if doc.chinese else 'en'}\"><head>"
             f"<meta charset=\"utf-8\"><title>{esc(doc.topic)}</title><style>{_CSS}</style>"
             f"</head><body>\n<h1>{esc(doc.topic)}</h1>"]
    if doc.stats is not None:
        parts.append(f"<p class=\"check\">{esc(doc.stats.sentence(doc.chinese))}</p>")
    for title, text in doc.sections:
        parts.append(f"<h2>{esc(title)}</h2>")
        items: list[str] = []
        for para in paragraphs(text):
            joiner = "" if doc.chinese else " "
            body = joiner.join(_sentence_html(s, doc.bank, order) for s in para)
            bullet = bool(para) and para[0].startswith(("- ", "* "))
            if items and not bullet:
                parts.append("<ul>" + "".join(items) + "</ul>")
                items = []
            heading = re.match(r"^(#{3,6})\s+(.*)$", " ".join(para))
            if bullet:
                items.append(f"<li>{re.sub(r'^[-*] ', '', body)}</li>")
            elif heading:
                level = len(heading.group(1))
                parts.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            else:
                parts.append(f"<p>{body}</p>")
        if items:
            parts.append("<ul>" + "".join(items) + "</ul>")
    ref_title = _REF_HEADINGS[1] if doc.chinese else _REF_HEADINGS[0]
    parts.append(f"<h2>{ref_title}</h2><ol class=\"refs\">")
    for n, ev in doc.references():
        parts.append(f"<li id=\"ref-{n}\" value=\"{n}\"><a href=\"{esc(ev.url)}\">"
                     f"{esc(ev.title or ev.url)}</a> <small>{esc(ev.url)}</small>"
                     f"<blockquote>{esc(ev.quote)}</blockquote></li>")
    parts.append("</ol>\n</body></html>\n")
    return "\n".join(parts)


def _sentence_html(sentence: str, bank: EvidenceBank, order: dict[str, int]) -> str:
    flagged = sentence.endswith(FLAG)
    text = sentence[: -len(FLAG)].rstrip() if flagged else sentence
    out: list[str] = []
    pos = 0
    lead = "" if has_cjk(text) else " "
    for m in _GROUP.finditer(text):
        out.append(_inline(text[pos:m.start()]) + lead)
        for eid in (f"E{n}" for n in EVIDENCE_ID.findall(m.group(1))):
            ev = bank.get(eid)
            if ev is not None and eid in order:
                n = order[eid]
                out.append(f"<a class=\"cite\" href=\"#ref-{n}\" "
                           f"title=\"{html.escape(ev.quote, quote=True)}\">[{n}]</a>")
        pos = m.end()
    out.append(_inline(text[pos:]))
    body = "".join(out)
    if flagged:
        return (f"<span class=\"unsupported\" title=\"Not supported by its cited source\">"
                f"{body}</span> <span class=\"flag\">{FLAG}</span>")
    return body


def _inline(text: str) -> str:
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", html.escape(text))
