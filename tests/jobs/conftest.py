"""A real Dask cluster of separate processes on localhost, as a user starts one by hand."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DASK = str(Path(sys.executable).parent / "dask")


@dataclass
class DaskProcesses:
    """``dask scheduler`` and ``dask worker`` processes, each in its own folder with its own temp."""

    address: str
    root: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    scheduler: subprocess.Popen[bytes] | None = None

    def start_worker(self, name: str, threads: int = 1) -> None:
        """One ``dask worker`` process named ``name``, cwd and TMPDIR in its own folder."""
        home = self.root / name
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        self.workers[name] = subprocess.Popen(
            [DASK, "worker", self.address, "--name", name, "--nthreads", str(threads), "--nworkers", "1",
             "--no-dashboard", "--local-directory", str(home / "dask"), "--host", "127.0.0.1"],
            cwd=home,
            env={**os.environ, "TMPDIR": str(home / "tmp")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def wait_for_workers(self, n: int, timeout: float = 60) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(n, timeout=timeout)

    def stop(self) -> None:
        for proc in [*self.workers.values(), self.scheduler]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers.values(), self.scheduler]:
            if proc is not None:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dask_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    """A scheduler and two workers, separate processes; none shares the test's cwd or temp."""
    root = tmp_path_factory.mktemp("dask")
    cluster = DaskProcesses(f"tcp://127.0.0.1:{free_port()}", root)
    (root / "scheduler").mkdir()
    cluster.scheduler = subprocess.Popen(
        [DASK, "scheduler", "--host", "127.0.0.1", "--port", cluster.address.rsplit(":", 1)[1],
         "--dashboard-address", "127.0.0.1:0"],
        cwd=root / "scheduler",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        for name in ("w0", "w1"):
            cluster.start_worker(name)
        t0 = time.monotonic()
        cluster.wait_for_workers(2)
        assert time.monotonic() - t0 < 60
        yield cluster
    finally:
        cluster.stop()
