"""Prediction options, and the one place where their defaults are settled.

Every entry point (:func:`costa.predict`, :func:`costa.predict_array`, jobs and their
workers) takes a :class:`PredictOptions` whose ``None`` fields mean "the model's default",
and calls :func:`settle` once — as dask's ``coerce_depth`` normalises overlap depths
before anything else runs — so tile, halo and batch cannot be defaulted differently in
two places.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from costa.errors import OptionError
from costa.inference.footprint import Footprint
from costa.inference.runtime import Model, ProviderName, open_model
from costa.models.card import ModelCard
from costa.tiling.tiles import check_geometry, round_up

__all__ = [
    "BASE_MB",
    "BUDGET_MB",
    "CPU_BATCH",
    "DEFAULT_FOOTPRINT",
    "GPU_BATCH",
    "PX_BYTES",
    "PredictOptions",
    "Resolved",
    "largest_tile",
    "open_for",
    "plan_tile",
    "resolve",
    "settle",
]

CPU_BATCH = 1
"""Tiles per ONNX Runtime call on the CPU, where larger batches measured slower."""
GPU_BATCH = 8
"""Tiles per call on GPU providers."""
BUDGET_MB = 2048
"""Default memory budget of one CPU worker (peak RSS), from which tile sizes are planned."""
BASE_MB = 560
"""What a worker holds whatever the tile: interpreter, GDAL and ORT libraries, weights, chunks in flight."""
PX_BYTES = 1100
"""ONNX Runtime memory per model input pixel at the peak of a fused U-Net's forward pass (float32
activations; measured 1.1 KB for a resnet34 U-Net at 1024², 0.5 KB for the mobilenet_v2 demo)."""
DEFAULT_FOOTPRINT = Footprint(base_mb=BASE_MB, px_bytes=PX_BYTES)
"""A resnet34 U-Net's footprint, for models whose graph does not tell
(:func:`costa.inference.footprint.estimate`)."""


@dataclass(frozen=True)
class PredictOptions:
    """How to run a prediction; ``None`` means the model card's default.

    Attributes:
        tile: model input size in pixels (multiple of the model stride).
        halo: context pixels around each tile's written core (multiple of the stride).
        batch: tiles per ONNX Runtime call (default: 1 on CPU, where larger batches measured
            slower, 8 on GPU providers).
        chunk: approximate side, in pixels, of the block read and written at once.
        provider: ``auto`` (TensorRT → CUDA → CPU), ``cpu``, ``cuda`` or ``tensorrt``.
        threads: CPU threads for ONNX Runtime (default: all cores).
        confidence: also output the max class probability (0–100 %).
        bands: 1-based source bands feeding the model inputs, in model order.
        force: accept a GSD more than 50 % away from the model's.
        memory_mb: memory budget of one CPU worker (default :data:`BUDGET_MB`); without
            ``tile``, tiles are the largest that fit it, laid out for the raster at hand.

    """

    tile: int | None = None
    halo: int | None = None
    batch: int | None = None
    chunk: int = 2048
    provider: ProviderName = "auto"
    threads: int | None = None
    confidence: bool = False
    bands: tuple[int, ...] | None = None
    force: bool = False
    memory_mb: int | None = None


@dataclass(frozen=True)
class Resolved:
    """Tile, halo and batch settled for one model on one provider (all checked)."""

    tile: int
    halo: int
    batch: int


def settle(
    options: PredictOptions,
    card: ModelCard,
    provider: str,
    shape: tuple[int, int] | None = None,
    *,
    dalle: bool = False,
    footprint: Footprint | None = None,
) -> Resolved:
    """Fill the options' defaults from the model card, the provider and the raster, and check them.

    Without ``--tile``: on the CPU, the tile is planned for a raster of ``shape`` (height,
    width) within the memory budget (:func:`plan_tile`), so the overlap falls toward 1; on a
    GPU provider, or with no shape, the card's tile (shrunk to the raster when that saves work).
    ``dalle``: ``shape`` is one dalle of a mosaic, tiled on its own
    (:func:`costa.tiling.chunks.plan_box_chunks`). ``footprint``: the model's memory per tile
    pixel (:attr:`costa.inference.runtime.Model.footprint`; default :data:`DEFAULT_FOOTPRINT`),
    so a cheap model gets larger tiles than a resnet34 U-Net under the same budget.

    >>> card = ModelCard("m", tuple(range(1, 17)), ("R", "G", "B", "NIR"), (0.0,) * 4, (1.0,) * 4)
    >>> settle(PredictOptions(), card, "cpu"), settle(PredictOptions(), card, "cuda").batch
    (Resolved(tile=512, halo=64, batch=1), 8)
    >>> settle(PredictOptions(halo=128), card, "cpu", shape=(2048, 2048))
    Resolved(tile=1152, halo=128, batch=1)
    >>> settle(PredictOptions(tile=300), card, "cpu")
    Traceback (most recent call last):
    ...
    costa.errors.OptionError: --tile 300 must be a multiple of the model stride 32 (e.g. 320)
    """
    halo = card.halo if options.halo is None else options.halo
    batch = options.batch if options.batch is not None else (CPU_BATCH if provider == "cpu" else GPU_BATCH)
    if batch < 1:
        raise OptionError(f"--batch {batch} must be at least 1")
    tile = options.tile or card.tile_size
    if options.tile is None and shape is not None:
        budget = BUDGET_MB if options.memory_mb is None else options.memory_mb
        cap = (
            largest_tile(budget, batch, halo, card.stride, footprint or DEFAULT_FOOTPRINT)
            if provider == "cpu"
            else card.tile_size
        )
        tile = plan_tile(shape, max(cap, 2 * halo + card.stride), halo, card.stride, dalle=dalle)
    check_geometry(tile, halo, card.stride)
    return Resolved(tile, halo, batch)


def largest_tile(
    budget_mb: int, batch: int, halo: int, stride: int, footprint: Footprint = DEFAULT_FOOTPRINT
) -> int:
    """The largest tile whose forward pass fits ``budget_mb`` (at least ``2 × halo + stride``).

    >>> largest_tile(2048, 1, 128, 32), largest_tile(1024, 1, 128, 32)
    (1184, 640)
    >>> largest_tile(2048, 1, 128, 32, Footprint(base_mb=250, px_bytes=410))  # a 1×1 convolution
    2144
    """
    if budget_mb <= 0:
        raise OptionError(f"--memory {budget_mb} must be a positive number of MB (e.g. {BUDGET_MB})")
    px = footprint.largest_px(budget_mb, batch)
    return max(math.isqrt(px) // stride * stride, 2 * halo + stride)


def plan_tile(shape: tuple[int, int], cap: int, halo: int, stride: int, *, dalle: bool = False) -> int:
    r"""The tile (up to ``cap``) that runs the fewest model pixels over a ``shape`` raster.

    The model processes :math:`n_r t_r \cdot n_c t_c` pixels, with :math:`n` tiles of side
    :math:`t = \min(\text{tile}, L_p)` per axis (:func:`costa.tiling.tiles.axis_spans`);
    among equal costs the smaller tile wins (less memory). On 2048², halo 128: two 1152-px
    tiles per axis, 1.27 model pixels per output pixel (tile 1024: 2.25).

    A dalle tiled on its own (``dalle``) needs :math:`n = \lceil L / (t - 2H - m + 1) \rceil`
    tiles per axis (:func:`costa.tiling.tiles.segment_spans`).

    >>> plan_tile((2048, 2048), 1184, 128, 32), plan_tile((4096, 4096), 1184, 128, 32)
    (1152, 1024)
    >>> plan_tile((5000, 5000), 1184, 128, 32, dalle=True)
    1152
    """
    h, w = shape
    cost_of = _segment_cost if dalle else _axis_cost
    best: tuple[int, int] | None = None
    for t in range(2 * halo + stride, max(cap, 2 * halo + stride) + 1, stride):
        cost = cost_of(h, t, halo, stride) * cost_of(w, t, halo, stride)
        if best is None or cost < best[0]:
            best = (cost, t)
    assert best is not None
    return best[1]


def _segment_cost(length: int, tile: int, halo: int, stride: int) -> int:
    """Model pixels along one axis of a dalle tiled on its own (neighbours give the context)."""
    return math.ceil(max(length, 1) / (tile - 2 * halo - stride + 1)) * tile


def _axis_cost(length: int, tile: int, halo: int, stride: int) -> int:
    """Model pixels along one axis: tiles times their side."""
    padded = round_up(max(length, 1), stride)
    t = min(tile, padded)
    n = 1 if padded <= t else 1 + math.ceil((padded - t) / (tile - 2 * halo))
    return n * t


def open_for(model: str | Path | Model, options: PredictOptions) -> Model:
    """The model as given, or opened on the options' provider and threads."""
    return model if isinstance(model, Model) else open_model(model, options.provider, options.threads)


def resolve(
    model: str | Path | Model, options: PredictOptions, shape: tuple[int, int] | None = None
) -> tuple[Model, Resolved]:
    """Open the model (unless already open) and settle the options for it (and a raster's shape)."""
    m = open_for(model, options)
    return m, settle(options, m.card, m.provider, shape, footprint=m.footprint)
