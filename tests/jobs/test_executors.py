"""Executors and the feeding loop: outcomes recorded, failures retried then marked, stats kept."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import pytest

from costa.errors import SourceReadError
from costa.jobs import executors
from costa.jobs.executors import Executor, drive
from costa.jobs.manifest import Manifest
from costa.jobs.worker import ChunkResult
from costa.tiling import Box, Chunk


class _Scripted(Executor):
    """Chunks whose outcomes are given in advance: a result, or an error per attempt."""

    slots = 2

    def __init__(self, script: dict[str, list[str]]) -> None:
        self.script, self.queue = script, deque[Any]()
        self.max_inflight = 0

    def submit(self, task: Any) -> None:
        self.queue.append(task)
        self.max_inflight = max(self.max_inflight, len(self.queue))

    def next(self) -> tuple[Any, ChunkResult | BaseException]:
        task = self.queue.popleft()
        outcome = self.script[task.name].pop(0)
        if outcome == "fail":
            return task, SourceReadError(f"cannot read {task.name}.tif: truncated")
        degraded = ("n.tif",) if outcome == "degraded" else ()
        return task, ChunkResult(task.name, "0" * 64, 0.1, 4096, 1, 0, "cpu", "w1", 100.0, degraded=degraded)


class _Task:
    def __init__(self, name: str) -> None:
        self.name, self.chunk = name, Chunk(0, Box(0, 0, 32, 32), Box(0, 0, 32, 32), ())


def test_drive_retries_then_marks_failed_and_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure is retried, a chunk with a neighbour unreadable too; the last attempt's outcome stands."""
    monkeypatch.setattr(executors, "BACKOFF_S", 0.01)
    ex = _Scripted(
        {
            "a": ["ok"],
            "b": ["fail", "ok"],
            "c": ["fail", "fail", "fail"],
            "d": ["degraded", "ok"],
            "e": ["degraded"] * 2,
        }
    )
    seen: list[str] = []
    with Manifest(tmp_path) as man:
        run = man.start_run(list("abcde"))
        stats = drive(
            ex,
            [_Task(n) for n in "abcde"],  # type: ignore[misc]
            man=man,
            run=run,
            retries=1,
            total=5,
            finished=0,
            progress=None,
            warn=seen.append,
        )
        rows = {r.name: (r.status, r.attempts, r.error) for r in man.rows()}
    assert rows == {
        "a": ("done", 1, None),
        "b": ("done", 2, None),
        "c": ("failed", 2, "cannot read c.tif: truncated"),
        "d": ("done", 2, None),
        "e": ("done", 2, "context incomplete: n.tif unreadable"),  # degraded: a rerun redoes it
    }
    assert (stats.computed, stats.retried, stats.model_px, stats.computed_px) == (4, 4, 16384, 4096)
    assert seen == ["chunk c failed after 2 attempt(s): cannot read c.tif: truncated"]
    assert ex.max_inflight <= ex.slots
