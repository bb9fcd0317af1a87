"""Running simulation jobs in chunks of trials, in this process or over a pool of worker processes.

A job (one design in one scenario, or one ``get.oc``/``crmsim`` call) is cut
into chunks of consecutive trials; a chunk is a picklable task
(:func:`run_chunk`) that any process can run, because each trial draws its
own random numbers from the seed and its index (:mod:`.randomness`).  Chunks
finish in any order; :func:`run_jobs` reports progress as they do and puts
each job's chunks back in trial order, so that the results are byte for
byte the same for any number of workers and any chunk size.

:class:`LocalRunner` uses the calling process (one worker) or a pool of
spawned processes (spawn-safe: tasks and results are plain picklable
data); each worker keeps its state graphs between chunks
(:func:`.graph.graph_for`).  :mod:`.dask_runner` runs the same tasks on a
Dask cluster.

A pool worker runs nothing but chunks.  It imports every stage module when
it starts, as a serving process has, rather than in its first chunks.  A
chunk allocates many short-lived objects, none in a reference cycle
(frozen dataclasses, tuples, arrays), and grows graphs that the process
keeps; the cyclic garbage collector, triggered by allocation counts, would
only rescan them all, at about a tenth of the chunk's time.  So a worker
freezes what its start-up allocated (``gc.freeze``) and runs each chunk
with the collector paused, then collects once (freeing any cycle the chunk
made) and freezes what survives.  A process that runs chunks in its own
threads (one worker, a Dask worker) keeps the default collector.
"""

from __future__ import annotations

import atexit
import gc
import math
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier as BarrierType
from typing import Iterator, Protocol, Sequence, TypeVar

from ..errors import InputError
from ..registry import stage_kinds
from .records import Trials

T = TypeVar("T")

#: bounds on the default chunk size: small enough for steady progress, large enough to amortise a task
MIN_CHUNK, MAX_CHUNK = 100, 2000


class Job(Protocol):
    """Something that simulates trials ``start`` to ``stop - 1`` of a run (picklable)."""

    def run(self, start: int, stop: int) -> Trials: ...


@dataclass(frozen=True)
class Chunk:
    """Trials ``start`` to ``stop - 1`` of ``job``."""

    job: Job
    start: int
    stop: int


def run_chunk(chunk: Chunk) -> Trials:
    """Simulate one chunk (the task every runner runs)."""
    return chunk.job.run(chunk.start, chunk.stop)


def _start_worker(started: BarrierType) -> None:
    """A pool worker's start: every stage module imported, what that allocated frozen, then a wait until
    every worker of the pool has got this far (see :meth:`LocalRunner._executor`)."""
    stage_kinds()
    gc.freeze()
    started.wait()


def _run_in_worker(chunk: Chunk) -> Trials:
    """:func:`run_chunk` in a pool worker, with the collector paused (see the module docstring)."""
    gc.disable()
    try:
        return run_chunk(chunk)
    finally:
        gc.collect()
        gc.freeze()
        gc.enable()


class Runner(Protocol):
    """Runs chunks and yields ``(position in chunks, trials)`` as each finishes."""

    workers: int

    def map_unordered(self, chunks: Sequence[Chunk]) -> Iterator[tuple[int, Trials]]: ...


class LocalRunner:
    """Chunks in this process (``workers`` = 1) or in a pool of ``workers`` spawned processes."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, workers)
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        """The pool, started on first use with every worker ready.

        The executor spawns a worker only when a task finds none idle, so
        tasks submitted while the first worker is still starting (imports
        take a second) would all queue for it.  Starting the pool therefore
        submits one task per worker; each new worker waits at the start
        barrier until all have started, so each task starts a worker of its
        own, and once every task is done the whole pool is ready.
        """
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")
                pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start_worker,
                                           initargs=(context.Barrier(self.workers),))
                for started in [pool.submit(os.getpid) for _ in range(self.workers)]:
                    started.result()
                self._pool = pool
            return self._pool

    def map_unordered(self, chunks: Sequence[Chunk]) -> Iterator[tuple[int, Trials]]:
        if self.workers == 1:
            for position, chunk in enumerate(chunks):
                yield position, run_chunk(chunk)
            return
        pool = self._executor()
        futures: dict[Future[Trials], int] = {pool.submit(_run_in_worker, chunk): i
                                              for i, chunk in enumerate(chunks)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None

    def __enter__(self) -> "LocalRunner":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_shared: dict[int, LocalRunner] = {}
_shared_lock = threading.Lock()


def shared_runner(workers: int) -> LocalRunner:
    """A process-wide runner with ``workers`` workers (0 or 1: this process; at most the machine's cores), kept
    for later calls; a negative count is refused (results never depend on it, but it asks for nothing)."""
    if workers < 0:
        raise InputError("workers", f"{workers} is not 0 or more")
    workers = max(1, min(workers, os.cpu_count() or 1))
    with _shared_lock:
        runner = _shared.get(workers)
        if runner is None:
            runner = _shared[workers] = LocalRunner(workers)
        return runner


@atexit.register
def _close_shared() -> None:
    for runner in _shared.values():
        runner.close()


def default_chunk_size(num_trials: int, workers: int) -> int:
    """About four chunks per worker, within [MIN_CHUNK, MAX_CHUNK]."""
    return min(MAX_CHUNK, max(MIN_CHUNK, math.ceil(num_trials / (4 * workers))))


@dataclass(frozen=True)
class Progress:
    """Trials simulated so far, over every job of a call."""

    done: int
    total: int


def run_jobs(jobs: Sequence[Job], num_trials: int, runner: Runner,
             chunk_size: int | None = None) -> Iterator[Progress | list[Trials]]:
    """Simulate ``num_trials`` trials of every job: progress after each chunk, then each job's trials in order."""
    if num_trials < 1:
        raise InputError("num_trials", f"{num_trials} is not 1 or more")
    size = chunk_size or default_chunk_size(num_trials, runner.workers)
    if size < 1:
        raise InputError("chunk_size", f"{size} is not 1 or more")
    bounds = [(start, min(start + size, num_trials)) for start in range(0, num_trials, size)]
    chunks = [Chunk(job, start, stop) for job in jobs for start, stop in bounds]
    parts: list[Trials | None] = [None] * len(chunks)
    total, done = num_trials * len(jobs), 0
    for position, trials in runner.map_unordered(chunks):
        parts[position] = trials
        done += len(trials)
        yield Progress(done, total)
    per_job = len(bounds)
    yield [Trials.concat([p for p in parts[j * per_job:(j + 1) * per_job] if p is not None])
           for j in range(len(jobs))]


def final(events: Iterator[Progress | T]) -> T:
    """The last event of a simulation (its result), ignoring progress."""
    result: Progress | T | None = None
    for result in events:
        pass
    assert result is not None and not isinstance(result, Progress)
    return result
