"""Verbalisation checks: answer leaks (code), constraints read back (second call), Chinese."""

from __future__ import annotations

import json
from pathlib import Path

from sounding.llm.testing import ScriptedModel
from sounding.synth.stage import read_jsonl
from sounding.synth.verbalize import leaks, readback_matches, run_verbalize, verbalize

ITEM = {
    "key": "formal-0-1",
    "answer": "Beijing",
    "aliases": ["Beijing", "北京", "Peking"],
    "spec": {"target": "T", "triples": [
        {"s": "T", "r": "class", "o": {"const": "city"}, "op": "entity_class"},
        {"s": "T", "r": "population", "o": {"range": [1e7, 2e7]}, "op": "number_range"}]},
    "constraints": {"en": ["X is a city", "X has a population between 10 million and 20 million"],
                    "zh": ["X是某个city", "X的人口介于1000万到2000万之间"]},
    "question": {"en": "Find X ...", "zh": "请找出X ..."},
    "provenance": {"pipeline": "formal", "checks": ["unique"]},
}


def reply(data: object) -> str:
    return "<think>ok</think>" + json.dumps(data, ensure_ascii=False)


READBACK = reply({"constraints": [{"relation": "class", "value": "city"},
                                  {"relation": "population", "value": "10-20 million"}]})


def test_leaks() -> None:
    names = ["Beijing", "北京", "Peking", "CN"]
    assert leaks("Which city, once called Peking, has ...?", names) == "Peking"
    assert leaks("哪座城市是北京？", names) == "北京"
    assert leaks("Which Pekingese city ...?", names) is None  # whole words only
    assert leaks("Which city in CN ...?", names) is None  # two letters: not checked
    assert leaks("Which city has between 10 and 20 million people?", names) is None
    assert leaks("He lived 42 years. How long?", ["42"]) == "42"  # numbers of any length
    assert leaks("Born in 1942, how long did he live?", ["42"]) is None


def test_readback_matches() -> None:
    relations = ["class", "population"]
    assert readback_matches(json.loads(READBACK.split("</think>")[1]), relations)
    assert not readback_matches({"constraints": [{"relation": "class"}]}, relations)
    assert not readback_matches({"constraints": [{"relation": "class"}, {"relation": "class"}]},
                                relations)
    assert not readback_matches(None, relations)
    # an exact constant of the spec must be named in the values read back
    back = {"constraints": [{"relation": "mentions", "value": "the Danube river"}]}
    assert readback_matches(back, ["mentions"], ["Danube"])
    assert not readback_matches(back, ["mentions"], ["Rhine"])


async def test_verbalize_ok_leak_and_mismatch() -> None:
    good = ScriptedModel([reply({"question": "Which city has 10 to 20 million people?"}),
                          READBACK])
    result = await verbalize(good, ITEM, "en")
    good.assert_all_used()
    assert (result.reason, result.calls) == ("ok", 2)
    assert good.requests[0].purpose == "synth_verbalize"
    assert "X has a population between 10 million" in good.requests[0].messages[0].content
    leaky = ScriptedModel([reply({"question": "Is it Beijing, a city of 10-20 million?"})])
    assert (await verbalize(leaky, ITEM, "en")).reason == "leak"  # no second call made
    wrong = ScriptedModel([reply({"question": "Which city?"}),
                           reply({"constraints": [{"relation": "class", "value": "city"}]})])
    assert (await verbalize(wrong, ITEM, "en")).reason == "readback_mismatch"
    garbled = ScriptedModel(["no json here"])
    assert (await verbalize(garbled, ITEM, "en")).reason == "bad_reply"


async def test_chinese_item_and_resume(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps(ITEM, ensure_ascii=False) + "\n", encoding="utf-8")
    model = ScriptedModel([
        reply({"question": "Which city has between 10 and 20 million inhabitants?"}), READBACK,
        reply({"question": "哪座城市的人口介于1000万到2000万之间？"}), READBACK])
    stage = await run_verbalize(items, tmp_path / "v", model, langs=("en", "zh"))
    model.assert_all_used()
    assert stage.kept == 1 and stage.counts()["llm_calls_per_kept"] == 4
    row = next(read_jsonl(tmp_path / "v" / "items.jsonl"))
    assert row["text"] == {"en": "Which city has between 10 and 20 million inhabitants?",
                           "zh": "哪座城市的人口介于1000万到2000万之间？"}
    assert "readback_match" in row["provenance"]["checks"]  # type: ignore[index,operator]
    assert "Chinese" in model.requests[2].messages[0].content
    again = await run_verbalize(items, tmp_path / "v", ScriptedModel([]), langs=("en", "zh"))
    assert again.kept == 1 and again.seen == 1
    leaky = ScriptedModel([reply({"question": "哪座城市就是北京？"})])
    rejected = await run_verbalize(items, tmp_path / "w", leaky, langs=("zh",))
    assert rejected.reasons == {"leak_zh": 1}
