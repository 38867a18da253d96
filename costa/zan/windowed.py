r"""ZAN measurement by windows: memory set by the window, not by the area.

The land-cover input is read by windows (:mod:`costa.zan.windows`: windows aligned to its
blocks, parcels rasterised per window at pixel centres, once: later passes decode the ids pass 1
kept run-length encoded, :class:`~costa.zan.windows.Burnt`). Per window, one ``bincount`` gives
pixel counts per (parcel, class); they add up over windows.

Two or three passes, each a loop over windows with nothing kept from one window to the next
but small per-parcel or per-patch tables:

1. **counts**: pixels per (parcel, class) and per (commune, class) → the usage proxy per parcel
   (without thresholds, one vintage and communes made of parcels, the figures follow from
   these counts and the other passes are skipped);
2. **patches**, by rule set:

   * ``method="graph"`` (``cosia-2023`` v2): the patches of each window, merged across window
     edges (:mod:`costa.zan.patches`); the same pass counts the figures of the pixels each
     window decides and the merge's decisions complete the rest, so there is no third pass;
   * ``method="sieve"`` (``cosia-2023`` v1): the window's categories are written into
     temporary GeoTIFFs of the area, which GDAL's sieve processes file to file, line by line
     (:mod:`costa.zan.filesieve`): the same result as the sieve over the whole area in memory,
     in the memory of a few lines of the area;

3. **figures** (pixel rule with communes or two vintages, and v1): artificialised pixels (and
   the flux between two vintages) per parcel and per commune, window by window.

Each window's results depend only on its pixels, so the tables are the same for any window
size, with every rule set.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import numpy as np
import rasterio

from costa.nomenclature import N_CODES
from costa.tiling.tiles import Box
from costa.zan.filesieve import AreaSieve, cache_bytes
from costa.zan.rules import (
    ARTIFICIAL,
    BUILT,
    LAWN,
    in_codes,
    urban_usage,
)

__all__ = [
    "Measure",
    "measure",
]

from costa.zan.patches import decide, resolve, window_patches
from costa.zan.pool import process_pool, worker_state
from costa.zan.windows import (
    BURNT_CACHE_BYTES,
    DEFAULT_WINDOW,
    Burnt,
    Grid,
    Plan,
    close_datasets,
    commune_counts,
    count,
    load,
    plan_windows,
    raw_artificialised,
)

T = TypeVar("T")

# --------------------------------------------------------------------------- pass 1: counts


def _counts(plan: Plan, box: Box) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], tuple[Burnt, ...]]:
    """Pass 1: pixels per (local parcel, class) and (commune, class); the window's zone ids."""
    w = load(plan, box)
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
    return (
        w.pindex,
        [c.reshape(k, N_CODES) for c in pcounts],
        [c.reshape(nz, N_CODES) for c in ccounts],
        w.burnt,
    )


# --------------------------------------------------------------------------- pass 3: figures


def _categories(
    plan: Plan, box: Box, urban: list[np.ndarray], sieved: AreaSieve, burnt: tuple[Burnt, ...] | None
) -> None:
    """Pass 2 of version 1: write the window's categories and built pixels for GDAL's sieve."""
    w = load(plan, box, burnt)
    for v, (lab, urb) in enumerate(zip(w.labels, urban, strict=True)):
        cat = (raw_artificialised(plan, w, urb, lab).astype(np.uint8) + 1) * (lab > 0)
        sieved.write(box, v, cat.astype(np.uint8, copy=False), in_codes(lab, BUILT).view(np.uint8))


