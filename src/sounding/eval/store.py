"""The run directory on disk: manifest, append-only results and trajectories.

Each row is one `os.write` of one line on an O_APPEND descriptor, then fsync,
under one lock, so concurrent rollouts never interleave and a crash loses at
most the rows in flight. A partial last line left by a crash is cut off when
the file is reopened, so the next row starts on a fresh line.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, StoreWriteError
from ..trace.trajectory import Trajectory
from ..types import JSON, JSONObject
from .rows import ResultRow, iter_rows, latest_rows, results_files

__all__ = [
    "MANIFEST",
    "RunStore",
    "Shard",
    "StoreWriteError",
    "check_manifest",
    "manifest_diffs",
    "merge_runs",
    "read_manifest",
    "write_json",
    "write_rows",
    "write_trajectories",
]

MANIFEST = "manifest.json"
# Settings that change how a row is produced: resuming with other values is refused.
IDENTITY_KEYS = ("dataset_sha256", "format", "judge", "judge_model", "judge_prompt_sha256",
                 "ask_confidence", "agent")


@dataclass(frozen=True)
class Shard:
    """Shard `index` of `count` (0-based): items whose position % count == index."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        try:
            i, n = (int(p) for p in text.split("/"))
        except ValueError as exc:
            raise ConfigError(f"--shard {text!r}: expected I/N, e.g. 0/4") from exc
        if n < 1 or not 0 <= i < n:
            raise ConfigError(f"--shard {text!r}: need 0 <= I < N")
        return cls(i, n)

    @property
    def tag(self) -> str:
        return f"shard-{self.index}-of-{self.count}"


def read_manifest(run_dir: Path) -> JSONObject | None:
    """The manifest of `run_dir`; None when there is none, ConfigError when it is corrupt."""
    path = run_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc}); restore it, or use another "
                          "--out directory") from exc
    return data if isinstance(data, dict) else None


def manifest_diffs(old: JSONObject, new: JSONObject) -> list[str]:
    """The identity settings that differ, one line each, nested keys dotted:
    `agent.mode: react -> iter`."""
    lines: list[str] = []
    for key in IDENTITY_KEYS:
        _diff(key, old.get(key), new.get(key), lines)
    return lines


def _diff(path: str, a: JSON | None, b: JSON | None, out: list[str]) -> None:
    if a == b:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            _diff(f"{path}.{key}", a.get(key), b.get(key), out)
        return
    out.append(f"{path}: {_short(a)} -> {_short(b)}")


def check_manifest(run_dir: Path, manifest: JSONObject) -> None:
    """Write the manifest, or refuse when the directory holds a run with other settings."""
    old = read_manifest(run_dir)
    if old is not None:
        diffs = manifest_diffs(old, manifest)
        if diffs:
            lines = "\n".join(f"  {d}" for d in diffs)
            raise ConfigError(
                f"{run_dir} holds a run with different settings; resuming would mix them:\n"
                f"{lines}\nUse another --out directory, or the original settings."
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / MANIFEST, manifest)


def write_json(path: Path, data: JSON) -> None:
    """Write `data` as indented JSON through a temporary file (a kill never leaves half)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def _short(value: JSON | None) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                            sort_keys=True)
    return text if len(text) <= 120 else text[:120] + "..."


class RunStore:
    """Appends rows and trajectories of one run (or one shard of it)."""

    def __init__(self, run_dir: Path, shard: Shard | None = None, *, fsync: bool = True) -> None:
        self.run_dir = run_dir
        suffix = f".{shard.tag}" if shard else ""
        self.results_path = run_dir / f"results{suffix}.jsonl"
        self.trajectories_path = run_dir / f"trajectories{suffix}.jsonl"
        self._fsync = fsync
        self._lock = asyncio.Lock()
        # A cancelled append (Ctrl-C) leaves its worker thread writing: close() waits for it
        # on this lock, so it never closes (and the OS never reuses) a descriptor mid-write.
        self._io_lock = threading.Lock()
        self._fds: dict[Path, int] = {}
        self.skipped = 0
        """Unreadable lines the last `load` skipped (reported; those rows are run again)."""

    def load(self) -> dict[tuple[str, int], ResultRow]:
        """The latest row per key already in this store's results file."""
        count = [0]
        rows = latest_rows(iter_rows(self.results_path, count))
        self.skipped = count[0]
        return rows

    def open(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.results_path, self.trajectories_path):
            _cut_partial_line(path)
            self._fds[path] = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def close(self) -> None:
        with self._io_lock:
            for fd in self._fds.values():
                os.close(fd)
            self._fds.clear()

    async def append(self, row: ResultRow, trajectory: Trajectory | None) -> None:
        """Write the trajectory (if any), then its row; the row is what marks it done."""
        traj_line = (trajectory.to_json() + "\n").encode() if trajectory is not None else b""
        row_line = (row.to_json() + "\n").encode()
        async with self._lock:
            await asyncio.to_thread(self._write_pair, traj_line, row_line)

    def _write_pair(self, traj_line: bytes, row_line: bytes) -> None:
        with self._io_lock:
            if not self._fds:
                return  # closed after a cancellation: this row counts as in flight
            if traj_line:
                self._write(self.trajectories_path, traj_line)
            self._write(self.results_path, row_line)

    def _write(self, path: Path, data: bytes) -> None:
        fd = self._fds[path]
        view = memoryview(data)
        try:
            while view:  # os.write may write less than asked for very large lines
                written = os.write(fd, view)
                view = view[written:]
            if self._fsync:
                os.fsync(fd)
        except OSError as exc:
            # A full disk (or a lost mount): the rows already written stay valid, and the
            # partial line this left is cut when the run is resumed.
            raise StoreWriteError(
                f"cannot write to {path}: {exc.strerror or exc}; the run is resumable: "
                "free some space and run the same command again") from exc

    def compact(self) -> None:
        """One row per key in the results file, and in the trajectories file only the
        trajectories those rows reference, once each (orphans of failed attempts and of
        rollouts cut off by a crash go). Trajectories first: a row never points nowhere."""
        rows = self.load()
        keep = {r.trajectory_id for r in rows.values() if r.trajectory_id}
        write_trajectories([self.trajectories_path], self.trajectories_path, keep)
        write_rows(rows.values(), self.results_path)


