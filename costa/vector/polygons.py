"""Land-cover polygons: a clean coverage of the 16 classes, vectorised window by window.

The data path, per window of ``window`` × ``window`` pixels:

1. **sieve** — read the window with a halo and merge every 4-connected patch smaller than
   the minimum mapping unit into its largest neighbour (:func:`rasterio.features.sieve`),
   then keep the core. A patch that fits inside the halo is sieved exactly as on the whole
   raster; the halo is ``2√(unit)`` pixels (16–512), far more than a compact patch needs;
2. **key** — with zones (communes), combine class and zone into one key, so that no
   polygon crosses a commune boundary;
3. **polygonise** the keys (:func:`rasterio.features.shapes`, 4-connected) in *global pixel
   coordinates*: integers, so two windows describe their shared edge with the same numbers;
4. **clean, then simplify** the window's coverage (:func:`shapely.coverage_clean`, then
   :func:`shapely.coverage_simplify` keeping the coverage's outer boundary fixed). Raw
   ``shapes`` output is not a valid coverage and simplifying it polygon by polygon leaves
   gaps and overlaps; this keeps every shared edge shared, and the window's own edge
   untouched so the neighbouring window still matches it;
5. **dissolve** — polygons off the inner window edges are final and written at once;
   those touching one wait, and after each row of windows are united by key (a class
   patch crossing a window edge becomes one polygon again) and noded again with their
   neighbours; those that cannot grow any more (off the row's bottom edge) are written;
6. pixel coordinates become map coordinates through the raster's transform.

Memory is bounded by one window plus the polygons along one row of window edges, not by
the raster's height (measured in benchmarks/RESULTS.md, ``python -m benchmarks vectorize``).

>>> import numpy as np
>>> labels = np.array([[1, 1, 13], [1, 13, 13], [0, 13, 13]], np.uint8)
>>> polys = polygonize(labels, Box(0, 0, 3, 3), tolerance=0)
>>> sorted((int(k), float(g.area)) for g, k in polys)
[(1, 3.0), (13, 5.0)]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
import shapely
from affine import Affine
from rasterio.features import rasterize, shapes, sieve

from costa.errors import OptionError, OutputError, SourceError, SourceReadError, file_error
from costa.io.atomic import atomic_path
from costa.io.writer import check_writable
from costa.nomenclature import NODATA, by_code
from costa.tiling.tiles import Box

__all__ = [
    "KEY_BASE",
    "LAYER",
    "VectorizeReport",
    "dissolve",
    "halo_for",
    "polygonize",
    "settle",
    "sieve_px",
    "vectorize",
]

LAYER = "occupation_sol"
"""Name of the polygon layer in the GeoPackage."""
KEY_BASE = 32
"""key = zone × KEY_BASE + class code (class codes are < 32)."""


@dataclass(frozen=True)
class VectorizeReport:
    """What :func:`vectorize` wrote."""

    path: Path
    polygons: int
    vertices: int
    area_km2: float
    windows: int

    @property
    def per_km2(self) -> float:
        """Polygons per km² of classified land."""
        return self.polygons / self.area_km2 if self.area_km2 else 0.0


def sieve_px(min_area_m2: float, pixel_area_m2: float) -> int:
    """Minimum mapping unit in pixels (0 = no sieve).

    >>> sieve_px(2500, 0.04), sieve_px(0, 0.04), sieve_px(0.01, 0.04)
    (62500, 0, 0)
    """
    if min_area_m2 < 0:
        raise OptionError(f"--min-area {min_area_m2:g}: give an area in m² ≥ 0 (0 for no sieve)")
    n = math.ceil(min_area_m2 / pixel_area_m2 - 1e-9)
    return n if n > 1 else 0


def halo_for(size_px: int) -> int:
    """Context read around a window so the sieve sees whole patches (0 without a sieve).

    >>> halo_for(0), halo_for(4), halo_for(62500)
    (0, 16, 500)
    """
    return 0 if size_px == 0 else min(512, max(16, math.ceil(2 * math.sqrt(size_px))))


def polygonize(
    keys: np.ndarray, box: Box, *, tolerance: float, mask: np.ndarray | None = None
) -> list[tuple[Any, int]]:
    """Clean, simplified polygons of a key array covering ``box``, in global pixel coordinates.

    ``keys == 0`` is no data (no polygon). ``tolerance`` (pixels) is coverage_simplify's; the
    coverage's outer boundary, and so the window's edge, is never moved.
    """
    valid = keys != 0 if mask is None else mask
    if not valid.any():
        return []
    arr = keys if keys.dtype in (np.uint8, np.int16, np.int32) else keys.astype(np.int32)
    raw = list(shapes(arr, mask=valid, connectivity=4, transform=Affine.translation(box.col, box.row)))
    geoms = np.array([shapely.geometry.shape(g) for g, _ in raw], dtype=object)
    values = [int(v) for _, v in raw]
    geoms = shapely.coverage_clean(geoms)
    if tolerance > 0:
        geoms = shapely.coverage_simplify(geoms, tolerance, simplify_boundary=False)
    return list(zip(geoms, values, strict=True))


def dissolve(pending: dict[int, list[Any]]) -> tuple[list[Any], list[int]]:
    """Unite the window-edge polygons by key, then node the seams again.

    Union joins the pieces of a patch but merges the collinear segments it leaves along the
    seam, and the two windows never shared the vertices of their seam anyway: a last
    :func:`shapely.coverage_clean` puts every vertex back on both sides of each shared edge.

    >>> from shapely import box
    >>> geoms, keys = dissolve({1: [box(0, 0, 2, 2), box(2, 0, 4, 2)], 2: [box(0, 2, 1, 3), box(1, 2, 4, 3)]})
    >>> keys, [g.area for g in geoms], bool(shapely.coverage_is_valid(geoms))
    ([1, 2], [8.0, 4.0], True)
    """
    parts = [(p, k) for k, gs in pending.items() for p in shapely.get_parts(shapely.union_all(gs))]
    if not parts:
        return [], []
    geoms = shapely.coverage_clean(np.array([p for p, _ in parts], dtype=object))
    return list(geoms), [k for _, k in parts]


def _touches_inner_edge(bounds: np.ndarray, box: Box, height: int, width: int) -> np.ndarray:
    """Which polygons (by bounds) reach an edge this window shares with another."""
    xmin, ymin, xmax, ymax = bounds.T
    touches: np.ndarray = (
        ((xmin <= box.col) & (box.col > 0))
        | ((xmax >= box.col_stop) & (box.col_stop < width))
        | ((ymin <= box.row) & (box.row > 0))
        | ((ymax >= box.row_stop) & (box.row_stop < height))
    )
    return touches


def _set_aside(
    polys: list[tuple[Any, int]], pending: dict[int, list[Any]], box: Box, height: int, width: int
) -> tuple[list[Any], list[int]]:
    """Move the polygons touching an inner window edge to ``pending``; return the final ones."""
    if not polys:
        return [], []
    bounds = shapely.bounds(np.array([g for g, _ in polys], dtype=object))
    final: tuple[list[Any], list[int]] = ([], [])
    for (g, k), at_edge in zip(polys, _touches_inner_edge(bounds, box, height, width), strict=True):
        if at_edge:
            pending[k].append(g)
        else:
            final[0].append(g)
            final[1].append(k)
    return final


def _window_rows(height: int, width: int, size: int) -> Iterator[list[Box]]:
    for r in range(0, height, size):
        yield [Box(r, c, size, size).clip(height, width) for c in range(0, width, size)]


def settle(pending: dict[int, list[Any]], row_stop: int, height: int) -> tuple[list[Any], list[int]]:
    """After a row of windows, dissolve the waiting polygons; return those that are complete.

    A polygon not reaching the row's bottom edge can grow no more. The others wait again,
    already noded with their finished neighbours, so ``pending`` holds about one row of
    windows' worth of edge polygons, whatever the raster's height.
    """
    geoms, keys = dissolve(pending)
    pending.clear()
    if not geoms:
        return [], []
    done: tuple[list[Any], list[int]] = ([], [])
    open_ = shapely.bounds(np.array(geoms, dtype=object))[:, 3] >= row_stop if row_stop < height else None
    for i, (g, k) in enumerate(zip(geoms, keys, strict=True)):
        if open_ is not None and open_[i]:
            pending[k].append(g)
        else:
            done[0].append(g)
            done[1].append(k)
    return done


_COMMUNE_CODES = ("INSEE_COM", "code_insee", "insee_com")
"""Commune code fields: ADMIN EXPRESS 3.x, 4.x, costa's own tables."""


