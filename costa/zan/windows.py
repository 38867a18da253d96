r"""Windows over a land-cover input, and what each window holds: classes, parcels, communes.

The land-cover raster (one file, a VRT, or a folder of same-grid COGs) is read by windows
aligned to its blocks; the parcels meeting a window come from an STRtree and are rasterised
on that window only, at pixel centres (the rule of :func:`costa.zan.compute.zone_ids`; parcels
keep their order, so where two overlap the later one wins, as over the whole raster). The
passes of :mod:`costa.zan.windowed` and :mod:`costa.zan.patches` loop over these windows.

>>> [(b.row, b.col, b.height, b.width) for b in plan_windows(Box(0, 0, 1000, 700), 512, (256, 256))]
[(0, 0, 512, 512), (0, 512, 512, 188), (512, 0, 488, 512), (512, 512, 488, 188)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import RasterioError

from costa.errors import OptionError, SourceError, SourceReadError, file_error
from costa.io.sources import check_crs
from costa.nomenclature import N_CODES
from costa.tiling.tiles import Box
from costa.zan.rules import RuleSet, pixel_artificialised
from costa.zan.schema import DEFAULT_WINDOW

__all__ = [
    "BURNT_CACHE_BYTES",
    "BYTES_PER_PX",
    "DEFAULT_WINDOW",
    "MAX_PIXEL_M",
    "Burnt",
    "Grid",
    "Pixels",
    "Plan",
    "Zones",
    "close_datasets",
    "commune_counts",
    "count",
    "landcover_source",
    "load",
    "open_grid",
    "plan_windows",
    "raw_artificialised",
    "window_for_budget",
]

BYTES_PER_PX = 40
"""Peak working memory per window pixel in the patch pass (measured, see benchmarks/RESULTS.md)."""
BURNT_CACHE_BYTES = 256 << 20
"""Run-length-encoded zone rasters kept between passes per area (≈ 0.6 MB per 4096² window of
parcels: an area of ≈ 7 Gpx); windows past it are rasterised again in each pass."""
MAX_PIXEL_M = 1.0
"""Coarsest pixel the ZAN rules accept (50 m² built patch = 1,250 px at 20 cm, 50 px at 1 m)."""


def window_for_budget(budget_bytes: float) -> int:
    """Largest window side (multiple of 512 px) whose working arrays fit ``budget_bytes``.

    >>> window_for_budget(0.7e9), window_for_budget(2e9)
    (4096, 6656)
    """
    return max(512, int(math.sqrt(budget_bytes / BYTES_PER_PX)) // 512 * 512)


def plan_windows(area: Box, window: int, block: tuple[int, int]) -> list[Box]:
    """Windows covering ``area`` in row-major order, on a grid anchored at the raster's origin.

    A window of at least one block is rounded to whole blocks, so each block is read once;
    smaller windows (tests) are used as given.
    """
    if window < 1:
        raise OptionError(f"--window {window}: give a window side in pixels, e.g. {DEFAULT_WINDOW}")
    wh = max(1, round(window / block[0])) * block[0] if window >= block[0] else window
    ww = max(1, round(window / block[1])) * block[1] if window >= block[1] else window
    boxes = []
    for r in range(area.row // wh * wh, area.row_stop, wh):
        for c in range(area.col // ww * ww, area.col_stop, ww):
            b = Box(r, c, wh, ww).intersect(area)
            if not b.empty:
                boxes.append(b)
    return boxes


# --------------------------------------------------------------------------- land-cover input


def landcover_source(path: str | Path) -> str:
    """What rasterio opens for a land-cover input: the file, or a VRT of a folder's rasters.

    The VRT (an XML string GDAL opens directly, nothing written) carries the first dalle's
    ``YEAR`` tag.

    Raises SourceReadError when the path does not exist or holds no raster.
    """
    p = Path(path)
    if not p.exists():
        raise SourceReadError(f"land-cover raster not found: {p}")
    if not p.is_dir():
        return str(p)
    from costa.io.mosaic import find_dalles, scan

    mosaic = scan(find_dalles(p))
    if mosaic.broken:
        raise SourceReadError(mosaic.broken[0][1])
    dalles = "".join(
        f'<SimpleSource><SourceFilename relativeToVRT="0">{d.path.resolve()}</SourceFilename>'
        f"<SourceBand>1</SourceBand>"
        f'<SrcRect xOff="0" yOff="0" xSize="{d.box.width}" ySize="{d.box.height}"/>'
        f'<DstRect xOff="{d.box.col}" yOff="{d.box.row}" xSize="{d.box.width}" ySize="{d.box.height}"/>'
        "</SimpleSource>"
        for d in mosaic.dalles
    )
    gt = ", ".join(repr(v) for v in mosaic.transform.to_gdal())
    from xml.sax.saxutils import escape

    with rasterio.open(mosaic.dalles[0].path) as first:  # the vintage, as the dalles carry it
        year = first.tags().get("YEAR")
    meta = f'<Metadata><MDI key="YEAR">{escape(year)}</MDI></Metadata>' if year else ""
    return (
        f'<VRTDataset rasterXSize="{mosaic.width}" rasterYSize="{mosaic.height}">{meta}'
        f"<SRS>{escape(mosaic.crs.to_wkt())}</SRS><GeoTransform>{gt}</GeoTransform>"
        f'<VRTRasterBand dataType="Byte" band="1"><NoDataValue>0</NoDataValue>{dalles}</VRTRasterBand>'
        "</VRTDataset>"
    )


@dataclass(frozen=True)
class Grid:
    """The pixel grid of a land-cover input."""

    crs: Any
    transform: Any
    height: int
    width: int
    block: tuple[int, int]
    year: str | None

    @property
    def pixel_area(self) -> float:
        """m² per pixel."""
        return float(abs(self.transform.a * self.transform.e))

    def bounds(self, box: Box) -> tuple[float, float, float, float]:
        """Map bounds (xmin, ymin, xmax, ymax) of a pixel box."""
        t = box.transform(self.transform)
        x0, y0 = t.c, t.f
        x1, y1 = x0 + box.width * t.a, y0 + box.height * t.e
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def open_grid(source: str, name: str) -> Grid:
    """Check that ``source`` is a costa class raster and return its grid.

    One line per misfit: not readable, not a single-band integer raster, no CRS or a
    geographic one, non-square or too coarse pixels, a declared no-data value other than 0.
    """
    try:
        ds = rasterio.open(source)
    except RasterioError as e:
        raise SourceReadError(file_error(name, e)) from None
    with ds:
        if ds.count != 1 or not np.issubdtype(np.dtype(ds.dtypes[0]), np.integer):
            raise SourceError(
                f"{name} is not a class raster: it has {ds.count} band(s) of {ds.dtypes[0]}; "
                "give a single-band class map such as costa predict writes"
            )
        check_crs(
            ds.crs,
            name,
            reproject="ZAN areas need a metric CRS such as EPSG:2154: reproject it (nearest neighbour) first",
        )
        a, h = abs(ds.transform.a), abs(ds.transform.e)
        if ds.transform.b or ds.transform.d or not math.isclose(a, h, rel_tol=1e-6):
            raise SourceError(f"{name} has {a:g} × {h:g} pixels: ZAN needs square, north-up pixels")
        if a > MAX_PIXEL_M:
            raise SourceError(
                f"{name} has {a:g} m pixels: the ZAN rules (50 m² buildings, parcels) need pixels of "
                f"{MAX_PIXEL_M:g} m or finer (costa's class maps are 0.2 m)"
            )
        if ds.nodata is not None and ds.nodata != 0:
            raise SourceError(
                f"{name} declares no-data {ds.nodata:g}, but class 0 is costa's no data: recode "
                f"{ds.nodata:g} to 0 and declare 0 (gdal_edit.py -a_nodata 0 {name})"
            )
        blocks = ds.block_shapes[0] if ds.block_shapes else (256, 256)
        return Grid(ds.crs, ds.transform, ds.height, ds.width, tuple(blocks), ds.tags().get("YEAR"))


def _check_values(labels: np.ndarray, name: str) -> None:
    top = int(labels.max()) if labels.size else 0
    if top >= N_CODES or (labels.size and int(labels.min()) < 0):
        bad = labels[(labels >= N_CODES) | (labels < 0)]
        value = int(bad.max()) if (bad >= N_CODES).any() else int(bad.min())
        raise SourceError(
            f"{name} holds value {value}, which is no class of costa's nomenclature (1–{N_CODES - 1}, "
            f"0 = no data); if {value} marks no data, recode it to 0 and declare it (-a_nodata 0)"
        )


# --------------------------------------------------------------------------- zones per window


@dataclass
class Zones:
    """Polygons (parcels or communes) in the raster's CRS, found per window by an STRtree."""

    geoms: np.ndarray
    tree: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from shapely import STRtree

        self.tree = STRtree(self.geoms)

    def __getstate__(self) -> dict[str, Any]:
        return {"geoms": self.geoms}  # the tree is rebuilt where it is unpickled

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.geoms = state["geoms"]
        self.__post_init__()

    def burn(self, grid: Grid, box: Box) -> tuple[np.ndarray, np.ndarray]:
        """Local ids per pixel of ``box`` (1-based, 0 = none) and the table row of each id.

        The ids are uint16 when fewer than 65,536 polygons meet the window (nearly always),
        int32 otherwise.

        The polygon holding a pixel centre wins; overlaps go to the later row, as when the
        whole raster is rasterised at once.
        """
        from rasterio.features import rasterize
        from shapely import box as sbox

        index = np.sort(self.tree.query(sbox(*grid.bounds(box)))).astype(np.int64)
        if not len(index):
            return np.zeros((box.height, box.width), np.uint16), index
        ids: np.ndarray = rasterize(
            zip(self.geoms[index], range(1, len(index) + 1), strict=True),
            out_shape=(box.height, box.width),
            transform=box.transform(grid.transform),
            fill=0,
            dtype="uint16" if len(index) < 2**16 else "int32",  # half the bytes to burn and copy
        )
        return ids, index


