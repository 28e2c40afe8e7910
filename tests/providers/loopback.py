"""A real HTTP server on 127.0.0.1 for provider fakes: routes map a path to a reply."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | object = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json"


Handler = Callable[[Request], Reply]


class LoopbackServer:
    """`routes`: path -> Reply or handler; a path ending in '*' matches by prefix."""

    def __init__(self, routes: dict[str, Reply | Handler],
                 tls: ssl.SSLContext | None = None) -> None:
        self.routes = routes
        self.requests: list[Request] = []
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return None

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command, path=parts.path,
                    query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"")
                server.requests.append(request)
                reply = server.reply_for(request, self.path)
                body, ctype = reply.encoded()
                self.send_response(reply.status)
                headers = {"Content-Type": ctype, "Content-Length": str(len(body)),
                           **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_HEAD = _serve

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        if tls is not None:  # handshakes happen on accept; a failed one drops the client
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,),
                                        daemon=True)

    def reply_for(self, request: Request, raw_path: str) -> Reply:
        target = self.routes.get(request.path)
        if target is None:
            for pattern, candidate in self.routes.items():
                if pattern.endswith("*") and raw_path.startswith(pattern[:-1]):
                    target = candidate
                    break
        if target is None:
            return Reply(404, {"error": "not found"})
        return target(request) if callable(target) else target

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()


def sequence(*replies: Reply) -> Handler:
    """A handler that plays `replies` in order, then repeats the last one."""
    state = {"i": 0}

    def handle(request: Request) -> Reply:
        i = min(state["i"], len(replies) - 1)
        state["i"] += 1
        return replies[i]

    return handle
