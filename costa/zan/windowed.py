r"""ZAN measurement by windows: memory set by the window, not by the area.

The land-cover raster (one file, a VRT, or a folder of same-grid COGs) is read by windows
aligned to its blocks; the parcels meeting a window come from an STRtree and are rasterised
on that window only, at pixel centres (the rule of :func:`costa.zan.compute.zone_ids`; parcels
keep their order, so where two overlap the later one wins, as over the whole raster). Per
window, one ``bincount`` gives pixel counts per (parcel, class); they add up over windows.

Two or three passes, each a loop over windows with nothing kept from one window to the next
but small per-parcel or per-patch tables:

1. **counts**: pixels per (parcel, class) and per (commune, class) → the usage proxy per parcel
   (without thresholds, one vintage and communes made of parcels, the figures follow from
   these counts and the other passes are skipped);
2. **patches**, by rule set:

   * ``method="graph"`` (``cosia-2023`` v2): per window, the 8-connected patches of
     artificialised and of non-artificialised pixels and of built pixels
     (``scipy.ndimage.label``); their sizes, first pixels and 8-adjacencies; their labels along
     the window's edges. Fragments are merged across window edges with a union-find
     (``scipy.sparse.csgraph.connected_components``), so sizes and neighbourhoods are those of
     whole patches, and :func:`costa.zan.rules.absorb_small_patches` decides each patch once
     (patches a window can decide alone, such as isolated noise pixels, are settled there and
     never enter the merge, so its tables grow with the structure, not with the noise). The
     same pass counts the figures of the pixels the window decides (:class:`Partial`) and lists
     the others grouped by parcel and undecided patch; the merge's decisions complete them, so
     there is no third pass;
   * ``method="sieve"`` (``cosia-2023`` v1): the window's categories are written into
     temporary GeoTIFFs of the area, which GDAL's sieve processes file to file, line by line
     (:mod:`costa.zan.filesieve`): the same result as the sieve over the whole area in memory,
     in the memory of a few lines of the area;

3. **figures** (pixel rule with communes or two vintages, and v1): artificialised pixels (and
   the flux between two vintages) per parcel and per commune, window by window.

Each window's results depend only on its pixels, so the tables are the same for any window
size, with every rule set.

>>> [(b.row, b.col, b.height, b.width) for b in plan_windows(Box(0, 0, 1000, 700), 512, (256, 256))]
[(0, 0, 512, 512), (0, 512, 512, 188), (512, 0, 488, 512), (512, 512, 488, 188)]
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Iterator, Sequence
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
from costa.zan.filesieve import AreaSieve, cache_bytes
from costa.zan.rules import (
    ARTIFICIAL,
    BUILT,
    LAWN,
    RuleSet,
    absorb_small_patches,
    in_codes,
    pixel_artificialised,
    urban_usage,
)

__all__ = [
    "BYTES_PER_PX",
    "DEFAULT_WINDOW",
    "MAX_PIXEL_M",
    "Measure",
    "landcover_source",
    "measure",
    "plan_windows",
    "window_for_budget",
]

BYTES_PER_PX = 40
"""Peak working memory per window pixel in the patch pass (measured, see benchmarks/RESULTS.md)."""
DEFAULT_WINDOW = 4096
"""Default window side (px): 4096² × 40 B ≈ 0.7 GB of window arrays per process."""
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


def _load(plan: Plan, box: Box) -> Pixels:
    labels = []
    for source, name in zip(plan.sources, plan.names, strict=True):
        try:
            lab = _dataset(source).read(1, window=box.window())
        except RasterioError as e:
            where = f" (rows {box.row}–{box.row_stop}, columns {box.col}–{box.col_stop})"
            raise SourceReadError(file_error(name, e, where=where)) from None
        _check_values(lab, name)
        labels.append(lab.astype(np.uint8, copy=False))
    pid, pindex = plan.parcels.burn(plan.grid, box)
    if plan.communes is not None:
        cid, cindex = plan.communes.burn(plan.grid, box)
        return Pixels(
            box, labels, pid, pindex, np.r_[0, cindex + 1].astype(np.int32)[cid], np.zeros(0, np.int32)
        )
    return Pixels(box, labels, pid, pindex, None, plan.commune_of[np.r_[0, pindex + 1]])


def _per_commune(plan: Plan, w: Pixels, mask: np.ndarray, per_parcel: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` per commune: counted on the commune raster, or summed over parcels."""
    nz = plan.n_communes + 1
    if w.cid is not None:
        return _count(w.cid, mask, nz)
    out: np.ndarray = np.bincount(w.communes_of_parcels, weights=per_parcel, minlength=nz).astype(np.int64)
    return out


