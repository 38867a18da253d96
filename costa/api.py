"""The researcher's entry points: one :func:`predict` and one :func:`evaluate` for every kind of input.

:func:`predict` dispatches on what it is given, over the engine's two loops
(:func:`costa.inference.engine.predict` for files, :func:`costa.inference.engine.predict_array` in memory):

==========================  ===============  ======================================
source                      ``out``          returns
==========================  ===============  ======================================
raster path                 a ``.tif`` path  :class:`~costa.inference.engine.PredictReport` (a COG is written)
raster path                 None             :class:`xarray.DataArray` (CRS, transform, classes)
:class:`xarray.DataArray`   None             :class:`xarray.DataArray` (same coordinates)
numpy ``(C, H, W)`` array   None             numpy ``(H, W)`` uint8 class codes
==========================  ===============  ======================================

``window=(rows, cols)`` (two slices) or ``bounds=(xmin, ymin, xmax, ymax)`` (in the CRS of
the source) restricts an in-memory prediction to part of the source. Only that part is read,
plus a context ring as wide as the model's halo, aligned on the model stride, so the labels
of a window are those of the same pixels in a prediction of the whole raster.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import numpy as np

from costa.errors import OptionError, SourceError
from costa.evaluation import Metrics
from costa.inference import engine
from costa.inference.options import PredictOptions, open_for, settle
from costa.inference.runtime import Model
from costa.io.sources import RasterSource
from costa.io.xr import georef, is_dataarray, labels_dataarray
from costa.tiling.tiles import Box, round_up

if TYPE_CHECKING:
    import xarray as xr
    from affine import Affine

__all__ = ["Bounds", "PixelWindow", "context_box", "evaluate", "predict", "window_box"]

PixelWindow: TypeAlias = "tuple[slice, slice]"
"""Rows and columns of a window, e.g. ``(slice(0, 512), slice(1024, 1536))``."""
Bounds: TypeAlias = "tuple[float, float, float, float]"
"""``(xmin, ymin, xmax, ymax)`` in the source's CRS."""