@dataclass(frozen=True)
class Burnt:
    """A window's zone ids, run-length encoded in row-major order, and the table row of each id.

    Rasterised once per window (pass 1) and decoded by the later passes: parcels make long
    runs, so a 4096² window of ≈ 2,000 m² parcels at 20 cm is ≈ 95,000 runs (0.6 MB), decoded
    in ≈ 5 ms where rasterising again takes ≈ 45 ms.

    >>> ids = np.array([[0, 0, 1], [1, 1, 2]], np.uint16)
    >>> b = Burnt.encode(ids, np.array([7, 9]))
    >>> b.lengths.tolist(), np.array_equal(b.decode()[0], ids), b.decode()[1].tolist()
    ([2, 3, 1], True, [7, 9])
    """

    shape: tuple[int, int]
    values: np.ndarray
    lengths: np.ndarray
    index: np.ndarray

    @classmethod
    def encode(cls, ids: np.ndarray, index: np.ndarray) -> Burnt:
        """Runs of equal ids along the rows of ``ids`` (a row's last run goes on into the next)."""
        flat = ids.ravel()
        starts = np.r_[0, np.flatnonzero(flat[1:] != flat[:-1]) + 1]
        lengths = np.diff(np.r_[starts, flat.size]).astype(np.int32)
        return cls((int(ids.shape[0]), int(ids.shape[1])), flat[starts], lengths, index)

    def decode(self) -> tuple[np.ndarray, np.ndarray]:
        """The ids raster and the table row of each id, as :meth:`Zones.burn` gave them."""
        return np.repeat(self.values, self.lengths).reshape(self.shape), self.index

    @property
    def nbytes(self) -> int:
        """Bytes held."""
        return int(self.values.nbytes + self.lengths.nbytes + self.index.nbytes)


