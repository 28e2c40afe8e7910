"""Research jobs: each one runs `run_events` in a task, appends every event to the store
with its number, and wakes the readers of its event stream."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from ..agent import run_events
from ..agent.resources import AgentResources, open_agent
from ..config import Settings
from ..llm.base import ChatModel
from ..run_options import settings_from_options
from ..trace.events import RunFinished, event_to_dict
from ..types import JSONObject
from ._runner import RunnerThread
from ._store import ACTIVE, JobRow, Store

__all__ = ["TERMINAL", "JobManager", "ResearchRequest"]

TERMINAL = ("finished", "failed", "cancelled", "interrupted")
Mode = Literal["react", "iter", "heavy", "resum"]

# Request fields a client may set, with the run option each one maps to. Endpoints, keys,
# tools and paths stay the server's: a client cannot point the server at another host.
_OPTIONS = ("mode", "env", "protocol", "max_rounds", "max_seconds", "max_context_tokens",
            "max_total_tokens", "temperature", "top_p", "max_tokens", "seed", "branches")


@dataclass
class ResearchRequest:
    """A research request after validation (the HTTP layer checks the types)."""

    question: str
    options: dict[str, object] = field(default_factory=dict)
    stream: bool = False

    def to_json(self) -> JSONObject:
        out: JSONObject = {"question": self.question, "stream": self.stream}
        out.update({k: v for k, v in self.options.items()
                    if isinstance(v, str | int | float | bool)})
        return out

    @classmethod
    def from_json(cls, data: JSONObject) -> ResearchRequest:
        options: dict[str, object] = {k: data[k] for k in _OPTIONS if data.get(k) is not None}
        return cls(str(data["question"]), options, bool(data.get("stream", False)))


def result_of(finished: RunFinished) -> JSONObject:
    """Status fields of a finished run: answer, sources, usage, termination, ..."""
    traj = finished.trajectory
    return {"answer": traj.answer, "termination": traj.termination,
            "sources": list(traj.sources()), "usage": traj.usage.to_dict(),
            "rounds": traj.rounds, "seconds": round(traj.seconds, 3),
            "mode": traj.mode, "trajectory_id": traj.id,
            "error": None if finished.error is None else
            f"{finished.error.type}: {finished.error.message}"}


@dataclass(frozen=True)
class _End:
    """The last item a run hands over: its status fields and its trajectory."""

    result: JSONObject
    trajectory: str | None
    """The full record, as encoded JSON."""
    error: str | None


_Item: TypeAlias = "str | _End"
"""An event as encoded JSON (encoded on the runner loop), or the end of the run."""


class JobManager:
    """Starts, follows and cancels jobs; one per server process, over one store.

    Runs share one model client and one environment per `env` value (opened on first use),
    so hundreds of jobs share connection pools and the corpus index.
    """

    def __init__(self, store: Store, settings: Settings, *, model: ChatModel | None = None,
                 poll_s: float = 1.0, stale_s: float | None = None,
                 runner_thread: bool = False, watch_s: float = 0.05) -> None:
        self.store = store
        self.settings = settings
        self.model = model
        self.poll_s = poll_s
        self.stale_s = stale_s
        """None: the only process on this store. Else: several share it, each beats every
        stale_s/3 and takes over (marks interrupted) the jobs of one silent for stale_s."""
        self.watch_s = watch_s
        """With a shared store: how often to look whether another process wrote (events of
        its jobs for our readers, cancel requests for our jobs)."""
        self.instance = uuid.uuid4().hex
        self._beat: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._elsewhere = asyncio.Event()
        """Set (and replaced) when another process may have written to the store."""
        self._stopping = False
        self.runner = RunnerThread() if runner_thread else None
        """Where the runs execute: a loop in its own thread, so that their CPU work does
        not hold up the HTTP requests on this one (None: on this loop)."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._seq: dict[str, int] = {}
        self._resources: dict[str, AgentResources] = {}
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop that serves requests (where `start` ran)."""
        self._following: collections.Counter[str] = collections.Counter()
        """Readers of each job's events now (`follow`)."""
        self._inbox: collections.deque[Callable[[], None]] = collections.deque()
        self._inbox_waking = False
        """Wake-ups from the runner thread: one thread handoff for all the jobs that have
        events at that moment, not one per job."""

    def _wake_soon(self, loop: asyncio.AbstractEventLoop, wake: Callable[[], None]) -> None:
        """(On the runner thread) run `wake` on `loop` soon."""
        self._inbox.append(wake)
        if not self._inbox_waking:
            self._inbox_waking = True
            loop.call_soon_threadsafe(self._drain_inbox)

    def _drain_inbox(self) -> None:
        self._inbox_waking = False  # first: a wake-up added from here on calls again
        while self._inbox:
            self._inbox.popleft()()

    async def start(self) -> list[str]:
        """Open the store; jobs left active by a process that died become `interrupted`."""
        self._loop = asyncio.get_running_loop()
        await self.store.open()
        if self.runner is not None:
            self.runner.start()
        await self.store.heartbeat(self.instance)
        interrupted = await self._sweep()
        if self.shared:
            self._beat = asyncio.create_task(self._heartbeat())
            self._watcher = asyncio.create_task(self._watch())
        return interrupted

    @property
    def _drives_there(self) -> bool:
        """Whether a job is driven wholly on the runner loop, events and statuses stored
        from there, so that this loop only answers requests: where the store can be used
        from any loop (SQLite). Otherwise the run executes there and its events come back
        here to be stored."""
        return self.runner is not None and self.store.any_loop

    @property
    def shared(self) -> bool:
        """Whether other server processes use the store too (`--workers`, PostgreSQL)."""
        return self.stale_s is not None

    async def _watch(self) -> None:
        """Notice what other processes write: wake the readers of their jobs' events, and
        cancel the jobs of ours they were asked to cancel. SQLite tells cheaply whether
        anyone committed (`data_version`); elsewhere this polls every `poll_s`."""
        loop = asyncio.get_running_loop()
        seen: int | None = None
        polled = 0.0
        while True:
            await asyncio.sleep(self.watch_s)
            version = await self.store.data_version()
            if version is None:
                if loop.time() - polled < self.poll_s:
                    continue
                polled = loop.time()
            elif version == seen:
                continue
            seen = version
            self._elsewhere.set()
            self._elsewhere = asyncio.Event()
            if self._tasks:
                await self._cancel_requested()

    async def _cancel_requested(self) -> None:
        mine = [job_id for job_id in await self.store.cancel_requests()
                if job_id in self._tasks]
        for job_id in mine:
            self._tasks[job_id].cancel()  # its task records the end; the asker watches
        if mine:
            await self.store.clear_cancels(mine)

    async def _sweep(self) -> list[str]:
        interrupted = await self.store.interrupt_orphans(self.instance, self.stale_s)
        for job_id in interrupted:
            await self._append(job_id, {"kind": "job_finished", "status": "interrupted"})
        return interrupted

    async def _heartbeat(self) -> None:
        assert self.stale_s is not None
        while True:
            await asyncio.sleep(self.stale_s / 3)
            await self.store.heartbeat(self.instance)
            await self._sweep()

    async def stop(self, grace_s: float = 0.0) -> None:
        """Let running jobs finish for `grace_s`, then mark the rest `interrupted`."""
        for helper in (self._beat, self._watcher):
            if helper is not None:
                helper.cancel()
                await asyncio.wait([helper])
        running = [t for t in self._tasks.values() if not t.done()]
        if running and grace_s > 0:
            await asyncio.wait(running, timeout=grace_s)
        self._stopping = True  # a job cancelled from here on ends `interrupted`
        for task in list(self._tasks.values()):
            if not task.done():
                task.cancel()
                await asyncio.wait([task])
        if self.runner is None:
            await self._stack.aclose()
        else:  # the shared model client and environment belong to the runner's loop
            await asyncio.wrap_future(self.runner.submit(self._stack.aclose()))
            await self.runner.close()
        await self.store.close()

    async def active(self, owner: str) -> int:
        """Jobs of `owner` running now: in this process, or in all sharing the store."""
        if self.shared:
            return await self.store.active_count(owner)
        return sum(1 for t in self._tasks.values() if t.get_name() == owner and not t.done())

    async def submit(self, owner: str, request: ResearchRequest,
                     job_id: str | None = None) -> JobRow:
        """Check the request, store the job and start it; returns at once."""
        settings = settings_from_options(request.options, base=self.settings)
        if job_id is None:
            job = JobRow(uuid.uuid4().hex, owner, "queued", request.question, request.to_json())
            await self.store.create(job)
        else:  # a re-run of an interrupted job keeps its id and its events so far
            job = JobRow(job_id, owner, "queued", request.question, request.to_json())
            await self.store.update(job_id, "queued")
        await self.store.claim(job.id, self.instance)
        self._wake[job.id] = asyncio.Event()
        run = (self._run_there(job.id, request, settings) if self._drives_there
               else self._run(job.id, request, settings))
        task = asyncio.create_task(run, name=owner)
        self._tasks[job.id] = task
        task.add_done_callback(functools.partial(self._forget, job.id))
        return job

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        """A job's task is done: drop what this process kept for it (a later append, such
        as a re-run's, reads the last number from the store) and wake its readers."""
        if self._tasks.get(job_id) is not task:  # (a re-run has a task of its own)
            return
        del self._tasks[job_id]
        self._seq.pop(job_id, None)
        wake = self._wake.pop(job_id, None)
        if wake is not None:
            wake.set()

    async def rerun(self, job: JobRow) -> JobRow:
        """Start an `interrupted` (or failed, cancelled) job again under the same id."""
        await self._append(job.id, {"kind": "job_restarted"})
        return await self.submit(job.owner, ResearchRequest.from_json(job.request), job.id)

    async def cancel(self, job_id: str, wait_s: float = 10.0) -> bool:
        """Cancel a running job; True if this call stopped it. A job another process runs
        is asked to stop through the store, and awaited for up to `wait_s`."""
        task = self._tasks.get(job_id)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait([task])
            return True
        row = await self.store.get(job_id, trajectory=False) if self.shared else None
        if row is None or row.status not in ACTIVE:
            return False
        await self.store.request_cancel(job_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        try:
            while loop.time() < deadline:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._elsewhere.wait(), self.poll_s)
                row = await self.store.get(job_id, trajectory=False)
                if row is None or row.status not in ACTIVE:
                    return row is not None and row.status == "cancelled"
            return False
        finally:
            await self.store.clear_cancels([job_id])

    async def _shared(self, settings: Settings) -> AgentResources:
        async with self._lock:
            if settings.env not in self._resources:
                self._resources[settings.env] = await self._stack.enter_async_context(
                    open_agent(settings, model=self.model))
            return self._resources[settings.env]

    async def _run_there(self, job_id: str, request: ResearchRequest,
                         settings: Settings) -> None:
        """Drive one job on the runner loop; this task stands for it here (cancel, stop).

        A cancelled thread future is done at once, while the job is still storing its end
        there: this waits for that end (`settled`) before it lets the cancel through."""
        assert self.runner is not None
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[BaseException | None] = loop.create_future()

        def settle(outcome: BaseException | None) -> None:
            if not settled.done():
                settled.set_result(outcome)

        async def there() -> None:
            outcome: BaseException | None = None
            try:
                await self._run(job_id, request, settings, here=True)
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                outcome = exc
                raise
            finally:
                loop.call_soon_threadsafe(settle, outcome)

        handle = self.runner.submit(there())
        try:
            outcome = await asyncio.shield(settled)
        except asyncio.CancelledError:
            handle.cancel()  # cancels the job's task on the runner loop
            await asyncio.shield(settled)
            raise
        if outcome is not None:
            raise outcome

    async def _run(self, job_id: str, request: ResearchRequest, settings: Settings, *,
                   here: bool = False) -> None:
        """Drive one job: the run itself goes on the runner loop (when there is one and
        this is not it: `here` False); its events come back here, in order, to be stored
        and announced."""
        # A deque and a flag rather than an asyncio.Queue: an item taken from a queue just
        # as this task is cancelled would be lost; here it stays until it is stored.
        items: collections.deque[_Item] = collections.deque()
        ready = asyncio.Event()
        loop = asyncio.get_running_loop()
        waking = [False]  # a wake-up is on its way to this loop
        local = here or self.runner is None

        def wake() -> None:
            waking[0] = False
            ready.set()

        def emit(item: _Item) -> None:
            # deque.append is thread-safe; one wake-up covers a burst of events.
            items.append(item)
            if local:
                ready.set()
            elif not waking[0]:
                waking[0] = True
                self._wake_soon(loop, wake)

        await self.store.update(job_id, "running")
        drive = self._drive(request, settings, emit)
        runner = None if local else self.runner
        run: asyncio.Future[None] = (asyncio.ensure_future(drive) if runner is None
                                     else asyncio.wrap_future(runner.submit(drive)))
        try:
            end = await self._pump(job_id, items, ready, run)
        except asyncio.CancelledError:
            run.cancel()  # the run closes its record (RunFinished) and hands it over
            end = await self._pump(job_id, items, ready, run)
            await self._finish(job_id, "interrupted" if self._stopping else "cancelled", end)
            raise
        ok = end is not None and end.result.get("error") is None and end.error is None
        await self._finish(job_id, "finished" if ok else "failed", end)

    async def _pump(self, job_id: str, items: collections.deque[_Item], ready: asyncio.Event,
                    run: asyncio.Future[None]) -> _End | None:
        """Store the run's events as they come; returns its `_End` (None: it never began).

        `run` being done is not the end: a cancelled thread future is done at once, while
        the run is still closing its record on the runner loop, so its `_End` is awaited
        (for a few seconds: a run cancelled before it began sends none)."""
        deadline: float | None = None
        while True:
            # The runner thread may append meanwhile: take the items there are now.
            batch: list[str] = []
            end: _End | None = None
            for _ in range(len(items)):
                item = items.popleft()
                if isinstance(item, _End):
                    end = item
                    break
                batch.append(item)
            if batch:
                try:
                    await self._append_many(job_id, batch)
                except BaseException as exc:
                    if end is not None:
                        items.appendleft(end)
                    if not isinstance(exc, asyncio.CancelledError):  # (then: stored)
                        items.extendleft(reversed(batch))  # not stored: they stay
                    raise
            if end is not None:
                return end
            if run.done():
                now = asyncio.get_running_loop().time()
                deadline = deadline or now + 5.0
                if now >= deadline:
                    return None
            ready.clear()
            waiter: asyncio.Future[bool] = asyncio.ensure_future(ready.wait())
            try:
                if run.done():
                    await asyncio.wait([waiter], timeout=0.1)
                else:
                    either: list[asyncio.Future[Any]] = [waiter, run]
                    await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()

    async def _drive(self, request: ResearchRequest, settings: Settings,
                     emit: Callable[[_Item], None]) -> None:
        """The run, as events; ends with an `_End` whatever happens (also when cancelled)."""
        finished: RunFinished | None = None
        error: str | None = None
        try:
            res = await self._shared(settings)
            async for event in run_events(request.question, settings, model=res.model,
                                          environment=res.environment, stream=request.stream):
                if isinstance(event, RunFinished) and event.branch is None:
                    finished = event
                emit(json.dumps(event_to_dict(event)))
        except Exception as exc:  # the boundary of one job: it fails, the server goes on
            error = f"{type(exc).__name__}: {exc}"
        finally:
            # Summaries are made here, on the runner loop, to keep that work off the
            # loop that answers HTTP requests.
            emit(_End(result_of(finished) if finished is not None else {"error": error},
                      json.dumps(finished.trajectory.to_dict()) if finished is not None
                      else None, error))

    async def _finish(self, job_id: str, status: str, end: _End | None) -> None:
        result: JSONObject = end.result if end is not None else {"error": None}
        await self.store.update(job_id, status, result,
                                end.trajectory if end is not None else None)
        await self._append(job_id, {"kind": "job_finished", "status": status, **result})

    async def _append(self, job_id: str, data: JSONObject) -> None:
        await self._append_many(job_id, [json.dumps(data)])

    async def _append_many(self, job_id: str, batch: list[str]) -> None:
        # Numbers are kept here so a batch is one transaction; the first append of a job
        # this process did not start (a re-run after a restart) reads the last number.
        seq = self._seq.get(job_id) or await self.store.last_seq(job_id)
        self._seq[job_id] = seq + len(batch)
        write = asyncio.ensure_future(self.store.append_many(
            job_id, [(seq + 1 + i, data) for i, data in enumerate(batch)]))
        try:
            await asyncio.shield(write)
        except asyncio.CancelledError:
            # The rows are in a transaction shared with other jobs: let it end, so that
            # a cancelled job's events are stored all the same (and not stored twice).
            await asyncio.wait([write])
            if not write.cancelled() and write.exception() is None:
                self._announce(job_id)
            raise
        self._announce(job_id)

    def _announce(self, job_id: str) -> None:
        """Wake the readers of a job's events. They wait on the request loop; from the
        runner loop this hands over only when the job has readers (one registers before
        its first read, so events stored before that are read, and later ones announced)."""
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            if self._following[job_id]:
                self._loop.call_soon_threadsafe(self._announce, job_id)
            return
        wake = self._wake.pop(job_id, None)
        if wake is not None:
            wake.set()
        if job_id in self._tasks:
            self._wake[job_id] = asyncio.Event()

    async def follow(self, job_id: str, after: int = 0, *,
                     idle_s: float | None = None) -> AsyncIterator[tuple[int, str]]:
        """Every event numbered above `after`, then the new ones as they come, until the
        job's `job_finished` event (a reader that reconnects with its last number misses
        nothing). Jobs another process runs are read as the store changes. With `idle_s`,
        after that long without an event it yields `(0, "")` (a keep-alive)."""
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        self._following[job_id] += 1
        try:
            while True:
                wake = self._wake.get(job_id)
                elsewhere = self._elsewhere  # (taken before the read: a change after it wakes)
                batch = await self.store.events(job_id, after)
                for seq, data in batch:
                    after = seq
                    yield seq, data
                if batch:
                    quiet_since = loop.time()
                if await self._ended(job_id, batch, after, local=wake is not None):
                    return
                if idle_s is not None and loop.time() - quiet_since >= idle_s:
                    yield 0, ""
                    quiet_since = loop.time()
                timeout = self.poll_s
                if idle_s is not None:
                    timeout = max(0.0, min(timeout, quiet_since + idle_s - loop.time()))
                waiter = wake if wake is not None else elsewhere if self.shared else None
                if waiter is None:
                    await asyncio.sleep(timeout)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(waiter.wait(), timeout)
        finally:
            self._following[job_id] -= 1
            if self._following[job_id] <= 0:
                del self._following[job_id]

    async def _ended(self, job_id: str, batch: list[tuple[int, str]], after: int, *,
                     local: bool) -> bool:
        # A job ends with `job_finished`; a re-run appends more after it, so only the
        # last event counts, and only once the job is no longer active.
        if batch and json.loads(batch[-1][1]).get("kind") == "job_finished":
            row = await self.store.get(job_id, trajectory=False)
            if row is None or row.status not in ACTIVE:
                return True
        if local:
            return False
        row = await self.store.get(job_id, trajectory=False)
        return row is None or (row.status not in ACTIVE and job_id not in self._tasks
                               and not await self.store.events(job_id, after))
