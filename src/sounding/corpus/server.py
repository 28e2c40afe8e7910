"""`sounding corpus serve`: the offline world over HTTP, in real providers' formats.

- `GET /search?q=...&format=json[&pageno=N]` (or a form POST): SearXNG JSON.
- `POST /search` with a JSON body `{"q": ..., "num": ..., "page": ...}`: Serper JSON.
- `GET /page?url=...`: the document at a canonical URL (JSON; 404 when absent).
- `GET /r/<url>` or `GET /<url>`: Jina Reader (plain text, or JSON with Accept:
  application/json), so a `web` environment can read pages from the corpus.
- `GET /links?url=...`, `GET /stats`, `GET /health` (with this worker's dense batches).
- Search takes `mode=bm25|dense|hybrid` (default: the server's `--search`).

A stdlib threading server with HTTP/1.1 keep-alive; `serve_workers` pre-forks
several such processes on one listening socket (as gunicorn does), so the GIL does
not cap a server at one core. No authentication: bind it to loopback or a private
network. Limits, so that one client cannot starve the others: request bodies of at
most MAX_BODY bytes, queries of at most MAX_QUERY characters, a read timeout on every
connection (a silent or trickling client is dropped), and at most MAX_CONNECTIONS
connections served at once (more get 503 at once).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import CorpusError
from ..providers.base import SearchHit
from ..types import JSON
from .batcher import MAX_BATCH, MAX_WAIT
from .server_search import ModeSearch
from .store import Corpus, Document

__all__ = ["CorpusServer", "SearchOptions", "open_searcher", "serve_workers"]

log = logging.getLogger(__name__)
PAGE_SIZE = 10
MAX_RESULTS = 100
MAX_BODY = 64 * 1024
"""Bytes of a POST body; a search request is a few hundred."""
MAX_QUERY = 4096
"""Characters of a query; the index reads at most the first MAX_QUERY_CHARS anyway."""
MAX_CONNECTIONS = 256
READ_TIMEOUT = 15.0
"""Seconds a connection may stay silent (between requests, or inside one) before it is
closed."""


class CorpusServer:
    """Serves one corpus on host:port (port 0 picks a free one); a context manager."""

    def __init__(self, corpus: Corpus, host: str = "127.0.0.1", port: int = 0, *,
                 sock: socket.socket | None = None, search: str = "bm25",
                 searcher: ModeSearch | None = None) -> None:
        self.corpus = corpus
        self._own_searcher = searcher is None
        """A searcher made here is closed here (its dense batching thread)."""
        self.searcher = searcher or ModeSearch(corpus, search)
        handler = type("Handler", (_Handler,), {"corpus": corpus, "searcher": self.searcher})
        if sock is None:
            self.httpd = _Server((host, port), handler)
        else:  # a listening socket shared with other worker processes
            self.httpd = _Server(sock.getsockname()[:2], handler, bind_and_activate=False)
            self.httpd.socket.close()
            self.httpd.socket = sock
            self.httpd.server_address = sock.getsockname()[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> CorpusServer:
        self._thread = threading.Thread(target=self.serve_forever, name="corpus-server",
                                        daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()
        if self._own_searcher:
            self.searcher.close()

    def __enter__(self) -> CorpusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections when many clients start at once.
    request_queue_size = 1024
    max_connections = MAX_CONNECTIONS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = threading.BoundedSemaphore(self.max_connections)

    def process_request(self, request: socket.socket,  # type: ignore[override]
                        client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            # Full: say so at once instead of queueing behind clients that hold threads.
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                b"Retry-After: 1\r\nConnection: close\r\n\r\n")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: socket.socket,  # type: ignore[override]
                               client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _Handler(BaseHTTPRequestHandler):
    corpus: Corpus
    searcher: ModeSearch
    protocol_version = "HTTP/1.1"
    server_version = "sounding-corpus"
    # Headers and body go out in two writes; with Nagle on, the body waits for the
    # client's delayed ACK (~40 ms) on every keep-alive request.
    disable_nagle_algorithm = True
    timeout = READ_TIMEOUT  # socket timeout: a client that goes silent is dropped

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._guard(lambda: self._route_get())

    def do_POST(self) -> None:
        self._guard(lambda: self._route_post())

    def _guard(self, route: object) -> None:
        try:
            route()  # type: ignore[operator]
        except TimeoutError:  # the body never came: nothing to answer, drop the connection
            self.close_connection = True
        except _TooLarge as exc:
            self.close_connection = True
            self._json(413, {"error": str(exc), "statusCode": 413})
        except Exception:  # one request is the boundary: log it, answer 500, keep serving
            log.exception("corpus server: request %s failed", self.path)
            self._json(500, {"error": "search error"})

    def _route_get(self) -> None:
        parts = urlsplit(self.path)
        params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if path in ("/search", "/"):
            if "q" not in params and path == "/":
                self._json(200, {"service": "sounding corpus", "name": self.corpus.name})
            else:
                self._searxng(params)
        elif path == "/page":
            self._page(params.get("url", ""))
        elif path == "/links":
            links = self.corpus.links(params.get("url", ""))
            self._json(200, {"url": params.get("url", ""), "links": [
                {"url": u, "kind": k, "anchor": a} for u, k, a in links]})
        elif path == "/stats":
            self._json(200, self.corpus.stats().as_dict())
        elif path == "/health":
            health: dict[str, JSON] = {"status": "ok", "pid": os.getpid()}
            batcher = self.searcher.batcher
            if batcher is not None:  # this worker's dense passes (mean batch = q / b)
                health["dense"] = {"batches": batcher.batches, "queries": batcher.queries,
                                   "cpu_seconds": round(batcher.cpu_seconds, 3)}
            self._json(200, health)
        elif path.startswith(("/r/", "/http:", "/https:")):
            raw = self.path[3:] if path.startswith("/r/") else self.path[1:]
            self._jina(raw)
        else:
            self._json(404, {"error": f"no route {path}"})

    def _route_post(self) -> None:
        declared = (self.headers.get("Content-Length") or "0").strip()
        if not declared.isdigit():
            self.close_connection = True  # the rest of the stream cannot be framed
            self._json(400, {"error": "Content-Length must be a number", "statusCode": 400})
            return
        length = int(declared)
        if length > MAX_BODY:
            raise _TooLarge(f"request body over {MAX_BODY} bytes")
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        kind = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path not in ("/search", "/"):
            self._json(404, {"error": f"no route {parts.path}"})
        elif kind == "application/x-www-form-urlencoded":
            form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            self._searxng({**query, **form})
        else:
            try:
                data = json.loads(body) if body.strip() else {}
            except ValueError:
                self._json(400, {"message": "body is not JSON", "statusCode": 400})
                return
            if not isinstance(data, dict):
                self._json(400, {"message": "body must be a JSON object", "statusCode": 400})
                return
            self._serper({**query, **data})

    def _searxng(self, params: dict[str, str]) -> None:
        q = params.get("q", "").strip()
        if not q:
            self._json(400, {"error": "No query"})
            return
        if len(q) > MAX_QUERY:
            self._json(400, {"error": f"query longer than {MAX_QUERY} characters"})
            return
        if params.get("format", "json") != "json":
            self._json(400, {"error": "only format=json is served"})
            return
        try:
            page = max(1, int(params.get("pageno", "1")))
        except ValueError:
            self._json(400, {"error": "Invalid pageno"})
            return
        hits = self._hits(q, min(page * PAGE_SIZE, MAX_RESULTS), params.get("mode"))
        if hits is None:
            return
        results: list[JSON] = [
            {"url": h.url, "title": h.title, "content": h.snippet, "engine": "corpus",
             "engines": ["corpus"], "positions": [i], "score": 1.0 / i, "category": "general",
             "parsed_url": list(_parsed(h.url)), "publishedDate": h.date}
            for i, h in enumerate(hits[(page - 1) * PAGE_SIZE:], (page - 1) * PAGE_SIZE + 1)]
        self._json(200, {"query": q, "number_of_results": len(results), "results": results,
                         "answers": [], "corrections": [], "infoboxes": [],
                         "suggestions": [], "unresponsive_engines": []})

    def _serper(self, data: dict[str, object]) -> None:
        q = str(data.get("q") or "").strip()
        if not q:
            self._json(400, {"message": "Missing query parameter q", "statusCode": 400})
            return
        if len(q) > MAX_QUERY:
            self._json(400, {"message": f"query longer than {MAX_QUERY} characters",
                             "statusCode": 400})
            return
        try:
            num = max(1, min(int(str(data.get("num") or 10)), MAX_RESULTS))
            page = max(1, int(str(data.get("page") or 1)))
        except ValueError:
            self._json(400, {"message": "num and page must be integers", "statusCode": 400})
            return
        hits = self._hits(q, min(num * page, MAX_RESULTS), data.get("mode"))
        if hits is None:
            return
        hits = hits[(page - 1) * num:]
        organic: list[JSON] = [
            {"title": h.title, "link": h.url, "snippet": h.snippet, "position": i}
            for i, h in enumerate(hits, 1)]
        self._json(200, {"searchParameters": {"q": q, "type": "search", "num": num,
                                              "page": page, "engine": "sounding-corpus"},
                         "organic": organic, "credits": 0})

    def _hits(self, q: str, k: int, mode: object) -> list[SearchHit] | None:
        try:
            return self.searcher.search(q, k, str(mode) if mode else None)
        except CorpusError as exc:  # an unknown mode, or no embeddings on this server
            self._json(400, {"error": str(exc), "message": str(exc), "statusCode": 400})
            return None

    def _page(self, url: str) -> None:
        doc = self.corpus.get(url) if url else None
        if doc is None:
            self._json(404, {"error": "not found", "url": url})
            return
        self._json(200, _doc_json(doc))

    def _jina(self, url: str) -> None:
        doc = self.corpus.get(url)
        wants_json = "json" in (self.headers.get("Accept") or "")
        if doc is None:
            self._json(404, {"data": None, "code": 404, "name": "AssertionFailureError",
                             "status": 40400, "message": f"{url} is not in the corpus",
                             "readableMessage": "not found"})
            return
        if wants_json:
            data: JSON = {"title": doc.title, "description": doc.description, "url": doc.url,
                          "content": doc.text, "metadata": {"lang": doc.lang}}
            self._json(200, {"code": 200, "status": 20000, "data": data})
            return
        text = f"Title: {doc.title}\n\nURL Source: {doc.url}\n\nMarkdown Content:\n{doc.text}\n"
        self._send(200, text.encode("utf-8"), "text/plain; charset=utf-8")

    def _json(self, status: int, data: JSON) -> None:
        self._send(status, json.dumps(data, ensure_ascii=False).encode("utf-8"),
                   "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _TooLarge(Exception):
    """A request over a size limit (answered 413)."""


def _parsed(url: str) -> tuple[str, str, str, str, str, str]:
    p = urlsplit(url)
    return (p.scheme, p.netloc, p.path, "", p.query, p.fragment)


def _doc_json(doc: Document) -> JSON:
    return {"url": doc.url, "title": doc.title, "text": doc.text,
            "description": doc.description, "source": doc.source, "lang": doc.lang,
            "metadata": dict(doc.metadata)}


@dataclass(frozen=True, slots=True)
class SearchOptions:
    """How each worker searches: the default mode and the dense micro-batching knobs."""

    default: str = "bm25"
    threads: int | None = None
    """torch threads per worker (None: the CPUs divided among the workers)."""
    max_batch: int = MAX_BATCH
    max_wait: float = MAX_WAIT


def open_searcher(corpus: Corpus, options: SearchOptions) -> ModeSearch:
    """The searcher a server process answers with, its encoder loaded (for a dense or
    hybrid default) before the first request."""
    searcher = ModeSearch(corpus, options.default, threads=options.threads,
                          max_batch=options.max_batch, max_wait=options.max_wait)
    searcher.warm()
    return searcher


def serve_workers(path: Path, host: str, port: int, workers: int,
                  on_ready: Callable[[str], None], options: SearchOptions | None = None
                  ) -> None:
    """Serve the corpus at `path` from `workers` forked processes sharing one socket.

    Each worker opens its own `Corpus` after the fork (SQLite and tantivy handles
    must not cross a fork) and, for a dense or hybrid default, loads the query encoder
    before it takes requests. A worker that dies after running a while is replaced;
    one that dies at once stops the server with an error. Returns on SIGTERM or
    Ctrl-C, after stopping the workers. POSIX only.
    """
    options = options or SearchOptions()
    if options.threads is None:
        options = replace(options, threads=max(1, (os.cpu_count() or 1) // max(1, workers)))
    if options.default != "bm25":
        _preload_encoder(options.threads or 1)
    sock = socket.create_server((host, port), backlog=1024)
    children: dict[int, float] = {}

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        for _ in range(workers):
            children[_fork_worker(path, sock, options)] = time.monotonic()
        bound_host, bound_port = sock.getsockname()[:2]
        on_ready(f"http://{bound_host}:{bound_port}")
        while children:
            pid, status = os.wait()
            started = children.pop(pid, None)
            if started is None:
                continue
            if time.monotonic() - started < 2.0:
                raise CorpusError(f"corpus server worker {pid} exited at start "
                                  f"(status {status}); see its log")
            log.warning("corpus server worker %d exited (status %d); replacing it", pid,
                        status)
            children[_fork_worker(path, sock, options)] = time.monotonic()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
        sock.close()


def _preload_encoder(threads: int) -> None:
    """Load the query encoder before the fork: the model is read once and the workers
    share its weights' pages (copy-on-write, never written) instead of holding a copy
    each. Nothing runs in parallel here: a fork after an OpenMP parallel region would
    leave the children's thread pool broken."""
    import torch

    from .dense import load_query_encoder

    torch.set_num_threads(threads)
    load_query_encoder()


def _fork_worker(path: Path, sock: socket.socket, options: SearchOptions) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:  # the worker: SIGTERM ends it at once; Ctrl-C (sent to the group) quietly
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with Corpus.open(path) as corpus:
            CorpusServer(corpus, sock=sock,
                         searcher=open_searcher(corpus, options)).serve_forever()
    except KeyboardInterrupt:
        pass
    except BaseException:
        log.exception("corpus server worker failed")
        code = 1
    finally:
        os._exit(code)
    return 0  # unreachable: os._exit never returns

