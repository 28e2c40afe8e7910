"""Hostile-input limits: how fast and how small each refusal is.

Run:  .venv/bin/python benchmarks/hostile_limits.py          (about 10 s)
Targets: a docx that inflates to 256 MB refused in < 0.5 s with < 16 MB allocated;
splitting a 16 MB one-sentence document within 24x the time of a 1 MB one (linear is
16x, quadratic 256x); a 1 MB query turned into a MATCH expression in < 50 ms; 40
sandboxed print(1) calls in one turn all finish (with bubblewrap installed).
"""

from __future__ import annotations

import asyncio
import io
import time
import tracemalloc
import zipfile

from sounding.corpus._text import match_expression, split_passages
from sounding.errors import ProviderError, SandboxError
from sounding.providers.files import parse_bytes
from sounding.providers.sandbox import BubblewrapSandbox, SandboxLimits


def docx_bomb(inflated_mb: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("[Content_Types].xml", "<Types/>")
        with bomb.open("word/document.xml", "w", force_zip64=True) as handle:
            chunk = b"<w:p><w:r><w:t>bomb</w:t></w:r></w:p>" * 28_000
            for _ in range(inflated_mb):
                handle.write(chunk)
    return out.getvalue()


def bomb_refusal() -> None:
    bomb = docx_bomb(256)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        parse_bytes(bomb, ".docx")
        outcome = "PARSED (limit missing!)"
    except ProviderError as exc:
        outcome = f"refused: {str(exc)[:70]}"
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"docx bomb {len(bomb) / 1024:.0f} KB -> 256 MB: {seconds * 1000:.1f} ms, "
          f"peak {peak:.1f} MB, {outcome}")


def split_scaling() -> None:
    times = {}
    for mb in (1, 16):
        text = "word " * (mb * 2**20 // 5)
        start = time.perf_counter()
        passages = split_passages(text)
        times[mb] = time.perf_counter() - start
        print(f"split_passages {mb:>2} MB one sentence: {times[mb]:.3f} s, "
              f"{len(passages)} passages")
    print(f"  ratio 16 MB / 1 MB: {times[16] / times[1]:.1f} (linear: 16)")


def long_query() -> None:
    query = " ".join(f"w{i}" for i in range(150_000))  # ~1 MB
    start = time.perf_counter()
    match_expression(query)
    print(f"MATCH expression of a {len(query) / 2**20:.1f} MB query: "
          f"{(time.perf_counter() - start) * 1000:.2f} ms")


async def forty_sandboxes() -> None:
    try:
        sandbox = BubblewrapSandbox(SandboxLimits(timeout=60, memory_mb=512))
    except SandboxError as exc:
        print(f"sandbox: skipped ({exc})")
        return
    start = time.perf_counter()
    results = await asyncio.gather(*(sandbox.run("print(1)") for _ in range(40)),
                                   return_exceptions=True)
    ok = sum(1 for r in results if not isinstance(r, BaseException) and r.stdout == "1\n")
    print(f"40 sandboxed print(1) in one turn: {ok}/40 ran, "
          f"{time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    bomb_refusal()
    split_scaling()
    long_query()
    asyncio.run(forty_sandboxes())