def _zones(communes: str | Path, crs: Any, layer: str | None = None) -> tuple[Any, list[str]]:
    """Commune geometries in the raster's CRS and their INSEE codes."""
    import geopandas as gpd

    from costa.io.gpkg import data_layer

    if not Path(communes).is_file():
        raise SourceReadError(f"communes file not found: {communes}")
    layer = data_layer(communes, layer, option="--communes-layer")
    try:
        gc = gpd.read_file(communes, layer=layer) if layer else gpd.read_file(communes)
    except Exception as e:
        raise SourceReadError(file_error(communes, e)) from None
    field = next((f for f in _COMMUNE_CODES if f in gc.columns), None)
    if field is None or gc.crs is None:
        raise SourceError(
            f"{communes} needs a CRS and an INSEE_COM (ADMIN EXPRESS 3) or code_insee (4) field"
        )
    return gc.to_crs(crs).geometry.values, [str(v) for v in gc[field]]


def _read_keys(src: Any, box: Box, size_px: int, zones: Any) -> np.ndarray:
    """The window's keys: sieved class codes, times zone when there are zones."""
    halo = halo_for(size_px)
    read = Box(box.row - halo, box.col - halo, box.height + 2 * halo, box.width + 2 * halo).clip(
        src.height, src.width
    )
    labels: np.ndarray = src.read(1, window=read.window())
    if size_px:
        labels = sieve(labels, size_px, connectivity=4, mask=labels != NODATA)
    labels = labels[box.slices(read)]
    if zones is None:
        return labels
    transform = box.transform(src.transform)
    bounds = rasterio.windows.bounds(box.window(), src.transform)
    near = np.flatnonzero(shapely.intersects(zones, shapely.box(*bounds)))  # communes in the window
    zone = (
        rasterize(
            ((zones[i], i + 1) for i in near),
            out_shape=labels.shape,
            transform=transform,
            fill=0,
            dtype="int32",
        )
        if near.size
        else np.zeros(labels.shape, np.int32)
    )
    keys: np.ndarray = np.where(labels == NODATA, 0, zone * KEY_BASE + labels).astype(np.int32)
    return keys


