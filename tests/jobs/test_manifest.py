"""The manifest: chunk states that survive the process, runs counted, read-only while a job runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from costa.errors import OutputError
from costa.jobs.manifest import Manifest


def test_states_attempts_and_runs_persist(tmp_path: Path) -> None:
    with Manifest(tmp_path) as man:
        assert man.start_run(["a", "b", "c"]) == 1
        assert man.started("a") == 1 and man.started("b") == 1
        man.done("a", run=1, sha256="f" * 64, seconds=1.5, worker="pid1")
        man.failed("b", "cannot read b.tif", final=False)
        man.set_meta("fingerprint", "{}")
    with Manifest(tmp_path) as man:  # a new process after kill -9 sees the same rows
        assert [(r.name, r.status, r.attempts) for r in man.rows()] == [
            ("a", "done", 1),
            ("b", "pending", 1),
            ("c", "pending", 0),
        ]
        assert man.start_run(["a", "b", "c", "d"]) == 2 and man.meta("fingerprint") == "{}"
        assert man.started("b") == 2
        man.failed("b", "cannot read b.tif", final=True)
        assert {r.name: r.status for r in man.rows()} == {
            "a": "done",
            "b": "failed",
            "c": "pending",
            "d": "pending",
        }


def test_a_run_interrupted_mid_chunk_starts_it_again(tmp_path: Path) -> None:
    with Manifest(tmp_path) as man:
        man.start_run(["a"])
        man.started("a")
    with Manifest(tmp_path) as man:
        man.start_run(["a"])
        assert man.rows()[0].status == "pending"


def test_readonly_on_a_folder_without_a_job(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="holds no costa job"), Manifest(tmp_path, readonly=True):
        pass
