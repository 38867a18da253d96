"""Clusters costa starts for a job: Dask workers as Slurm jobs, through dask-jobqueue.

A job file's ``cluster:`` block, or ``--cluster slurm`` with ``--cluster-option KEY=VALUE``,
gives a :class:`ClusterSpec`. :func:`start` submits one Slurm job per worker process (each with
``cores`` CPUs, ``memory`` and ``gpus`` GPUs), scaled to the job's size, and the context
releases them (``scancel``) when the job ends, fails or is interrupted (Ctrl-C). Kubernetes and
dask-gateway users start their own cluster and pass its scheduler address (``--scheduler``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from costa.errors import OptionError, require
from costa.jobs.placement import GPU_RESOURCE

__all__ = ["KINDS", "ClusterSpec", "parse_options", "start"]

KINDS = ("slurm",)
"""Batch systems costa can start workers on."""


@dataclass(frozen=True)
class ClusterSpec:
    """Where and how each worker runs on a batch system.

    Attributes:
        kind: ``slurm``.
        queue: partition (``-p``); None: the cluster's default.
        account: account charged (``-A``).
        walltime: time limit of each worker's job (``HH:MM:SS``).
        cores: CPU cores of each worker (its ONNX Runtime and GDAL threads).
        memory: memory of each worker (``16GB``).
        gpus: GPUs of each worker (``--gres=gpu:N``; costa runs one session per worker).
        max_workers: at most this many workers, whatever ``--workers`` says.
        extra: more ``#SBATCH`` directives, e.g. ``--constraint=h100``.

    """

    kind: str = "slurm"
    queue: str | None = None
    account: str | None = None
    walltime: str = "01:00:00"
    cores: int = 4
    memory: str = "16GB"
    gpus: int = 0
    max_workers: int | None = None
    extra: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise OptionError(f"cluster kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.cores < 1 or self.gpus < 0 or (self.max_workers is not None and self.max_workers < 1):
            raise OptionError(
                f"cluster cores ({self.cores}), gpus ({self.gpus}) and max_workers ({self.max_workers}) "
                "must be positive"
            )

    def workers_for(self, asked: int | None, chunks: int) -> int:
        """Workers to start: as asked (default 1), at most ``max_workers`` and one per chunk."""
        n = asked or 1
        return max(1, min(n, self.max_workers or n, chunks))


def parse_options(kind: str, options: Mapping[str, Any]) -> ClusterSpec:
    """A :class:`ClusterSpec` from a job file's block or ``--cluster-option`` pairs (strings).

    >>> spec = parse_options("slurm", {"cores": "8", "queue": "gpu", "extra": "--constraint=h100"})
    >>> spec.cores, spec.queue, spec.extra, spec.walltime
    (8, 'gpu', ('--constraint=h100',), '01:00:00')
    """
    fields = {f.name: f for f in dataclasses.fields(ClusterSpec)}
    unknown = sorted(set(options) - set(fields) - {"kind"})
    if unknown:
        known = ", ".join(sorted(fields))
        raise OptionError(f"unknown cluster option(s) {', '.join(unknown)} (known: {known})")
    values: dict[str, Any] = {}
    for key, value in options.items():
        if key in ("cores", "gpus", "max_workers"):
            try:
                values[key] = None if value is None else int(value)
            except (TypeError, ValueError):
                raise OptionError(f"cluster option {key}={value!r} must be a whole number") from None
        elif key == "extra":
            values[key] = (value,) if isinstance(value, str) else tuple(str(v) for v in value)
        elif key != "kind":
            values[key] = None if value is None else str(value)
    return ClusterSpec(kind=str(options.get("kind", kind)), **values)


@contextlib.contextmanager
def start(spec: ClusterSpec, workers: int, log_dir: Path) -> Iterator[Any]:
    """A Dask cluster of ``workers`` Slurm jobs, released on exit; its ``*.out``/``*.err`` in ``log_dir``.

    Each worker runs one chunk at a time (``--nthreads 1``) with all its cores for that chunk,
    and a GPU worker declares ``GPU=1`` so that chunks are sent to GPU workers only.
    """
    jobqueue = require("dask_jobqueue", "cluster", "--cluster slurm")
    log_dir.mkdir(parents=True, exist_ok=True)
    extra_args = ["--nthreads", "1"] + (["--resources", f"{GPU_RESOURCE}=1"] if spec.gpus else [])
    directives = [*spec.extra, *([f"--gres=gpu:{spec.gpus}"] if spec.gpus else [])]
    with jobqueue.SLURMCluster(
        queue=spec.queue,
        account=spec.account,
        walltime=spec.walltime,
        cores=spec.cores,
        memory=spec.memory,
        processes=1,
        job_extra_directives=directives,
        worker_extra_args=extra_args,
        log_directory=str(log_dir),
        # Slurm enforces the memory; Dask's own pause at 80 % of it would stall a worker whose
        # model and tiles (planned within --memory) sit near that line
        job_script_prologue=[
            "export DASK_DISTRIBUTED__WORKER__MEMORY__PAUSE=False",
            "export DASK_DISTRIBUTED__WORKER__MEMORY__TERMINATE=False",
        ],
        scheduler_options={"dashboard_address": ":0"},
    ) as cluster:
        cluster.scale(workers)
        yield cluster
