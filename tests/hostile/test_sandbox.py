"""The Python sandbox under hostile code: capped tmpfs everywhere, no nested user namespaces,
start failures reported as SandboxError, and a queue so that many calls at once all run."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from sounding.errors import SandboxError
from sounding.providers.sandbox import BubblewrapSandbox, RunResult, SandboxLimits, bwrap_path
from sounding.tools.base import ToolContext
from sounding.tools.python import PythonTool

needs_bwrap = pytest.mark.skipif(bwrap_path() is None,
                                 reason="bubblewrap (bwrap) is not installed")
LIMITS = SandboxLimits(timeout=20.0, memory_mb=512, max_processes=32, max_file_mb=16, tmp_mb=4)

FILL = """
import errno
for place in ("/tmp", "/dev/shm", "/dev", "/"):
    try:
        with open(place.rstrip("/") + "/fill", "wb") as handle:
            for _ in range(12):  # 12 MB against a 4 MB cap
                handle.write(b"x" * 2**20)
                handle.flush()
        print(place, "UNCAPPED")
    except OSError as exc:
        print(place, errno.errorcode[exc.errno])
"""


@needs_bwrap
async def test_every_writable_place_in_the_sandbox_is_capped() -> None:
    result = await BubblewrapSandbox(LIMITS).run(FILL)
    lines = dict(line.split() for line in result.stdout.splitlines())
    assert lines == {"/tmp": "ENOSPC", "/dev/shm": "ENOSPC", "/dev": "EROFS", "/": "EROFS"}


NESTED_USERNS = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
print("refused" if libc.unshare(CLONE_NEWUSER) != 0 else "ALLOWED", ctypes.get_errno())
"""


@needs_bwrap
async def test_nested_user_namespaces_are_refused() -> None:
    sandbox = BubblewrapSandbox(LIMITS)
    if not sandbox.userns_flags:
        pytest.skip("this bwrap or kernel cannot --disable-userns (documented in security.md)")
    result = await sandbox.run(NESTED_USERNS)
    assert result.stdout.startswith("refused"), result.stdout + result.stderr


def _fake_bwrap(folder: Path, message: str) -> str:
    """A `bwrap` that fails as a host without user namespaces makes the real one fail; in a
    folder the sandbox user (nobody, when the tests run as root) can reach."""
    script = folder / "bwrap"
    script.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    script.chmod(0o755)
    folder.chmod(0o755)
    return str(script)


@pytest.mark.skipif(bwrap_path() is None, reason="prlimit and bwrap layout are Linux-only")
async def test_a_sandbox_that_cannot_start_is_a_sandbox_error() -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        bwrap = _fake_bwrap(Path(folder), "bwrap: Creating new namespace failed: Operation "
                                          "not permitted")
        tool = PythonTool(BubblewrapSandbox(LIMITS, bwrap=bwrap))
        with pytest.raises(SandboxError, match="Creating new namespace failed"):
            await tool({}, ToolContext(), code="print('never runs')")


@needs_bwrap
async def test_code_that_prints_bwraps_complaint_is_just_output() -> None:
    code = ("import sys\nsys.stderr.write('bwrap: Creating new namespace failed\\n')\n"
            "sys.exit(1)")
    result = await BubblewrapSandbox(LIMITS).run(code)
    assert result.exit_code == 1 and "Creating new namespace failed" in result.stderr


class CountingSandbox(BubblewrapSandbox):
    """Counts sandboxes in flight, to check the queue holds."""

    in_flight = 0
    most = 0

    async def _run(self, code: str) -> RunResult:
        type(self).in_flight += 1
        type(self).most = max(type(self).most, type(self).in_flight)
        try:
            return await super()._run(code)
        finally:
            type(self).in_flight -= 1


@needs_bwrap
async def test_forty_calls_in_one_turn_all_run_through_the_queue() -> None:
    limits = SandboxLimits(timeout=60.0, memory_mb=512, max_processes=32, max_concurrent=4)
    sandbox = CountingSandbox(limits)
    results = await asyncio.gather(*(sandbox.run(f"print({i} * 2)") for i in range(40)))
    assert [r.stdout.strip() for r in results] == [str(i * 2) for i in range(40)]
    assert all(r.exit_code == 0 and not r.timed_out for r in results)
    assert CountingSandbox.most == 4
