"""Source rasters: open, check against the model card, read windows with their mask.

This is the only module that reads input pixels. A source hands out ``(raw, valid)``
pairs for any pixel box, padding with invalid pixels where the box runs past the raster
(the stride padding of :mod:`costa.tiling.tiles`), from any thread: a raster is opened
once per reading thread, since a GDAL dataset must not be shared between threads.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import rasterio
from rasterio.enums import ColorInterp, MaskFlags
from rasterio.errors import NodataShadowWarning, RasterioError

from costa.errors import SourceError, SourceReadError, file_error
from costa.io.threads import gdal_threads
from costa.models.card import ModelCard
from costa.tiling.tiles import Box

__all__ = [
    "ArraySource",
    "RasterSource",
    "Source",
    "check_crs",
    "check_dtype",
    "check_gsd",
    "dataset_mask",
    "select_bands",
]

GSD_WARN = 0.10
"""Relative GSD difference from the model's beyond which costa warns."""
GSD_REFUSE = 0.50
"""Relative GSD difference beyond which costa refuses (unless forced)."""


class Source(Protocol):
    """Anything that yields model input pixels for a box."""

    height: int
    width: int

    def read(self, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """``(raw (C, h, w), valid (h, w) bool)`` for ``box``; outside the raster is invalid."""
        ...


@dataclass
class ArraySource:
    """An in-memory ``(C, H, W)`` array as a source (numpy or anything array-like)."""

    array: np.ndarray
    valid: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.height, self.width = int(self.array.shape[1]), int(self.array.shape[2])

    def read(self, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """Slice ``box`` out of the array, padding past its edges."""
        return _pad(
            box,
            self.height,
            self.width,
            self.array.shape[0],
            self.array.dtype,
            lambda b: (
                np.asarray(self.array[(slice(None), *b.slices())]),
                None if self.valid is None else self.valid[b.slices()],
            ),
        )


class RasterSource:
    """A GDAL-readable raster checked against a model card.

    Args:
        path: the raster file.
        card: the model it will feed.
        bands: 1-based source bands feeding the model inputs, in model order; by default
            the first ``card.n_bands`` when the raster has exactly those (plus an alpha band).
        force: accept a GSD more than 50 % away from the model's.
        warn: called with a message for soft problems (GSD off by more than 10 %).

    """

    def __init__(
        self,
        path: str | Path,
        card: ModelCard,
        bands: Sequence[int] | None = None,
        force: bool = False,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise SourceReadError(f"source raster not found: {self.path}")
        try:
            self._ds = rasterio.open(self.path)
            # a GeoTIFF is read through one handle, its blocks decoded by GDAL on every core: one
            # block cache, so the halo blocks two chunks share are decoded once (8192² null model:
            # read CPU 1.3 -> 1.0 s, -4 % wall); other drivers get one handle per reading thread.
            # "every core" is this process's share in a Dask worker (costa.jobs.placement)
            self._shared = self._ds.driver == "GTiff"
            if self._shared:
                self._ds.close()
                self._ds = rasterio.open(self.path, num_threads=gdal_threads())
        except RasterioError as e:
            raise SourceReadError(file_error(self.path, e, doing="open")) from None
        self._read_lock = threading.Lock()
        self._local = threading.local()
        self._local.ds = self._ds
        self._opened = [self._ds]
        self._lock = threading.Lock()
        try:
            self._check(card, bands, force, warn)
        except Exception:
            self._ds.close()
            raise

    def _dataset(self) -> rasterio.DatasetReader:
        """The calling thread's handle on the raster (a GDAL dataset must not be shared by threads)."""
        ds: rasterio.DatasetReader | None = getattr(self._local, "ds", None)
        if ds is None:
            try:
                ds = rasterio.open(self.path)
            except RasterioError as e:
                raise SourceReadError(file_error(self.path, e, doing="open")) from None
            self._local.ds = ds
            with self._lock:
                self._opened.append(ds)
        return ds

    def _check(
        self, card: ModelCard, bands: Sequence[int] | None, force: bool, warn: Callable[[str], None] | None
    ) -> None:
        ds, name = self._ds, self.path.name
        check_crs(ds.crs, name, reproject="reproject it to a metric CRS such as EPSG:2154 first")
        self.bands = select_bands(ds.count, list(ds.colorinterp), card, bands, name)
        check_dtype({ds.dtypes[b - 1] for b in self.bands}, card, name)
        msg = check_gsd((abs(ds.transform.a), abs(ds.transform.e)), card.gsd_m, force, name)
        if msg and warn:
            warn(msg)
        self.height, self.width = ds.height, ds.width
        self.crs, self.transform = ds.crs, ds.transform
        alpha_as_data = [b for b in self.bands if ds.colorinterp[b - 1] is ColorInterp.alpha]
        if alpha_as_data and warn:
            warn(
                f"band {alpha_as_data[0]} of {name} is flagged as alpha but feeds the model as "
                f"{card.bands[self.bands.index(alpha_as_data[0])]}; its zeros are not treated as no data"
            )
        # Where validity comes from: an alpha band that is not model input; nodata alone when a
        # band flagged alpha is really data (RGBN written as RGBA); else GDAL's mask (nodata,
        # internal mask), skipped when GDAL says every pixel is valid.
        alphas = [
            i + 1
            for i, ci in enumerate(ds.colorinterp)
            if ci is ColorInterp.alpha and i + 1 not in self.bands
        ]
        self._nodata, self._alpha = ds.nodata, alphas[0] if alphas else None
        self._mask = (
            "alpha"
            if alphas
            else "nodata"
            if alpha_as_data
            else "none"
            if all(MaskFlags.all_valid in ds.mask_flag_enums[b - 1] for b in self.bands)
            else "gdal"
        )

    def read(self, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """Read ``box`` (bands in model order) and its validity mask."""

        def _read(b: Box) -> tuple[np.ndarray, np.ndarray | None]:
            try:
                if not self._shared:
                    return self._window(self._dataset(), b)
                with self._read_lock:
                    try:
                        return self._window(self._ds, b)
                    except RasterioError:  # GDAL's decoding threads only say "Read failed": ask again
                        with rasterio.open(self.path) as plain:
                            return self._window(plain, b)
            except RasterioError as e:
                where = f" (rows {b.row}–{b.row_stop}, columns {b.col}–{b.col_stop})"
                raise SourceReadError(file_error(self.path, e, where=where)) from None

        return _pad(box, self.height, self.width, len(self.bands), np.dtype(self._ds.dtypes[0]), _read)

    def _window(self, ds: rasterio.DatasetReader, b: Box) -> tuple[np.ndarray, np.ndarray | None]:
        """Pixels and validity (None: all valid) of box ``b``, inside the raster, from ``ds``."""
        w = b.window()
        raw = ds.read(self.bands, window=w)
        if self._mask == "alpha":
            return raw, ds.read(self._alpha, window=w) > 0
        if self._mask == "gdal":
            return raw, dataset_mask(ds, w)
        if self._mask == "nodata" and self._nodata is not None:
            return raw, (raw != self._nodata).any(axis=0)
        return raw, None

    def close(self) -> None:
        """Close the underlying datasets (one per thread that read)."""
        with self._lock:
            for ds in self._opened:
                ds.close()
            self._opened.clear()

    def __enter__(self) -> RasterSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def dataset_mask(ds: Any, window: Any) -> np.ndarray:
    """GDAL's validity mask of ``window`` as booleans.

    Where a file declares both a nodata value and an alpha band, GDAL takes the nodata value
    and rasterio warns (``NodataShadowWarning``); costa follows GDAL, so the warning is noise.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NodataShadowWarning)
        return np.asarray(ds.dataset_mask(window=window) > 0)


def check_crs(crs: Any, name: str, *, reproject: str | None) -> None:
    """Raise SourceError for a raster with no CRS, or, with ``reproject`` (the advice), a geographic one."""
    if crs is None:
        raise SourceError(f"{name} has no CRS; set one (e.g. gdal_edit.py -a_srs EPSG:2154 {name})")
    if reproject is not None and crs.is_geographic:
        raise SourceError(f"{name} is in a geographic CRS ({crs.to_string()}); {reproject}")


def select_bands(
    count: int, colorinterp: Sequence[ColorInterp], card: ModelCard, bands: Sequence[int] | None, name: str
) -> tuple[int, ...]:
    """Choose the 1-based source bands for the model inputs, or explain why not."""
    want = f"{card.n_bands} ({','.join(card.bands)})"
    if bands is not None:
        bad = [b for b in bands if not 1 <= b <= count]
        if bad:
            raise SourceError(f"--bands {','.join(map(str, bands))}: {name} has bands 1–{count} only")
        if len(bands) != card.n_bands:
            raise SourceError(f"--bands lists {len(bands)} bands but model '{card.name}' takes {want}")
        return tuple(bands)
    if count == card.n_bands:
        return tuple(range(1, count + 1))
    data = [i + 1 for i, ci in enumerate(colorinterp) if ci is not ColorInterp.alpha]
    if len(data) != card.n_bands:
        raise SourceError(
            f"{name} has {len(data)} data band(s) but model '{card.name}' takes {want}; "
            f"say which to use with --bands (e.g. --bands {','.join(map(str, range(1, card.n_bands + 1)))})"
        )
    return tuple(data)


def check_dtype(dtypes: set[str], card: ModelCard, name: str) -> None:
    """Refuse source pixels of another type than the model takes, saying how to convert them."""
    if dtypes != {card.input_dtype}:
        raise SourceError(
            f"{name} has {'/'.join(sorted(dtypes))} pixels but model '{card.name}' "
            f"expects {card.input_dtype}; convert it (e.g. gdal_translate -ot "
            f"{_gdal_type(card.input_dtype)} -scale) or use a matching model"
        )


def check_gsd(res: tuple[float, float], gsd: float, force: bool, name: str) -> str | None:
    """Compare a pixel size with the model's GSD; refuse far off, return a warning if off.

    >>> check_gsd((0.2, 0.2), 0.2, False, "a.tif") is None
    True
    >>> check_gsd((0.25, 0.25), 0.2, False, "a.tif")
    'a.tif has 0.25 m pixels, 25 % away from the model GSD 0.2 m: accuracy may suffer'
    """
    worst = max(res, key=lambda r: abs(r / gsd - 1))
    off = abs(worst / gsd - 1)
    if off > GSD_REFUSE and not force:
        raise SourceError(
            f"{name} has {worst:g} m pixels but the model expects {gsd:g} m "
            f"({off:.0%} off, limit {GSD_REFUSE:.0%}); resample it "
            f"(gdalwarp -tr {gsd:g} {gsd:g}) or pass --force"
        )
    if off > GSD_WARN:
        return (
            f"{name} has {worst:g} m pixels, {math.floor(off * 100 + 0.5)} % away from the model "
            f"GSD {gsd:g} m: accuracy may suffer"
        )
    return None


def _pad(
    box: Box,
    height: int,
    width: int,
    bands: int,
    dtype: np.dtype,
    read: Callable[[Box], tuple[np.ndarray, np.ndarray | None]],
) -> tuple[np.ndarray, np.ndarray]:
    """Read the part of ``box`` inside the raster and pad the rest as invalid."""
    inner = box.clip(height, width)
    if inner == box:
        raw, valid = read(box)
        return raw, np.ones(raw.shape[1:], bool) if valid is None else valid
    out = np.zeros((bands, box.height, box.width), dtype)
    ok = np.zeros((box.height, box.width), bool)
    if inner.height and inner.width:
        raw, valid = read(inner)
        sl = inner.slices(box)
        out[(slice(None), *sl)] = raw
        ok[sl] = True if valid is None else valid
    return out, ok


def _gdal_type(dtype: str) -> str:
    return {"uint8": "Byte", "uint16": "UInt16", "int16": "Int16", "float32": "Float32"}.get(dtype, dtype)
