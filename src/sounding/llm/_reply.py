"""Reading a chat-completions reply: shape checks, text post-processing, token records.

Shared by the plain and the streamed call so that both return the same Completion.
Everything here treats the body as hostile: wrong types, lone surrogates, deep nesting
and oversized bodies are reported as `MalformedReplyError`, never as a traceback.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ..errors import MalformedReplyError
from ..types import JSON, JSONObject, Usage, estimate_tokens
from ._wire import cut_tool_response, estimate_prompt_tokens, parse_tool_calls
from .base import Completion

__all__ = [
    "context_limit",
    "is_context_length_refusal",
    "load_json",
    "message_of",
    "to_completion",
]

_SURROGATE = re.compile("[\ud800-\udfff]")
# Wordings of "the prompt is longer than the window": vLLM, SGLang, OpenAI, llama.cpp,
# TGI, Ollama. Matched on the server's message (lowercased).
_CONTEXT_REFUSALS = (
    "maximum context length", "context_length_exceeded", "context length exceeded",
    "longer than the model's context length", "exceeds the maximum allowed length",
    "exceeds the available context size", "exceed_context_size",
    "input is too long", "prompt is too long", "too many input tokens",
    "input validation error: `inputs` tokens + `max_new_tokens`",
)
_LIMIT = re.compile(r"maximum context length is (\d+) tokens.*?(?:requested|has) (\d+)"
                    r"|input \((\d+) tokens\) is longer than the model's context length "
                    r"\((\d+) tokens\)", re.S | re.I)


def is_context_length_refusal(status: int, message: str) -> bool:
    """True when an HTTP error says the prompt does not fit the model's window."""
    if status not in (400, 413, 422):
        return False
    low = message.lower()
    return any(p in low for p in _CONTEXT_REFUSALS)


def context_limit(message: str) -> tuple[int, int] | None:
    """(window, requested tokens) from a context-length refusal, where the wording has them."""
    m = _LIMIT.search(message)
    if m is None:
        return None
    if m.group(1):
        return int(m.group(1)), int(m.group(2))
    return int(m.group(4)), int(m.group(3))


def load_json(raw: bytes, where: str) -> object:
    """Parse a body; MalformedReplyError for bad UTF-8 JSON or JSON nested too deep."""
    try:
        data = json.loads(raw.decode("utf-8", "replace"))
    except RecursionError as exc:
        raise MalformedReplyError(f"{where} sent JSON nested too deep to read") from exc
    except ValueError as exc:
        start = raw[:200].decode("utf-8", "replace")
        raise MalformedReplyError(f"{where} sent a body that is not JSON: {start!r}") from exc
    return clean_surrogates(data) if b"\\u" in raw or b"\\U" in raw else data


