"""Job persistence: jobs, their numbered events and API-key hashes, in SQLite (one WAL file,
the default) or PostgreSQL (`postgresql://...`, several server instances sharing one store)."""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeAlias

from ..types import JSONObject

__all__ = ["ACTIVE", "JobRow", "PostgresStore", "SQLiteStore", "Store", "open_store", "refill"]

ACTIVE = ("queued", "running")  # (spelled out in _orphans too)
"""Statuses of a job that some server process is (or was) working on."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, owner TEXT NOT NULL, "
    "status TEXT NOT NULL, question TEXT NOT NULL, request TEXT NOT NULL, "
    "result TEXT, trajectory TEXT, created REAL NOT NULL, updated REAL NOT NULL, "
    "instance TEXT)",
    "CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created)",
    "CREATE TABLE IF NOT EXISTS events (job_id TEXT NOT NULL, seq INTEGER NOT NULL, "
    "data TEXT NOT NULL, PRIMARY KEY (job_id, seq))",
    "CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, seen REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS api_keys (hash TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "created REAL NOT NULL)",
    # What several server processes on one store share: per-key concurrency (counted in
    # jobs), rate buckets, and cancel requests for a job another process runs.
    "CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, status)",
    "CREATE TABLE IF NOT EXISTS rates (name TEXT PRIMARY KEY, tokens REAL NOT NULL, "
    "at REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS cancels (job_id TEXT PRIMARY KEY, at REAL NOT NULL)",
)


@dataclass
class JobRow:
    """One research job as stored; `request` is the accepted request body."""

    id: str
    owner: str
    status: str
    question: str
    request: JSONObject
    result: JSONObject | None = None
    trajectory: JSONObject | None = None
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    def summary(self) -> JSONObject:
        """The public view (no owner, no trajectory)."""
        out: JSONObject = {"id": self.id, "status": self.status, "question": self.question,
                           "request": self.request, "created": self.created,
                           "updated": self.updated}
        out.update(self.result or {})
        return out


_COLUMNS = "id, owner, status, question, request, result, trajectory, created, updated"
# A status read leaves out the trajectory: parsing a long run's record costs milliseconds.
_LIGHT = "id, owner, status, question, request, result, NULL, created, updated"


def _loads(value: str | None) -> JSONObject | None:
    return None if value is None else dict(json.loads(value))


def _row(values: Any) -> JobRow:
    return JobRow(values[0], values[1], values[2], values[3], json.loads(values[4]),
                  _loads(values[5]), _loads(values[6]), float(values[7]), float(values[8]))


class Store(Protocol):
    """What the job manager needs from a database."""

    any_loop: bool
    """Whether its methods may be awaited on any event loop of the process (not only the
    one that opened it)."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def create(self, job: JobRow) -> None: ...
    async def update(self, job_id: str, status: str, result: JSONObject | None = None,
                     trajectory: JSONObject | str | None = None) -> None: ...
    async def get(self, job_id: str, *, trajectory: bool = True) -> JobRow | None: ...
    async def list_jobs(self, owner: str | None, limit: int, offset: int) -> list[JobRow]: ...
    async def append(self, job_id: str, seq: int, data: JSONObject) -> None: ...
    async def append_many(self, job_id: str, rows: Sequence[tuple[int, str]]) -> None: ...
    async def events(self, job_id: str, after: int) -> list[tuple[int, str]]: ...
    async def last_seq(self, job_id: str) -> int: ...
    async def claim(self, job_id: str, instance: str) -> None: ...
    async def heartbeat(self, instance: str) -> None: ...
    async def interrupt_orphans(self, instance: str, stale_s: float | None) -> list[str]: ...
    async def add_key(self, digest: str, name: str) -> None: ...
    async def key_name(self, digest: str) -> str | None: ...
    async def active_count(self, owner: str) -> int: ...
    async def take_token(self, name: str, per_minute: float, burst: int) -> float: ...
    async def request_cancel(self, job_id: str) -> None: ...
    async def cancel_requests(self) -> list[str]: ...
    async def clear_cancels(self, job_ids: Sequence[str]) -> None: ...
    async def data_version(self) -> int | None: ...