def write_rows(rows: Iterable[ResultRow], path: Path) -> None:
    """Rewrite `path` with `rows` sorted by key (atomic replace, fsynced)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in sorted(rows, key=lambda r: (r.item_id, r.rollout)):
            fh.write(row.to_json() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


_ID_RE = re.compile(r'\{\s*(?:"version":\s*\d+,\s*)?"id":\s*"([^"\\]+)"')


def _trajectory_id(line: bytes) -> str | None:
    # Trajectory.to_json writes "id" second: read it off the head, parse whole lines
    # only when that fails (lines are large; this keeps compaction cheap).
    hit = _ID_RE.match(line[:200].decode("utf-8", "replace"))
    if hit:
        return hit.group(1)
    try:
        obj = json.loads(line)
    except ValueError:
        return None  # a partial line from a crash
    value = obj.get("id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def write_trajectories(sources: Iterable[Path], target: Path, keep: set[str]) -> int:
    """Write to `target` each trajectory of `sources` whose id is in `keep`, once.

    Streams line by line (trajectory files get large); `target` may be one of the
    sources, since the result goes to a temporary file first. Returns the count kept.
    """
    seen: set[str] = set()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as dst:
        for src in dict.fromkeys(p.resolve() for p in sources):
            if not src.is_file():
                continue
            with src.open("rb") as fh:
                for line in fh:
                    if not line.endswith(b"\n"):
                        break
                    tid = _trajectory_id(line)
                    if tid is not None and tid in keep and tid not in seen:
                        seen.add(tid)
                        dst.write(line)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(tmp, target)
    return len(seen)


def _cut_partial_line(path: Path) -> None:
    """Drop an unterminated last line (a write cut short by a crash)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return
        size = fh.seek(0, os.SEEK_END)
        pos = size
        block = 1 << 16
        while pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            chunk = fh.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl != -1:
                fh.truncate(start + nl + 1)
                return
            pos = start
        fh.truncate(0)


def merge_runs(run_dirs: list[Path], out: Path) -> int:
    """Join the results (and shard files) of `run_dirs` into `out/results.jsonl`.

    Manifests must agree on the identity settings. Idempotent: trajectories are
    deduplicated by id and only those the merged rows reference are kept, so a
    merge run twice (or over its own output) gives the same files. Shard files
    inside `out` are renamed `*.jsonl.merged` afterwards. Returns the rows written.
    """
    manifests = [m for m in (read_manifest(d) for d in run_dirs) if m is not None]
    if not manifests:
        raise ConfigError("no manifest.json in any of the given run directories")
    for m in manifests:
        check_manifest(out, m)
    rows = latest_rows(r for d in run_dirs for p in results_files(d) for r in iter_rows(p))
    keep = {r.trajectory_id for r in rows.values() if r.trajectory_id}
    sources = [p for d in [out, *run_dirs] for p in _trajectory_files(d)]
    write_trajectories(sources, out / "trajectories.jsonl", keep)
    write_rows(rows.values(), out / "results.jsonl")
    for path in [*out.glob("results.shard-*.jsonl"), *out.glob("trajectories.shard-*.jsonl")]:
        path.rename(path.with_suffix(".jsonl.merged"))
    return len(rows)


def _trajectory_files(run_dir: Path) -> list[Path]:
    main = run_dir / "trajectories.jsonl"
    return [main, *sorted(run_dir.glob("trajectories.shard-*.jsonl"))]