def _frame(geoms: list[Any], keys: list[int], names: list[str] | None, transform: Affine, crs: Any) -> Any:
    """Polygons in map coordinates with their fields (code, classe, insee_com, surface_m2)."""
    import geopandas as gpd

    a, b, c, d, e, f = transform[:6]
    world = shapely.transform(
        np.array(geoms, dtype=object), lambda p: p @ np.array([[a, d], [b, e]]) + (c, f)
    )
    k = np.asarray(keys, dtype=np.int64)
    codes = k % KEY_BASE
    data: dict[str, Any] = {
        "code": codes.astype(np.int32),
        "classe": [by_code(int(v)).fr for v in codes],
    }
    if names is not None:
        data["insee_com"] = [names[z - 1] if z else None for z in (k // KEY_BASE)]
    data["surface_m2"] = shapely.area(world)
    return gpd.GeoDataFrame(data, geometry=world, crs=crs)


def vectorize(
    landcover: str | Path,
    out: str | Path,
    *,
    communes: str | Path | None = None,
    min_area: float = 0.0,
    window: int = 2048,
    tolerance: float = 1.0,
    communes_layer: str | None = None,
) -> VectorizeReport:
    """Write the land-cover raster as a styled GeoPackage layer of class polygons.

    Args:
        landcover: class raster (codes 1–16, 0 = no data), e.g. from :func:`costa.predict`.
        out: GeoPackage to write (atomically); its layer ``occupation_sol`` has ``code``,
            ``classe`` (French name), ``insee_com`` (with ``communes``) and ``surface_m2``.
        communes: commune boundaries (``INSEE_COM`` or ``code_insee``): polygons are cut at
            their edges and carry the commune's code (the sieve runs before the cut, so a
            patch split by a boundary may leave pieces under ``min_area``).
        min_area: minimum mapping unit in m²; smaller patches join their largest neighbour
            (0: keep every pixel).
        window: side of the windows read one at a time (pixels), which bounds memory.
        tolerance: simplification tolerance in pixels (0: keep the pixel staircase).
        communes_layer: the communes' layer in a file with several data layers.

    Examples:
        >>> import numpy as np, shapely, pyogrio
        >>> from rasterio.transform import from_origin
        >>> labels = np.kron(np.array([[1, 13], [10, 2]], np.uint8), np.ones((40, 40), np.uint8))
        >>> grid = dict(crs="EPSG:2154", transform=from_origin(8e5, 6.5e6, 0.2, 0.2))
        >>> with rasterio.open(tmp / "lc.tif", "w", driver="GTiff", width=80, height=80, count=1,
        ...                    dtype="uint8", **grid) as d:
        ...     d.write(labels, 1)
        >>> rep = vectorize(tmp / "lc.tif", tmp / "lc.gpkg", window=32)
        >>> df = pyogrio.read_dataframe(tmp / "lc.gpkg", layer=LAYER)
        >>> sorted(df.classe), bool(shapely.coverage_is_valid(df.geometry.values))
        (['Bâtiment', 'Feuillu', 'Pelouse', 'Zone imperméable'], True)
        >>> round(float(df.surface_m2.sum()), 6)
        256.0

    """
    import pyogrio

    from costa.io.styles import add_styles

    out = check_writable(out)
    if out.suffix.lower() != ".gpkg":
        raise OutputError(f"--out {out}: give a GeoPackage path ending in .gpkg")
    if window < 16:
        raise OptionError(f"--window {window}: give at least 16 pixels (2048 is a good default)")
    if tolerance < 0:
        raise OptionError(f"tolerance {tolerance:g}: give a number of pixels ≥ 0")
    try:
        src = rasterio.open(landcover)
    except rasterio.errors.RasterioIOError as e:
        raise SourceReadError(file_error(landcover, e)) from None
    with src, atomic_path(out, ".gpkg") as tmp:
        if src.crs is None:
            raise SourceError(f"{landcover} has no CRS; vectorising needs map coordinates")
        size_px = sieve_px(min_area, abs(src.transform.a * src.transform.e))
        zones, names = _zones(communes, src.crs, communes_layer) if communes is not None else (None, None)
        pending: dict[int, list[Any]] = defaultdict(list)
        n_poly = n_vert = n_win = 0
        area = 0.0
        first = True

        def emit(geoms: list[Any], keys: list[int]) -> None:
            nonlocal first, n_poly, n_vert, area
            if not geoms:
                return
            df = _frame(geoms, keys, names, src.transform, src.crs)
            pyogrio.write_dataframe(df, tmp, layer=LAYER, driver="GPKG", append=not first)
            first = False
            n_poly += len(df)
            n_vert += int(shapely.get_num_coordinates(df.geometry.values).sum())
            area += float(df.surface_m2.sum())

        for row in _window_rows(src.height, src.width, window):
            for box in row:
                n_win += 1
                polys = polygonize(_read_keys(src, box, size_px, zones), box, tolerance=tolerance)
                emit(*_set_aside(polys, pending, box, src.height, src.width))
            emit(*settle(pending, row[0].row_stop, src.height))
        if first:
            raise SourceError(f"{landcover} holds no class pixel (all no data): nothing to vectorise")
        add_styles(tmp)
    return VectorizeReport(out, n_poly, n_vert, area / 1e6, n_win)
