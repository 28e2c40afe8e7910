"""The writer: one section at a time, from the outline, the section's own evidence and a
short digest of what came before, so the prompt stays the same size however long the
report grows."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .._templates import render
from ..config import Sampling
from ..llm.base import ChatModel, ChatRequest, Completion
from ..llm.protocols import split_think
from ..types import JSONObject, Message
from ._text import has_cjk, sentences
from .evidence import EVIDENCE_ID, EvidenceBank
from .outline import Outline, Section

__all__ = ["WrittenSection", "digest", "section_prompt", "tidy_section", "write_section"]

_DIGEST_SECTIONS = 4
_DIGEST_WORDS = 40
_QUOTE_CHARS = 400
_MAX_EVIDENCE = 16
_OWN_REFS = re.compile(r"^\s*(?:#+\s*|\*\*)?(?:References|Sources|Bibliography|参考文献|参考资料)"
                       r"\b.*$", re.M | re.I)


@dataclass(frozen=True, slots=True)
class WrittenSection:
    """A finished section; citations are still evidence ids (`[E3]`)."""

    key: str
    title: str
    text: str

    def to_dict(self) -> JSONObject:
        return {"key": self.key, "title": self.title, "text": self.text}

    @classmethod
    def from_dict(cls, d: JSONObject) -> WrittenSection:
        return cls(str(d["key"]), str(d["title"]), str(d["text"]))


def digest(done: Sequence[WrittenSection]) -> str:
    """The last few sections, each cut to its opening words, citations dropped."""
    if not done:
        return "(this is the first section)"
    lines = []
    for sec in done[-_DIGEST_SECTIONS:]:
        text = re.sub(r"\s*\[[^\]]*\]", "", sec.text)
        first = " ".join(sentences(text)[:2])
        if has_cjk(first):
            first = first[:_DIGEST_WORDS * 2]
        else:
            words = first.split()
            first = " ".join(words[:_DIGEST_WORDS]) + (" ..." if len(words) > _DIGEST_WORDS
                                                       else "")
        lines.append(f"- {sec.title}: {first}")
    return "\n".join(lines)


def section_prompt(outline: Outline, number: int, bank: EvidenceBank,
                   done: Sequence[WrittenSection]) -> str:
    sec = outline.sections[number - 1]
    evidence = bank.resolve(sec.evidence)[:_MAX_EVIDENCE]
    chinese = has_cjk(outline.topic)
    return render(
        "sounding.report", "writer.txt", topic=outline.topic, outline=outline.summary(),
        digest=digest(done), number=number, title=sec.title,
        points="\n".join(f"- {p.text}" for p in sec.points) or f"- {sec.title}",
        evidence="\n".join(ev.line(_QUOTE_CHARS) for ev in evidence) or "(none)",
        language="Chinese (简体中文)" if chinese else "the language of the topic",
    )


async def write_section(model: ChatModel, sampling: Sampling, outline: Outline, number: int,
                        bank: EvidenceBank, done: Sequence[WrittenSection],
                        ) -> tuple[WrittenSection, ChatRequest, Completion]:
    """Write section `number` (1-based); returns the section and the call to record."""
    sec = outline.sections[number - 1]
    request = ChatRequest(messages=[Message("user", section_prompt(outline, number, bank, done))],
                          sampling=sampling, purpose="write_section")
    completion = await model.complete(request)
    text = tidy_section(completion.text, sec, bank)
    return WrittenSection(sec.key(), sec.title, text), request, completion


def tidy_section(text: str, section: Section, bank: EvidenceBank) -> str:
    """The model's text without reasoning or a repeated heading, with citations written
    `[E1, E2]` and ids that are not in the bank dropped."""
    _think, body = split_think(text)
    body = re.sub(r"^\s*#+[^\n]*\n", "", body.strip())
    # A reference list of its own would duplicate (and disagree with) the report's.
    body = _OWN_REFS.split(body, maxsplit=1)[0]

    def fix(m: re.Match[str]) -> str:
        ids = [f"E{n}" for n in EVIDENCE_ID.findall(m.group(0))]
        known = [i for i in dict.fromkeys(ids) if i in bank]
        return f" [{', '.join(known)}]" if known else ""

    body = re.sub(r"\s*[\[【]\s*E\d+(?:\s*[,，;、]\s*E?\d+)*\s*[\]】]", fix, body)
    body = re.sub(r"\](\s*)\[(?=E\d)", ", ", body)  # [E1] [E2] -> [E1, E2]
    return body.strip()
