"""A small MCP server written with the official SDK, for the tests: stdio by default,
streamable HTTP with `--http PORT` (on 127.0.0.1).

    python tests/env/mcp_server.py            # stdio
    python tests/env/mcp_server.py --http 0   # prints "listening on PORT"
"""

from __future__ import annotations

import asyncio
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("sounding-test")


@server.tool()
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@server.tool()
def server_pid() -> str:
    """The process id of this server (the tests check it is gone after close)."""
    return str(os.getpid())


@server.tool()
def refuse(reason: str) -> str:
    """Always fails, with the reason given."""
    raise ToolError(f"refused: {reason}")


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleep, then say so."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


def _serve_http(port: int) -> None:
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    # Listen before saying so: connections then wait in the backlog until uvicorn serves,
    # instead of being refused on a slow machine.
    sock.listen(128)
    print(f"listening on {sock.getsockname()[1]}", flush=True)
    app = server.streamable_http_app()
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--http":
        _serve_http(int(sys.argv[2]))
    else:
        server.run()