def window_box(
    height: int,
    width: int,
    window: PixelWindow | None = None,
    bounds: Bounds | None = None,
    transform: Affine | None = None,
) -> Box:
    """The pixel box of a ``window`` (slices) or of ``bounds`` (map units) on a raster.

    Bounds take every pixel they touch and are clipped to the raster.

    Examples:
        >>> from affine import Affine
        >>> window_box(100, 200, window=(slice(10, 20), slice(-50, None)))
        Box(row=10, col=150, height=10, width=50)
        >>> window_box(100, 200, bounds=(2.0, -3.0, 3.1, -1.0), transform=Affine(0.2, 0, 0, 0, -0.2, 0))
        Box(row=5, col=10, height=10, width=6)

    """
    if window is not None and bounds is not None:
        raise OptionError("give window= or bounds=, not both")
    if window is not None:
        if len(window) != 2 or not all(isinstance(s, slice) for s in window):
            raise OptionError(
                f"window={window!r}: give two slices, (rows, cols), e.g. (slice(0, 512), slice(0, 512))"
            )
        (r0, r1, rs), (c0, c1, cs) = window[0].indices(height), window[1].indices(width)
        if rs != 1 or cs != 1:
            raise OptionError(f"window={window!r}: slices with a step are not supported")
        box = Box(r0, c0, max(0, r1 - r0), max(0, c1 - c0))
        if not (box.height and box.width):
            raise OptionError(f"window={window!r} holds no pixel of the {height}×{width} raster")
        return box
    if bounds is not None:
        if transform is None:
            raise OptionError("bounds= needs a georeferenced source (a CRS and transform)")
        xmin, ymin, xmax, ymax = bounds
        if xmin >= xmax or ymin >= ymax:
            raise OptionError(
                f"bounds={bounds!r} must be (xmin, ymin, xmax, ymax) with xmin < xmax, ymin < ymax"
            )
        box = Box.from_bounds(bounds, transform, height, width)
        if box.empty:
            (x0, y0), (x1, y1) = transform * (0, 0), transform * (width, height)
            covers = ", ".join(f"{v:.2f}" for v in (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
            raise OptionError(f"bounds={bounds!r} do not overlap the raster, which covers ({covers})")
        return box
    return Box(0, 0, height, width)


def context_box(box: Box, height: int, width: int, context: int, stride: int) -> Box:
    """``box`` grown by ``context`` pixels on each side, on the stride grid, clipped to the raster.

    Aligning the context box on multiples of the stride keeps the network's pooling grid where
    it is in a prediction of the whole raster.

    Examples:
        >>> context_box(Box(300, 0, 100, 50), 1000, 1000, context=128, stride=32)
        Box(row=160, col=0, height=384, width=192)

    """
    r0 = max(0, (box.row - context) // stride * stride)
    c0 = max(0, (box.col - context) // stride * stride)
    r1 = min(height, round_up(box.row_stop + context, stride))
    c1 = min(width, round_up(box.col_stop + context, stride))
    return Box(r0, c0, r1 - r0, c1 - c0)


Reader: TypeAlias = "Callable[[Box], tuple[np.ndarray, np.ndarray | None]]"
"""Reads a box inside the source: ``(raw (C, h, w), valid (h, w) or None)``."""


def _predict_box(
    read: Reader, *, shape: tuple[int, int], box: Box, model: Model, options: PredictOptions
) -> np.ndarray:
    """Read ``box`` and its context (within the source's ``shape``), predict, keep ``box``'s labels."""
    halo = settle(options, model.card, model.provider).halo
    ctx = context_box(box, *shape, context=halo, stride=model.card.stride)
    raw, valid = read(ctx)
    labels = engine.predict_array(raw, model, options, valid=valid)
    return labels[(..., *box.slices(ctx))]


def _array_reader(array: Any, valid: np.ndarray | None, nodata: Any = None) -> Reader:
    """Reader over a ``(C, H, W)`` array-like (numpy, or a DataArray, which loads only the box)."""

    def read(box: Box) -> tuple[np.ndarray, np.ndarray | None]:
        raw = np.asarray(array[(slice(None), *box.slices())])
        if valid is not None:
            return raw, np.asarray(valid[box.slices()], bool)
        if nodata is not None:
            return raw, (raw != nodata).any(axis=0)
        return raw, None

    return read


@overload
def predict(
    source: str | Path,
    model: str | Path | Model,
    out: str | Path,
    options: PredictOptions | None = None,
    *,
    progress: engine.Progress | None = None,
    warn: Any = None,
) -> engine.PredictReport: ...
@overload
def predict(
    source: np.ndarray,
    model: str | Path | Model,
    out: None = None,
    options: PredictOptions | None = None,
    *,
    window: PixelWindow | None = None,
    valid: np.ndarray | None = None,
) -> np.ndarray: ...
@overload
def predict(
    source: str | Path | xr.DataArray,
    model: str | Path | Model,
    out: None = None,
    options: PredictOptions | None = None,
    *,
    window: PixelWindow | None = None,
    bounds: Bounds | None = None,
    valid: np.ndarray | None = None,
    warn: Any = None,
) -> xr.DataArray: ...
def predict(
    source: Any,
    model: str | Path | Model,
    out: str | Path | None = None,
    options: PredictOptions | None = None,
    *,
    window: PixelWindow | None = None,
    bounds: Bounds | None = None,
    valid: np.ndarray | None = None,
    progress: engine.Progress | None = None,
    warn: Any = None,
) -> Any:
    """Predict land cover for a raster file, an xarray DataArray or a numpy array.

    Args:
        source: raster path (anything GDAL reads), ``(band, y, x)`` DataArray (e.g. from
            ``rioxarray.open_rasterio``), or ``(C, H, W)`` numpy array, in the model's units.
        model: ONNX model path, or a :class:`~costa.inference.runtime.Model` from :func:`costa.open_model`
            (open it once to reuse the session across calls).
        out: for a raster path: write a class COG there (any size, constant memory) and return
            its :class:`~costa.inference.engine.PredictReport`. Without it the labels come back in memory.
        options: tile, halo, batch, provider, bands, confidence... (model card defaults).
        window: ``(rows, cols)`` slices: predict only these pixels (plus halo context).
        bounds: ``(xmin, ymin, xmax, ymax)`` in the source's CRS, instead of ``window``.
        valid: ``(H, W)`` mask for in-memory sources; False pixels come out as 0 (no data).
        progress: for ``out``: called with (tiles done, tiles total).
        warn: called with soft warnings about the source (default: :func:`warnings.warn`).

    Returns:
        A report (file out), a DataArray (file or DataArray in) or a numpy array (numpy in).
        DataArrays carry ``crs``, ``transform`` and the class names and colours in ``attrs``;
        with ``options.confidence`` they gain a ``band`` dim (1 = class, 2 = confidence %).

    Examples:
        >>> import costa
        >>> terr = costa.demo.make_territory(tmp / "demo", dalles=(1, 2), dalle_px=384)
        >>> model = costa.open_model(costa.demo_model_path())
        >>> da = costa.predict(terr.ortho[2024], model, window=(slice(0, 256), slice(100, 356)))
        >>> da.shape, da.attrs["class_names_fr"][0], da.attrs["crs"].startswith("PROJCS")
        ((256, 256), 'Bâtiment', True)
        >>> report = costa.predict(terr.ortho[2024], model, tmp / "landcover.tif")
        >>> report.height, report.width
        (384, 768)

    """
    if isinstance(out, PredictOptions):
        raise OptionError(
            "the third argument is out (a .tif path); pass options as options=PredictOptions(...)"
        )
    options = options or PredictOptions()
    if isinstance(source, str | os.PathLike):
        if out is not None:
            if window is not None or bounds is not None:
                raise OptionError(
                    "window=/bounds= return part of a raster in memory; drop out=, or crop the source "
                    "first (gdal_translate -projwin)"
                )
            return engine.predict(Path(source), model, Path(out), options, progress=progress, warn=warn)
        return _predict_file(
            Path(source), open_for(model, options), options, window=window, bounds=bounds, warn=warn
        )
    if out is not None:
        raise OptionError(
            "out= writes a COG from a raster file; for arrays, save the returned DataArray "
            "(e.g. da.rio.to_raster(path) with rioxarray)"
        )
    if is_dataarray(source):
        return _predict_dataarray(
            source, open_for(model, options), options, window=window, bounds=bounds, valid=valid
        )
    if bounds is not None:
        raise OptionError("bounds= needs a georeferenced source: pass a raster path or a DataArray")
    arr = np.asarray(source)
    if arr.ndim != 3:
        raise OptionError(f"expected a (bands, height, width) array, got shape {arr.shape}")
    m = open_for(model, options)
    if window is None:
        return engine.predict_array(arr, m, options, valid=valid)
    box = window_box(arr.shape[1], arr.shape[2], window)
    return _predict_box(_array_reader(arr, valid), shape=arr.shape[1:], box=box, model=m, options=options)


def _predict_file(
    path: Path,
    model: Model,
    options: PredictOptions,
    *,
    window: PixelWindow | None,
    bounds: Bounds | None,
    warn: Any,
) -> xr.DataArray:
    import warnings

    with RasterSource(
        path,
        model.card,
        bands=options.bands,
        force=options.force,
        warn=warn or (lambda s: warnings.warn(s, stacklevel=4)),
    ) as src:
        box = window_box(src.height, src.width, window, bounds=bounds, transform=src.transform)
        shape = (src.height, src.width)
        labels = _predict_box(
            src.read, shape=shape, box=box, model=model, options=replace(options, bands=None)
        )
        crs, transform = src.crs, box.transform(src.transform)
    attrs = {"source": str(path), "model": model.card.name, "model_sha256": model.sha256}
    return labels_dataarray(labels, crs, transform, attrs=attrs)


def _predict_dataarray(
    da: xr.DataArray,
    model: Model,
    options: PredictOptions,
    *,
    window: PixelWindow | None,
    bounds: Bounds | None,
    valid: np.ndarray | None,
) -> xr.DataArray:
    if da.ndim != 3:
        raise OptionError(f"expected a (band, y, x) DataArray, got dims {da.dims}")
    if {"y", "x"} <= set(da.dims):
        da = da.transpose(..., "y", "x")
    crs, transform = georef(da)
    h, w = da.shape[1:]
    box = window_box(h, w, window, bounds=bounds, transform=transform)
    nodata = da.attrs.get("_FillValue", da.attrs.get("nodata"))
    if isinstance(nodata, float) and math.isnan(nodata):
        nodata = None
    labels = _predict_box(
        _array_reader(da, valid, nodata), shape=(h, w), box=box, model=model, options=options
    )
    like = da.isel(y=box.slices()[0], x=box.slices()[1]) if {"y", "x"} <= set(da.dims) else None
    if transform is not None:
        transform = box.transform(transform)
    attrs = {"model": model.card.name, "model_sha256": model.sha256}
    return labels_dataarray(labels, crs, transform, attrs=attrs, like=like)


def _labels(x: Any) -> np.ndarray:
    if isinstance(x, str | os.PathLike):
        import rasterio

        from costa.errors import SourceReadError

        if not Path(x).is_file():
            raise SourceReadError(f"class raster not found: {x}")
        with rasterio.open(x) as src:
            return np.asarray(src.read(1))
    arr = np.asarray(x)
    if arr.ndim == 3 and arr.shape[0] in (1, 2):  # (band, y, x) with the confidence band
        arr = arr[0]
    if arr.ndim != 2:
        raise SourceError(f"expected (height, width) class codes, got shape {arr.shape}")
    return arr


def evaluate(pred: Any, truth: Any) -> Metrics:
    """Confusion matrix, per-class IoU, mIoU and overall accuracy of a class map against a truth.

    Args:
        pred: predicted class codes: a raster path, a DataArray or a numpy array.
        truth: truth class codes on the same grid (0 = no data, ignored), same kinds.

    Two paths are read block by block (rasters of any size); anything else is compared in memory.

    Examples:
        >>> import costa
        >>> terr = costa.demo.make_territory(tmp / "demo", dalles=(1, 2), dalle_px=384)
        >>> da = costa.predict(terr.ortho[2024], costa.demo_model_path())
        >>> m = costa.evaluate(da, terr.truth[2024])
        >>> m.overall_accuracy > 0.9, sorted(m.iou)[:3]
        (True, [1, 2, 3])

    """
    from costa.evaluation import evaluate as evaluate_files

    if isinstance(pred, str | os.PathLike) and isinstance(truth, str | os.PathLike):
        return evaluate_files(Path(pred), Path(truth))
    return Metrics.from_arrays(_labels(pred), _labels(truth))
