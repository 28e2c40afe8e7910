"""Tokenizers the sample builder accepts: tiktoken ranks (Qwen's, offline), any HF tokenizer,
and a tiny byte-level one built in memory for tests and toy models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConfigError
from ..llm.tokens import QWEN_PATTERN, QWEN_SPECIAL_TOKENS

__all__ = ["CHATML_SPECIALS", "QWEN_PATTERN", "HFTokenizer", "TiktokenTokenizer", "Tokenizer",
           "qwen_tokenizer", "tiny_hf_tokenizer"]

# Qwen's special tokens in their published order (ids follow the 151,643 regular ranks).
_QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
                  "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>",
                  "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
                  "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
                  "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
                  "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>",
                  "<think>", "</think>")
CHATML_SPECIALS = tuple(QWEN_SPECIAL_TOKENS)
"""The specials a ChatML transcript uses (the tiny tokenizer's whole-token vocabulary)."""


class Tokenizer(Protocol):
    """What rendering needs: plain text to ids (special-token text recognised), ids back."""

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: Sequence[int]) -> str: ...
    def special_id(self, token: str) -> int: ...


class TiktokenTokenizer:
    """A tiktoken `Encoding` with special tokens recognised anywhere in the text."""

    def __init__(self, encoding: Any) -> None:
        self.encoding = encoding

    def encode(self, text: str) -> list[int]:
        return list(self.encoding.encode(text, allowed_special="all"))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.encoding.decode(list(ids)))

    def special_id(self, token: str) -> int:
        return int(self.encoding.encode_single_token(token))


def qwen_tokenizer(path: Path) -> TiktokenTokenizer:
    """The exact Qwen2/2.5/3 tokenizer from a `qwen.tiktoken` rank file (no download)."""
    try:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe
    except ImportError as exc:  # pragma: no cover - tiktoken is in the tokens extra
        raise ConfigError("the Qwen tokenizer needs tiktoken: pip install 'sounding[tokens]'") \
            from exc
    ranks = load_tiktoken_bpe(str(path))
    specials = {tok: len(ranks) + i for i, tok in enumerate(_QWEN_SPECIALS)}
    enc = tiktoken.Encoding(name="qwen", pat_str=QWEN_PATTERN, mergeable_ranks=ranks,
                            special_tokens=specials)
    return TiktokenTokenizer(enc)


class HFTokenizer:
    """A Hugging Face tokenizer (any `PreTrainedTokenizerBase`)."""

    def __init__(self, tok: Any) -> None:
        self.tok = tok

    def encode(self, text: str) -> list[int]:
        return list(self.tok.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        return str(self.tok.decode(list(ids), skip_special_tokens=False,
                                   clean_up_tokenization_spaces=False))

    def special_id(self, token: str) -> int:
        tid = self.tok.convert_tokens_to_ids(token)
        if not isinstance(tid, int) or tid == self.tok.unk_token_id:
            raise ConfigError(f"the tokenizer has no special token {token!r}")
        return tid


def tiny_hf_tokenizer(extra_tokens: Sequence[str] = ()) -> Any:
    """A byte-level tokenizer with no merges (256 bytes, then the ChatML specials and
    `extra_tokens` as whole tokens): lossless on any text, small enough for tiny models."""
    from tokenizers import Tokenizer as RawTokenizer
    from tokenizers import decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    raw = RawTokenizer(models.BPE(vocab=vocab, merges=[]))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    raw.decoder = decoders.ByteLevel()
    raw.add_special_tokens([*CHATML_SPECIALS, *extra_tokens])
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=raw, eos_token="<|im_end|>", pad_token="<|endoftext|>")
