"""Verbalisation: an LLM writes the question from the formal spec; code and a second call check it.

Checks: the answer and its aliases do not appear in the question (code); a second
call reads the constraints back from the question, and the relations it finds must
match the spec's, one for one (code compares). English and Chinese.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .._templates import render
from ..config import Sampling
from ..eval.judges import normalize_answer
from ..llm.base import ChatModel, ChatRequest
from ..llm.reply_json import json_object
from ..types import JSON, Message, is_cjk
from .items import aliases_of
from .stage import Progress, Stage, passed

__all__ = ["LANGUAGES", "ask_json", "leaks", "readback_matches", "run_verbalize", "verbalize"]

LANGUAGES = {"en": "English", "zh": "Chinese (简体中文)"}
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


async def ask_json(model: ChatModel, prompt: str, purpose: str) -> dict[str, JSON] | None:
    """One user-turn call whose reply should hold a JSON object; None if it does not."""
    request = ChatRequest(messages=[Message("user", prompt)], purpose=purpose,
                          sampling=Sampling(temperature=0.7))
    return json_object((await model.complete(request)).text)


def leaks(question: str, names: Sequence[str]) -> str | None:
    """The first answer name found in the question (normalised, whole words), if any."""
    text = f" {normalize_answer(question)} "
    raw = unicodedata.normalize("NFKC", question).lower()
    for name in names:
        norm = normalize_answer(name)
        if _NUMBER.fullmatch(name.strip()):  # a computed answer: any length counts
            if re.search(rf"(?<![\d.,]){re.escape(name.strip())}(?![\d])", question):
                return name
            continue
        if is_cjk(name):
            if unicodedata.normalize("NFKC", name).lower() in raw:
                return name
        elif len(norm) >= 3 and f" {norm} " in text:  # "US", "FR": too short to tell
            return name
    return None


def readback_matches(readback: Mapping[str, JSON] | None, relations: Sequence[str],
                     constants: Sequence[str] = ()) -> bool:
    """The relations read back from the question equal the spec's, as a multiset, and
    every exact constant of the spec is named in some value read back."""
    if readback is None or not isinstance(readback.get("constraints"), list):
        return False
    entries = [c for c in readback["constraints"] if isinstance(c, dict)]  # type: ignore[union-attr]
    if Counter(str(c.get("relation")) for c in entries) != Counter(relations):
        return False
    values = " | ".join(normalize_answer(str(c.get("value", ""))) for c in entries)
    return all(normalize_answer(name) in values for name in constants)


def exact_constants(item: Mapping[str, JSON]) -> list[str]:
    """Names of the spec's single constants (ranges and sets are read loosely)."""
    prov = item.get("provenance")
    rows = prov.get("formal") if isinstance(prov, dict) else None
    out = []
    for row in rows if isinstance(rows, list) else []:
        obj = str(row[2]) if isinstance(row, list) and len(row) == 3 else ""
        if obj.startswith("C@") and not obj.startswith("C@[") and " or C@" not in obj:
            out.append(obj[2:])
    return out


@dataclass(frozen=True, slots=True)
class Verbalized:
    question: str | None
    reason: str
    """ok, bad_reply, leak or readback_mismatch."""
    calls: int


async def verbalize(model: ChatModel, item: Mapping[str, JSON], lang: str) -> Verbalized:
    """Write the question of `item` in `lang` and check it; two LLM calls at most."""
    constraints = item["constraints"]
    assert isinstance(constraints, dict)
    phrases = constraints[lang]
    assert isinstance(phrases, list)
    prompt = render("sounding.synth", "verbalize.txt", language=LANGUAGES[lang],
                    constraints="\n".join(f"- {p}" for p in phrases))
    reply = await ask_json(model, prompt, "synth_verbalize")
    question = reply.get("question") if reply else None
    if not isinstance(question, str) or not question.strip():
        return Verbalized(None, "bad_reply", 1)
    names = aliases_of(item)
    if leaks(question, [str(item["answer"]), *names]):
        return Verbalized(question, "leak", 1)
    relations = [str(t["r"]) for t in _triples(item)]
    vocab = sorted(set(relations) | {"mentions", "class", "birth_year", "population"})
    back = await ask_json(model, render("sounding.synth", "readback.txt", question=question,
                                        relations=", ".join(vocab)), "synth_readback")
    if not readback_matches(back, relations, exact_constants(item)):
        return Verbalized(question, "readback_mismatch", 2)
    return Verbalized(question.strip(), "ok", 2)


def _triples(item: Mapping[str, JSON]) -> list[dict[str, JSON]]:
    spec = item["spec"]
    assert isinstance(spec, dict) and isinstance(spec["triples"], list)
    return [t for t in spec["triples"] if isinstance(t, dict)]


async def run_verbalize(items_path: Path, out_dir: Path, model: ChatModel, *,
                        langs: Sequence[str] = ("en",), limit: int | None = None,
                        progress: Progress | None = None) -> Stage:
    """Verbalise every item in each language; an item is kept when all languages pass."""
    params: dict[str, JSON] = {"items": str(items_path), "langs": list(langs)}
    with Stage(out_dir, "verbalize", params, progress) as stage:
        for key, item in stage.todo(items_path, limit):
            texts: dict[str, JSON] = {}
            reason = "ok"
            for lang in langs:
                result = await verbalize(model, item, lang)
                stage.llm_calls += result.calls
                if result.reason != "ok":
                    reason = f"{result.reason}_{lang}"
                    break
                texts[lang] = result.question
            if reason != "ok":
                stage.reject(key, reason)
                continue
            stage.keep(key, passed(item, ["no_leak", "readback_match"], {"text": texts}))
    return stage

