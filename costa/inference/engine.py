"""The prediction pipeline: source → chunks → tiles → ONNX Runtime → class codes → sink.

:func:`predict` (file in, COG out) and :func:`predict_array` (numpy in, numpy out) are
thin over the same streaming pipeline, :func:`run_chunks`: chunks are read, inferred and
written by overlapping stages (:mod:`costa.inference.pipeline`; GDAL and ONNX Runtime both
release the GIL).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from costa.__about__ import __version__
from costa.errors import CostaError, ModelError, OptionError, first_line
from costa.inference.options import PredictOptions, open_for, resolve, settle
from costa.inference.pipeline import DEPTH, READERS, stream
from costa.inference.runtime import Model
from costa.io.sources import ArraySource, RasterSource, Source
from costa.io.writer import check_writable, write_cog
from costa.tiling.chunks import Chunk, plan_chunks
from costa.tiling.tiles import Box, Tile

__all__ = ["PredictReport", "predict", "predict_array", "provenance", "run_chunks"]

Progress = Callable[[int, int], None]
"""Called as ``progress(tiles_done, tiles_total)``."""
Sink = Callable[[Box, np.ndarray, "np.ndarray | None"], None]


@dataclass(frozen=True)
class PredictReport:
    """What a prediction did, for logs and benchmarks."""

    out: Path | None
    provider: str
    width: int
    height: int
    tile: int
    halo: int
    tiles: int
    tiles_skipped: int
    model_pixels: int
    seconds: float

    @property
    def mpx_per_s(self) -> float:
        """Throughput in million pixels through the model per second (halo included)."""
        return self.model_pixels / max(self.seconds, 1e-9) / 1e6

    @property
    def overlap(self) -> float:
        """Pixels the model processed per output pixel (tile/halo overhead)."""
        return self.model_pixels / max(self.width * self.height, 1)


def run_chunks(
    source: Source,
    model: Model,
    chunks: Sequence[Chunk],
    sink: Sink,
    *,
    batch: int,
    confidence: bool = False,
    progress: Progress | None = None,
    read: Callable[[Chunk], tuple[np.ndarray, np.ndarray]] | None = None,
    readers: int = READERS,
    depth: int = DEPTH,
) -> tuple[int, int]:
    """Predict every chunk and hand its core to ``sink``; returns (model pixels, skipped tiles).

    The stages overlap (:func:`costa.inference.pipeline.stream`): chunks are read and
    normalised on ``readers`` threads, inferred here, and handed to ``sink`` on a writer
    thread, at most ``depth`` chunks waiting between two stages. ``sink`` is called from
    that one thread, one chunk at a time, in chunk order.

    Tiles whose core holds no valid source pixel are skipped (written as no data).
    ``read`` fetches a chunk's pixels (default: ``source.read(chunk.read)``); a mosaic
    passes one that knows which dalles are the chunk's own.
    """
    total = sum(len(c.tiles) for c in chunks)
    counts = {"done": 0, "model_px": 0, "skipped": 0}
    fetch = read or (lambda c: source.read(c.read))

    def load(chunk: Chunk) -> _Loaded:
        raw, valid = fetch(chunk)
        fused = model.can_classify(raw.dtype)
        return _Loaded(raw if fused else model.card.normalize(raw, valid), valid, fused)

    def infer(chunk: Chunk, data: _Loaded) -> _Labelled:
        labels = np.zeros((chunk.core.height, chunk.core.width), np.uint8)
        conf = np.zeros_like(labels) if confidence else None
        writes = [(t, t.core.intersect(chunk.core)) for t in chunk.tiles]
        todo = [(t, w) for t, w in writes if data.valid[w.slices(chunk.read)].any()]
        counts["skipped"] += len(chunk.tiles) - len(todo)
        for i in range(0, len(todo), batch):
            group = todo[i : i + batch]
            reads = [t.read for t, _ in group]
            if model.provider != "cpu":
                # GPU batches keep one shape: each new shape costs every convolution a new cuDNN
                # set-up (H200, resnet34 U-Net fp16: 14 Mpx/s with a short batch per chunk), so
                # a short batch is filled with copies of its last tile, whose codes are dropped
                reads += [reads[-1]] * (batch - len(reads))
            batch_x = np.stack([data.x[(slice(None), *r.slices(chunk.read))] for r in reads])
            with _model_errors(model, chunk):
                if data.fused:
                    mask = np.stack([data.valid[r.slices(chunk.read)] for r in reads])
                    _classify(model, batch_x, mask, chunk, group, labels, conf)
                else:
                    logits = model.run(batch_x)[: len(group)]
                    _decode_group(logits, group, model.card.lut, chunk, labels, conf)
            counts["model_px"] += len(group) * int(batch_x.shape[2] * batch_x.shape[3])
            counts["done"] += len(group)
            if progress:
                progress(counts["done"] + counts["skipped"], total)
        core_valid = data.valid[chunk.core.slices(chunk.read)]
        labels[~core_valid] = 0
        if conf is not None:
            conf[~core_valid] = 0
        if progress:
            progress(counts["done"] + counts["skipped"], total)
        return _Labelled(chunk.core, labels, conf)

    stream(
        chunks, load, infer, lambda out: sink(out.core, out.labels, out.conf), readers=readers, depth=depth
    )
    return counts["model_px"], counts["skipped"]


@dataclass(frozen=True)
class _Loaded:
    """A chunk's model input: raw pixels (fused graph) or normalised ones, and validity."""

    x: np.ndarray
    valid: np.ndarray
    fused: bool


