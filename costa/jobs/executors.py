"""Where a job's chunks run: in this process or on Dask, and the loop that feeds them.

:func:`open_executor` gives an :class:`Executor` (this process, Dask worker
processes, or an existing scheduler); :func:`drive` keeps it fed with a bounded window of
tasks (a national job never submits a million futures at once), records every outcome in the
manifest and retries failures.
"""

from __future__ import annotations

import contextlib
import heapq
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from costa.errors import CostaError, first_line
from costa.jobs.clusters import start
from costa.jobs.manifest import Manifest
from costa.jobs.placement import GPU_RESOURCE, plan_workers
from costa.jobs.spec import Job
from costa.jobs.worker import ChunkResult, ChunkTask, run_chunk

__all__ = ["Executor", "RunStats", "backoff", "drive", "open_executor"]

Echo = Callable[[str], None]
WAIT_S = 600
"""Seconds to wait for the first Slurm worker (its job may queue) before giving up."""
BACKOFF_S = 2.0
"""Seconds before a failed chunk's first retry; each further retry waits 4 times longer."""


class Executor:
    """Runs chunk tasks and hands back outcomes as they finish."""

    slots = 1
    workers = 1
    dashboard: str | None = None

    def submit(self, task: ChunkTask) -> None:
        """Start a task."""
        raise NotImplementedError

    def next(self) -> tuple[ChunkTask, ChunkResult | BaseException]:
        """Wait for a task to finish; its result, or the exception it raised."""
        raise NotImplementedError


class _InProcess(Executor):
    """One chunk at a time in this process (measured: two at a time gained nothing on 2 cores)."""

    def __init__(self) -> None:
        self.queue: deque[ChunkTask] = deque()

    def submit(self, task: ChunkTask) -> None:
        self.queue.append(task)

    def next(self) -> tuple[ChunkTask, ChunkResult | BaseException]:
        task = self.queue.popleft()
        try:
            return task, run_chunk(task)
        except CostaError as e:
            return task, e


class _Dask(Executor):
    """Chunks as Dask futures; a worker that dies has its task rerun elsewhere by Dask."""

    def __init__(self, client: Any, expected: int = 0) -> None:
        """``expected``: workers still starting (Slurm jobs queued), fed as if they were there."""
        from distributed import as_completed

        self.client = client
        self.futures: dict[Any, ChunkTask] = {}
        self.done = as_completed()
        info = client.scheduler_info()
        self.workers = len(info.get("workers", {}))
        threads = sum(w.get("nthreads", 1) for w in info.get("workers", {}).values())
        self.slots = max(2, 2 * threads, 2 * expected)
        self.dashboard = client.dashboard_link
        # GPU workers declare a GPU (costa.jobs.placement): each chunk then takes one
        gpu = any(GPU_RESOURCE in w.get("resources", {}) for w in info.get("workers", {}).values())
        self.resources = {GPU_RESOURCE: 1} if gpu else None

    def submit(self, task: ChunkTask) -> None:
        fut = self.client.submit(
            run_chunk,
            task,
            pure=False,
            key=f"costa-{task.name}-{time.monotonic_ns()}",
            resources=self.resources,
        )
        self.futures[fut] = task
        self.done.add(fut)

    def next(self) -> tuple[ChunkTask, ChunkResult | BaseException]:
        fut = next(self.done)
        task = self.futures.pop(fut)
        try:
            return task, fut.result()
        except Exception as e:  # the worker's exception, or KilledWorker after repeated deaths
            return task, e


@contextlib.contextmanager
def open_executor(job: Job, say: Echo, *, gpus: int = 0, chunks: int = 1) -> Iterator[Executor]:
    """Where the job's chunks run: here, worker processes here, Slurm jobs, or a scheduler.

    With neither ``job.workers``, ``job.scheduler`` nor ``job.cluster``: this process. With
    ``job.cluster``: that many workers as Slurm jobs (:func:`costa.jobs.clusters.start`), at
    most one per chunk. With ``job.scheduler``: the Dask cluster at that address, whose workers
    run anywhere (another machine, Kubernetes pods). With ``job.workers`` alone: that many
    worker processes here, placed by :func:`~costa.jobs.placement.plan_workers` (``threads``
    each, one of the ``gpus`` each).
    """
    if job.cluster is not None:
        with _slurm(job, say, chunks) as ex:
            yield ex
    elif job.scheduler is not None:
        with _scheduler(job.scheduler, say) as ex:
            yield ex
    elif job.workers is not None:
        with _here(job, say, gpus) as ex:
            yield ex
    else:
        yield _InProcess()


@contextlib.contextmanager
def _slurm(job: Job, say: Echo, chunks: int) -> Iterator[Executor]:
    """Workers as Slurm jobs, released on exit."""
    from distributed import Client

    assert job.cluster is not None
    n = job.cluster.workers_for(job.workers, chunks)
    with start(job.cluster, n, job.folder / ".slurm") as cluster, Client(cluster) as client:
        say(f"Slurm: {n} worker job(s) submitted ({job.cluster.cores} cores, {job.cluster.memory} each)")
        client.wait_for_workers(1, timeout=WAIT_S)
        ex = _Dask(client, expected=n)
        say(f"Slurm: {ex.workers} worker(s) running; dashboard {ex.dashboard}")
        yield ex


@contextlib.contextmanager
def _scheduler(address: str, say: Echo) -> Iterator[Executor]:
    """The workers of a Dask scheduler started elsewhere."""
    from distributed import Client

    with Client(address, timeout="30s") as client:
        ex = _Dask(client)
        say(f"Dask scheduler {address}: {ex.workers} worker(s), dashboard {ex.dashboard}")
        yield ex


