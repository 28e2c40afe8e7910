"""Run untrusted Python in a bubblewrap sandbox, one fresh sandbox per call.

What it protects against:
- network access: a new, empty network namespace (no interfaces but a down loopback);
- reading host files: only /usr (plus the interpreter's prefix) is visible, read-only;
  /etc, /home, /root, the project and its keys are not there at all;
- writing outside the sandbox: the only writable places are a private tmpfs at /tmp
  (the working directory) and one at /dev/shm, each capped in size and gone when the
  call ends; / and /dev are read-only;
- nested user namespaces (the way into most kernel bugs reachable without root):
  refused with `--disable-userns` where bwrap supports it (0.8+);
- too many sandboxes at once: a queue runs at most `max_concurrent` per runner, so
  40 calls in one turn all run (in turn) instead of failing on the process limit;
- runaway code: wall-clock timeout (default 50 s), CPU-time, address-space,
  file-size and open-file limits, a process limit (fork bombs), an output cap;
- signalling or seeing host processes: new pid, ipc and uts namespaces, a new
  session (no terminal injection); everything dies with the sandbox.
  When Sounding runs as root it drops to the `nobody` user before starting bwrap.

What it does NOT protect against:
- kernel exploits: bubblewrap is namespaces and mounts, not a virtual machine;
- side channels, and CPU or memory pressure on the host during the time limit
  (memory is capped per process by RLIMIT_AS, not per sandbox by a cgroup);
- with a bwrap older than 0.8 nested user namespaces are not refused (no seccomp filter);
- the process limit is per user: as root, all sandboxes share `nobody`'s count;
  as a normal user, the limit is the user's current task count plus the allowance;
- anything readable under /usr or the interpreter's prefix (installed packages);
- the unsandboxed runner (`allow_unsandboxed`), which protects against nothing but
  runaway time and output: use it only on a machine you are willing to lose.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..errors import SandboxError

log = logging.getLogger(__name__)

__all__ = ["BubblewrapSandbox", "CodeRunner", "RunResult", "SandboxLimits",
           "UnsandboxedRunner", "bwrap_path"]

_NOBODY = 65534
_START_RETRIES = 6
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


@dataclass(frozen=True)
class SandboxLimits:
    timeout: float = 50.0
    memory_mb: int = 2048
    max_processes: int = 64
    max_file_mb: int = 64
    max_output: int = 20_000
    """Characters kept of stdout and of stderr each."""
    tmp_mb: int = 256
    """Size of each writable tmpfs (/tmp and /dev/shm)."""
    max_concurrent: int = 8
    """Sandboxes one runner starts at once; further calls wait their turn."""


@dataclass(frozen=True)
class RunResult:
    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool = False
    truncated: bool = False
    seconds: float = 0.0


class CodeRunner(Protocol):
    name: str

    async def run(self, code: str) -> RunResult: ...


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _user_tasks(uid: int) -> int:
    """Tasks (threads count) this uid runs now: RLIMIT_NPROC is checked against that total."""
    total = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    total += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                continue
    return total


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    return args


class _ProcessRunner:
    """Shared process handling: feed code on stdin, cap output, enforce the wall clock."""

    name = "process"

    def __init__(self, limits: SandboxLimits) -> None:
        self.limits = limits
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary())

    def _command(self, workdir: str, status_fd: int) -> tuple[list[str], dict[str, object]]:
        raise NotImplementedError

    def _rlimits(self, nproc: int) -> list[str]:
        limits = self.limits
        return ["prlimit", f"--as={limits.memory_mb * 2**20}",
                f"--cpu={int(limits.timeout) + 1}", f"--nproc={nproc}",
                f"--fsize={limits.max_file_mb * 2**20}", "--nofile=256", "--core=0", "--"]

    def _slot(self) -> asyncio.Semaphore:
        """This event loop's queue: at most `max_concurrent` sandboxes run at once, since
        each costs processes against one per-user limit and memory on the host."""
        loop = asyncio.get_running_loop()
        slot = self._slots.get(loop)
        if slot is None:
            slot = self._slots[loop] = asyncio.Semaphore(max(1, self.limits.max_concurrent))
        return slot

    async def run(self, code: str) -> RunResult:
        async with self._slot():
            for attempt in range(_START_RETRIES + 1):
                try:
                    return await self._run(code)
                except SandboxError as exc:
                    # EAGAIN from clone(): processes of sandboxes that just ended still count
                    # against the per-user limit for a moment. Wait and start again.
                    if "temporarily unavailable" not in str(exc) or attempt == _START_RETRIES:
                        raise
                    await asyncio.sleep(0.05 * 2**attempt)
            raise AssertionError("unreachable")

    async def _run(self, code: str) -> RunResult:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="sounding-py-") as workdir:
            status_r, status_w = os.pipe()
            try:
                argv, extra = self._command(workdir, status_w)
                try:
                    proc = await asyncio.create_subprocess_exec(
                        *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.PIPE, env=_ENV,
                        start_new_session=True, **extra)  # type: ignore[arg-type]
                except OSError as exc:
                    raise SandboxError(f"cannot start the sandbox: {exc}") from exc
                finally:
                    os.close(status_w)
                result = await self._collect(proc, code, start)
                self._check_started(result, _read_available(status_r))
                return result
            finally:
                os.close(status_r)

    def _check_started(self, result: RunResult, status: bytes) -> None:
        """Raise SandboxError when the sandbox itself failed to start (no code ran)."""

    async def _collect(self, proc: asyncio.subprocess.Process, code: str,
                       start: float) -> RunResult:
        cap = self.limits.max_output * 4  # bytes: room for multi-byte characters
        over = asyncio.Event()

        async def drain(stream: asyncio.StreamReader | None) -> bytes:
            kept = bytearray()
            while stream is not None and (chunk := await stream.read(65536)):
                kept += chunk[: max(0, cap + 1 - len(kept))]
                if len(kept) > cap:
                    over.set()
                    _kill(proc)
            return bytes(kept)

        async def feed() -> None:
            assert proc.stdin is not None
            try:
                proc.stdin.write(code.encode("utf-8"))
                await proc.stdin.drain()
                proc.stdin.close()
            except (BrokenPipeError, ConnectionResetError):
                pass

        readers = asyncio.gather(drain(proc.stdout), drain(proc.stderr), feed(), proc.wait())
        timed_out = False
        try:
            out, err, _, _ = await asyncio.wait_for(asyncio.shield(readers), self.limits.timeout)
        except TimeoutError:
            timed_out = True
            _kill(proc)
            out, err, _, _ = await readers
        except asyncio.CancelledError:
            # The caller gave up (run deadline, Ctrl-C): code that sleeps uses no CPU time,
            # so without this kill it would outlive the run.
            _kill(proc)
            readers.cancel()
            raise
        return RunResult(
            stdout=_clip(out, self.limits.max_output), stderr=_clip(err, self.limits.max_output),
            exit_code=proc.returncode, timed_out=timed_out, truncated=over.is_set(),
            seconds=time.perf_counter() - start)


def _read_available(fd: int) -> bytes:
    """What the status pipe holds; never blocks (a stray holder of its write end cannot
    stall the call)."""
    os.set_blocking(fd, False)
    data = bytearray()
    with contextlib.suppress(BlockingIOError, OSError):
        while chunk := os.read(fd, 65536):
            data += chunk
            if len(data) > 1_000_000:
                break
    return bytes(data)


def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _clip(data: bytes, limit: int) -> str:
    text = data.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[:limit]


class BubblewrapSandbox(_ProcessRunner):
    """bubblewrap + prlimit; the code arrives on stdin, the working directory is a tmpfs."""

    name = "bwrap"

    def __init__(self, limits: SandboxLimits | None = None, *, python: Path | None = None,
                 bwrap: str | None = None) -> None:
        super().__init__(limits or SandboxLimits())
        found = bwrap or bwrap_path()
        if not found:
            raise SandboxError(
                "PythonInterpreter needs bubblewrap (`bwrap`), which is not installed: "
                "install it (apt-get install bubblewrap) or set web.allow_unsandboxed=true "
                "to run code WITHOUT isolation")
        if shutil.which("prlimit") is None:
            raise SandboxError("PythonInterpreter needs `prlimit` (util-linux) to set limits")
        self.bwrap = found
        self.userns_flags = _userns_flags(found)
        self.status_fd = "--json-status-fd" in _help(found)
        self.python = python or (Path("/usr/bin/python3") if Path("/usr/bin/python3").exists()
                                 else Path(sys.executable).resolve())

    def _command(self, workdir: str, status_fd: int) -> tuple[list[str], dict[str, object]]:
        extra: dict[str, object] = {"cwd": "/", "pass_fds": (status_fd,)}
        if os.geteuid() == 0:
            extra.update(user=_NOBODY, group=_NOBODY, extra_groups=[])
            nproc = self.limits.max_processes
        else:
            nproc = _user_tasks(os.getuid()) + self.limits.max_processes
        binds = _system_binds()
        prefix = Path(sys.base_prefix) if not str(self.python).startswith("/usr/") else None
        if prefix is not None and not str(prefix).startswith("/usr"):
            binds += ["--ro-bind", str(prefix), str(prefix)]
        size = str(self.limits.tmp_mb * 2**20)
        status = ["--json-status-fd", str(status_fd)] if self.status_fd else []
        argv = [*self._rlimits(nproc), self.bwrap, "--unshare-all", *self.userns_flags,
                "--die-with-parent", "--new-session", *status,
                *binds, "--proc", "/proc", "--dev", "/dev",
                # /dev is a tmpfs of bwrap's with no size limit: cap /dev/shm, then make
                # /dev itself read-only, so no writable place is left uncapped.
                "--size", size, "--tmpfs", "/dev/shm", "--remount-ro", "/dev",
                "--size", size, "--tmpfs", "/tmp",
                "--remount-ro", "/", "--chdir", "/tmp", "--hostname", "sandbox",
                str(self.python), "-I", "-"]
        return argv, extra

    def _check_started(self, result: RunResult, status: bytes) -> None:
        # bwrap reports the sandboxed child's pid once it runs; without it, what is on
        # stderr is bwrap's (or prlimit's) complaint, not anything the code printed.
        if result.timed_out:
            return
        # After reporting its child, bwrap still forks once more (pid 1 of the sandbox);
        # that fork failing on the process limit looks like this, and no code ran.
        late = (result.exit_code == 1 and not result.stdout
                and result.stderr.startswith("bwrap: Can't fork")
                and "temporarily unavailable" in result.stderr)
        if not self.status_fd:  # bwrap < 0.5 cannot report: judge by its message alone
            if not (result.exit_code == 1 and not result.stdout
                    and result.stderr.startswith(("bwrap: ", "prlimit: "))):
                return
        elif b'"child-pid"' in status and not late:
            return
        reason = result.stderr.strip().splitlines()[-1:] or [f"exit code {result.exit_code}"]
        raise SandboxError(f"the Python sandbox could not start: {reason[0][:300]} (the "
                           "code did not run; the host may forbid user namespaces or have "
                           "run out of processes)")


_USERNS_FLAGS: dict[str, tuple[str, ...]] = {}


@functools.cache
def _help(bwrap: str) -> str:
    """bwrap's option list (what this version supports)."""
    try:
        return subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=10,
                              check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _userns_flags(bwrap: str) -> tuple[str, ...]:
    """`--unshare-user --disable-userns` when this bwrap accepts them here (bwrap 0.8+ and
    a kernel that allows it), else nothing; probed once per binary, as the sandbox user."""
    if bwrap in _USERNS_FLAGS:
        return _USERNS_FLAGS[bwrap]
    flags = ("--unshare-user", "--disable-userns")
    extra: dict[str, object] = {}
    if os.geteuid() == 0:
        extra = {"user": _NOBODY, "group": _NOBODY, "extra_groups": []}
    try:
        probe = subprocess.run(  # type: ignore[call-overload]
            [bwrap, "--unshare-all", *flags, *_system_binds(), "--", "/usr/bin/true"],
            capture_output=True, timeout=10, check=False, cwd="/", **extra)
        ok = probe.returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    if not ok:
        log.warning("bwrap at %s cannot --disable-userns here: nested user namespaces "
                    "stay possible inside the sandbox", bwrap)
    _USERNS_FLAGS[bwrap] = flags if ok else ()
    return _USERNS_FLAGS[bwrap]


class UnsandboxedRunner(_ProcessRunner):
    """No isolation at all: a plain subprocess in a temporary directory, with limits."""

    name = "unsandboxed"

    def __init__(self, limits: SandboxLimits | None = None, *, python: Path | None = None
                 ) -> None:
        super().__init__(limits or SandboxLimits())
        self.python = python or Path(sys.executable)

    def _command(self, workdir: str, status_fd: int) -> tuple[list[str], dict[str, object]]:
        nproc = _user_tasks(os.getuid()) + self.limits.max_processes
        prefix = self._rlimits(nproc) if shutil.which("prlimit") else []
        return [*prefix, str(self.python), "-I", "-"], {"cwd": workdir}