@dataclass(frozen=True)
class _Labelled:
    """A chunk's class codes (and confidence), ready to write."""

    core: Box
    labels: np.ndarray
    conf: np.ndarray | None


@contextlib.contextmanager
def _model_errors(model: Model, chunk: Chunk) -> Iterator[None]:
    """Turn an ONNX Runtime failure into one :class:`ModelError` line naming model and chunk."""
    try:
        yield
    except CostaError:
        raise
    except Exception as e:
        raise ModelError(
            f"model '{model.card.name}' failed on chunk {chunk.index} (pixels {chunk.core}): {first_line(e)}"
        ) from None


def _decode_group(
    logits: np.ndarray,
    group: Sequence[tuple[Tile, Box]],
    lut: np.ndarray,
    chunk: Chunk,
    labels: np.ndarray,
    conf: np.ndarray | None,
) -> None:
    """Argmax a batch of logits into the chunk's labels (numpy reference path)."""
    for (t, w), lg in zip(group, logits, strict=True):
        _decode(
            lg[(slice(None), *w.slices(t.read))],
            lut,
            labels[w.slices(chunk.core)],
            None if conf is None else conf[w.slices(chunk.core)],
        )


def _classify(
    model: Model,
    raw: np.ndarray,
    mask: np.ndarray,
    chunk: Chunk,
    group: Sequence[tuple[Tile, Box]],
    labels: np.ndarray,
    conf: np.ndarray | None,
) -> None:
    """Class codes (and confidence) of a batch of raw tiles, argmax inside the graph, in place.

    ``mask`` marks the valid pixels of ``raw``; ``group`` pairs each tile with the box it writes
    (its core within the chunk), and may be shorter than the batch (a filled GPU batch).
    """
    codes, pct = model.classify(raw, mask, conf is not None)
    for k, (t, w) in enumerate(group):
        core = w.slices(t.read)
        labels[w.slices(chunk.core)] = codes[(k, *core)]
        if conf is not None and pct is not None:
            conf[w.slices(chunk.core)] = pct[(k, *core)]


def _decode(logits: np.ndarray, lut: np.ndarray, labels: np.ndarray, conf: np.ndarray | None) -> None:
    """Argmax ``(K, h, w)`` logits into class codes (and max-probability %), in place."""
    idx = logits.argmax(axis=0)
    labels[...] = lut[idx]
    if conf is not None:
        lg = logits.astype(np.float32, copy=False)
        top = np.take_along_axis(lg, idx[None], axis=0)[0]
        conf[...] = np.rint(100.0 / np.exp(lg - top).sum(axis=0)).astype(np.uint8)


def provenance(model: Model, sources: Sequence[Path], bands: str, tile: int, halo: int) -> dict[str, str]:
    """Dataset tags of an output COG: what made it, from what, how."""
    return {
        "COSTA_VERSION": __version__,
        "MODEL": model.card.name,
        "MODEL_SHA256": model.sha256,
        "PROVIDER": model.provider,
        "CREATED": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "SOURCES": json.dumps([str(p.resolve()) for p in sources]),
        "BANDS": bands,
        "TILE": str(tile),
        "HALO": str(halo),
    }