# --------------------------------------------------------------------------- pass 1: counts


def _counts(plan: Plan, box: Box) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    w = _load(plan, box)
    k, nz = len(w.pindex) + 1, plan.n_communes + 1
    pcounts, ccounts = [], []
    for lab in w.labels:
        pcounts.append(np.bincount((w.pid.astype(np.int64) * N_CODES + lab).ravel(), minlength=k * N_CODES))
        if w.cid is None:  # communes made of parcels: sum the parcels' counts
            by_commune = np.zeros((nz, N_CODES), np.int64)
            np.add.at(by_commune, w.communes_of_parcels, pcounts[-1].reshape(k, N_CODES))
            ccounts.append(by_commune)
        else:
            ccounts.append(
                np.bincount((w.cid.astype(np.int64) * N_CODES + lab).ravel(), minlength=nz * N_CODES)
            )
    return w.pindex, [c.reshape(k, N_CODES) for c in pcounts], [c.reshape(nz, N_CODES) for c in ccounts]


# --------------------------------------------------------------------------- pass 2: patches


@dataclass
class Fragments:
    """Patches of one window and vintage that the window alone cannot decide.

    ``local`` holds, per local patch label, its final category when the window decides it
    (0 or 1) or -1; the undecided ones are renumbered 1..m in label order, and the other
    arrays describe them (``pairs`` and ``edges`` in that numbering). The same for built
    patches (``built_local``: 1 when at least 50 m², 0 when not, -1 when it crosses an edge).
    """

    local: np.ndarray
    size: np.ndarray
    key: np.ndarray
    artif: np.ndarray
    pairs: np.ndarray
    edges: tuple[np.ndarray, ...]
    built_local: np.ndarray
    built_size: np.ndarray
    built_edges: tuple[np.ndarray, ...]


_EIGHT = np.ones((3, 3), bool)


def _components(
    raw: np.ndarray, valid: np.ndarray, labels: np.ndarray, firsts: bool = True
) -> tuple[np.ndarray, int, int, np.ndarray, int, np.ndarray]:
    """Patch labels, their first pixels, built-patch labels.

    Patches: artificialised 1..n_a, then non-artificialised up to n; first pixels: row-major
    index in the window of each patch's first pixel (entry 0 unused; empty unless ``firsts``).
    """
    from scipy import ndimage

    comp, n_a = ndimage.label(raw & valid, structure=_EIGHT, output=np.int32)
    other, n_n = ndimage.label(~raw & valid, structure=_EIGHT, output=np.int32)
    first = np.r_[0, _first_pixels(comp, n_a), _first_pixels(other, n_n)] if firsts else np.zeros(0, np.int64)
    np.add(other, n_a, out=other, where=other > 0)
    comp += other
    del other
    built, n_b = ndimage.label(in_codes(labels, BUILT), structure=_EIGHT, output=np.int32)
    return comp, n_a, n_a + n_n, built, n_b, first


