"""Prediction options, and the one place where their defaults are settled.

Every entry point (:func:`costa.predict`, :func:`costa.predict_array`, jobs and their
workers) takes a :class:`PredictOptions` whose ``None`` fields mean "the model's default",
and calls :func:`settle` once — as dask's ``coerce_depth`` normalises overlap depths
before anything else runs — so tile, halo and batch cannot be defaulted differently in
two places.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from costa.errors import OptionError
from costa.inference.runtime import Model, ProviderName, open_model
from costa.models.card import ModelCard
from costa.tiling.tiles import check_geometry

__all__ = ["CPU_BATCH", "GPU_BATCH", "PredictOptions", "Resolved", "resolve", "settle"]

CPU_BATCH = 1
"""Tiles per ONNX Runtime call on the CPU, where larger batches measured slower."""
GPU_BATCH = 8
"""Tiles per call on GPU providers."""


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


@dataclass(frozen=True)
class Resolved:
    """Tile, halo and batch settled for one model on one provider (all checked)."""

    tile: int
    halo: int
    batch: int


def settle(options: PredictOptions, card: ModelCard, provider: str) -> Resolved:
    """Fill the options' defaults from the model card and the provider, and check them.

    >>> card = ModelCard("m", tuple(range(1, 17)), ("R", "G", "B", "NIR"), (0.0,) * 4, (1.0,) * 4)
    >>> settle(PredictOptions(), card, "cpu"), settle(PredictOptions(), card, "cuda").batch
    (Resolved(tile=512, halo=64, batch=1), 8)
    >>> settle(PredictOptions(tile=300), card, "cpu")
    Traceback (most recent call last):
    ...
    costa.errors.OptionError: --tile 300 must be a multiple of the model stride 32 (e.g. 320)
    """
    tile = options.tile or card.tile_size
    halo = card.halo if options.halo is None else options.halo
    check_geometry(tile, halo, card.stride)
    batch = options.batch if options.batch is not None else (CPU_BATCH if provider == "cpu" else GPU_BATCH)
    if batch < 1:
        raise OptionError(f"--batch {batch} must be at least 1")
    return Resolved(tile, halo, batch)


def resolve(model: str | Path | Model, options: PredictOptions) -> tuple[Model, Resolved]:
    """Open the model (unless already open) and settle the options for it."""
    m = model if isinstance(model, Model) else open_model(model, options.provider, options.threads)
    return m, settle(options, m.card, m.provider)
