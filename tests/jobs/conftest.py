"""A real Dask cluster of separate processes on localhost, as a user starts one by hand."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.jobs.proxy import ROOT, StoreProxy

DASK = str(Path(sys.executable).parent / "dask")


@dataclass
class DaskProcesses:
    """``dask scheduler`` and ``dask worker`` processes, each in its own folder with its own temp."""

    address: str
    root: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    scheduler: subprocess.Popen[bytes] | None = None

    def start_scheduler(self) -> None:
        """``dask scheduler`` on this cluster's address, in its own folder."""
        home = self.root / "scheduler"
        home.mkdir(parents=True, exist_ok=True)
        self.scheduler = subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1],
             "--dashboard-address", "127.0.0.1:0"],
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

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
    try:
        cluster.start_scheduler()
        for name in ("w0", "w1"):
            cluster.start_worker(name)
        t0 = time.monotonic()
        cluster.wait_for_workers(2)
        assert time.monotonic() - t0 < 60
        yield cluster
    finally:
        cluster.stop()


@dataclass(frozen=True)
class Slurm:
    """A single-node Slurm (``slurmctld`` + ``slurmd``) started for the tests: its ``slurm.conf``."""

    conf: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def jobs(self) -> list[str]:
        res = subprocess.run(["squeue", "-h", "-o", "%i"], env=self.env, capture_output=True, text=True)
        return res.stdout.split()


SLURM_CONF = """\
ClusterName=costa
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=costa-node NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mb} State=UNKNOWN
PartitionName=costa Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def _munge_running() -> bool:
    cred = subprocess.run(["munge", "-n"], capture_output=True)
    if cred.returncode:
        return False
    return subprocess.run(["unmunge"], input=cred.stdout, capture_output=True).returncode == 0


@contextlib.contextmanager
def local_slurm(root: Path) -> Iterator[Slurm]:
    """slurmctld + slurmd for one node (this machine), state and logs under ``root``, as root.

    Also used by ``python -m benchmarks cluster``. Starts munged if no munge daemon answers.
    """
    if not _munge_running():
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        subprocess.run(["munged", "--force"], check=True, capture_output=True)
    for d in ("state", "spool"):
        (root / d).mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(
            host=socket.gethostname().split(".")[0],
            ctld_port=free_port(),
            d_port=free_port(),
            root=root,
            cpus=os.cpu_count() or 1,
            mb=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 // 2,
        )
    )
    cluster = Slurm(conf)
    daemons = [
        subprocess.Popen([cmd, "-D", *args, "-f", str(conf)], env=cluster.env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
        for cmd, args in (("slurmctld", []), ("slurmd", ["-N", "costa-node"]))
    ]  # fmt: skip
    try:
        t0 = time.monotonic()
        while "idle" not in _node_state(cluster):
            assert time.monotonic() - t0 < 60, (root / "slurmctld.log").read_text()[-2000:]
            time.sleep(0.5)
        yield cluster
    finally:
        for d in daemons:
            d.terminate()
        for d in daemons:
            try:
                d.wait(timeout=15)
            except subprocess.TimeoutExpired:
                d.kill()


def slurm_missing() -> str | None:
    """Why Slurm cannot be started here, or None."""
    missing = [b for b in ("slurmctld", "slurmd", "munged", "sbatch") if shutil.which(b) is None]
    if missing or os.geteuid() != 0:
        return f"no Slurm here ({', '.join(missing) or 'not root'}): apt-get install slurm-wlm munge"
    return None


@pytest.fixture(scope="session")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slurm]:
    """Debian's slurm-wlm and munge (``.ci/run`` installs them), started for this test session."""
    reason = slurm_missing()
    if reason:
        pytest.skip(reason)
    with local_slurm(tmp_path_factory.mktemp("slurm")) as cluster:
        yield cluster


def _node_state(cluster: Slurm) -> str:
    res = subprocess.run(["sinfo", "-h", "-o", "%T"], env=cluster.env, capture_output=True, text=True)
    return res.stdout