@dataclass
class Plan:
    """Everything a window needs: inputs, zones, rules (picklable, for worker processes)."""

    sources: tuple[str, ...]
    names: tuple[str, ...]
    grid: Grid
    parcels: Zones
    communes: Zones | None
    commune_of: np.ndarray
    """Commune number (1-based) of each parcel row + 1 (index 0 = outside), without communes."""
    n_communes: int
    rules: RuleSet
    patch_px: int = 0
    built_px: int = 0


@dataclass
class Pixels:
    """One window's pixels: class labels per vintage, local parcel ids, commune numbers."""

    box: Box
    labels: list[np.ndarray]
    pid: np.ndarray
    pindex: np.ndarray
    cid: np.ndarray | None
    """Commune number per pixel from commune boundaries; None when communes are made of parcels
    (then each parcel's commune, ``communes_of_parcels``, says it)."""
    communes_of_parcels: np.ndarray
    burnt: tuple[Burnt, ...]
    """The parcel ids (and commune ids) run-length encoded, for :func:`load` in a later pass."""


_OPEN: dict[str, Any] = {}


def _dataset(source: str) -> Any:
    """Datasets stay open per process (GDAL's block cache bounded by GDAL_CACHEMAX)."""
    if source not in _OPEN:
        _OPEN[source] = rasterio.open(source)
    return _OPEN[source]