def _figures(
    plan: Plan,
    box: Box,
    urban: list[np.ndarray],
    sieved: AreaSieve | None,
    burnt: tuple[Burnt, ...] | None,
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Artificialised pixels per local parcel and per commune (per vintage, then gained, lost).

    Pass 3 of the pixel rule (with communes or two vintages) and of version 1 (``sieved``).
    """
    w = load(plan, box, burnt)
    artifs = []
    for i, (lab, urb) in enumerate(zip(w.labels, urban, strict=True)):
        valid = lab > 0
        if sieved is None:
            artif = raw_artificialised(plan, w, urb, lab) & valid
        else:  # v1: GDAL's sieve over the area, read back by windows
            cat, big = sieved.read(box, i)
            artif = ((cat == 2) | ((big == 1) & in_codes(lab, BUILT))) & valid
        artifs.append(artif)
    layers = list(artifs)
    if len(artifs) == 2:
        layers += [artifs[0] & ~artifs[1], artifs[1] & ~artifs[0]]  # gained, lost
    k = len(w.pindex) + 1
    per_parcel = [count(w.pid, a, k) for a in layers]
    per_commune = [commune_counts(plan, w, a, p) for a, p in zip(layers, per_parcel, strict=True)]
    return w.pindex, per_parcel, per_commune


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
    workers: int = 1,
) -> Measure:
    """Run the passes over the windows of ``area`` (default: the whole raster).

    ``workers`` > 1: each pass's windows run in that many processes (:mod:`costa.zan.pool`),
    their results merged in window order as in one process, so the tables are the same. The
    steps that write or read version 1's sieve files stay in this process.
    """
    g = plan.grid
    area = (area or Box(0, 0, g.height, g.width)).clip(g.height, g.width)
    rs = plan.rules
    boxes = plan_windows(area, window or DEFAULT_WINDOW, g.block)
    nv, n, nz = len(plan.sources), len(plan.parcels.geoms) + 1, plan.n_communes + 1
    counts = [np.zeros((n, N_CODES), np.int64) for _ in range(nv)]
    zone_counts = [np.zeros((nz, N_CODES), np.int64) for _ in range(nv)]
    with contextlib.ExitStack() as stack:
        stack.enter_context(_closing())
        run = stack.enter_context(_windows_in(plan, workers))
        burnt: list[tuple[Burnt, ...] | None] = []
        held = 0
        for pindex, pc, cc, b in run(_counts, [(box,) for box in boxes]):
            rows = np.r_[0, pindex + 1]
            for v in range(nv):
                counts[v][rows] += pc[v]
                zone_counts[v] += cc[v]
            held += sum(z.nbytes for z in b)
            burnt.append(b if held <= BURNT_CACHE_BYTES else None)  # past the budget: burn again
        urban = [urban_usage(c, g.pixel_area) for c in counts]
        nl = 4 if nv == 2 else 1
        artif = [np.zeros(n, np.int64) for _ in range(nl)]
        zone_artif = [np.zeros(nz, np.int64) for _ in range(nl)]
        sieved = None
        if rs.thresholds and rs.method == "graph":  # figures of pass 2, completed after the merge
            frags, parts = [], []
            tasks = [(box, urban, b) for box, b in zip(boxes, burnt, strict=True)]
            for f, part in run(window_patches, tasks):
                frags.append(f)
                parts.append(part)
            per_vintage = [decide(plan, boxes, [f[v] for f in frags]) for v in range(nv)]
            del frags
            for i, part in enumerate(parts):
                done = resolve(plan, part, [(pv[0][i], pv[1][i]) for pv in per_vintage])
                _add(artif, zone_artif, done.pindex, done.per_parcel, done.per_commune)
            return Measure(g, counts, zone_counts, urban, artif, zone_artif, len(boxes))
        if rs.thresholds:  # version 1: GDAL's sieve over the area, file to file, in this process
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
            for box, kept in zip(boxes, burnt, strict=True):
                _categories(plan, box, urban, sieved, kept)
            sieved.run()
            for box, kept in zip(boxes, burnt, strict=True):
                _add(artif, zone_artif, *_figures(plan, box, urban, sieved, kept))
            return Measure(g, counts, zone_counts, urban, artif, zone_artif, len(boxes))
        if nv == 1 and plan.communes is None:  # figures follow from the counts
            artif = [_pixel_artif(counts[0], urban[0])]
            zone_artif = [np.bincount(plan.commune_of, weights=artif[0], minlength=nz).astype(np.int64)]
            return Measure(g, counts, zone_counts, urban, artif, zone_artif, len(boxes))
        for figures in run(_figures, [(box, urban, None, b) for box, b in zip(boxes, burnt, strict=True)]):
            _add(artif, zone_artif, *figures)
    return Measure(g, counts, zone_counts, urban, artif, zone_artif, len(boxes))


Run: TypeAlias = Callable[[Callable[..., T], list[tuple[Any, ...]]], Iterator[T]]
"""Calls ``fn(plan, *args)`` for each ``args`` of a list; results in list order."""


@contextlib.contextmanager
def _windows_in(plan: Plan, workers: int) -> Iterator[Run[Any]]:
    """Where a pass's windows run: here, or in ``workers`` processes that got ``plan`` once."""
    if workers <= 1:
        yield lambda fn, args: (fn(plan, *a) for a in args)
        return
    with process_pool(workers, state=plan) as pool:
        yield lambda fn, args: pool.map(_on_plan, itertools.repeat(fn), args)


def _on_plan(fn: Callable[..., T], args: tuple[Any, ...]) -> T:
    """In a worker process: ``fn`` on the plan the process was started with."""
    return fn(worker_state(), *args)


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
