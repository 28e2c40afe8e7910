"""Tool-layer figures: cached call p50, HTML->text pages/s, sandbox overhead for print(1).

Run:  .venv/bin/python benchmarks/tool_layer.py [--html-dir /usr/share/doc/python3.11/html]
(Debian: `apt-get install python3.11-doc bubblewrap` for the real pages and the sandbox.)
Targets: cached p50 < 1 ms; sandbox print(1) < 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from sounding.providers.base import SearchHit
from sounding.providers.cache import CacheLayer, open_cache
from sounding.providers.extract import decode_text, html_to_text
from sounding.providers.fallback import FallbackChain
from sounding.providers.sandbox import BubblewrapSandbox, SandboxLimits, bwrap_path
from sounding.tools.base import ToolContext
from sounding.tools.search import SearchTool


class _Provider:
    name = "bench"

    async def search(self, query: str, *, num: int = 10, stats: object = None
                     ) -> list[SearchHit]:
        return [SearchHit(f"Result {i}", f"https://example.com/{i}", "snippet " * 30, "2024")
                for i in range(num)]


async def cached_call_p50(n: int = 2000) -> float:
    """p50 seconds of a whole `search` tool call answered from the disk cache."""
    with tempfile.TemporaryDirectory() as tmp:
        cache = open_cache(Path(tmp))
        tool = SearchTool(FallbackChain([CacheLayer(_Provider(), cache, ttl=3600)]))
        await tool({"query": ["warm query"]}, ToolContext())
        samples = []
        for _ in range(n):
            start = time.perf_counter()
            await tool({"query": ["warm query"]}, ToolContext())
            samples.append(time.perf_counter() - start)
        cache.close()
    return statistics.median(samples)


def extraction_rate(html_dir: Path, limit: int) -> tuple[int, float, float]:
    """(pages, pages per second, MB per second) of HTML -> main text on real pages."""
    pages = sorted(html_dir.rglob("*.html"))[:limit]
    bodies = [p.read_bytes() for p in pages]
    start = time.perf_counter()
    for body in bodies:
        html_to_text(decode_text(body))
    seconds = time.perf_counter() - start
    return len(bodies), len(bodies) / seconds, sum(map(len, bodies)) / 1e6 / seconds


async def sandbox_overhead(n: int = 20) -> float:
    """p50 seconds from start to result of print(1) in a fresh bubblewrap sandbox."""
    box = BubblewrapSandbox(SandboxLimits())
    await box.run("print(1)")
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        result = await box.run("print(1)")
        samples.append(time.perf_counter() - start)
        assert result.stdout == "1\n", result
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--html-dir", type=Path, default=Path("/usr/share/doc/python3.11/html"))
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    p50 = asyncio.run(cached_call_p50())
    print(f"cached search call p50: {p50 * 1000:.3f} ms (target < 1 ms) "
          f"{'OK' if p50 < 0.001 else 'MISSED'}")
    if args.html_dir.is_dir():
        count, rate, mbps = extraction_rate(args.html_dir, args.pages)
        print(f"HTML -> text: {rate:.1f} pages/s, {mbps:.2f} MB/s over {count} pages "
              f"of {args.html_dir}")
    else:
        print(f"HTML -> text: skipped ({args.html_dir} missing; apt-get install python3.11-doc)")
    if bwrap_path():
        overhead = asyncio.run(sandbox_overhead())
        print(f"sandbox print(1) start-to-result p50: {overhead * 1000:.1f} ms "
              f"(target < 150 ms) {'OK' if overhead < 0.150 else 'MISSED'}")
    else:
        print("sandbox: skipped (bwrap missing; apt-get install bubblewrap)")


if __name__ == "__main__":
    main()
