"""What runs on a worker: predict one chunk of a job into its own COG.

A :class:`ChunkTask` is small (only the dalles its read window meets) and picklable, so Dask
can ship it; :func:`run_chunk` keeps one ONNX Runtime session per worker process (one per GPU
when several are present) across the chunks it runs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import resource
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from costa.inference.engine import run_chunks
from costa.inference.options import PredictOptions, settle
from costa.inference.runtime import Model, open_model
from costa.io.mosaic import BandRecipe, Mosaic, MosaicSource
from costa.io.remote import put_file
from costa.io.writer import write_cog
from costa.jobs.manifest import sha256_file
from costa.jobs.placement import worker_threads
from costa.tiling.chunks import Chunk, split_chunk

__all__ = ["ChunkResult", "ChunkTask", "run_chunk"]


@dataclass(frozen=True)
class ChunkTask:
    """Everything a worker needs to predict one chunk (small: only the dalles it reads)."""

    name: str
    chunk: Chunk
    out: Path
    """The COG to write; only its name when ``upload`` is set (written in the worker's scratch)."""
    products: dict[str, Mosaic]
    recipe: BandRecipe
    model: Path | str
    options: PredictOptions
    tags: dict[str, str]
    upload: str | None = None
    """The ``s3://`` prefix the COG and its side-cars are uploaded to, or None."""


@dataclass(frozen=True)
class ChunkResult:
    """What a worker reports for a finished chunk."""

    name: str
    sha256: str
    seconds: float
    model_pixels: int
    tiles: int
    tiles_skipped: int
    provider: str
    worker: str
    peak_rss_mb: float
    warnings: tuple[str, ...] = ()
    degraded: tuple[str, ...] = ()
    """Neighbouring dalles read as no data: the output is valid but its border lacks context."""
    etag: str | None = None
    """The uploaded COG's ETag (outputs on object storage)."""


_MODELS: dict[tuple[Path | str, str, int | None], Model] = {}


def _worker_model(path: Path | str, options: PredictOptions) -> tuple[Model, str]:
    """The session for ``path`` in this process (one per worker, kept across chunks).

    Its threads are the worker's share of the cores (:func:`~costa.jobs.placement.worker_threads`);
    its GPU is the one the worker was started with (``CUDA_VISIBLE_DEVICES``, set by
    :func:`~costa.jobs.placement.plan_workers` or by Slurm).
    """
    worker = f"pid{os.getpid()}"
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_worker

        worker = str(get_worker().name)
    threads = worker_threads(options.threads)
    key = (path, options.provider, threads)
    if key not in _MODELS:
        _MODELS[key] = open_model(path, options.provider, threads)
    return _MODELS[key], worker


def run_chunk(task: ChunkTask) -> ChunkResult:
    """Predict one chunk into its own COG (atomically), checksum it, upload it if asked. Runs on a worker."""
    if task.upload is None:
        return _predict(task, task.out)
    scratch = Path(tempfile.mkdtemp(prefix="costa-chunk-"))  # the worker's own disk
    try:
        result = _predict(task, scratch / task.out.name)
        cog = scratch / task.out.name
        for side in sorted(p for p in scratch.iterdir() if p != cog):  # the COG last: it marks the set whole
            put_file(side, f"{task.upload}/{side.name}")
        return dataclasses.replace(result, etag=put_file(cog, f"{task.upload}/{cog.name}"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _predict(task: ChunkTask, out: Path) -> ChunkResult:
    """Predict ``task``'s chunk into the COG ``out`` (and its side-cars)."""
    t0 = time.perf_counter()
    model, worker = _worker_model(task.model, task.options)
    notes: list[str] = []
    source = MosaicSource(task.products, task.recipe, model.card, task.options.force, notes.append)
    core = task.chunk.core
    tags = {**task.tags, "PROVIDER": model.provider}
    with write_cog(
        out,
        crs=source.crs,
        transform=core.transform(source.transform),
        width=core.width,
        height=core.height,
        confidence=task.options.confidence,
        tags=tags,
    ) as write:
        model_px, skipped = run_chunks(
            source,
            model,
            split_chunk(task.chunk, task.options.chunk),  # bands of the dalle, streamed
            lambda box, labels, conf: write(box.relative_to(core), labels, conf),
            batch=settle(task.options, model.card, model.provider).batch,
            confidence=task.options.confidence,
            read=lambda c: source.read(c.read, own=core),
        )
    return ChunkResult(
        task.name,
        sha256_file(out),
        time.perf_counter() - t0,
        model_px,
        len(task.chunk.tiles),
        skipped,
        model.provider,
        worker,
        _peak_rss_mb(),
        tuple(dict.fromkeys(notes)),
        tuple(sorted(str(p) for p in source.unreadable)),
    )


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM: unlike ru_maxrss, not inherited over fork+exec)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
