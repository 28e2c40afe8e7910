"""What an MCP stdio tool call adds over a direct Python tool doing the same work.

Run:  .venv/bin/python benchmarks/mcp_overhead.py [--calls 300]
Both tools run the case-law example's `get_document` lookup through `Environment.call`
(the boundary, argument checks, stats): one as a `@tool` function in this process, one
over the example's MCP server on stdio. Target: MCP p50 overhead < 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from sounding import tool
from sounding.config import McpServerSettings
from sounding.env import Environment
from sounding.env.mcp import McpToolset
from sounding.tools.base import ToolContext
from sounding.types import ToolCall

SERVER = Path(__file__).resolve().parents[1] / "examples" / "caselaw_mcp" / "server.py"


def _direct_tool() -> object:
    sys.path.insert(0, str(SERVER.parent))
    import server  # the example's module: the very function the MCP server runs

    return tool(name="get_document")(server.get_document)


async def _p50_ms(env: Environment, calls: int) -> float:
    call = ToolCall("get_document", {"doc_id": "gdpr-art-33"})
    for _ in range(20):  # warm up: thread pool, pipes, the server's imports
        await env.call(call, ToolContext())
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        result = await env.call(call, ToolContext())
        samples.append(time.perf_counter() - start)
        assert result.error is None, result.text
    return statistics.median(samples) * 1000


async def main(calls: int) -> None:
    direct = Environment("direct", {"get_document": _direct_tool()})  # type: ignore[dict-item]
    direct_ms = await _p50_ms(direct, calls)
    mcp = McpToolset(McpServerSettings(command=f"{sys.executable} {SERVER}"))
    async with Environment("mcp", toolsets=[mcp]) as env:
        mcp_ms = await _p50_ms(env, calls)
    overhead = mcp_ms - direct_ms
    print(f"direct Python tool p50: {direct_ms:.3f} ms")
    print(f"MCP stdio tool p50:     {mcp_ms:.3f} ms")
    print(f"MCP overhead p50:       {overhead:.3f} ms (target < 5 ms: "
          f"{'met' if overhead < 5 else 'NOT met'})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    asyncio.run(main(parser.parse_args().calls))
