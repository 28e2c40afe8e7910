"""The published graders (official texts) and Sounding's own wordings of them.

Official: `hle` (HLE, BrowseComp), `xbench`, `equivalence` (GAIA, WebWalkerQA), `simpleqa`,
each with upstream's reply schema and parsing rule. Sounding's: `sounding-hle`, ... (the
same fields in our words, with tolerant parsing); their numbers are not comparable.
"""

from __future__ import annotations

import re

from ...errors import LLMResponseError
from ...types import JSON
from ._parse import field_lines, json_object, strip_think
from .base import Grade, Verdict
from .llm import JudgeSpec

__all__ = ["EQUIVALENCE", "HLE", "OFFICIAL", "SIMPLEQA", "SPECS", "XBENCH"]


def _str(value: JSON | None) -> str:
    return "" if value is None else str(value).strip()


def _fail(kind: str, text: str) -> LLMResponseError:
    return LLMResponseError(f"{kind} judge reply has no readable verdict: {text[:200]!r}")


def _verdict(ok: bool, **kw: object) -> Verdict:
    return Verdict(ok, "correct" if ok else "incorrect", float(ok), **kw)  # type: ignore[arg-type]


def _confidence(text: str) -> float | None:
    m = re.search(r"\d+(\.\d+)?", text)
    return min(100.0, float(m.group(0))) if m else None


def parse_hle(text: str) -> Verdict:
    data: dict[str, JSON] | dict[str, str] | None = json_object(text)
    if not data or "correct" not in data:
        data = field_lines(text, ["extracted_final_answer", "reasoning", "correct",
                                  "confidence"])
    word = _str(data.get("correct")).lower().strip(" .*\"'")
    if word not in ("yes", "no", "true", "false"):
        raise _fail("hle", text)
    extracted = _str(data.get("extracted_final_answer"))
    return _verdict(word in ("yes", "true"),
                    extracted=None if extracted in ("", "None") else extracted,
                    reasoning=_str(data.get("reasoning")),
                    confidence=_confidence(_str(data.get("confidence"))))


def parse_xbench(text: str) -> Verdict:
    data: dict[str, JSON] | dict[str, str] | None = json_object(text)
    if not data or "结论" not in data:
        data = field_lines(text, ["最终答案", "解释", "结论"])
    conclusion = _str(data.get("结论"))
    # 错误 is checked first: a hedged conclusion naming both counts as wrong.
    if "错误" in conclusion or "不正确" in conclusion:
        ok = False
    elif "正确" in conclusion:
        ok = True
    else:
        raise _fail("xbench", text)
    extracted = _str(data.get("最终答案"))
    return _verdict(ok, extracted=None if extracted in ("", "无") else extracted,
                    reasoning=_str(data.get("解释")))


def parse_equivalence(text: str) -> Verdict:
    data = json_object(text)
    word = _str(data.get("judgement")) if data else ""
    word = word or strip_think(text)
    # First word, stripped of markdown and punctuation: "Correct." and "**Correct**" count.
    head = re.sub(r"[^a-z]", " ", word.lower()).split()
    if not head or head[0] not in ("correct", "incorrect"):
        raise _fail("equivalence", text)
    return _verdict(head[0] == "correct")


_GRADES: dict[str, Grade] = {
    "correct": "correct", "a": "correct",
    "incorrect": "incorrect", "b": "incorrect",
    "not_attempted": "not_attempted", "not attempted": "not_attempted", "c": "not_attempted",
}


def parse_simpleqa(text: str) -> Verdict:
    data = json_object(text)
    word = _str(data.get("grade")) if data else strip_think(text)
    key = re.sub(r"[^a-z_ ]", "", word.lower().replace("-", "_")).strip()
    grade = _GRADES.get(key) or _GRADES.get(key.split(" ")[0] if key else "")
    if grade is None:
        raise _fail("simpleqa", text)
    return Verdict(grade == "correct", grade, float(grade == "correct"))


def parse_equivalence_official(text: str) -> Verdict:
    """Upstream's rule: correct when the reply, lower-cased, is `correct` (or starts with
    `a`); anything else counts wrong. Whitespace and a `<think>` block are removed first."""
    word = strip_think(text).strip().lower()
    return _verdict(word == "correct" or word.startswith("a"))


_LETTER = re.compile(r"(A|B|C)")
_LETTER_GRADE: dict[str, Grade] = {"A": "correct", "B": "incorrect", "C": "not_attempted"}


def parse_simpleqa_official(text: str) -> Verdict:
    """simple-evals' rule: the first A, B or C in the reply; none found means C."""
    match = _LETTER.search(strip_think(text))
    grade = _LETTER_GRADE[match.group(0) if match else "C"]
    return Verdict(grade == "correct", grade, float(grade == "correct"))


def _schema(props: dict[str, JSON]) -> dict[str, JSON]:
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


_S: dict[str, JSON] = {"type": "string"}
HLE = JudgeSpec("hle", "hle-browsecomp-official.txt", _schema({
    "extracted_final_answer": _S, "reasoning": _S,
    "correct": {"type": "string", "enum": ["yes", "no"]}, "confidence": {"type": "number"},
    "strict": {"type": "boolean", "enum": [True]},
}), parse_hle, "official", "HLE's official grader (also BrowseComp and BrowseComp-ZH)")
XBENCH = JudgeSpec("xbench", "xbench.txt", _schema({
    "最终答案": _S, "解释": _S, "结论": {"type": "string", "enum": ["正确", "错误"]},
}), parse_xbench, "official", "xbench-DeepSearch's official Chinese grader")
EQUIVALENCE = JudgeSpec("equivalence", "gaia-webwalker-equivalence.txt", None,
                        parse_equivalence_official, "official",
                        "upstream's equivalence grader (GAIA, WebWalkerQA), plain text")
SIMPLEQA = JudgeSpec("simpleqa", "simpleqa-three-way.txt", None, parse_simpleqa_official,
                     "official", "SimpleQA's three-way grader (A/B/C)")
OFFICIAL = (HLE, XBENCH, EQUIVALENCE, SIMPLEQA)
OWN = (
    JudgeSpec("sounding-hle", "hle_judge.txt", _schema({
        "extracted_final_answer": _S, "reasoning": _S,
        "correct": {"type": "string", "enum": ["yes", "no"]}, "confidence": {"type": "number"},
    }), parse_hle, description="Sounding's wording of the HLE grader (not comparable)"),
    JudgeSpec("sounding-xbench", "xbench_judge.txt", _schema({
        "最终答案": _S, "解释": _S, "结论": {"type": "string", "enum": ["正确", "错误"]},
    }), parse_xbench, description="Sounding's wording of the xbench grader (not comparable)"),
    JudgeSpec("sounding-equivalence", "equivalence_judge.txt", _schema({
        "judgement": {"type": "string", "enum": ["Correct", "Incorrect"]},
    }), parse_equivalence, description="Sounding's equivalence wording, tolerant parsing"),
    JudgeSpec("sounding-simpleqa", "simpleqa_judge.txt", _schema({
        "grade": {"type": "string", "enum": ["correct", "incorrect", "not_attempted"]},
    }), parse_simpleqa, description="Sounding's SimpleQA wording (not comparable)"),
)
SPECS: dict[str, JudgeSpec] = {s.name: s for s in (*OFFICIAL, *OWN)}