def close_datasets() -> None:
    """Close the datasets this process opened."""
    while _OPEN:
        _OPEN.popitem()[1].close()


def load(plan: Plan, box: Box, burnt: tuple[Burnt, ...] | None = None) -> Pixels:
    """Read a window: its classes per vintage (checked), parcel ids and commune numbers.

    ``burnt``: the window's zone ids from an earlier pass (:attr:`Pixels.burnt`), decoded
    instead of rasterised again.
    """
    labels = []
    for source, name in zip(plan.sources, plan.names, strict=True):
        try:
            lab = _dataset(source).read(1, window=box.window())
        except RasterioError as e:
            where = f" (rows {box.row}–{box.row_stop}, columns {box.col}–{box.col_stop})"
            raise SourceReadError(file_error(name, e, where=where)) from None
        _check_values(lab, name)
        labels.append(lab.astype(np.uint8, copy=False))
    zones = [plan.parcels] + ([plan.communes] if plan.communes is not None else [])
    if burnt is None:
        ids = [z.burn(plan.grid, box) for z in zones]
        burnt = tuple(Burnt.encode(*i) for i in ids)
    else:
        ids = [b.decode() for b in burnt]
    pid, pindex = ids[0]
    if plan.communes is not None:
        cid, cindex = ids[1]
        return Pixels(
            box,
            labels,
            pid,
            pindex,
            np.r_[0, cindex + 1].astype(np.int32)[cid],
            np.zeros(0, np.int32),
            burnt,
        )
    return Pixels(box, labels, pid, pindex, None, plan.commune_of[np.r_[0, pindex + 1]], burnt)


def commune_counts(plan: Plan, w: Pixels, mask: np.ndarray, per_parcel: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` per commune: counted on the commune raster, or summed over parcels."""
    nz = plan.n_communes + 1
    if w.cid is not None:
        return count(w.cid, mask, nz)
    out: np.ndarray = np.bincount(w.communes_of_parcels, weights=per_parcel, minlength=nz).astype(np.int64)
    return out


def raw_artificialised(plan: Plan, w: Pixels, urban: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Pixel-by-pixel artificialisation of one vintage of a window (lawns by their parcel's usage)."""
    return pixel_artificialised(lab, urban[np.r_[0, w.pindex + 1]], ids=w.pid)


def count(ids: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Pixels of ``mask`` per id (exact integers)."""
    return np.bincount(ids[mask], minlength=n).astype(np.int64)
