"""`ScriptedServer`: a scripted OpenAI-compatible chat server on loopback, for tests.

A hand-written HTTP/1.1 handler (keep-alive, Content-Length or chunked bodies) on
its own event-loop thread, so that delayed replies overlap instead of queueing
and the core package needs no web framework. It streams (SSE) when asked, serves
vLLM's `/tokenize`, and can enforce a context window with vLLM's exact 400.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TypeAlias

from ..types import JSON, JSONObject, Message
from ._script import Script
from ._wire import apply_stop, message_to_openai
from .base import Completion
from .tokens import EstimateCounter, TokenCounter, count_messages

__all__ = ["ScriptedServer", "ServerReply"]

_Static: TypeAlias = "str | Completion | Mapping[str, JSON] | tuple[int, Mapping[str, JSON]]"
ServerReply: TypeAlias = "_Static | Exception | Callable[[JSONObject], _Static]"
"""str (the content), Completion, a message dict (may hold tool_calls or reasoning),
(status, body) sent as is, an Exception (HTTP 500), or a callable of the request JSON."""

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 408: "Request Timeout",
            409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error",
            502: "Bad Gateway", 503: "Service Unavailable"}
_TOKEN_RE = re.compile(r"\s*\S+|\s+")


@dataclass
class _Response:
    status: int
    body: JSON
    headers: Mapping[str, str]
    events: list[JSON] | None = None
    """Set for a streamed reply: the SSE events, sent chunked, then `data: [DONE]`."""


class ScriptedServer:
    """Serves `/v1/chat/completions` and `/v1/models` from a script; use as a context manager.

    `failures` are HTTP statuses answered (with OpenAI-style error bodies and,
    if `retry_after` is set, a Retry-After header) before any scripted reply is
    consumed. In strict mode a call beyond the script gets HTTP 500 and counts
    in `unexpected_calls`; otherwise the last reply repeats.

    With `context_window`, a request whose prompt (counted with `counter`, the estimate
    by default) plus `max_tokens` exceeds it gets vLLM's 400 and consumes no reply.
    `tokenize=False` makes `/tokenize` answer 404, as OpenAI does.
    """

    def __init__(self, replies: Iterable[ServerReply] = (), *, latency: float = 0.0,
                 failures: Sequence[int] = (), retry_after: float | None = None,
                 model: str = "scripted", strict: bool = True, include_usage: bool = True,
                 cycle: bool = False, context_window: int | None = None,
                 counter: TokenCounter | None = None, tokenize: bool = True) -> None:
        self._script = Script(replies, strict=strict, cycle=cycle, owner="ScriptedServer")
        self.context_window = context_window
        self.counter: TokenCounter = counter or EstimateCounter()
        self.tokenize = tokenize
        self.refused = 0
        """Requests refused as longer than `context_window`."""
        self.latency = latency
        self.retry_after = retry_after
        self.model = model
        self.include_usage = include_usage
        self._failures = deque(failures)
        self._ids = itertools.count(1)
        self.requests: list[JSONObject] = []
        """JSON bodies of chat-completion calls received, in arrival order."""
        self.unexpected_calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        """Most chat calls handled at the same moment (proves calls overlapped)."""
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._seen = threading.Condition()

    @classmethod
    def cycle(cls, replies: Iterable[ServerReply], **kwargs: object) -> ScriptedServer:
        """A server that repeats `replies` forever (benchmarks)."""
        return cls(replies, cycle=True, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def repeat(cls, reply: ServerReply, **kwargs: object) -> ScriptedServer:
        """A server that answers every call with `reply`."""
        return cls([reply], cycle=True, **kwargs)  # type: ignore[arg-type]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def remaining(self) -> int:
        return self._script.remaining

    def __enter__(self) -> ScriptedServer:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("ScriptedServer already started")
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,),
                                        name="ScriptedServer", daemon=True)
        self._thread.start()
        ready.wait()
        if self._error is not None:
            raise RuntimeError("ScriptedServer could not start") from self._error

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop = None

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Block until `count` chat calls have arrived; False on timeout."""
        with self._seen:
            return self._seen.wait_for(lambda: len(self.requests) >= count, timeout)

    def assert_all_used(self) -> None:
        if self.remaining or self.unexpected_calls:
            raise AssertionError(f"ScriptedServer: {self.remaining} scripted replies unused, "
                                 f"{self.unexpected_calls} unexpected calls")

    # -- server thread -------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        try:
            server = loop.run_until_complete(
                asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=2048))
        except BaseException as exc:  # reported by start() in the caller's thread
            self._error = exc
            loop.close()
            ready.set()
            return
        self.port = server.sockets[0].getsockname()[1]
        self._loop = loop
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown(server))
            loop.close()

    async def _shutdown(self, server: asyncio.Server) -> None:
        server.close()
        for writer in list(self._writers):
            writer.close()
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                method, path, headers, body = request
                response = await self._dispatch(method, path, body)
                keep = headers.get("connection", "").lower() != "close"
                writer.write(_encode(response, keep_alive=keep))
                await writer.drain()
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels handlers; asyncio's stream callback would log a re-raise.
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _dispatch(self, method: str, path: str, raw: bytes) -> _Response:
        path = path.split("?", 1)[0].rstrip("/")
        if method == "GET" and path in ("/v1/models", "/models"):
            data: list[JSON] = [{"id": self.model, "object": "model", "owned_by": "sounding"}]
            return _Response(200, {"object": "list", "data": data}, {})
        chat = path in ("/v1/chat/completions", "/chat/completions")
        tokenize = self.tokenize and path in ("/tokenize", "/v1/tokenize")
        if method != "POST" or not (chat or tokenize):
            return _error(404, f"no route for {method} {path}", "not_found")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return _error(400, "request body is not JSON", "invalid_request_error")
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object", "invalid_request_error")
        if tokenize:
            return self._tokenize(body)
        with self._seen:
            self.requests.append(body)
            self._seen.notify_all()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            response = self._respond(body)  # chosen on arrival: call i gets reply i
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            return response
        finally:
            self.in_flight -= 1

    def _prompt_tokens(self, body: JSONObject) -> int:
        messages = body.get("messages")
        return count_messages([m for m in messages if isinstance(m, dict)]
                              if isinstance(messages, list) else [], self.counter)

    def _tokenize(self, body: JSONObject) -> _Response:
        if "messages" in body:
            count = self._prompt_tokens(body)
        else:
            count = self.counter.count(str(body.get("prompt") or ""))
        out: JSONObject = {"count": count, "max_model_len": self.context_window or 131072,
                           "tokens": list(range(100, 100 + count))}
        return _Response(200, out, {})

    def _over_window(self, body: JSONObject) -> _Response | None:
        if self.context_window is None:
            return None
        prompt = self._prompt_tokens(body)
        raw_max = body.get("max_tokens", body.get("max_completion_tokens"))
        max_tokens = raw_max if isinstance(raw_max, int) else 0
        if prompt + max_tokens <= self.context_window:
            return None
        self.refused += 1
        # vLLM's wording and error body, byte for byte (OpenAI-compatible server, v0.6+).
        message = (f"This model's maximum context length is {self.context_window} tokens. "
                   f"However, you requested {prompt + max_tokens} tokens ({prompt} in the "
                   f"messages, {max_tokens} in the completion). Please reduce the length of "
                   "the messages or completion.")
        return _Response(400, {"object": "error", "message": message,
                               "type": "BadRequestError", "param": None, "code": 400}, {})

    def _respond(self, body: JSONObject) -> _Response:
        refused = self._over_window(body)
        if refused is not None:
            return refused
        if self._failures:
            status = self._failures.popleft()
            headers = {} if self.retry_after is None else {"Retry-After": f"{self.retry_after:g}"}
            return _error(status, f"scripted failure {status}", "server_error", headers)
        reply = self._take(body)
        if reply is None:
            return _error(500, f"ScriptedServer script exhausted after {len(self._script.replies)} "
                          f"replies; unexpected request: {_last_message(body)}",
                          "script_exhausted", {"x-should-retry": "false"})
        try:
            if callable(reply):
                reply = reply(body)
        except Exception as exc:  # a bug in a test's callable: answer it, don't hang
            return _error(500, f"scripted callable raised {exc!r}", "server_error",
                          {"x-should-retry": "false"})
        if isinstance(reply, Exception):
            return _error(500, str(reply), "server_error")
        if isinstance(reply, tuple):
            return _Response(reply[0], dict(reply[1]), {})
        out = self._chat_body(reply, body)
        if body.get("stream"):
            return _Response(200, None, {}, _stream_events(out, body))
        return _Response(200, out, {})

    def _take(self, body: JSONObject) -> ServerReply | None:
        reply = self._script.take()
        if reply is None:
            self.unexpected_calls += 1
        return reply

    def _chat_body(self, reply: str | Completion | Mapping[str, JSON],
                   request: JSONObject) -> JSONObject:
        finish: str | None = None
        if isinstance(reply, Completion):
            message = message_to_openai_reply(reply)
            finish = reply.finish_reason
        elif isinstance(reply, str):
            message = {"role": "assistant", "content": reply}
        else:
            message = {"role": "assistant", **reply}
        content = message.get("content")
        matched = None
        if isinstance(content, str):
            content, matched = apply_stop(content, _stops(request.get("stop")))
            message["content"] = content
        choice: JSONObject = {
            "index": 0, "message": message, "logprobs": None,
            "finish_reason": finish or ("tool_calls" if message.get("tool_calls") else "stop"),
            "stop_reason": matched,
        }
        text = content if isinstance(content, str) else ""
        if request.get("logprobs"):
            choice["logprobs"] = {"content": [
                {"token": t, "logprob": -0.25, "bytes": list(t.encode()), "top_logprobs": []}
                for t in _TOKEN_RE.findall(text)]}
        if request.get("return_token_ids"):  # vLLM extension
            choice["token_ids"] = [1000 + i for i in range(len(_TOKEN_RE.findall(text)))]
        out: JSONObject = {"id": f"chatcmpl-{next(self._ids)}", "object": "chat.completion",
                           "created": int(time.time()), "model": self.model,
                           "choices": [choice]}
        prompt = self._prompt_tokens(request)
        if request.get("return_token_ids"):  # vLLM puts the prompt's ids at the top level
            out["prompt_token_ids"] = list(range(100, 100 + prompt))
        if self.include_usage:
            out["usage"] = _usage(prompt, message, self.counter)
        return out


