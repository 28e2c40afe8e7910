"""A regulations and case-law search over a small local corpus (`corpus.jsonl`), served as
an MCP server with the official SDK: stdio by default, streamable HTTP with `--http PORT`.

    sounding ask "Within how many hours must a GDPR breach be notified?" \
        --mcp "python examples/caselaw_mcp/server.py"
    python examples/caselaw_mcp/server.py --http 8765 &   # then --mcp-url http://127.0.0.1:8765/mcp
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

CORPUS = Path(__file__).with_name("corpus.jsonl")
_WORD = re.compile(r"[a-z0-9]+")

server = MCPServer("caselaw")


def _load(path: Path = CORPUS) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


DOCS = _load()


def _terms(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def rank(query: str, k: int = 5) -> list[tuple[float, dict[str, str]]]:
    """BM25 over title and text (a title word counts twice)."""
    bags = [Counter(_terms(d["title"]) * 2 + _terms(d["text"])) for d in DOCS]
    avg = sum(sum(b.values()) for b in bags) / len(bags)
    scored = []
    for doc, bag in zip(DOCS, bags, strict=True):
        length, score = sum(bag.values()), 0.0
        for term in set(_terms(query)):
            df = sum(1 for b in bags if term in b)
            if df and bag[term]:
                idf = math.log(1 + (len(bags) - df + 0.5) / (df + 0.5))
                tf = bag[term]
                score += idf * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / avg))
        if score > 0:
            scored.append((score, doc))
    return sorted(scored, key=lambda item: -item[0])[:k]


@server.tool()
def search_law(query: str, k: int = 5) -> str:
    """Search regulations (GDPR articles) and leading cases; returns ids, titles and snippets.

    Args:
        query: Words to look for, e.g. "breach notification hours".
        k: How many results to return.
    """
    hits = rank(query, max(1, min(k, 20)))
    if not hits:
        return f"No regulation or case matches {query!r}."
    return "\n\n".join(f"{i}. [{d['id']}] {d['title']} ({d['citation']})\n{d['text'][:300]}"
                       for i, (_, d) in enumerate(hits, 1))


@server.tool()
def get_document(doc_id: str) -> str:
    """The full text of one regulation or case, by the id that search_law printed.

    Args:
        doc_id: The document id, e.g. "gdpr-art-33".
    """
    for doc in DOCS:
        if doc["id"] == doc_id.strip():
            return f"{doc['title']}\nCitation: {doc['citation']}\n\n{doc['text']}"
    raise ToolError(f"no document with id {doc_id!r}; use search_law to find ids")


def _serve_http(port: int) -> None:
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen(128)  # clients that connect before uvicorn serves wait instead of failing
    print(f"listening on {sock.getsockname()[1]}", flush=True)
    uvicorn.Server(uvicorn.Config(server.streamable_http_app(), log_level="warning")).run(
        sockets=[sock])


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--http":
        _serve_http(int(sys.argv[2]))
    else:
        server.run()
