"""A real cadastre tiled into four communes, and a land cover painted over its parcels.

The ZAN benchmark's and tests' real case: the Etalab cadastre of Épinay-sur-Orge (INSEE 91216,
4,241 parcels; ``tests/data/cadastre-91216-parcelles.json.gz``, Licence Ouverte 2.0, "DGFiP /
Etalab, cadastre") copied 2 × 2 side by side (INSEE 91216, 91991, 91992, 91993), so an area of
four communes with real parcel geometries: slivers, shared edges, multipolygons, holes.

The land cover is synthetic but follows the parcels: each parcel gets a cover from a hash of
its number (fields, woods, scrub, vines, or an urban plot: lawn with 10 m × 10 m houses and
paved strips on a 20 m grid), the public domain between parcels is sealed (roads), and 2 % of
the pixels are noise. Every pixel is a function of its position in metres and of the parcel
holding its centre, so the scene is the same at any pixel size and any window.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["INSEE", "paint", "tile_communes", "write_landcover"]

INSEE = ("91216", "91991", "91992", "91993")
"""The four communes: the real one, then its copies east, south and south-east."""
FIELDS = np.array([14, 14, 15, 12, 10, 9, 16, 14], np.uint8)
"""Covers of non-urban parcels (cultures, labours, scrub, broadleaf, conifers, vines)."""
URBAN_SHARE = 4
"""Out of ``len(FIELDS) + URBAN_SHARE`` parcels, this many are urban plots."""
NOISE = 0.02


def tile_communes(path: str | Path, copies: tuple[int, int] = (2, 2)) -> Any:
    """The cadastre of ``path`` in Lambert-93, copied ``copies`` (rows, columns) times.

    Copies are shifted by the commune's bounding box rounded up to 10 m (so pixel edges of
    0.2 to 1 m line up); ids and ``commune`` take the copy's INSEE code.
    """
    import geopandas as gpd
    import pandas as pd

    p = Path(path)
    g = gpd.read_file(f"/vsigzip/{p}" if p.suffix == ".gz" else p).to_crs("EPSG:2154")
    x0, y0, x1, y1 = g.total_bounds
    w, h = math.ceil((x1 - x0) / 10) * 10, math.ceil((y1 - y0) / 10) * 10
    parts = []
    for i in range(copies[0]):
        for j in range(copies[1]):
            code = INSEE[i * copies[1] + j]
            c = g.copy()
            c["geometry"] = c.geometry.translate(j * w, -i * h)
            c["id"] = code + c["id"].astype(str).str[5:]
            c["commune"] = code
            parts.append(c)
    out = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=g.crs)
    out.attrs["origin"] = (math.floor(x0 / 10) * 10, math.ceil(y1 / 10) * 10)
    out.attrs["size_m"] = (copies[0] * h, copies[1] * w)
    return out


def _hash(a: np.ndarray, b: np.ndarray, salt: int) -> np.ndarray:
    """A deterministic pseudo-random uint64 per pair of integers."""
    h = (a.astype(np.uint64) * np.uint64(73856093)) ^ (b.astype(np.uint64) * np.uint64(19349663))
    h ^= np.uint64(salt) * np.uint64(83492791)
    h = (h ^ (h >> np.uint64(13))) * np.uint64(0x5BD1E995)
    out: np.ndarray = h ^ (h >> np.uint64(15))
    return out


def paint(ids: np.ndarray, row0: int, col0: int, gsd: float) -> np.ndarray:
    """Classes of a window whose parcel numbers (1-based, 0 = none) are ``ids``.

    ``row0``, ``col0``: the window's first pixel in the raster (for the position in metres).

    >>> paint(np.array([[0, 1], [1, 1]]), 0, 0, 1.0).shape
    (2, 2)
    """
    h, w = ids.shape
    rows = np.arange(row0, row0 + h)[:, None]
    cols = np.arange(col0, col0 + w)[None, :]
    kinds = (_hash(np.arange(ids.max() + 1), np.zeros(1, np.int64), 1) % (len(FIELDS) + URBAN_SHARE)).astype(
        np.int64
    )
    kind = kinds[ids]
    lab = FIELDS[np.minimum(kind, len(FIELDS) - 1)]
    urban = kind >= len(FIELDS)
    ym, xm = (rows * gsd) % 20, (cols * gsd) % 20
    lab = np.where(urban, np.uint8(13), lab)
    lab = np.where(urban & (ym < 3), np.uint8(2), lab)  # paved strips
    lab = np.where(urban & (ym >= 5) & (ym < 15) & (xm >= 5) & (xm < 15), np.uint8(1), lab)  # houses
    lab = np.where(ids == 0, np.uint8(2), lab)  # public domain: roads
    noise = _hash(np.broadcast_to(rows, (h, w)), np.broadcast_to(cols, (h, w)), 2)
    flip = noise % np.uint64(10_000) < NOISE * 10_000
    lab[flip] = (1 + (noise[flip] >> np.uint64(20)) % np.uint64(16)).astype(np.uint8)
    return lab.astype(np.uint8)


def write_landcover(parcels: Any, path: str | Path, gsd: float, step: int = 4096) -> Path:
    """Paint the land cover of ``parcels`` (from :func:`tile_communes`) at ``gsd`` m into ``path``.

    A tiled 512-px LZW GeoTIFF tagged ``YEAR=2024``, written window by window (memory of one
    ``step``-px window).
    """
    import rasterio
    from rasterio.transform import from_origin

    from costa.tiling.tiles import Box

    x0, y0 = parcels.attrs["origin"]
    hm, wm = parcels.attrs["size_m"]
    height, width = round(hm / gsd), round(wm / gsd)
    transform = from_origin(x0, y0, gsd, gsd)
    geoms = list(parcels.geometry)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": 1, "dtype": "uint8",
               "crs": "EPSG:2154", "transform": transform, "tiled": True, "blockxsize": 512,
               "blockysize": 512, "compress": "LZW", "nodata": 0, "BIGTIFF": "IF_SAFER"}  # fmt: skip
    from shapely import STRtree

    tree = STRtree(geoms)
    with rasterio.open(path, "w", **profile) as dst:
        dst.update_tags(YEAR="2024")
        for r in range(0, height, step):
            for c in range(0, width, step):
                b = Box(r, c, min(step, height - r), min(step, width - c))
                ids = _parcel_ids(geoms, tree, b.transform(transform), (b.height, b.width))
                dst.write(paint(ids, r, c, gsd)[None], window=b.window())
    return Path(path)


def _parcel_ids(geoms: list[Any], tree: Any, transform: Any, shape: tuple[int, int]) -> np.ndarray:
    """1-based parcel number of each pixel centre of a window (0 = none; the later parcel wins)."""
    from rasterio.features import rasterize
    from shapely import box

    x0, y0 = transform.c, transform.f
    x1, y1 = x0 + shape[1] * transform.a, y0 + shape[0] * transform.e
    near = np.sort(tree.query(box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))))
    if not len(near):
        return np.zeros(shape, np.int32)
    ids: np.ndarray = rasterize(
        zip([geoms[k] for k in near], (near + 1).tolist(), strict=True),
        out_shape=shape,
        transform=transform,
        fill=0,
        dtype="int32",
    )
    return ids