def _edges(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return a[0].copy(), a[-1].copy(), a[:, 0].copy(), a[:, -1].copy()


def _first_pixels(lab: np.ndarray, n: int) -> np.ndarray:
    """Row-major index of the first pixel of labels 1..n.

    ``ndimage.label`` numbers components in the order their first pixel is met in a raster
    scan, so label k starts where the running maximum of the labels reaches k (checked; a
    slower path over bounding boxes covers any other numbering). The running maximum is only
    taken over the pixels above the largest label of the rows before theirs (those that can
    start a label: a few per patch), not over the whole window.
    """
    if n == 0:
        return np.zeros(0, np.int64)
    before = np.r_[0, np.maximum.accumulate(lab.max(axis=1))[:-1]]  # largest label in earlier rows
    candidates = np.flatnonzero(lab > before[:, None].astype(lab.dtype))
    flat = lab.ravel()
    vals = flat[candidates]
    run = np.maximum.accumulate(vals)
    first = candidates[np.r_[True, vals[1:] > run[:-1]]]
    if len(first) == n and np.array_equal(flat[first], np.arange(1, n + 1)):
        return first.astype(np.int64)
    from scipy import ndimage  # pragma: no cover - scipy has always numbered in scan order

    out = np.zeros(n, np.int64)
    for k, sl in enumerate(ndimage.find_objects(lab, max_label=n), start=1):
        if sl is not None:
            rs, cs = sl
            out[k - 1] = rs.start * lab.shape[1] + cs.start + int(np.argmax(lab[rs.start, cs] == k))
    return out


def _adjacent(comp: np.ndarray, cat: np.ndarray, small: np.ndarray) -> np.ndarray:
    """8-adjacent pairs of distinct patches (a, b), at least one of them small, as ``(m, 2)``.

    Two 8-adjacent valid pixels of the same category are in the same patch, so two pixels are
    in distinct patches exactly when both are valid and their categories differ: ``cat``
    (0 = no data, 1, 2) finds them cheaply (``1 ^ 2 == 3``) and only there are labels looked up.
    Pairs may repeat.
    """
    width = comp.shape[1]
    flat, cats = comp.ravel(), cat.ravel()
    us, vs = [], []
    # right, down, down-right, down-left as flat offsets; the column that would wrap is cut
    for step, wraps in ((1, width - 1), (width, None), (width + 1, width - 1), (width - 1, 0)):
        if step == 0:  # a window one pixel wide has no down-left neighbour
            continue
        m = (cats[:-step] ^ cats[step:]) == 3
        if wraps is not None:
            m[wraps::width] = False
        at = np.flatnonzero(m)
        u, v = flat[at], flat[at + step]
        keep = small[u] | small[v]
        us.append(u[keep])
        vs.append(v[keep])
    return np.stack([np.concatenate(us), np.concatenate(vs)], axis=1).astype(np.int64)


def _unique_pairs(pairs: np.ndarray, n: int) -> np.ndarray:
    """Distinct unordered pairs of numbers below ``n``, as ``(m, 2)`` with u < v."""
    u, v = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    code = np.unique(u * n + v)
    return np.stack([code // n, code % n], axis=1)


def _raw_artif(plan: Plan, w: Pixels, urban: np.ndarray, lab: np.ndarray) -> np.ndarray:
    return pixel_artificialised(lab, urban[np.r_[0, w.pindex + 1]], ids=w.pid)


@dataclass
class Partial:
    """One window's figures from the patch pass: pixels decided there, counted; the rest listed.

    A pixel is decided in the window when its patch is (settled there, or at least
    ``patch_px`` there, so keeping its category) and so is its built patch, or when either
    makes it artificialised for sure. The others are listed by (local parcel, commune, then
    per vintage patch label and built-patch label) with a pixel count per row, and counted
    once the merge has decided their patches (:func:`_resolve`).
    """

    pindex: np.ndarray
    per_parcel: list[np.ndarray]
    per_commune: list[np.ndarray]
    rows: np.ndarray
    weight: np.ndarray


def _patches(plan: Plan, box: Box, urban: list[np.ndarray]) -> tuple[list[Fragments], Partial]:
    w = _load(plan, box)
    out = []
    states: list[_State] = []
    for lab, urb in zip(w.labels, urban, strict=True):
        valid = lab > 0
        raw = _raw_artif(plan, w, urb, lab)
        comp, n_a, n, built, n_b, first = _components(raw, valid, lab)
        size = np.bincount(comp.ravel(), minlength=n + 1)
        artif = np.arange(n + 1) <= n_a
        artif[0] = False
        row, col = np.divmod(first, box.width)
        key = (box.row + row) * plan.grid.width + box.col + col  # over the whole raster
        small = size < plan.patch_px
        pairs = _adjacent(comp, valid.view(np.uint8) + raw.view(np.uint8), small)
        local = _settled(small, artif, pairs, _edges(comp))
        keep = np.flatnonzero(local < 0)
        renum = np.zeros(n + 1, np.int64)
        renum[keep] = np.arange(1, len(keep) + 1)
        both = (local[pairs[:, 0]] < 0) & (local[pairs[:, 1]] < 0)
        b_size = np.bincount(built[built > 0], minlength=n_b + 1)  # (entry 0 unused)
        b_local = (b_size >= plan.built_px).astype(np.int8)
        b_edges = _edges(built)
        b_local[np.concatenate(b_edges)] = -1
        b_local[0] = 0
        b_keep = np.flatnonzero(b_local < 0)
        b_renum = np.zeros(n_b + 1, np.int64)
        b_renum[b_keep] = np.arange(1, len(b_keep) + 1)
        out.append(
            Fragments(
                local=local,
                size=np.r_[0, size[keep]],
                key=np.r_[0, key[keep]],
                artif=np.r_[False, artif[keep]],
                pairs=_unique_pairs(renum[pairs[both]], len(keep) + 1),
                edges=tuple(renum[e] for e in _edges(comp)),
                built_local=b_local,
                built_size=np.r_[0, b_size[b_keep]],
                built_edges=tuple(b_renum[e] for e in b_edges),
            )
        )
        known = np.where((local < 0) & ~small, artif, local).astype(np.int8)  # large: keep category
        b_known = np.where(b_size >= plan.built_px, 1, b_local).astype(np.int8)
        b_known[0] = 0
        states.append(_State(comp, built, known, b_known))
    return out, _partial(plan, w, states)


@dataclass
class _State:
    """One vintage of a window in the patch pass: labels, and what the window knows of them."""

    comp: np.ndarray
    built: np.ndarray
    known: np.ndarray
    """Per patch label: its final category when the window knows it (0, 1), else -1."""
    b_known: np.ndarray
    """Per built-patch label: 1 if at least 50 m² for sure, 0 if less (or no building), else -1."""


def _partial(plan: Plan, w: Pixels, states: list[_State]) -> Partial:
    """Count the decided pixels of a window per parcel and commune; list the others."""
    artif = []
    und = np.zeros(w.pid.shape, bool)
    for st in states:
        fa = st.known[st.comp]
        yes, unsure = fa == 1, fa < 0
        at = np.flatnonzero(st.built)  # built pixels: the only ones a built patch can decide
        fb = st.b_known[st.built.ravel()[at]]
        yes.ravel()[at] |= fb == 1
        unsure.ravel()[at] |= fb < 0
        artif.append(yes)
        und |= ~yes & unsure
    decided = ~und
    layers = list(artif)
    if len(artif) == 2:
        layers += [artif[0] & ~artif[1], artif[1] & ~artif[0]]  # gained, lost
    k, nz = len(w.pindex) + 1, plan.n_communes + 1
    masks = [a & decided for a in layers]
    per_parcel = [_count(w.pid, m, k) for m in masks]
    per_commune = [_per_commune(plan, w, m, p) for m, p in zip(masks, per_parcel, strict=True)]
    rows, weight = _listed(w, states, und, nz)
    return Partial(w.pindex, per_parcel, per_commune, rows, weight)


_KEY_LIMIT = 2**62
"""Largest group key :func:`_listed` builds (int64); past it, rows are grouped column-wise."""


def _listed(w: Pixels, states: list[_State], und: np.ndarray, nz: int) -> tuple[np.ndarray, np.ndarray]:
    """Undecided pixels grouped by what decides them: one row per group, and its pixel count.

    Rows hold (local parcel, commune, then per vintage a patch label and a built label); pixels
    whose parcel, commune and per-vintage states (a known 0/1, or which undecided patch) agree
    end the same, so they are grouped on one integer key when it fits in 63 bits.
    """
    pid = w.pid[und].astype(np.int64)
    cid = w.communes_of_parcels[pid] if w.cid is None else w.cid[und]
    cols = [pid, cid.astype(np.int64)]
    key = cols[0] * nz + cols[1]
    top = (len(w.pindex) + 1) * nz
    for st in states:
        comp, built = st.comp[und], st.built[und]
        cols += [comp.astype(np.int64), built.astype(np.int64)]
        for lab, known in ((comp, st.known), (built, st.b_known)):
            unknown = known < 0
            code = known.astype(np.int64)
            code[unknown] = np.arange(2, int(unknown.sum()) + 2)
            key = key * (int(unknown.sum()) + 2) + code[lab]
            top *= int(unknown.sum()) + 2
    table = np.stack(cols, axis=1)
    if not len(table):
        return table, np.zeros(0, np.int64)
    if top < _KEY_LIMIT:
        _, first, weight = np.unique(key, return_index=True, return_counts=True)
        return table[first], weight
    rows, weight = np.unique(table, axis=0, return_counts=True)
    return rows, weight


def _resolve(plan: Plan, part: Partial, decided: list[tuple[np.ndarray, np.ndarray]]) -> Partial:
    """The window's figures once the merge has decided every patch: decided + listed pixels."""
    artif = [
        final[part.rows[:, 2 + 2 * v]] | big[part.rows[:, 3 + 2 * v]]
        for v, (final, big) in enumerate(decided)
    ]
    layers = list(artif)
    if len(artif) == 2:
        layers += [artif[0] & ~artif[1], artif[1] & ~artif[0]]
    k, nz = len(part.pindex) + 1, plan.n_communes + 1
    pid, cid, wt = part.rows[:, 0], part.rows[:, 1], part.weight
    per_parcel = [
        p + np.bincount(pid[a], weights=wt[a], minlength=k).astype(np.int64)
        for p, a in zip(part.per_parcel, layers, strict=True)
    ]
    per_commune = [
        c + np.bincount(cid[a], weights=wt[a], minlength=nz).astype(np.int64)
        for c, a in zip(part.per_commune, layers, strict=True)
    ]
    return Partial(part.pindex, per_parcel, per_commune, part.rows[:0], part.weight[:0])


def _settled(
    small: np.ndarray, artif: np.ndarray, pairs: np.ndarray, edges: tuple[np.ndarray, ...]
) -> np.ndarray:
    """Patches the window decides alone: small, inside the window, with no small neighbour.

    Such a patch is whole (it meets no edge), so its size is its true size; its neighbours all
    lie in the window and are at least ``patch_px`` there, so they keep their category and it
    takes theirs (all neighbours of a patch have the opposite category); with no neighbour it
    keeps its own. No small patch has it as a neighbour, so nobody else's decision needs it.
    This settles isolated noise pixels, the bulk of the patches of a real prediction.
    """
    n = len(small)
    edge = np.zeros(n, bool)
    edge[np.concatenate(edges)] = True
    u, v = pairs[:, 0], pairs[:, 1]
    small_nbr = np.zeros(n, bool)
    small_nbr[u[small[v]]] = True
    small_nbr[v[small[u]]] = True
    has_nbr = np.zeros(n, bool)
    has_nbr[u] = True
    has_nbr[v] = True
    local = np.full(n, -1, np.int8)
    settle = small & ~edge & ~small_nbr
    local[settle] = np.where(has_nbr, ~artif, artif)[settle]
    local[0] = 0
    return local


# --------------------------------------------------------------------------- merging fragments


def _offsets(sizes: Sequence[int]) -> np.ndarray:
    """Global number of each window's fragment 0 (fragment k of window i is ``off[i] + k``)."""
    off: np.ndarray = np.r_[0, np.cumsum([s - 1 for s in sizes])][:-1].astype(np.int64)
    return off


def _seams(
    boxes: list[Box], edges: list[tuple[np.ndarray, ...]], off: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (u, v) of global fragment numbers 8-adjacent across window edges."""
    glob = [tuple(np.where(e > 0, e + o, 0) for e in es) for es, o in zip(edges, off, strict=True)]
    us, vs = [], []

    def touch(x: np.ndarray, y: np.ndarray) -> None:  # two facing lines of pixels, offsets -1, 0, 1
        for a, b in ((x, y), (x[:-1], y[1:]), (x[1:], y[:-1])):
            m = (a > 0) & (b > 0)
            us.append(a[m])
            vs.append(b[m])

    by_pos = {(b.row, b.col): i for i, b in enumerate(boxes)}
    rows = sorted({b.row for b in boxes})
    for r_up, r_down in itertools.pairwise(rows):
        up = sorted((b.col, i) for i, b in enumerate(boxes) if b.row == r_up)
        down = sorted((b.col, i) for i, b in enumerate(boxes) if b.row == r_down)
        touch(np.concatenate([glob[i][1] for _, i in up]), np.concatenate([glob[i][0] for _, i in down]))
    for i, b in enumerate(boxes):
        j = by_pos.get((b.row, b.col_stop))
        if j is not None:
            touch(glob[i][3], glob[j][2])
    if not us:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(us).astype(np.int64), np.concatenate(vs).astype(np.int64)


def _roots(n: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Union-find over ``n`` fragments joined by pairs (u, v): one root number per fragment."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(u), np.int8), (u, v)), shape=(n, n))
    _, root = connected_components(graph, directed=False)
    out: np.ndarray = root.astype(np.int64)
    return out


def _decide(
    plan: Plan, boxes: list[Box], frags: list[Fragments]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per window, the final category of each local patch and whether each built patch is big."""
    off = _offsets([len(f.size) for f in frags])
    n = int(off[-1] + len(frags[-1].size))
    size = np.zeros(n, np.int64)
    key = np.full(n, np.iinfo(np.int64).max)
    artif = np.zeros(n, bool)
    for f, o in zip(frags, off, strict=True):
        size[o + 1 : o + len(f.size)] = f.size[1:]
        key[o + 1 : o + len(f.size)] = f.key[1:]
        artif[o + 1 : o + len(f.size)] = f.artif[1:]
    u, v = _seams(boxes, [f.edges for f in frags], off)
    same = artif[u] == artif[v]
    root = _roots(n, u[same], v[same])
    nr = int(root.max()) + 1
    r_size = np.bincount(root, weights=size, minlength=nr).astype(np.int64)
    r_key = np.full(nr, np.iinfo(np.int64).max)
    np.minimum.at(r_key, root, key)
    r_artif = np.zeros(nr, bool)
    r_artif[root] = artif
    pairs = [f.pairs + o for f, o in zip(frags, off, strict=True)] + [np.stack([u[~same], v[~same]], 1)]
    rp = root[np.concatenate(pairs)] if pairs else np.zeros((0, 2), np.int64)
    final = absorb_small_patches(r_size, r_key, r_artif, rp, plan.patch_px)
    final_frag = final[root]
    b_off = _offsets([len(f.built_size) for f in frags])
    nb = int(b_off[-1] + len(frags[-1].built_size))
    b_size = np.zeros(nb, np.int64)
    for f, o in zip(frags, b_off, strict=True):
        b_size[o + 1 : o + len(f.built_size)] = f.built_size[1:]
    bu, bv = _seams(boxes, [f.built_edges for f in frags], b_off)
    b_root = _roots(nb, bu, bv)
    big = (np.bincount(b_root, weights=b_size) >= plan.built_px)[b_root]
    per_win, per_win_b = [], []
    for f, o, bo in zip(frags, off, b_off, strict=True):
        final_local = f.local.astype(bool)
        final_local[f.local < 0] = final_frag[o + 1 : o + len(f.size)]
        big_local = f.built_local.astype(bool)
        big_local[f.built_local < 0] = big[bo + 1 : bo + len(f.built_size)]
        per_win.append(final_local)
        per_win_b.append(big_local)
    return per_win, per_win_b


# --------------------------------------------------------------------------- pass 3: figures


def _categories(plan: Plan, box: Box, urban: list[np.ndarray], sieved: AreaSieve) -> None:
    """Pass 2 of version 1: write the window's categories and built pixels for GDAL's sieve."""
    w = _load(plan, box)
    for v, (lab, urb) in enumerate(zip(w.labels, urban, strict=True)):
        cat = (_raw_artif(plan, w, urb, lab).astype(np.uint8) + 1) * (lab > 0)
        sieved.write(box, v, cat.astype(np.uint8, copy=False), in_codes(lab, BUILT).view(np.uint8))


def _figures(
    plan: Plan, box: Box, urban: list[np.ndarray], sieved: AreaSieve | None
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Artificialised pixels per local parcel and per commune (per vintage, then gained, lost).

    Pass 3 of the pixel rule (with communes or two vintages) and of version 1 (``sieved``).
    """
    w = _load(plan, box)
    artifs = []
    for i, (lab, urb) in enumerate(zip(w.labels, urban, strict=True)):
        valid = lab > 0
        if sieved is None:
            artif = _raw_artif(plan, w, urb, lab) & valid
        else:  # v1: GDAL's sieve over the area, read back by windows
            cat, big = sieved.read(box, i)
            artif = ((cat == 2) | ((big == 1) & in_codes(lab, BUILT))) & valid
        artifs.append(artif)
    layers = list(artifs)
    if len(artifs) == 2:
        layers += [artifs[0] & ~artifs[1], artifs[1] & ~artifs[0]]  # gained, lost
    k = len(w.pindex) + 1
    per_parcel = [_count(w.pid, a, k) for a in layers]
    per_commune = [_per_commune(plan, w, a, p) for a, p in zip(layers, per_parcel, strict=True)]
    return w.pindex, per_parcel, per_commune


def _count(ids: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Pixels of ``mask`` per id (exact integers)."""
    return np.bincount(ids[mask], minlength=n).astype(np.int64)


# --------------------------------------------------------------------------- driver


@dataclass
class Measure:
    """Pixel counts of one area, per parcel (row 0 = outside) and per commune (row 0 = none).

    Per vintage ``v`` (0 = newer, 1 = older): ``counts[v]`` (parcels × classes),
    ``zone_counts[v]`` (communes × classes), ``urban[v]``, ``artif[v]`` and ``zone_artif[v]``
    (artificialised pixels); with two vintages ``artif[2]``/``artif[3]`` (and the same in
    ``zone_artif``) are the pixels gained and lost.
    """

    grid: Grid
    counts: list[np.ndarray]
    zone_counts: list[np.ndarray]
    urban: list[np.ndarray]
    artif: list[np.ndarray]
    zone_artif: list[np.ndarray]
    windows: int


def measure(
    plan: Plan,
    *,
    area: Box | None = None,
    window: int | None = None,
) -> Measure:
    """Run the passes over the windows of ``area`` (default: the whole raster)."""
    g = plan.grid
    area = (area or Box(0, 0, g.height, g.width)).clip(g.height, g.width)
    rs = plan.rules
    boxes = plan_windows(area, window or DEFAULT_WINDOW, g.block)
    nv, n, nz = len(plan.sources), len(plan.parcels.geoms) + 1, plan.n_communes + 1
    counts = [np.zeros((n, N_CODES), np.int64) for _ in range(nv)]
    zone_counts = [np.zeros((nz, N_CODES), np.int64) for _ in range(nv)]
    with contextlib.ExitStack() as stack:
        stack.enter_context(_closing())
        for box in boxes:
            pindex, pc, cc = _counts(plan, box)
            rows = np.r_[0, pindex + 1]
            for v in range(nv):
                counts[v][rows] += pc[v]
                zone_counts[v] += cc[v]
        urban = [urban_usage(c, g.pixel_area) for c in counts]
        nl = 4 if nv == 2 else 1
        artif = [np.zeros(n, np.int64) for _ in range(nl)]
        zone_artif = [np.zeros(nz, np.int64) for _ in range(nl)]
        sieved = None
        if rs.thresholds and rs.method == "graph":  # figures of pass 2, completed after the merge
            frags, parts = [], []
            for box in boxes:
                f, part = _patches(plan, box, urban)
                frags.append(f)
                parts.append(part)
            per_vintage = [_decide(plan, boxes, [f[v] for f in frags]) for v in range(nv)]
            del frags
            for i, part in enumerate(parts):
                done = _resolve(plan, part, [(pv[0][i], pv[1][i]) for pv in per_vintage])
                _add(artif, zone_artif, done.pindex, done.per_parcel, done.per_commune)
            return Measure(g, counts, zone_counts, urban, artif, zone_artif, len(boxes))
        if rs.thresholds:  # version 1: GDAL's sieve over the area, file to file
            stack.enter_context(rasterio.Env(GDAL_CACHEMAX=cache_bytes(area.width, files=2 * nv)))
            sieved = stack.enter_context(
                AreaSieve(
                    area,
                    crs=g.crs,
                    transform=g.transform,
                    vintages=nv,
                    patch_px=plan.patch_px,
                    built_px=plan.built_px,
                )
            )
            for box in boxes:
                _categories(plan, box, urban, sieved)
            sieved.run()
        if not rs.thresholds and nv == 1 and plan.communes is None:  # figures follow from the counts
            artif = [_pixel_artif(counts[0], urban[0])]
            zone_artif = [np.bincount(plan.commune_of, weights=artif[0], minlength=nz).astype(np.int64)]
            return Measure(g, counts, zone_counts, urban, artif, zone_artif, len(boxes))
        for box in boxes:
            _add(artif, zone_artif, *_figures(plan, box, urban, sieved))
    return Measure(g, counts, zone_counts, urban, artif, zone_artif, len(boxes))


def _add(
    artif: list[np.ndarray],
    zone_artif: list[np.ndarray],
    pindex: np.ndarray,
    per_parcel: list[np.ndarray],
    per_commune: list[np.ndarray],
) -> None:
    """Add one window's figures (local parcel rows ``pindex``) to the area's."""
    rows = np.r_[0, pindex + 1]
    for j in range(len(artif)):
        artif[j][rows] += per_parcel[j]
        zone_artif[j] += per_commune[j]


def _pixel_artif(counts: np.ndarray, urban: np.ndarray) -> np.ndarray:
    """Artificialised pixels per parcel without thresholds: classes 1–5, and lawns if urban."""
    out: np.ndarray = counts[:, list(ARTIFICIAL)].sum(1) + np.where(urban, counts[:, LAWN], 0)
    return out


@contextlib.contextmanager
def _closing() -> Iterator[None]:
    try:
        yield
    finally:
        close_datasets()
