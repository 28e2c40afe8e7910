"""Dynamic micro-batching of dense queries: one encoder pass and one matrix product per batch.

A query embedding costs a transformer forward pass whose price hardly grows with a few
more short queries, so a server answering many concurrent requests embeds them together:
request threads queue their query and wait; one thread takes whatever is queued (waiting
at most `max_wait` for more, up to `max_batch`), encodes it at once, scores every passage
with one matrix product and hands each caller its own ranking.
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from ..errors import CorpusError
from .dense import DenseIndex

__all__ = ["DenseBatcher"]

MAX_BATCH = 32
"""Queries per forward pass: past this, a pass takes longer without costing less per query."""
MAX_WAIT = 0.002
"""Seconds the first query of a batch waits for company (only while the queue is empty)."""

Ranking = list[tuple[int, int]]


@dataclass(slots=True)
class _Job:
    query: str
    limit: int
    future: Future[Ranking]


class DenseBatcher:
    """Answers `ranking(query, limit)` from many threads, batching what arrives together.

    The worker thread starts on first use (so the object may be built before a fork);
    `close()` stops it and fails queued jobs.
    """

    def __init__(self, index: DenseIndex, *, max_batch: int = MAX_BATCH,
                 max_wait: float = MAX_WAIT) -> None:
        if max_batch < 1 or max_wait < 0:
            raise CorpusError("max_batch must be >= 1 and max_wait >= 0")
        self.index = index
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.batches = 0
        """Forward passes run so far (with `queries`, the mean batch size)."""
        self.queries = 0
        self.cpu_seconds = 0.0
        """CPU time the batching thread spent encoding and scoring."""
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def submit(self, query: str, limit: int) -> Future[Ranking]:
        """A future of the (passage id, document id) pairs nearest to `query`, best first."""
        future: Future[Ranking] = Future()
        if limit <= 0:
            future.set_result([])
            return future
        self._ensure_started()
        self._queue.put(_Job(query, limit, future))
        return future

    def ranking(self, query: str, limit: int) -> Ranking:
        return self.submit(query, limit).result()

    def _ensure_started(self) -> None:
        if self._thread is not None:
            return
        with self._start_lock:
            if self._closed:
                raise CorpusError("the dense batcher is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="dense-batcher",
                                                daemon=True)
                self._thread.start()
                # Stopped before the interpreter tears down: torch aborts the process
                # when a thread that used it is still alive at exit.
                atexit.register(self.close)

    def close(self) -> None:
        with self._start_lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            atexit.unregister(self.close)
            self._queue.put(None)
            thread.join()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._collect(first)
            self._run(batch)
            if stop:
                self._drain()
                return

    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        """`first` plus what is queued, waiting up to max_wait for more; (batch, stop?)."""
        batch = [first]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    job = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if job is None:
                return batch, True
            batch.append(job)
        return batch, False

    def _run(self, batch: list[_Job]) -> None:
        jobs = [job for job in batch if job.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        start = time.thread_time()
        try:
            vectors = self.index.encoder.encode([job.query for job in jobs],
                                                batch_size=len(jobs))
            rankings = self.index.rankings(vectors, max(job.limit for job in jobs))
        except Exception as exc:  # every caller hears of it; the thread carries on
            for job in jobs:
                job.future.set_exception(exc)
            return
        finally:
            self.cpu_seconds += time.thread_time() - start
        self.batches += 1
        self.queries += len(jobs)
        for job, ranking in zip(jobs, rankings, strict=True):
            job.future.set_result(ranking[:job.limit])

    def _drain(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None and job.future.set_running_or_notify_cancel():
                job.future.set_exception(CorpusError("the dense batcher is closed"))
