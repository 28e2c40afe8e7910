"""How well one OpenAIChatModel overlaps calls: N concurrent calls against a ScriptedServer.

    .venv/bin/python benchmarks/llm_client_concurrency.py [N] [LATENCY_S]

Prints the wall time, the ideal (one latency), their ratio, and how many calls the
server saw in flight at once. A ratio near 1 means no serialisation.
"""

from __future__ import annotations

import asyncio
import sys
import time

from sounding.config import LLMSettings
from sounding.llm import ChatRequest, OpenAIChatModel, ScriptedServer
from sounding.types import Message


async def main(n: int, latency: float) -> None:
    request = ChatRequest([Message("user", "ping")])
    with ScriptedServer.repeat("pong", latency=latency) as server:
        settings = LLMSettings(base_url=server.base_url, model="bench", max_retries=0)
        async with OpenAIChatModel(settings) as model:
            await model.complete(request)  # warm up the pool
            start = time.monotonic()
            await asyncio.gather(*(model.complete(request) for _ in range(n)))
            wall = time.monotonic() - start
    print(f"{n} calls, latency {latency:.2f}s: wall {wall:.2f}s, "
          f"ratio to ideal {wall / latency if latency else float('nan'):.2f}, "
          f"max in flight {server.max_in_flight}, {n / wall:.0f} calls/s")


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(int(args[0]) if args else 200, float(args[1]) if len(args) > 1 else 0.2))