def predict(
    src: str | Path,
    model: str | Path | Model,
    out: str | Path,
    options: PredictOptions | None = None,
    *,
    progress: Progress | None = None,
    warn: Callable[[str], None] | None = None,
) -> PredictReport:
    """Predict a land-cover COG for a raster of any size, in constant memory.

    Args:
        src: source raster (GeoTIFF, COG, VRT, JP2... anything GDAL reads).
        model: path to an ONNX model with costa metadata, or an opened :class:`Model`.
        out: output COG path (written atomically).
        options: tile, halo, batch, provider...; defaults from the model card, the tile
            planned for this raster within the memory budget (:func:`~costa.inference.options.settle`).
        progress: called with (tiles done, tiles total).
        warn: called with soft warnings (default: :func:`warnings.warn`).

    Example:
        >>> report = predict("ortho.tif", demo_model_path(), "landcover.tif")  # doctest: +SKIP
        >>> report.provider, round(report.mpx_per_s, 1)  # doctest: +SKIP
        ('cpu', 3.2)

    """
    options = options or PredictOptions()
    out = check_writable(out)
    m = open_for(model, options)
    settle(options, m.card, m.provider)  # bad options fail before the source is opened
    t0 = time.perf_counter()
    with RasterSource(
        src, m.card, options.bands, options.force, warn or (lambda s: warnings.warn(s, stacklevel=3))
    ) as source:
        r = settle(options, m.card, m.provider, (source.height, source.width), footprint=m.footprint)
        chunks = plan_chunks(source.height, source.width, r.tile, r.halo, m.card.stride, options.chunk)
        tags = provenance(m, [Path(src)], ",".join(map(str, source.bands)), r.tile, r.halo)
        with write_cog(
            out,
            crs=source.crs,
            transform=source.transform,
            width=source.width,
            height=source.height,
            confidence=options.confidence,
            tags=tags,
        ) as sink:
            model_px, skipped = run_chunks(
                source,
                m,
                chunks,
                sink,
                batch=r.batch,
                confidence=options.confidence,
                progress=progress,
            )
    n_tiles = sum(len(c.tiles) for c in chunks)
    return PredictReport(
        out=out,
        provider=m.provider,
        width=source.width,
        height=source.height,
        tile=r.tile,
        halo=r.halo,
        tiles=n_tiles,
        tiles_skipped=skipped,
        model_pixels=model_px,
        seconds=time.perf_counter() - t0,
    )


def predict_array(
    array: np.ndarray,
    model: str | Path | Model,
    options: PredictOptions | None = None,
    *,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Predict class codes for an in-memory ``(C, H, W)`` image, tiled exactly as :func:`predict`.

    Args:
        array: source pixels, bands in model order, in the model's ``input_dtype`` units.
        model: path or opened :class:`Model` (open it once with :func:`costa.open_model`
            to reuse the session across calls).
        options: as for :func:`predict` (``bands`` selects and orders input channels).
        valid: optional ``(H, W)`` mask; False pixels come out as 0 (no data).

    Returns:
        ``(H, W)`` uint8 class codes, or ``(2, H, W)`` with confidence (%) as the second
        band when ``options.confidence`` is set, like the bands of the output COG.

    Example:
        >>> import numpy as np, costa
        >>> model = costa.open_model(costa.demo_model_path())  # doctest: +SKIP
        >>> costa.predict_array(np.zeros((4, 300, 300), np.uint8), model).shape  # doctest: +SKIP
        (300, 300)

    """
    options = options or PredictOptions()
    arr = np.asarray(array)
    if arr.ndim != 3:
        raise OptionError(f"expected a (bands, height, width) array, got shape {arr.shape}")
    m, r = resolve(model, options, (arr.shape[1], arr.shape[2]))
    if options.bands is not None:
        arr = arr[[b - 1 for b in options.bands]]
    if arr.shape[0] != m.card.n_bands:
        raise OptionError(
            f"array has {arr.shape[0]} bands but model '{m.card.name}' takes "
            f"{m.card.n_bands} ({','.join(m.card.bands)})"
        )
    source = ArraySource(arr, valid)
    chunks = plan_chunks(source.height, source.width, r.tile, r.halo, m.card.stride, options.chunk)
    out = np.zeros((2 if options.confidence else 1, source.height, source.width), np.uint8)

    def sink(box: Box, labels: np.ndarray, conf: np.ndarray | None) -> None:
        out[(0, *box.slices())] = labels
        if conf is not None:
            out[(1, *box.slices())] = conf

    run_chunks(source, m, chunks, sink, batch=r.batch, confidence=options.confidence)
    return out if options.confidence else out[0]