class _SQLStore:
    """The statements both databases share, written once with `?` marks; each store says
    how it runs one (`_exec`, `_one`, `_all`)."""

    async def _exec(self, sql: str, *args: object) -> None:
        raise NotImplementedError

    async def _one(self, sql: str, *args: object) -> Sequence[Any] | None:
        raise NotImplementedError

    async def _all(self, sql: str, *args: object) -> list[Sequence[Any]]:
        raise NotImplementedError

    async def create(self, job: JobRow) -> None:
        await self._exec(f"INSERT INTO jobs ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                         job.id, job.owner, job.status, job.question, json.dumps(job.request),
                         None, None, job.created, job.updated)

    async def update(self, job_id: str, status: str, result: JSONObject | None = None,
                     trajectory: JSONObject | str | None = None) -> None:
        """`trajectory` as a dict or already encoded (encoding a long run's record takes
        milliseconds, better spent off the loop that answers requests)."""
        if trajectory is not None and not isinstance(trajectory, str):
            trajectory = json.dumps(trajectory)
        await self._exec(
            "UPDATE jobs SET status=?, result=COALESCE(?, result), "
            "trajectory=COALESCE(?, trajectory), updated=? WHERE id=?",
            status, None if result is None else json.dumps(result), trajectory,
            time.time(), job_id)

    async def get(self, job_id: str, *, trajectory: bool = True) -> JobRow | None:
        columns = _COLUMNS if trajectory else _LIGHT
        row = await self._one(f"SELECT {columns} FROM jobs WHERE id=?", job_id)
        return None if row is None else _row(row)

    async def list_jobs(self, owner: str | None, limit: int, offset: int) -> list[JobRow]:
        where, args = ("WHERE owner=?", (owner,)) if owner is not None else ("", ())
        rows = await self._all(
            f"SELECT {_LIGHT} FROM jobs {where} ORDER BY created DESC, id LIMIT ? OFFSET ?",
            *args, limit, offset)
        return [_row(r) for r in rows]

    async def append(self, job_id: str, seq: int, data: JSONObject) -> None:
        await self.append_many(job_id, [(seq, json.dumps(data))])

    async def append_many(self, job_id: str, rows: Sequence[tuple[int, str]]) -> None:
        raise NotImplementedError

    async def events(self, job_id: str, after: int) -> list[tuple[int, str]]:
        rows = await self._all("SELECT seq, data FROM events WHERE job_id=? AND seq>? "
                               "ORDER BY seq", job_id, after)
        return [(int(r[0]), str(r[1])) for r in rows]

    async def last_seq(self, job_id: str) -> int:
        row = await self._one("SELECT MAX(seq) FROM events WHERE job_id=?", job_id)
        return int(row[0] or 0) if row is not None else 0

    async def claim(self, job_id: str, instance: str) -> None:
        await self._exec("UPDATE jobs SET instance=? WHERE id=?", instance, job_id)

    async def heartbeat(self, instance: str) -> None:
        await self._exec("INSERT INTO instances VALUES (?,?) ON CONFLICT (id) DO UPDATE "
                         "SET seen=EXCLUDED.seen", instance, time.time())

    async def interrupt_orphans(self, instance: str, stale_s: float | None) -> list[str]:
        sql, args = _orphans(stale_s)
        rows = await self._all(f"UPDATE jobs SET status='interrupted', updated=? WHERE {sql} "
                               "RETURNING id", time.time(), instance, *args)
        return [str(r[0]) for r in rows]

    async def add_key(self, digest: str, name: str) -> None:
        await self._exec("INSERT INTO api_keys VALUES (?,?,?) ON CONFLICT (hash) DO UPDATE "
                         "SET name=EXCLUDED.name", digest, name, time.time())

    async def key_name(self, digest: str) -> str | None:
        row = await self._one("SELECT name FROM api_keys WHERE hash=?", digest)
        return None if row is None else str(row[0])

    async def active_count(self, owner: str) -> int:
        """Jobs of `owner` queued or running, in any process on this store."""
        row = await self._one("SELECT COUNT(*) FROM jobs WHERE owner=? AND status IN "
                              "('queued', 'running')", owner)
        return int(row[0]) if row is not None else 0

    async def request_cancel(self, job_id: str) -> None:
        """Ask whichever process runs `job_id` to cancel it (it looks when the store
        changes, or every poll)."""
        await self._exec("INSERT INTO cancels VALUES (?,?) ON CONFLICT (job_id) DO NOTHING",
                         job_id, time.time())

    async def cancel_requests(self) -> list[str]:
        return [str(r[0]) for r in await self._all("SELECT job_id FROM cancels")]

    async def clear_cancels(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            await self._exec("DELETE FROM cancels WHERE job_id=?", job_id)

    async def data_version(self) -> int | None:
        """A number that changes when another connection commits (None: not known here;
        readers then poll)."""
        return None


def refill(tokens: float, then: float, now: float, per_minute: float,
           burst: int) -> tuple[float, float]:
    """A token bucket's step: (tokens left, seconds to wait; 0 when one was taken)."""
    tokens = min(float(burst), tokens + (now - then) * per_minute / 60)
    if tokens >= 1:
        return tokens - 1, 0.0
    return tokens, (1 - tokens) * 60 / per_minute


_Op: TypeAlias = Callable[[sqlite3.Connection], Any]
"""A write the writer thread applies inside its transaction; returns its result."""


def _transaction(db: sqlite3.Connection, ops: Sequence[_Op]) -> list[Any]:
    # IMMEDIATE: take the write lock at once, so that another process writing the same
    # file makes this one wait (busy_timeout) instead of failing on an upgrade.
    db.execute("BEGIN IMMEDIATE")
    try:
        results = [op(db) for op in ops]
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return results


def _statement(sql: str, args: tuple[object, ...]) -> _Op:
    return lambda db: db.execute(sql, args)


class SQLiteStore(_SQLStore):
    """SQLite in WAL mode. Reads run on the event loop: each is a single indexed statement
    of tens of microseconds, cheaper than a thread hop, and WAL readers never wait for the
    writer. Writes (events, status changes, new jobs) go to a thread with a connection of
    its own (SQLite lets go of the GIL meanwhile): those that all running jobs make at one
    moment are applied together, in one transaction, so that hundreds of jobs cost one
    commit, not hundreds, and the loop never waits for a write lock. Each caller awaits
    its write before its next, so a job's events and statuses keep their order.

    Usable from any event loop of the process (`any_loop`): each loop gathers its own
    writes, and their transactions take turns on the writer connection."""

    any_loop = True

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._pending: dict[asyncio.AbstractEventLoop, list[tuple[_Op, asyncio.Future[Any]]]] = {}
        self._flushers: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self._turn = threading.Lock()
        """One transaction at a time on a connection, whichever loop's writes it holds."""

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    async def _exec(self, sql: str, *args: object) -> None:
        await self._submit(_statement(sql, args))

    async def _one(self, sql: str, *args: object) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self.db.execute(sql, args).fetchone()
        return row

    async def _all(self, sql: str, *args: object) -> list[Sequence[Any]]:
        return list(self.db.execute(sql, args).fetchall())

    async def data_version(self) -> int | None:
        # Reads the WAL index in shared memory: microseconds, no disk access.
        row = self.db.execute("PRAGMA data_version").fetchone()
        return int(row[0])

    async def take_token(self, name: str, per_minute: float, burst: int) -> float:
        """One request of `name` against its bucket shared by every process on the file
        (read and write in one write transaction, so two processes cannot both take the
        last token). Returns 0, or the seconds to wait."""
        def take(db: sqlite3.Connection) -> float:
            now = time.time()
            row = db.execute("SELECT tokens, at FROM rates WHERE name=?", (name,)).fetchone()
            held, then = (float(row[0]), float(row[1])) if row else (float(burst), now)
            tokens, wait = refill(held, then, now, per_minute, burst)
            db.execute("INSERT INTO rates VALUES (?,?,?) ON CONFLICT (name) DO UPDATE SET "
                       "tokens=EXCLUDED.tokens, at=EXCLUDED.at", (name, tokens, now))
            return wait

        wait: float = await self._submit(take)
        return wait

    async def interrupt_orphans(self, instance: str, stale_s: float | None) -> list[str]:
        """(Not UPDATE ... RETURNING: that needs SQLite 3.35, newer than some systems'.)"""
        sql, args = _orphans(stale_s)

        def mark(db: sqlite3.Connection) -> list[str]:
            ids = [str(r[0]) for r in db.execute(f"SELECT id FROM jobs WHERE {sql}",
                                                 (instance, *args)).fetchall()]
            now = time.time()
            db.executemany("UPDATE jobs SET status='interrupted', updated=? WHERE id=?",
                           [(now, job_id) for job_id in ids])
            return ids

        ids: list[str] = await self._submit(mark)
        return ids

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        for statement in _SCHEMA:
            self._db.execute(statement)
        if self.path != ":memory:":  # (a second connection would be another database)
            self._writer = sqlite3.connect(self.path, isolation_level=None,
                                           check_same_thread=False)
            self._writer.execute("PRAGMA synchronous=NORMAL")
            self._writer.execute("PRAGMA busy_timeout=5000")

    async def close(self) -> None:
        flusher = self._flushers.get(asyncio.get_running_loop())
        if flusher is not None and not flusher.done():
            await asyncio.wait([flusher])  # the last writes in flight
        for db in (self._writer, self._db):
            if db is not None:
                db.close()
        self._db = self._writer = None

    async def append_many(self, job_id: str, rows: Sequence[tuple[int, str]]) -> None:
        """Events already encoded; returns once they are committed, together with what
        other jobs wrote meanwhile."""
        data = [(job_id, seq, text) for seq, text in rows]
        await self._submit(lambda db: db.executemany(
            "INSERT INTO events (job_id, seq, data) VALUES (?,?,?)", data))

    async def _submit(self, op: _Op) -> Any:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        self._pending.setdefault(loop, []).append((op, done))
        flusher = self._flushers.get(loop)
        if flusher is None or flusher.done():
            self._flushers[loop] = loop.create_task(self._flush(loop))
        return await done

    async def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._pending.get(loop):
            await asyncio.sleep(0)  # the other jobs woken at this moment add theirs
            batch = self._pending.pop(loop)
            try:
                results = await self._write([op for op, _ in batch])
            except Exception:  # one job's bad row: apply each on its own, so only it fails
                for op, done in batch:
                    try:
                        result = (await self._write([op]))[0]
                    except Exception as exc:
                        if not done.done():
                            done.set_exception(exc)
                    else:
                        if not done.done():
                            done.set_result(result)
                continue
            for (_, done), result in zip(batch, results, strict=True):
                if not done.done():
                    done.set_result(result)

    async def _write(self, ops: list[_Op]) -> list[Any]:
        if self._writer is None:
            return self._in_turn(self.db, ops)
        return await asyncio.to_thread(self._in_turn, self._writer, ops)

    def _in_turn(self, db: sqlite3.Connection, ops: list[_Op]) -> list[Any]:
        """`_transaction`, once no other loop's transaction holds the connection."""
        with self._turn:
            return _transaction(db, ops)


class PostgresStore(_SQLStore):
    """The same tables in PostgreSQL through asyncpg (a connection pool, which belongs to
    the loop that opened it)."""

    any_loop = False

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: Any = None

    async def open(self) -> None:
        import asyncpg  # the serve extra; only PostgreSQL users need it

        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=10)
        async with self._pool.acquire() as conn:
            for statement in _SCHEMA:
                await conn.execute(statement.replace("REAL", "DOUBLE PRECISION"))

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _exec(self, sql: str, *args: object) -> None:
        await self._pool.execute(_numbered(sql), *args)

    async def _one(self, sql: str, *args: object) -> Sequence[Any] | None:
        row = await self._pool.fetchrow(_numbered(sql), *args)
        return None if row is None else tuple(row)

    async def _all(self, sql: str, *args: object) -> list[Sequence[Any]]:
        return [tuple(r) for r in await self._pool.fetch(_numbered(sql), *args)]

    async def take_token(self, name: str, per_minute: float, burst: int) -> float:
        """As SQLiteStore.take_token; the row is locked (FOR UPDATE) meanwhile."""
        async with self._pool.acquire() as conn, conn.transaction():
            now = time.time()
            await conn.execute("INSERT INTO rates VALUES ($1,$2,$3) ON CONFLICT (name) DO "
                               "NOTHING", name, float(burst), now)
            row = await conn.fetchrow("SELECT tokens, at FROM rates WHERE name=$1 FOR UPDATE",
                                      name)
            tokens, wait = refill(float(row[0]), float(row[1]), now, per_minute, burst)
            await conn.execute("UPDATE rates SET tokens=$2, at=$3 WHERE name=$1", name,
                               tokens, now)
        return wait

    async def append_many(self, job_id: str, rows: Sequence[tuple[int, str]]) -> None:
        """Events already encoded; `executemany` runs them in one transaction."""
        await self._pool.executemany("INSERT INTO events (job_id, seq, data) VALUES ($1,$2,$3)",
                                     [(job_id, seq, data) for seq, data in rows])


@functools.lru_cache(maxsize=64)
def _numbered(sql: str) -> str:
    """`?` marks as PostgreSQL's `$1, $2, ...` (no statement here has a `?` in a literal)."""
    parts = sql.split("?")
    return "".join(f"{part}${i}" for i, part in enumerate(parts[:-1], 1)) + parts[-1]


def _orphans(stale_s: float | None) -> tuple[str, tuple[object, ...]]:
    """The WHERE clause of active jobs that no live instance runs (its first mark: our own
    instance id). `stale_s=None`: this process is the store's only user, so every active
    job not ours is an orphan; otherwise, those whose instance went quiet."""
    base = "status IN ('queued', 'running') AND (instance IS NULL OR instance <> ?)"
    if stale_s is None:
        return base, ()
    return (f"{base} AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = jobs.instance "
            "AND i.seen > ?)", (time.time() - stale_s,))


def open_store(database: str) -> SQLiteStore | PostgresStore:
    """A store for `database`: a `postgresql://` URL, `sqlite:///PATH`, or a file path."""
    if database.startswith(("postgresql://", "postgres://")):
        return PostgresStore(database)
    return SQLiteStore(database.removeprefix("sqlite:///"))
