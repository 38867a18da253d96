"""Worker processes for ZAN: communes (:mod:`costa.zan.batch`) or one area's windows.

One idiom for both: spawned processes (nothing inherited: no open GDAL handle, no thread
state), each with GDAL's block cache bounded by ``GDAL_CACHEMAX``, and optionally one state
object (the windows' :class:`~costa.zan.windows.Plan`: parcels, communes, rules) sent once per
process by the pool's initialiser instead of once per task. A commune run in a pool measures
its windows in that worker (one pool, never one inside another).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

__all__ = ["GDAL_CACHEMAX_MB", "init_worker", "process_pool", "worker_state"]

GDAL_CACHEMAX_MB = 64
"""GDAL block cache per worker process (MB)."""

_STATE: list[Any] = []


def init_worker(state: Any = None) -> None:
    """Set up a worker process: GDAL's cache bounded, ``state`` kept for :func:`worker_state`."""
    from rasterio.env import set_gdal_config

    os.environ["GDAL_CACHEMAX"] = str(GDAL_CACHEMAX_MB)  # GDAL reads MB from the environment...
    set_gdal_config("GDAL_CACHEMAX", GDAL_CACHEMAX_MB << 20)  # ...rasterio passes bytes to GDALSetCacheMax64
    _STATE[:] = [state]


def worker_state() -> Any:
    """The state this worker process was started with."""
    return _STATE[0]


@contextlib.contextmanager
def process_pool(workers: int, state: Any = None) -> Iterator[ProcessPoolExecutor]:
    """``workers`` spawned processes, each initialised by :func:`init_worker` with ``state``."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=init_worker, initargs=(state,)
    ) as pool:
        yield pool
