"""The context edge: estimate a prompt before sending it, and trim one until it fits.

The loop asks before every model call whether the prompt plus `max_tokens` fits
`llm.context_window`; a closing call (forced answer, summary, synthesis) that would not
fit is trimmed here: the newest observation keeps its head and loses its tail, with a
marker saying how much was cut; only when even that cannot make room is it replaced.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from ..llm.base import ToolSchema
from ..llm.tokens import PER_MESSAGE_TOKENS
from ..types import Message, estimate_tokens

__all__ = ["TokenCache", "clip", "fit_messages", "message_tokens", "prompt_tokens",
           "shrink_factor"]

_RESPONSE_CLOSE = "\n</tool_response>"
_REPLACED = "[This result was removed: it does not fit in the context window.]"


def message_tokens(message: Message, count: Callable[[str], int] = estimate_tokens) -> int:
    """Size of one message in a prompt (content, tool calls, framing); `count` is the
    run's token counter: the calibrated estimate, or exact with `llm.tokenizer`."""
    total = count(message.content) + PER_MESSAGE_TOKENS
    if message.tool_calls:
        total += count(json.dumps([c.to_dict() for c in message.tool_calls],
                                  ensure_ascii=False))
    return total


class TokenCache:
    """Per-message estimates of one run, so checking a 100-round prompt before every call
    costs one estimate per new message, not one per message per round."""

    def __init__(self, count: Callable[[str], int] = estimate_tokens) -> None:
        self._count = count
        self._sizes: dict[int, tuple[Message, int]] = {}
        self._last: list[Message] = []
        self._last_total = 0

    def __call__(self, message: Message) -> int:
        hit = self._sizes.get(id(message))
        if hit is not None and hit[0] is message:
            return hit[1]
        size = message_tokens(message, self._count)
        self._sizes[id(message)] = (message, size)
        return size

    def prompt(self, messages: Sequence[Message]) -> int:
        """The estimated size of `messages`. A prompt that extends the last one (react's
        growing history) costs only its new messages: list equality checks identity
        first, in C."""
        k = len(self._last)
        if k and len(messages) >= k and list(messages[:k]) == self._last:
            total = self._last_total + sum(self(m) for m in messages[k:])
        else:
            total = sum(self(m) for m in messages)
        self._last, self._last_total = list(messages), total
        return total


def prompt_tokens(messages: Sequence[Message], tools: Sequence[ToolSchema] = (),
                  count: Callable[[Message], int] = message_tokens,
                  text_count: Callable[[str], int] = estimate_tokens) -> int:
    """Prompt size: every message with its framing, tool calls, tool schemas."""
    total = sum(count(m) for m in messages)
    if tools:
        total += text_count(json.dumps([t.to_openai() for t in tools], ensure_ascii=False))
    return total


def clip(text: str, max_tokens: int) -> str:
    """`text` cut to about `max_tokens` tokens (head kept), with a marker saying so."""
    total = estimate_tokens(text)
    if total <= max_tokens:
        return text
    marker = f"\n[... truncated: about {max_tokens} of {total} tokens kept]"
    # Tokens are estimated from characters; scale by the text's own density and
    # leave room for the marker so the clipped text really fits the cap.
    keep = max(int(len(text) * (max_tokens - estimate_tokens(marker)) / total), 0)
    while keep > 0 and estimate_tokens(text[:keep] + marker) > max_tokens:
        keep = int(keep * 0.95)
    return text[:keep].rstrip() + marker


def _observation_indices(messages: Sequence[Message]) -> list[int]:
    """Tool results (and the user messages that carry them in `tags`), newest first."""
    out = [i for i, m in enumerate(messages)
           if m.role == "tool" or (m.role == "user" and "<tool_response>" in m.content)]
    return out[::-1]


def _clip_message(message: Message, max_tokens: int) -> Message:
    text = message.content
    closed = text.endswith(_RESPONSE_CLOSE)
    body = text[: -len(_RESPONSE_CLOSE)] if closed else text
    body = clip(body, max(max_tokens - (5 if closed else 0), 0))
    return Message(message.role, body + (_RESPONSE_CLOSE if closed else ""),
                   tool_calls=message.tool_calls, tool_call_id=message.tool_call_id)


def _replace(message: Message) -> Message:
    text = f"<tool_response>\n{_REPLACED}{_RESPONSE_CLOSE}" if message.role == "user" \
        else _REPLACED
    return Message(message.role, text, tool_calls=message.tool_calls,
                   tool_call_id=message.tool_call_id)


def fit_messages(messages: Sequence[Message], budget: int,
                 tools: Sequence[ToolSchema] = ()) -> list[Message]:
    """`messages` whose estimated prompt is at most `budget` tokens.

    Observations are sacrificed newest first (the newest is trimmed, not dropped,
    whenever a trimmed copy makes the prompt fit), then older ones; the system prompt,
    the question and the last message (the closing instruction) are kept whole.
    """
    out = list(messages)
    for index in _observation_indices(out):
        if index in (0, 1, len(out) - 1):
            continue
        over = prompt_tokens(out, tools) - budget
        if over <= 0:
            break
        size = estimate_tokens(out[index].content)
        room = size - over
        # A trimmed result under ~64 tokens says nothing useful; replace it instead.
        out[index] = _clip_message(out[index], room) if room >= 64 else _replace(out[index])
    return out


_LIMIT = re.compile(r"maximum context length is (\d+)")
_ASKED = re.compile(r"(?:requested|resulted in|you requested) (\d+)")


def shrink_factor(message: str) -> float:
    """How much smaller the next prompt should be after a server's context refusal:
    from the numbers in vLLM's message when present, else by a quarter."""
    limit, asked = _LIMIT.search(message), _ASKED.search(message)
    if limit and asked and int(asked.group(1)) > 0:
        return min(max(int(limit.group(1)) / int(asked.group(1)) * 0.95, 0.3), 0.9)
    return 0.75