def message_to_openai_reply(completion: Completion) -> JSONObject:
    """A Completion as the assistant message a server would send."""
    message = message_to_openai(Message("assistant", completion.text, completion.tool_calls))
    if completion.tool_calls and not completion.text:
        message["content"] = None
    return message


def _stream_events(reply: JSONObject, request: JSONObject) -> list[JSON]:
    """A chat completion as vLLM streams it: role, reasoning and content deltas piece by
    piece, tool calls, a last chunk with the finish reason, then usage when asked."""
    choices = reply["choices"]
    assert isinstance(choices, list) and isinstance(choices[0], dict)
    choice = choices[0]
    message = choice["message"]
    assert isinstance(message, dict)
    head = {"id": reply["id"], "object": "chat.completion.chunk", "created": reply["created"],
            "model": reply["model"]}
    logprobs = choice.get("logprobs")
    raw_entries = logprobs.get("content") if isinstance(logprobs, dict) else None
    entries = raw_entries if isinstance(raw_entries, list) else []
    raw_ids = choice.get("token_ids")
    ids = raw_ids if isinstance(raw_ids, list) else []
    deltas: list[JSONObject] = [{"role": "assistant", "content": ""}]
    for key in ("reasoning_content", "reasoning"):
        if isinstance(message.get(key), str):
            deltas += [{key: p} for p in _TOKEN_RE.findall(str(message[key]))]
    content = message.get("content")
    pieces = _TOKEN_RE.findall(content) if isinstance(content, str) else []
    events: list[JSON] = []
    first: JSONObject = dict(head)
    if "prompt_token_ids" in reply:
        first["prompt_token_ids"] = reply["prompt_token_ids"]
    for i, delta in enumerate(deltas):
        events.append({**(first if i == 0 else head),
                       "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    for i, piece in enumerate(pieces):
        c: JSONObject = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
        if i < len(entries):
            c["logprobs"] = {"content": [entries[i]]}
        if i < len(ids):
            c["token_ids"] = [ids[i]]
        events.append({**head, "choices": [c]})
    calls = message.get("tool_calls")
    for i, call in enumerate(calls if isinstance(calls, list) else []):
        assert isinstance(call, dict)
        events.append({**head, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": i, **call}]}, "finish_reason": None}]})
    events.append({**head, "choices": [{"index": 0, "delta": {},
                                        "finish_reason": choice["finish_reason"]}]})
    options = request.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") and "usage" in reply:
        events.append({**head, "choices": [], "usage": reply["usage"]})
    return events


def _usage(prompt: int, message: JSONObject, counter: TokenCounter) -> JSONObject:
    out_text = "".join(str(message.get(k) or "") for k in ("content", "reasoning",
                                                           "reasoning_content"))
    if message.get("tool_calls"):
        out_text += json.dumps(message["tool_calls"])
    completion = counter.count(out_text)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _stops(raw: object) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        return [s for s in raw if isinstance(s, str)]
    return []


def _last_message(body: JSONObject) -> str:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not isinstance(messages[-1], dict):
        return "(no messages)"
    last = messages[-1]
    return f"{last.get('role')}: {str(last.get('content'))[:300]!r}"


def _error(status: int, message: str, kind: str,
           headers: Mapping[str, str] | None = None) -> _Response:
    body: JSONObject = {"error": {"message": message, "type": kind, "param": None,
                                  "code": status}}
    return _Response(status, body, headers or {})


def _encode(response: _Response, *, keep_alive: bool) -> bytes:
    if response.events is not None:
        return _encode_stream(response, keep_alive=keep_alive)
    payload = json.dumps(response.body, ensure_ascii=False).encode()
    lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Status')}",
             "Content-Type: application/json",
             f"Content-Length: {len(payload)}",
             f"Connection: {'keep-alive' if keep_alive else 'close'}"]
    lines += [f"{k}: {v}" for k, v in response.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


def _encode_stream(response: _Response, *, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'Status')}",
             "Content-Type: text/event-stream", "Transfer-Encoding: chunked",
             f"Connection: {'keep-alive' if keep_alive else 'close'}"]
    out = [("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")]
    payloads = [json.dumps(e, ensure_ascii=False) for e in response.events or []] + ["[DONE]"]
    for payload in payloads:
        data = f"data: {payload}\n\n".encode()
        out.append(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    out.append(b"0\r\n\r\n")
    return b"".join(out)


async def _read_request(
    reader: asyncio.StreamReader,
) -> tuple[str, str, dict[str, str], bytes] | None:
    """One HTTP/1.1 request; None when the client closed the connection."""
    line = await reader.readline()
    if not line.strip():
        return None
    method, path, _version = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readline()).split(b";")[0].strip() or b"0", 16):
            body += await reader.readexactly(size)
            await reader.readline()
        await reader.readline()  # the empty line after the last chunk
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return method, path, headers, body
