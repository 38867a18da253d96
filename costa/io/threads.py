"""How many threads GDAL decodes and compresses with in this process (one home for it)."""

from __future__ import annotations

import os

__all__ = ["gdal_threads"]


def gdal_threads() -> str:
    """GDAL's ``NUM_THREADS`` for this process: ``GDAL_NUM_THREADS`` where set, else ``ALL_CPUS``.

    A Dask worker has it set to its share of the cores (:mod:`costa.jobs.placement`).

    >>> import os
    >>> os.environ["GDAL_NUM_THREADS"] = "4"; gdal_threads()
    '4'
    >>> del os.environ["GDAL_NUM_THREADS"]; gdal_threads()
    'ALL_CPUS'
    """
    return os.environ.get("GDAL_NUM_THREADS") or "ALL_CPUS"
