"""PythonInterpreter and its bubblewrap sandbox against hostile code."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path

import pytest

from sounding.errors import SandboxError, ToolArgumentError
from sounding.providers import sandbox as sandbox_module
from sounding.providers.sandbox import (
    BubblewrapSandbox,
    RunResult,
    SandboxLimits,
    UnsandboxedRunner,
    bwrap_path,
)
from sounding.tools.base import ToolContext
from sounding.tools.python import PYTHON_NATIVE_SCHEMA, PYTHON_SCHEMA, PythonTool, format_run

needs_bwrap = pytest.mark.skipif(
    bwrap_path() is None, reason="bubblewrap (bwrap) is not installed; CI installs it")

LIMITS = SandboxLimits(timeout=3.0, memory_mb=512, max_processes=32, max_file_mb=4,
                       max_output=2000)


def test_schema_is_the_trained_one() -> None:
    assert PYTHON_SCHEMA.name == "PythonInterpreter"
    assert PYTHON_SCHEMA.parameters == {"type": "object", "properties": {}, "required": []}
    assert PYTHON_NATIVE_SCHEMA.parameters["required"] == ["code"]


def test_observation_format() -> None:
    assert format_run(RunResult("1\n", "", 0), 50) == "stdout:\n1\n"
    assert format_run(RunResult("", "", 0), 50) == "Finished execution."
    both = format_run(RunResult("a\n", "Traceback...\n", 1), 50)
    assert both == "stdout:\na\n\nstderr:\nTraceback...\n"
    timed = format_run(RunResult("", "", -9, timed_out=True), 50)
    assert "TimeoutError" in timed and "50 seconds" in timed


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.codes: list[str] = []

    async def run(self, code: str) -> RunResult:
        self.codes.append(code)
        return RunResult("ok\n", "", 0)


async def test_code_comes_from_the_code_block_or_the_native_argument() -> None:
    runner = Recorder()
    tool = PythonTool(runner)
    await tool({}, ToolContext(), code="```python\nprint('x')\n```")
    await PythonTool(runner, native=True)({"code": "print(2)"}, ToolContext())
    assert runner.codes == ["print('x')", "print(2)"]
    with pytest.raises(ToolArgumentError, match="<code>"):
        await tool({}, ToolContext(), code="   ")


def test_missing_bwrap_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None)
    with pytest.raises(SandboxError, match=r"apt-get install bubblewrap.*allow_unsandboxed"):
        BubblewrapSandbox(LIMITS)


async def test_unsandboxed_runner_runs_with_limits() -> None:
    result = await UnsandboxedRunner(LIMITS).run("import os; print(os.getcwd())")
    assert result.exit_code == 0 and "sounding-py-" in result.stdout


async def test_cancelled_run_kills_its_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # A sleeping process uses no CPU time, so only the kill on cancellation ends it.
    started: asyncio.Queue[asyncio.subprocess.Process] = asyncio.Queue()
    spawn = asyncio.create_subprocess_exec

    async def spy(*args: object, **kwargs: object) -> asyncio.subprocess.Process:
        proc = await spawn(*args, **kwargs)  # type: ignore[arg-type]
        started.put_nowait(proc)
        return proc

    monkeypatch.setattr(sandbox_module.asyncio, "create_subprocess_exec", spy)
    slow = SandboxLimits(timeout=120.0, memory_mb=512, max_processes=32)
    task = asyncio.create_task(UnsandboxedRunner(slow).run("import time; time.sleep(120)"))
    proc = await started.get()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.wait_for(proc.wait(), 10) == -signal.SIGKILL


@pytest.fixture
def box() -> BubblewrapSandbox:
    return BubblewrapSandbox(LIMITS)


@needs_bwrap
async def test_prints_and_errors(box: BubblewrapSandbox) -> None:
    tool = PythonTool(box, timeout=LIMITS.timeout)
    out = await tool({}, ToolContext(), code="import math\nprint(math.factorial(20))")
    assert out.text == "stdout:\n2432902008176640000\n"
    err = await tool({}, ToolContext(), code="1/0")
    assert err.text.startswith("stderr:\nTraceback") and "ZeroDivisionError" in err.text
    assert (await tool({}, ToolContext(), code="x = 1")).text == "Finished execution."


@needs_bwrap
async def test_no_network(box: BubblewrapSandbox) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    code = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), 2)\n"
            "    print('connected')\nexcept OSError as e:\n    print('blocked', e.errno)\n"
            "try:\n    socket.getaddrinfo('example.com', 80)\n    print('dns')\n"
            "except OSError:\n    print('no dns')")
    result = await box.run(code)
    listener.setblocking(False)
    with pytest.raises(BlockingIOError):  # nothing reached the host's loopback
        listener.accept()
    listener.close()
    assert "blocked" in result.stdout and "no dns" in result.stdout


@needs_bwrap
async def test_cannot_read_outside(box: BubblewrapSandbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    os.chmod(tmp_path, 0o755)
    os.chmod(secret, 0o644)
    code = ("import os\n"
            f"for p in ['/etc/passwd', {str(secret)!r}, '/root', '/home', {os.getcwd()!r}]:\n"
            "    print(p, os.path.exists(p))\n"
            "print(sorted(os.listdir('/')))")
    result = await box.run(code)
    assert "TOP-SECRET" not in result.stdout
    assert result.stdout.count(" False") == 5, result.stdout
    assert "etc" not in result.stdout.splitlines()[-1]


@needs_bwrap
async def test_cannot_write_outside_and_state_does_not_persist(box: BubblewrapSandbox) -> None:
    marker = f"/tmp/sounding-escape-{os.getpid()}"
    code = ("import os\nopen('work.txt', 'w').write('x')\nprint('cwd ok', os.getcwd())\n"
            f"open({marker!r}, 'w').write('x')\n"
            "for p in ['/usr/evil', '/evil']:\n"
            "    try:\n        open(p, 'w').write('x')\n        print('wrote', p)\n"
            "    except OSError as e:\n        print('refused', p, e.errno)")
    result = await box.run(code)
    assert "cwd ok /tmp" in result.stdout and "wrote" not in result.stdout
    assert result.stdout.count("refused") == 2
    assert not Path(marker).exists()  # the sandbox's /tmp is its own tmpfs
    again = await box.run("import os; print(os.listdir('.'))")
    assert again.stdout == "[]\n"


@needs_bwrap
async def test_infinite_loop_times_out() -> None:
    quick = SandboxLimits(timeout=1.0, memory_mb=512, max_processes=32)
    tool = PythonTool(BubblewrapSandbox(quick), timeout=quick.timeout)
    out = await tool({}, ToolContext(), code="print('start', flush=True)\nwhile True: pass")
    assert out.text.startswith("stdout:\nstart\n") and "TimeoutError" in out.text
    assert out.meta["timed_out"] is True


@needs_bwrap
async def test_memory_bomb_is_stopped(box: BubblewrapSandbox) -> None:
    result = await box.run("x = bytearray(2 * 1024**3)\nprint('allocated')")
    assert "allocated" not in result.stdout and "MemoryError" in result.stderr


@needs_bwrap
async def test_fork_bomb_is_stopped(box: BubblewrapSandbox) -> None:
    code = ("import os, time\nn = 0\ntry:\n    for _ in range(10_000):\n"
            "        if os.fork() == 0:\n            time.sleep(30)\n            os._exit(0)\n"
            "        n += 1\nexcept OSError as e:\n    print('stopped after', n, e.errno)")
    result = await box.run(code)
    assert result.stdout.startswith("stopped after")
    assert int(result.stdout.split()[2]) < LIMITS.max_processes
    assert not result.timed_out  # the children die with the sandbox, nobody waits for them


@needs_bwrap
async def test_huge_output_is_capped(box: BubblewrapSandbox) -> None:
    tool = PythonTool(box, timeout=LIMITS.timeout)
    out = await tool({}, ToolContext(), code="while True: print('x' * 1000)")
    assert out.meta["truncated"] is True and not out.meta["timed_out"]
    assert len(out.text) < LIMITS.max_output + 200 and "truncated" in out.text


@needs_bwrap
async def test_big_file_is_refused(box: BubblewrapSandbox) -> None:
    code = ("try:\n    open('big', 'wb').write(b'0' * 8 * 1024**2)\n    print('wrote')\n"
            "except OSError as e:\n    print('refused', e.errno)")
    result = await box.run(code)
    assert result.stdout.startswith("refused")
