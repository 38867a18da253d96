"""The prediction pipeline: source → chunks → tiles → ONNX Runtime → class codes → sink.

:func:`predict` (file in, COG out) and :func:`predict_array` (numpy in, numpy out) are
thin over the same loop, :func:`run_chunks`. Reading the next chunk overlaps with
inference on the current one (GDAL and ONNX Runtime both release the GIL).
"""

from __future__ import annotations

import datetime as dt
import json
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from costa.__about__ import __version__
from costa.errors import OptionError
from costa.inference.options import PredictOptions, resolve
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
) -> tuple[int, int]:
    """Predict every chunk and hand its core to ``sink``; returns (model pixels, skipped tiles).

    Tiles whose core holds no valid source pixel are skipped (written as no data).
    ``read`` fetches a chunk's pixels (default: ``source.read(chunk.read)``); a mosaic
    passes one that knows which dalles are the chunk's own.
    """
    total = sum(len(c.tiles) for c in chunks)
    done = model_px = skipped = 0
    for chunk, (raw, valid) in _prefetch(chunks, read or (lambda c: source.read(c.read))):
        fused = model.can_classify(raw.dtype)
        x = raw if fused else model.card.normalize(raw, valid)
        labels = np.zeros((chunk.core.height, chunk.core.width), np.uint8)
        conf = np.zeros_like(labels) if confidence else None
        writes = [(t, t.core.intersect(chunk.core)) for t in chunk.tiles]
        todo = [(t, w) for t, w in writes if valid[w.slices(chunk.read)].any()]
        skipped += len(chunk.tiles) - len(todo)
        for i in range(0, len(todo), batch):
            group = todo[i : i + batch]
            batch_x = np.stack([x[(slice(None), *t.read.slices(chunk.read))] for t, _ in group])
            if fused:
                _classify(model, batch_x, valid, chunk, group, labels, conf)
            else:
                logits = model.run(batch_x)
                for (t, w), lg in zip(group, logits, strict=True):
                    _decode(
                        lg[(slice(None), *w.slices(t.read))],
                        model.card.lut,
                        labels[w.slices(chunk.core)],
                        None if conf is None else conf[w.slices(chunk.core)],
                    )
            model_px += len(group) * int(batch_x.shape[2] * batch_x.shape[3])
            done += len(group)
            if progress:
                progress(done + skipped, total)
        core_valid = valid[chunk.core.slices(chunk.read)]
        labels[~core_valid] = 0
        if conf is not None:
            conf[~core_valid] = 0
        sink(chunk.core, labels, conf)
        if progress:
            progress(done + skipped, total)
    return model_px, skipped


def _classify(
    model: Model,
    raw: np.ndarray,
    valid: np.ndarray,
    chunk: Chunk,
    group: Sequence[tuple[Tile, Box]],
    labels: np.ndarray,
    conf: np.ndarray | None,
) -> None:
    """Class codes (and confidence) of a batch of raw tiles, argmax inside the graph, in place.

    ``group`` pairs each tile with the box it writes (its core within the chunk).
    """
    mask = np.stack([valid[t.read.slices(chunk.read)] for t, _ in group])
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


def _prefetch(
    chunks: Sequence[Chunk], read: Callable[[Chunk], tuple[np.ndarray, np.ndarray]]
) -> Iterator[tuple[Chunk, tuple[np.ndarray, np.ndarray]]]:
    """Yield each chunk with its pixels, reading the next one in the background."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="costa-read") as pool:
        nxt: Future[tuple[np.ndarray, np.ndarray]] | None = pool.submit(read, chunks[0]) if chunks else None
        for i, chunk in enumerate(chunks):
            assert nxt is not None
            data = nxt.result()
            nxt = pool.submit(read, chunks[i + 1]) if i + 1 < len(chunks) else None
            yield chunk, data


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
        options: tile, halo, batch, provider...; defaults from the model card.
        progress: called with (tiles done, tiles total).
        warn: called with soft warnings (default: :func:`warnings.warn`).

    Example:
        >>> report = predict("ortho.tif", demo_model_path(), "landcover.tif")  # doctest: +SKIP
        >>> report.provider, round(report.mpx_per_s, 1)  # doctest: +SKIP
        ('cpu', 3.2)

    """
    options = options or PredictOptions()
    out = check_writable(out)
    m, r = resolve(model, options)
    t0 = time.perf_counter()
    with RasterSource(
        src, m.card, options.bands, options.force, warn or (lambda s: warnings.warn(s, stacklevel=3))
    ) as source:
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
    m, r = resolve(model, options)
    arr = np.asarray(array)
    if arr.ndim != 3:
        raise OptionError(f"expected a (bands, height, width) array, got shape {arr.shape}")
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
