"""The official judge texts: shipped byte for byte, rendered exactly, parsed by upstream's rules."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

import pytest

from sounding.errors import LLMResponseError
from sounding.eval.judges import build_judge
from sounding.eval.judges.llm import official_text
from sounding.eval.judges.specs import (
    OFFICIAL,
    SPECS,
    parse_equivalence_official,
    parse_simpleqa_official,
)
from sounding.llm.testing import ScriptedModel

from .helpers import REAL

SHARED = REAL / "judges"
# SHA-256 of each published text (judges README): holds even where the shared copy is absent.
SHA256 = {
    "gaia-webwalker-equivalence.txt":
        "4910e78fbab32c7362c27bb18a3b8477b504c796b809d254e0b54bc14debf367",
    "hle-browsecomp-official.txt":
        "2162e9498f34530c9eafe5d3a51ab12c78d4ec51641eb91bee84984c3e442b40",
    "simpleqa-three-way.txt":
        "a8963e4b05ccc176b24de555a969fb38dc6eb4ceb7c7025f955dc5fb691d510e",
    "xbench.txt": "471dff6cb8986dfe79c5bd3ef4a175ba237e47ff132c243588065814378eb4e9",
}
# Field values with braces, a percent sign and CJK: filled in verbatim, never interpreted.
FIELDS = {"question": "In {which} year did 50% of 北京 …?", "correct_answer": "1999 {AD}",
          "response": "Explanation: x\nExact Answer: 1999\nConfidence: 80%"}


def shared(name: str) -> str:
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"the shared benchmarks folder is not here ({SHARED})")
    return path.read_bytes().decode("utf-8")


@pytest.mark.parametrize("spec", OFFICIAL, ids=lambda s: s.name)
def test_package_text_is_the_published_text(spec: object) -> None:
    name = spec.template  # type: ignore[attr-defined]
    text = official_text(name)
    assert hashlib.sha256(text.encode()).hexdigest() == SHA256[name]
    assert spec.prompt_sha256 == SHA256[name]  # type: ignore[attr-defined]
    assert text == shared(name)


@pytest.mark.parametrize("spec", OFFICIAL, ids=lambda s: s.name)
async def test_rendered_prompt_equals_the_shared_text_filled(spec: object) -> None:
    text = shared(spec.template)  # type: ignore[attr-defined]
    expected = text
    for key, value in FIELDS.items():
        assert text.count("{" + key + "}") == 1
        expected = expected.replace("{" + key + "}", value)
    model = ScriptedModel(["Correct"])
    judge = build_judge(spec.name, model)  # type: ignore[attr-defined]
    with contextlib.suppress(LLMResponseError):  # only the prompt matters; hle wants JSON
        await judge.grade(FIELDS["question"], FIELDS["correct_answer"], FIELDS["response"])
    sent = model.requests[0].messages
    assert len(sent) == 1 and sent[0].role == "user" and sent[0].content == expected


def test_attribution_ships_with_the_texts() -> None:
    from importlib import resources

    note = (resources.files("sounding.eval.judges") / "official" / "ATTRIBUTION.md").read_text(
        encoding="utf-8")
    assert "Alibaba-NLP/DeepResearch" in note and "f72f75d" in note and "Apache-2.0" in note
    for origin in ("centerforaisafety/hle", "openai/simple-evals", "xbench-ai/xbench-evals"):
        assert origin in note


def test_reply_formats_match_the_readme() -> None:
    hle = SPECS["hle"].schema
    assert hle is not None
    props = hle["properties"]
    assert list(props) == ["extracted_final_answer", "reasoning", "correct", "confidence",  # type: ignore[arg-type]
                           "strict"]
    assert hle["required"] == list(props)  # type: ignore[arg-type]
    assert props["correct"]["enum"] == ["yes", "no"]  # type: ignore[index]
    assert props["strict"] == {"type": "boolean", "enum": [True]}  # type: ignore[index]
    xb = SPECS["xbench"].schema
    assert xb is not None and list(xb["properties"]) == ["最终答案", "解释", "结论"]  # type: ignore[arg-type]
    assert SPECS["equivalence"].schema is None and SPECS["simpleqa"].schema is None


@pytest.mark.parametrize(("reply", "ok"), [
    ("Correct", True), ("correct", True), ("  Correct\n", True), ("Incorrect", False),
    # Upstream's rule, kept as it is: only the bare word counts, and a reply starting
    # with "a" counts correct.
    ("Correct.", False), ("**Correct**", False), ("A", True), ("answer: Incorrect", True),
    ("", False), ("<think>hmm</think>Correct", True),
])
def test_equivalence_official_rule(reply: str, ok: bool) -> None:
    assert parse_equivalence_official(reply).correct is ok


@pytest.mark.parametrize(("reply", "grade"), [
    ("A", "correct"), ("B", "incorrect"), ("C", "not_attempted"), ("The grade is B", "incorrect"),
    ("b", "not_attempted"), ("no letter here", "not_attempted"), ("A or B", "correct"),
])
def test_simpleqa_official_rule(reply: str, grade: str) -> None:
    v = parse_simpleqa_official(reply)
    assert v.grade == grade and v.correct is (grade == "correct")


async def test_official_hle_judge_reads_structured_and_text_replies() -> None:
    reply = json.dumps({"extracted_final_answer": "1999", "reasoning": "same year",
                        "correct": "yes", "confidence": 80, "strict": True})
    text = "extracted_final_answer: 1998\nreasoning: differs\ncorrect: no\nconfidence: 60"
    model = ScriptedModel([reply, text])
    judge = build_judge("hle", model)
    v = await judge.grade("q", "1999", "1999")
    assert v.correct and v.extracted == "1999" and v.confidence == 80.0
    v = await judge.grade("q", "1999", "1998")
    assert not v.correct and v.confidence == 60.0


def test_official_texts_are_package_data() -> None:
    folder = Path(__file__).resolve().parents[2] / "src" / "sounding" / "eval" / "judges"
    assert sorted(p.name for p in (folder / "official").glob("*.txt")) == sorted(SHA256)
