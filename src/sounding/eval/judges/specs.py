"""The four published graders: HLE/BrowseComp, xbench (Chinese), equivalence, SimpleQA."""

from __future__ import annotations

import re

from ...errors import LLMResponseError
from ...types import JSON
from ._parse import field_lines, json_object, strip_think
from .base import Grade, Verdict
from .llm import JudgeSpec

__all__ = ["EQUIVALENCE", "HLE", "SIMPLEQA", "SPECS", "XBENCH"]


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


def _schema(props: dict[str, JSON]) -> dict[str, JSON]:
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": False}


_S: dict[str, JSON] = {"type": "string"}
HLE = JudgeSpec("hle", "hle_judge.txt", _schema({
    "extracted_final_answer": _S, "reasoning": _S,
    "correct": {"type": "string", "enum": ["yes", "no"]}, "confidence": {"type": "number"},
}), parse_hle)
XBENCH = JudgeSpec("xbench", "xbench_judge.txt", _schema({
    "最终答案": _S, "解释": _S, "结论": {"type": "string", "enum": ["正确", "错误"]},
}), parse_xbench)
EQUIVALENCE = JudgeSpec("equivalence", "equivalence_judge.txt", _schema({
    "judgement": {"type": "string", "enum": ["Correct", "Incorrect"]},
}), parse_equivalence)
SIMPLEQA = JudgeSpec("simpleqa", "simpleqa_judge.txt", _schema({
    "grade": {"type": "string", "enum": ["correct", "incorrect", "not_attempted"]},
}), parse_simpleqa)
SPECS: dict[str, JudgeSpec] = {s.name: s for s in (HLE, XBENCH, EQUIVALENCE, SIMPLEQA)}