@dataclass(frozen=True)
class S3:
    """A real S3-compatible server on localhost (moto's server mode) and the settings to reach it."""

    endpoint: str
    bucket: str
    key: str = "costa"
    secret: str = "costa-secret"
    pid: int = 0
    """The server's process (0: not known)."""

    @property
    def env(self) -> dict[str, str]:
        return {
            "AWS_S3_ENDPOINT": self.endpoint,
            "AWS_HTTPS": "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_REGION": "us-east-1",
        }

    def upload(self, folder: Path, prefix: str) -> None:
        """Every file of ``folder`` under ``s3://bucket/prefix/``."""
        for f in sorted(folder.iterdir()):
            if f.is_file():
                self.put(f, f"{prefix}/{f.name}")

    def put(self, path: Path, key: str) -> str:
        """``path`` as the object ``key``; returns its URL."""
        import obstore

        from costa.io.remote import _store

        with _environ(self.env):
            obstore.put(_store(self.bucket), key, path.read_bytes())
        return f"s3://{self.bucket}/{key}"

    def objects(self, prefix: str) -> dict[str, int]:
        """Size of every object under ``prefix/``, by name relative to it."""
        import obstore

        from costa.io.remote import _store

        with _environ(self.env):
            listed = [o for batch in obstore.list(_store(self.bucket), prefix=f"{prefix}/") for o in batch]
        return {o["path"][len(prefix) + 1 :]: int(o["size"]) for o in listed}

    def text(self, key: str) -> str:
        from costa.io.remote import read_text

        with _environ(self.env):
            return read_text(f"s3://{self.bucket}/{key}")

    def delete(self, key: str) -> None:
        import obstore

        from costa.io.remote import _store

        with _environ(self.env):
            obstore.delete(_store(self.bucket), key)


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def local_s3(server: str = "moto", root: Path | None = None) -> Iterator[S3]:
    """An S3 server in a process of its own, with a bucket (also for ``benchmarks cluster``).

    ``moto`` (the tests'), or ``s3rver`` (Node.js, over a folder in ``root``; for the
    benchmark: ``npm install --prefix benchmarks/.node s3rver@3.7.1``).
    """
    port = free_port()
    store = S3(f"127.0.0.1:{port}", "costa")
    if server == "s3rver":
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="costa-s3-", dir=root))
        s3rver = ROOT / "benchmarks/.node/node_modules/.bin/s3rver"
        assert s3rver.exists(), "s3rver not found: npm install --prefix benchmarks/.node s3rver@3.7.1"
        cmd = [str(s3rver), "-d", str(folder), "-a", "127.0.0.1", "-p", str(port)]
        cmd += ["--configure-bucket", store.bucket]
        store = S3(store.endpoint, store.bucket, key="S3RVER", secret="S3RVER")
    else:
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server_proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    store = dataclasses.replace(store, pid=server_proc.pid)
    try:
        t0 = time.monotonic()
        while True:  # create the bucket once the server answers
            try:
                bucket = urllib.request.Request(f"http://{store.endpoint}/{store.bucket}", method="PUT")
                with urllib.request.urlopen(bucket):
                    break
            except urllib.error.HTTPError:
                if server == "s3rver":  # made at its start
                    break
                raise
            except OSError:
                assert time.monotonic() - t0 < 30 and server_proc.poll() is None, f"{server} did not start"
                time.sleep(0.2)
        yield store
    finally:
        server_proc.terminate()
        server_proc.wait(timeout=15)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """A local S3 server, and this process (and the workers it starts) set to use it."""
    with local_s3() as store:
        for key, value in store.env.items():
            monkeypatch.setenv(key, value)
        yield store


@pytest.fixture
def flaky_s3(s3: S3, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[StoreProxy]:
    """The local S3 server behind a :class:`StoreProxy` (started); this process and its workers use the proxy.

    ``s3.upload``, ``s3.put`` and ``s3.objects`` still go straight to the store (setting up and
    checking are not under test).
    """
    proxy = StoreProxy(s3.endpoint, free_port(), tmp_path / "proxy.log")
    proxy.up()
    monkeypatch.setenv("AWS_S3_ENDPOINT", proxy.endpoint)
    try:
        yield proxy
    finally:
        proxy.down()