def clean_surrogates(value: JSON) -> JSON:
    """Lone surrogates (from `\\ud800` escapes) replaced by U+FFFD, so the text can be
    encoded again (the next request, the trajectory). Iterative: depth costs no stack."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if not isinstance(value, dict | list):
        return value
    stack: list[dict[str, JSON] | list[JSON]] = [value]
    while stack:
        node = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for key, item in items:
            if isinstance(item, str):
                if _SURROGATE.search(item):
                    node[key] = _SURROGATE.sub("\ufffd", item)  # type: ignore[index]
            elif isinstance(item, dict | list):
                stack.append(item)
        if isinstance(node, dict) and any(_SURROGATE.search(k) for k in node):
            fixed = {_SURROGATE.sub("\ufffd", k): v for k, v in node.items()}
            node.clear()
            node.update(fixed)
    return value


def message_of(data: JSONObject, where: str) -> tuple[JSONObject, JSONObject]:
    """(choice, message) of a reply, checked; MalformedReplyError says what is wrong."""
    choices = data.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(choice, dict):
        raise MalformedReplyError(f"{where} sent no choices")
    message = choice.get("message")
    if not isinstance(message, dict):
        raise MalformedReplyError(f"{where} sent a message that is not an object but "
                                  f"{type(message).__name__}: {str(message)[:120]!r}")
    content = message.get("content")
    has_calls = isinstance(message.get("tool_calls"), list) and bool(message.get("tool_calls"))
    reasoning = message.get("reasoning") or message.get("reasoning_content")
    if isinstance(content, str) or (isinstance(content, list) and _text_parts(content)):
        return choice, message
    if content is None and (has_calls or (isinstance(reasoning, str) and reasoning)):
        return choice, message
    shown = "missing" if "content" not in message else (
        "null" if content is None else f"a {type(content).__name__}")
    raise MalformedReplyError(f"{where} sent a message whose content is {shown} "
                              "(expected a string)")


def _text_parts(parts: list[JSON]) -> bool:
    """Content parts as some servers send them: a list of {"type": "text", "text": str}."""
    return all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in parts)


def to_completion(data: JSONObject, body: JSONObject, *, where: str, model: str,
                  retries: int, latency: float) -> Completion:
    """The Completion of a checked reply `data` to the request `body`."""
    choice, message = message_of(data, where)
    raw = _content_text(message.get("content"))
    text = cut_tool_response(_with_reasoning(
        raw, message.get("reasoning") or message.get("reasoning_content")))
    messages = body.get("messages")
    logprobs, token_ids = _token_info(choice)
    finish = choice.get("finish_reason")
    prompt_ids = data.get("prompt_token_ids", choice.get("prompt_token_ids"))
    return Completion(
        text=text,
        tool_calls=parse_tool_calls(message.get("tool_calls")),
        usage=_usage(data.get("usage"), messages if isinstance(messages, list) else [], text),
        finish_reason=str(finish) if finish is not None else None,
        latency_s=latency,
        retries=retries,
        model=str(data.get("model") or model),
        token_ids=token_ids,
        logprobs=logprobs,
        prompt_token_ids=_int_list(prompt_ids),
        raw_text=raw if isinstance(message.get("content"), str) else None,
    )


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return ""


def _with_reasoning(content: str, reasoning: object) -> str:
    """Put separately returned reasoning back in front, as the trained transcript has it."""
    if not isinstance(reasoning, str) or not reasoning or content.lstrip().startswith("<think>"):
        return content
    return f"<think>{reasoning}</think>{content}"


def _usage(raw: object, messages: Sequence[object], text: str) -> Usage:
    if isinstance(raw, dict):
        prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int) and (prompt or completion):
            return Usage(prompt, completion)
    dicts = [m for m in messages if isinstance(m, dict)]
    return Usage(estimate_prompt_tokens(dicts), estimate_tokens(text), estimated=True)


def _int_list(raw: object) -> tuple[int, ...] | None:
    if not isinstance(raw, list) or not raw:
        return None
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in raw):
        return None  # never invent: a list with junk in it is not token ids
    return tuple(raw)


def _token_info(choice: JSONObject) -> tuple[tuple[float, ...] | None, tuple[int, ...] | None]:
    """Log-probs of sampled tokens and, where the server sends them, their ids."""
    ids = _int_list(choice.get("token_ids"))  # vLLM with return_token_ids
    lp = choice.get("logprobs")
    content = lp.get("content") if isinstance(lp, dict) else None
    if not isinstance(content, list) or not content:
        return None, ids
    entries = [e for e in content if isinstance(e, dict)]
    floats = tuple(float(v) if isinstance(v := e.get("logprob"), int | float) else -math.inf
                   for e in entries)
    if ids is None:  # vLLM's return_tokens_as_token_ids spells tokens "token_id:123"
        tokens = [e.get("token") for e in entries]
        if tokens and all(isinstance(t, str) and t.startswith("token_id:") for t in tokens):
            try:
                ids = tuple(int(str(t)[len("token_id:"):]) for t in tokens)
            except ValueError:
                ids = None
    return floats, ids


def server_message(body: object) -> str:
    """The human part of an error body, whatever its shape."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:500]
        if isinstance(inner, str):
            return inner[:500]
        if body.get("message"):
            return str(body["message"])[:500]
        if body.get("detail"):
            return str(body["detail"])[:500]
    if isinstance(body, str):
        return body[:500]
    try:
        return json.dumps(body)[:500] if body is not None else "(no message)"
    except (ValueError, RecursionError):
        return "(unreadable message)"


def json_or_text(raw: bytes) -> object:
    try:
        return json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return raw.decode("utf-8", "replace")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (`retry-after-ms`, then `retry-after`)."""
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            seconds = (when - datetime.now(UTC)).total_seconds()
        if math.isfinite(seconds):
            return seconds
    return None
