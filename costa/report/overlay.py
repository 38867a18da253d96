"""The map overlay: a small paletted PNG of the land-cover COG, read from its overviews.

A report never embeds the full-resolution raster: the window covering a commune is read
with ``out_shape`` bounded to ``max_px`` on its longer side, so GDAL serves it from the
COG's internal overviews (resampled by *mode* when the COG was written), and the classes
keep the nomenclature's colours through the PNG palette (0 = no data, transparent).

With ``web_mercator=True`` the overlay is warped (nearest neighbour, from the overview
whose pixel is the finest not finer than the picture's) onto a Web Mercator grid, so it
lies exactly under the parcels on the same map as the PMTiles archive of
:mod:`costa.report.tiles`: the page falls back on it when the archive cannot be read
(a page opened from ``file://``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from costa.errors import SourceError
from costa.nomenclature import colormap
from costa.tiling.tiles import Box

__all__ = ["Overlay", "downsampled_shape", "palette_png", "read_overlay"]


@dataclass(frozen=True)
class Overlay:
    """A PNG and the box it covers, in the raster's CRS (left, bottom, right, top)."""

    png: bytes
    bounds: tuple[float, float, float, float]
    width: int
    height: int
    crs: str = ""
    """The CRS of ``bounds``: ``"EPSG:3857"`` for a Web Mercator overlay, else the raster's (WKT)."""


def downsampled_shape(height: int, width: int, max_px: int) -> tuple[int, int]:
    """The (height, width) of a read whose longer side is at most ``max_px``, ratio kept.

    >>> downsampled_shape(3000, 1500, 1500)
    (1500, 750)
    >>> downsampled_shape(400, 300, 1500)  # never upsampled
    (400, 300)
    """
    scale = min(1.0, max_px / max(height, width, 1))
    return max(1, math.ceil(height * scale)), max(1, math.ceil(width * scale))


def palette_png(labels: np.ndarray) -> bytes:
    r"""Encode a 2-D uint8 class array as a paletted PNG with the nomenclature's colours.

    >>> palette_png(np.array([[0, 1], [13, 16]], np.uint8))[:8]
    b'\x89PNG\r\n\x1a\n'
    """
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.io import MemoryFile

    h, w = labels.shape
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a picture: no georeferencing on purpose
        with mem.open(driver="PNG", width=w, height=h, count=1, dtype="uint8") as dst:
            dst.write(labels.astype(np.uint8, copy=False), 1)
            dst.write_colormap(1, colormap())
        data: bytes = mem.read()
    return data


def read_overlay(
    path: Any, bounds: tuple[float, float, float, float], max_px: int = 1500, web_mercator: bool = False
) -> Overlay:
    """Read the part of the COG at ``path`` inside ``bounds`` (raster CRS), downsampled.

    The window is snapped outwards to whole pixels and clipped to the raster, so the
    overlay's bounds are exact and may be a little larger than ``bounds``. With
    ``web_mercator``, that window is then warped to EPSG:3857 (bounds in its metres).
    """
    import rasterio
    from rasterio.enums import Resampling

    with rasterio.open(path) as src:
        box = Box.from_bounds(bounds, src.transform, src.height, src.width)
        if box.empty:
            raise SourceError(f"{path} does not cover the box {bounds}; is it the raster of this GeoPackage?")
        win = box.window()
        h, w = downsampled_shape(box.height, box.width, max_px)
        box = src.window_bounds(win)
        if web_mercator:
            return _mercator_overlay(path, src, (box[0], box[1], box[2], box[3]), max(h, w))
        labels = src.read(1, window=win, out_shape=(h, w), resampling=Resampling.nearest)
    return Overlay(palette_png(labels), (box[0], box[1], box[2], box[3]), w, h, src.crs.to_wkt())


def _mercator_overlay(path: Any, src: Any, box: tuple[float, float, float, float], longest: int) -> Overlay:
    """The raster inside ``box`` (its CRS) warped to Web Mercator, ``longest`` px on the longer side."""
    import rasterio
    from rasterio.transform import from_bounds
    from rasterio.warp import reproject, transform_bounds

    from costa.report.tiles import overview_level

    left, bottom, right, top = transform_bounds(src.crs, "EPSG:3857", *box, densify_pts=21)
    h, w = downsampled_shape(
        round(longest * (top - bottom) / max(top - bottom, right - left)),
        round(longest * (right - left) / max(top - bottom, right - left)),
        longest,
    )
    across = (box[2] - box[0]) / abs(src.transform.a)  # source pixels across the box
    level = overview_level(src, abs(src.transform.a) * across / w)
    labels = np.zeros((h, w), np.uint8)
    with rasterio.open(path, **({} if level is None else {"overview_level": level})) as ov:
        reproject(
            source=rasterio.band(ov, 1),
            destination=labels,
            dst_transform=from_bounds(left, bottom, right, top, w, h),
            dst_crs="EPSG:3857",
            src_nodata=0,
            dst_nodata=0,
            resampling=rasterio.enums.Resampling.nearest,
        )
    return Overlay(palette_png(labels), (left, bottom, right, top), w, h, "EPSG:3857")
