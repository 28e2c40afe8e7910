"""Shared fixtures for the training tests: the two tokenizers and trajectories from real runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sounding.train.tokenizers import HFTokenizer, TiktokenTokenizer, Tokenizer, qwen_tokenizer

QWEN_RANKS = Path(__file__).parent.parent / "llm" / "data" / "qwen.tiktoken"


@pytest.fixture(scope="session")
def qwen() -> TiktokenTokenizer:
    return qwen_tokenizer(QWEN_RANKS)


@pytest.fixture(scope="session")
def tiny() -> HFTokenizer:
    pytest.importorskip("transformers", reason="the tiny tokenizer needs the train extra")
    from sounding.train.tokenizers import tiny_hf_tokenizer

    return HFTokenizer(tiny_hf_tokenizer(["<answer>", "</answer>"]))


@pytest.fixture(params=["qwen", "tiny"])
def tok(request: pytest.FixtureRequest) -> Tokenizer:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]
