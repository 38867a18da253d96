"""Where a job's worker processes go: the machine's cores and GPUs shared out between them.

Planned here, as values, without touching a core or a GPU, so the plan is tested on any machine.
Each worker process gets its share of the cores for both of its thread pools (ONNX Runtime's
intra-op threads and GDAL's decode and compression threads: ``GDAL_NUM_THREADS``), never the
whole node, and at most one GPU (``CUDA_VISIBLE_DEVICES``, and a Dask resource ``GPU=1`` so
that the scheduler sends a GPU task only to a worker holding a GPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from costa.errors import OptionError

__all__ = ["GPU_RESOURCE", "Place", "plan_workers", "worker_threads"]

GPU_RESOURCE = "GPU"
"""The Dask resource a GPU worker declares and a GPU task asks for (one each)."""


@dataclass(frozen=True)
class Place:
    """One worker process: its name, CPU threads and GPU (None: CPU only)."""

    name: str
    threads: int
    gpu: int | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment of the worker process: its thread counts, its GPU, small GDAL caches."""
        env = {
            "OMP_NUM_THREADS": str(self.threads),
            "GDAL_NUM_THREADS": str(self.threads),
            "GDAL_CACHEMAX": "16",
            "MALLOC_ARENA_MAX": "2",
        }
        if self.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(self.gpu)
        return env

    @property
    def resources(self) -> dict[str, float]:
        """Dask resources the worker declares."""
        return {GPU_RESOURCE: 1} if self.gpu is not None else {}


def plan_workers(workers: int, *, cores: int, gpus: int = 0, threads: int | None = None) -> list[Place]:
    """``workers`` processes over ``cores`` CPU cores and ``gpus`` GPUs (one GPU each, at most).

    Cores are shared evenly (at least one each) unless ``threads`` is given. With GPUs, there
    must not be more workers than GPUs: two sessions on one GPU would share its memory blindly.

    >>> [(p.name, p.threads, p.gpu) for p in plan_workers(2, cores=16, gpus=2)]
    [('0', 8, 0), ('1', 8, 1)]
    >>> plan_workers(3, cores=2)[2].env["GDAL_NUM_THREADS"]
    '1'
    >>> plan_workers(1, cores=16, gpus=4)[0].resources
    {'GPU': 1}
    """
    if workers < 1:
        raise OptionError(f"--workers {workers} must be at least 1")
    if gpus and workers > gpus:
        raise OptionError(f"--workers {workers} is more than the {gpus} GPU(s) here: one worker per GPU")
    share = threads or max(1, cores // workers)
    return [Place(str(i), share, i if gpus else None) for i in range(workers)]


def worker_threads(given: int | None) -> int | None:
    """CPU threads for one chunk in the calling process: ``given``, else the Dask worker's share.

    A Dask worker's share is the cores this process may run on (its CPU affinity, which Slurm
    and cgroups set) over the chunks it runs at once (``dask worker --nthreads``; 1 is best).

    GDAL's decode threads follow (``GDAL_NUM_THREADS``) unless already set. Outside a Dask
    worker and without ``given``: None (ONNX Runtime and GDAL use every core).
    """
    threads = given
    if threads is None:
        try:
            from distributed import get_worker

            slots = get_worker().state.nthreads
        except (ImportError, ValueError):  # not in a Dask worker
            return None
        threads = max(1, len(os.sched_getaffinity(0)) // max(1, slots))
    os.environ.setdefault("GDAL_NUM_THREADS", str(threads))
    return threads
