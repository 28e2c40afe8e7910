"""Token counting: a calibrated estimate that does not undercount, or exact local counts.

`estimate_tokens` (the same function as `sounding.types.estimate_tokens`, which lives in
the ground layer so every package may use it) needs nothing. `load_counter` gives exact
counts from a tiktoken rank file (`pip install "sounding[tokens]"`) or a Hugging Face
tokenizer folder (the `tokenizers` package), and the estimator when no tokenizer is named.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError
from ..types import estimate_tokens

__all__ = [
    "PER_MESSAGE_TOKENS",
    "QWEN_PATTERN",
    "QWEN_SPECIAL_TOKENS",
    "EstimateCounter",
    "HFTokenizerCounter",
    "TiktokenCounter",
    "TokenCounter",
    "count_messages",
    "estimate_tokens",
    "load_counter",
    "shared_counter",
]

QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
"""Qwen's pre-tokenizer pattern (every digit its own piece)."""

QWEN_SPECIAL_TOKENS: Mapping[str, int] = {
    "<|endoftext|>": 151643, "<|im_start|>": 151644, "<|im_end|>": 151645,
    "<tool_call>": 151657, "</tool_call>": 151658,
    "<tool_response>": 151665, "</tool_response>": 151666,
    "<think>": 151667, "</think>": 151668,
}
"""The Qwen3 special tokens that appear in Tongyi transcripts (one token each)."""

# Chat templates add a few tokens of framing per message (<|im_start|>role\n ... <|im_end|>\n).
PER_MESSAGE_TOKENS = 4


@runtime_checkable
class TokenCounter(Protocol):
    """Anything that counts the tokens of a text for one model."""

    def count(self, text: str) -> int: ...


@functools.lru_cache(maxsize=1024)  # bounded: at most ~1,000 texts held (tens of MB at worst)
def _cached_estimate(text: str) -> int:
    return estimate_tokens(text)


class EstimateCounter:
    """The calibrated estimate (`estimate_tokens`): never loads anything.

    Counts are memoised per text: a growing ReAct prompt (and a server counting it, like
    the scripted doubles) sees the same messages again on every call, and hashing a
    string is far cheaper than estimating it."""

    exact = False

    def count(self, text: str) -> int:
        return _cached_estimate(text) if len(text) > 64 else estimate_tokens(text)

    def __repr__(self) -> str:
        return "EstimateCounter()"


class TiktokenCounter:
    """Exact counts from a tiktoken rank file (Qwen's pattern and special tokens by default)."""

    exact = True

    def __init__(self, path: str | Path, *, pattern: str = QWEN_PATTERN,
                 special_tokens: Mapping[str, int] | None = None) -> None:
        try:
            import tiktoken
            from tiktoken.load import load_tiktoken_bpe
        except ImportError as exc:
            raise ConfigError(f"counting tokens with {path} needs tiktoken: "
                              'pip install "sounding[tokens]"') from exc
        self.path = Path(path)
        try:
            ranks = load_tiktoken_bpe(str(self.path))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} is not a readable tiktoken rank file: {exc}") from exc
        specials = dict(QWEN_SPECIAL_TOKENS if special_tokens is None else special_tokens)
        # Specials must not collide with regular ranks (another vocabulary than Qwen's).
        specials = {k: v for k, v in specials.items() if v >= len(ranks)}
        self._encoding = tiktoken.Encoding(name=self.path.stem, pat_str=pattern,
                                           mergeable_ranks=ranks, special_tokens=specials)

    def count(self, text: str) -> int:
        return len(self._encoding.encode(text, allowed_special="all"))

    def encode(self, text: str) -> list[int]:
        return list(self._encoding.encode(text, allowed_special="all"))

    def __repr__(self) -> str:
        return f"TiktokenCounter({str(self.path)!r})"


class HFTokenizerCounter:
    """Exact counts from a Hugging Face `tokenizer.json` (the `tokenizers` package)."""

    exact = True

    def __init__(self, path: str | Path) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ConfigError(f"counting tokens with {path} needs the tokenizers package: "
                              "pip install tokenizers") from exc
        self.path = Path(path)
        file = self.path / "tokenizer.json" if self.path.is_dir() else self.path
        try:
            self._tokenizer: Any = Tokenizer.from_file(str(file))
        except Exception as exc:  # the Rust binding raises a bare Exception
            raise ConfigError(f"{file} is not a readable tokenizer.json: {exc}") from exc

    def count(self, text: str) -> int:
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)

    def __repr__(self) -> str:
        return f"HFTokenizerCounter({str(self.path)!r})"


def load_counter(spec: str | Path | None) -> TokenCounter:
    """The counter named by `llm.tokenizer`: None -> the estimate; a folder holding
    `tokenizer.json` or such a file -> Hugging Face tokenizers; any other file -> tiktoken
    ranks. ConfigError when the path is missing or its package is not installed."""
    if spec is None or str(spec) == "":
        return EstimateCounter()
    path = Path(spec).expanduser()
    if not path.exists():
        raise ConfigError(f"tokenizer {spec} does not exist: name a tiktoken rank file or a "
                          "folder with tokenizer.json")
    if path.is_dir():
        if not (path / "tokenizer.json").is_file():
            raise ConfigError(f"tokenizer folder {spec} has no tokenizer.json")
        return HFTokenizerCounter(path)
    if path.name.endswith(".json"):
        return HFTokenizerCounter(path)
    return TiktokenCounter(path)


@functools.lru_cache(maxsize=8)
def shared_counter(spec: str | None) -> TokenCounter:
    """`load_counter`, loaded once per process for each tokenizer (runs share it)."""
    return load_counter(spec)


def count_messages(messages: Sequence[Mapping[str, object]],
                   counter: TokenCounter | None = None) -> int:
    """Prompt size of OpenAI-style message dicts (content, tool calls, template framing)."""
    count = (counter or EstimateCounter()).count
    total = 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            total += count(content)
        elif content is not None:
            total += count(json.dumps(content, ensure_ascii=False))
        calls = m.get("tool_calls")
        if calls:
            total += count(json.dumps(calls, ensure_ascii=False))
        total += PER_MESSAGE_TOKENS
    return total
