"""Token counting: the estimate against the real Qwen vocabulary, exact counters, the CJK helper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sounding.errors import ConfigError
from sounding.llm.tokens import (
    EstimateCounter,
    TiktokenCounter,
    TokenCounter,
    count_messages,
    estimate_tokens,
    load_counter,
)
from sounding.types import cjk_count, is_cjk
from sounding.types import estimate_tokens as types_estimate

DATA = Path(__file__).parent / "data"
QWEN = DATA / "qwen.tiktoken"
SAMPLES: dict[str, str] = json.loads((DATA / "token_samples.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def qwen() -> TiktokenCounter:
    pytest.importorskip("tiktoken", reason="tiktoken is in the tokens extra")
    return TiktokenCounter(QWEN)


def test_types_estimate_is_the_same_function() -> None:
    assert types_estimate is estimate_tokens
    assert estimate_tokens("") == 0


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_estimate_within_target_of_real_qwen_count(qwen: TiktokenCounter, kind: str) -> None:
    text = SAMPLES[kind]
    ratio = estimate_tokens(text) / qwen.count(text)
    assert 0.95 <= ratio <= 1.3, f"{kind}: estimate/actual {ratio:.3f}"


def test_digits_cost_one_token_each(qwen: TiktokenCounter) -> None:
    table = "\n".join(f"{i * 7919:>10},{i * 104729:>12}" for i in range(200))
    digits = sum(c.isdigit() for c in table)
    assert estimate_tokens(table) >= digits
    assert estimate_tokens(table) >= 0.97 * qwen.count(table)
    assert estimate_tokens(table) > 3 * len(table) / 4  # chars/4 said a third of this


def test_short_texts_do_not_undercount_much(qwen: TiktokenCounter) -> None:
    for text in ("https://en.wikipedia.org/wiki/Special:Search?search=1984&go=Go",
                 "北京是中华人民共和国的首都。", "Привет, мир!", "x = [1, 2, 3]",
                 "<tool_call>\n{\"name\": \"search\"}\n</tool_call>"):
        assert estimate_tokens(text) >= 0.9 * qwen.count(text), text


def test_tiktoken_counter_knows_qwen_special_tokens(qwen: TiktokenCounter) -> None:
    assert qwen.count("<think>") == 1
    assert qwen.encode("<tool_response>") == [151665]
    assert qwen.count("2026") == 4  # every digit its own token


def test_load_counter_picks_by_spec(tmp_path: Path) -> None:
    assert isinstance(load_counter(None), EstimateCounter)
    assert isinstance(load_counter(None), TokenCounter)
    with pytest.raises(ConfigError, match="does not exist"):
        load_counter(tmp_path / "missing.tiktoken")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ConfigError, match=r"no tokenizer\.json"):
        load_counter(tmp_path / "folder")
    bad = tmp_path / "bad.tiktoken"
    bad.write_text("not base64 at all\n")
    pytest.importorskip("tiktoken")
    with pytest.raises(ConfigError, match="not a readable tiktoken"):
        load_counter(bad)
    exact = load_counter(str(QWEN))
    assert isinstance(exact, TiktokenCounter) and exact.count("hello world") == 2


def test_hf_tokenizer_folder(tmp_path: Path) -> None:
    tokenizers = pytest.importorskip("tokenizers", reason="the tokenizers package is optional")
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel({"a": 0, "b": 1, "[UNK]": 2},
                                                           unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    assert load_counter(tmp_path).count("a b a c") == 4


def test_count_messages_uses_the_counter(qwen: TiktokenCounter) -> None:
    messages = [{"role": "user", "content": "12345"}, {"role": "assistant", "content": None,
                "tool_calls": [{"function": {"name": "search"}}]}]
    exact = count_messages(messages, qwen)
    assert exact == 5 + qwen.count('[{"function": {"name": "search"}}]') + 2 * 4
    assert count_messages(messages) >= exact - 2


def test_cjk_helper() -> None:
    assert is_cjk("北京 weather") and is_cjk("東京タワー") and is_cjk("서울")
    assert not is_cjk("Moscow Москва") and not is_cjk("")
    assert is_cjk("中国", han_only=True) and not is_cjk("서울", han_only=True)
    assert not is_cjk("ภาษาไทย", han_only=True) and is_cjk("ภาษาไทย")
    assert cjk_count("ab中文cd日本") == 4 and cjk_count("plain") == 0


def test_cjk_after_latin_letters_is_counted_as_cjk() -> None:
    assert estimate_tokens("abc中文中文") == estimate_tokens("abc") + estimate_tokens("中文中文")