@contextlib.contextmanager
def _here(job: Job, say: Echo, gpus: int) -> Iterator[Executor]:
    """Worker processes on this machine, each with its cores and GPU (:mod:`costa.jobs.placement`)."""
    import logging

    from distributed import Client, Nanny, Scheduler, SpecCluster

    places = plan_workers(job.workers or 1, cores=os.cpu_count() or 1, gpus=gpus, threads=job.options.threads)
    quiet = logging.ERROR
    workers = {
        p.name: {
            "cls": Nanny,
            "options": {"nthreads": 1, "env": p.env, "resources": p.resources, "silence_logs": quiet},
        }
        for p in places
    }
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": "127.0.0.1:0", "host": "127.0.0.1"}}
    with (
        SpecCluster(workers=workers, scheduler=scheduler, silence_logs=quiet) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(len(places))
        ex = _Dask(client)
        gpu_note = ", one GPU each" if gpus else ""
        say(
            f"Dask workers here: {len(places)} process(es) × {places[0].threads} thread(s){gpu_note}; "
            f"dashboard {ex.dashboard}"
        )
        yield ex


@dataclass
class RunStats:
    """What the workers reported during one invocation."""

    workers: int
    dashboard: str | None
    computed: int = 0
    retried: int = 0
    model_px: int = 0
    computed_px: int = 0
    """Output pixels of the chunks computed (``model_px / computed_px`` is the overlap factor)."""
    providers: set[str] = field(default_factory=set)
    rss_mb: dict[str, float] = field(default_factory=dict)


def backoff(tries: int) -> float:
    """Seconds before a chunk that failed ``tries`` times in this run is tried again.

    Failures that a retry cures are mostly the network's or a store's (a store restarting, a
    burst of 503s GDAL's own retries did not absorb); retrying at once would fail again.

    >>> [backoff(n) for n in (1, 2, 3, 9)]
    [2.0, 8.0, 32.0, 120.0]
    """
    return min(BACKOFF_S * 4.0 ** (tries - 1), 120.0)


def drive(
    ex: Executor,
    tasks: list[ChunkTask],
    *,
    man: Manifest,
    run: int,
    retries: int,
    total: int,
    finished: int,
    progress: Callable[[int, int], None] | None,
    warn: Echo,
) -> RunStats:
    """Keep the executor fed, record outcomes, retry failures after a backoff; returns what workers reported.

    A chunk computed with a neighbour unreadable (its halo incomplete) is retried like a failure
    and recorded as degraded only when its retries are spent. ``total`` chunks in the job,
    ``finished`` of them already done or failed before this run.
    """
    stats = RunStats(ex.workers, ex.dashboard)
    todo, inflight, seen = deque(tasks), 0, set()
    waiting: list[tuple[float, int, ChunkTask]] = []  # (when, order, task): retries after their backoff
    attempts: dict[str, int] = {}  # over all runs, as the manifest counts them
    tries: dict[str, int] = {}  # in this run
    if progress:
        progress(finished, total)
    while todo or waiting or inflight:
        while waiting and waiting[0][0] <= time.monotonic():
            todo.append(heapq.heappop(waiting)[2])
        while todo and inflight < ex.slots:
            task = todo.popleft()
            attempts[task.name] = man.started(task.name)
            tries[task.name] = tries.get(task.name, 0) + 1
            ex.submit(task)
            inflight += 1
        if not inflight:
            time.sleep(max(0.0, waiting[0][0] - time.monotonic()))
            continue
        task, outcome = ex.next()
        inflight -= 1
        final = tries[task.name] > retries  # retries count per run: a rerun tries again
        if isinstance(outcome, ChunkResult) and (final or not outcome.degraded):
            _record(outcome, task, man=man, run=run, stats=stats)
            for note in outcome.warnings:
                if note not in seen:
                    seen.add(note)
                    warn(note)
            finished += 1
        else:
            msg = _failure(outcome)
            man.failed(task.name, msg, final)
            if final:
                warn(f"chunk {task.name} failed after {attempts[task.name]} attempt(s): {msg}")
                finished += 1
            else:
                stats.retried += 1
                heapq.heappush(waiting, (time.monotonic() + backoff(tries[task.name]), stats.retried, task))
        if progress:
            progress(finished, total)
    return stats


def _record(outcome: ChunkResult, task: ChunkTask, *, man: Manifest, run: int, stats: RunStats) -> None:
    """A computed chunk into the manifest (done, degraded if its context was incomplete) and the stats."""
    man.done(
        task.name,
        run=run,
        sha256=outcome.sha256,
        seconds=outcome.seconds,
        worker=outcome.worker,
        degraded=_degraded(outcome) or None,
        etag=outcome.etag,
    )
    stats.computed += 1
    stats.model_px += outcome.model_pixels
    stats.computed_px += task.chunk.core.height * task.chunk.core.width
    stats.providers.add(outcome.provider)
    stats.rss_mb[outcome.worker] = max(stats.rss_mb.get(outcome.worker, 0.0), outcome.peak_rss_mb)


def _degraded(outcome: ChunkResult) -> str:
    return f"context incomplete: {', '.join(outcome.degraded)} unreadable" if outcome.degraded else ""


def _failure(outcome: ChunkResult | BaseException) -> str:
    """The manifest's line for a failed attempt."""
    if isinstance(outcome, ChunkResult):
        return _degraded(outcome)
    if isinstance(outcome, CostaError):
        return first_line(outcome)
    return f"{type(outcome).__name__}: {first_line(outcome)}"
