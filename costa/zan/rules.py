"""ZAN rules as pure functions on class rasters, parcel-id rasters and count tables.

Rule set ``cosia-2023`` (version 1) applies the décret n° 2023-1096 categories with the
OCS GE reference thresholds through GDAL's sieve over the whole area; ``cosia-2023`` version 2
(``cosia-2023-v2``) applies the same thresholds as a rule on the graph of patches that is
exactly computable by windows (see :func:`absorb_small_patches`); ``cosia-2023-pixel`` applies
the categories pixel by pixel.
Which classes are artificialised comes from :mod:`costa.nomenclature` (one source of truth);
lawns (13) count only on urban-usage land.

>>> import numpy as np
>>> labels = np.array([[13, 13], [1, 14]], np.uint8)
>>> artificialised(labels, urban=np.array([[True, False], [True, True]]), rules=RULESETS["cosia-2023-pixel"],
...                pixel_area=0.04).astype(int).tolist()
[[1, 0], [1, 0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rasterio.features import sieve

from costa.nomenclature import CLASSES, N_CODES, ZanCategory
from costa.zan.schema import ARTIF, DEFAULT_RULES, NOT_ARTIF, PARTIAL

__all__ = [
    "ARTIFICIAL",
    "BUILT",
    "DEFAULT_RULES",
    "LAWN",
    "RULESETS",
    "ParcelRule",
    "RuleSet",
    "absorb_small_patches",
    "artificialised",
    "class_counts",
    "find_ruleset",
    "in_codes",
    "parcel_status",
    "pixel_artificialised",
    "urban_usage",
]

ARTIFICIAL = tuple(c.code for c in CLASSES if c.zan.artificialised)
"""Codes artificialised whatever the usage (1–5)."""
BUILT = tuple(c.code for c in CLASSES if c.zan is ZanCategory.BUILT)
"""Built codes (bâtiment, serre): a patch of 50 m² is always artificialised."""
LAWN = next(c.code for c in CLASSES if c.zan is ZanCategory.USAGE)
"""Herbaceous (pelouse): artificialised only on urban-usage land."""


def in_codes(labels: np.ndarray, codes: tuple[int, ...]) -> np.ndarray:
    """``np.isin(labels, codes)``, with one or a few comparisons on uint8 class rasters.

    A run of consecutive codes is one subtraction and one comparison (uint8 wraps below the
    first code), a few scattered codes one comparison each: several times faster than
    ``np.isin`` or a lookup table on a window of pixels.

    >>> in_codes(np.array([0, 1, 2, 5, 6], np.uint8), (1, 2, 3, 4, 5)).tolist()
    [False, True, True, True, False]
    >>> in_codes(np.array([0, 1, 2, 5], np.uint8), (1, 5)).tolist()
    [False, True, False, True]
    """
    if labels.dtype != np.uint8:
        isin: np.ndarray = np.isin(labels, codes)
        return isin
    lo, hi = min(codes), max(codes)
    if len(set(codes)) == hi - lo + 1:
        run: np.ndarray = (labels - np.uint8(lo)) <= np.uint8(hi - lo)
        return run
    out: np.ndarray = labels == codes[0]
    for c in codes[1:]:
        out |= labels == c
    return out


@dataclass(frozen=True)
class RuleSet:
    """A named, versioned way of turning classes into artificialisation.

    ``method`` says how the thresholds are applied: ``"sieve"`` (GDAL's sieve over the whole
    area, version 1; run file to file by :mod:`costa.zan.filesieve`, so in bounded memory) or
    ``"graph"`` (:func:`absorb_small_patches`, stated so that windows compute it exactly).
    """

    name: str
    version: int
    thresholds: bool
    patch_m2: float = 2500.0
    built_patch_m2: float = 50.0
    method: str = "sieve"


RULESETS: dict[str, RuleSet] = {
    "cosia-2023": RuleSet("cosia-2023", 1, thresholds=True),
    "cosia-2023-v2": RuleSet("cosia-2023", 2, thresholds=True, method="graph"),
    "cosia-2023-pixel": RuleSet("cosia-2023-pixel", 1, thresholds=False),
}
"""Rule sets by the name ``--rules`` takes; both versions of ``cosia-2023`` run by windows in
bounded memory (v1 sieves its area through temporary files, :mod:`costa.zan.filesieve`). A table
names its rule set by ``regles`` and ``regles_version``: look it up with :func:`find_ruleset`."""


def find_ruleset(name: str, version: object = None) -> RuleSet | None:
    """The rule set a ZAN table names (``regles``, ``regles_version``), or None if unknown.

    Keys of :data:`RULESETS` are what ``--rules`` takes, not the names tables carry
    (``cosia-2023-v2`` writes ``cosia-2023`` version 2), so look up by both; a table without
    a version is version 1.

    >>> find_ruleset("cosia-2023", 2) is RULESETS["cosia-2023-v2"], find_ruleset("cosia-2023").version
    (True, 1)
    >>> find_ruleset("cosia-2023", 7) is None
    True
    """
    try:
        v = 1 if version is None else int(version)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return next((r for r in RULESETS.values() if (r.name, r.version) == (name, v)), None)


@dataclass(frozen=True)
class ParcelRule:
    """Parcel-level parameters (defaults from docs/zan.md)."""

    urban_built_m2: float = 50.0
    urban_artif_share: float = 0.5
    artif_share: float = 0.5
    partial_m2: float = 50.0


def class_counts(ids: np.ndarray, labels: np.ndarray, n_parcels: int) -> np.ndarray:
    """Pixel count per (parcel, class code): ``(n_parcels + 1, N_CODES)``; row 0 = outside any parcel.

    ``ids`` holds 1-based parcel numbers per pixel (a pixel belongs to the parcel holding its
    centre), ``labels`` class codes (0 = no data).
    """
    flat = ids.ravel().astype(np.int64) * N_CODES + labels.ravel()
    return np.bincount(flat, minlength=(n_parcels + 1) * N_CODES).reshape(n_parcels + 1, N_CODES)


def urban_usage(counts: np.ndarray, pixel_area: float, rule: ParcelRule = ParcelRule()) -> np.ndarray:
    """Usage proxy per parcel: ≥ 50 m² built, or ≥ 50 % of its area in classes 1–5."""
    built = counts[:, list(BUILT)].sum(1) * pixel_area
    valid = counts[:, 1:].sum(1)
    share = np.divide(counts[:, list(ARTIFICIAL)].sum(1), valid, out=np.zeros(len(counts)), where=valid > 0)
    urban = (built >= rule.urban_built_m2) | (share >= rule.urban_artif_share)
    urban[0] = False  # outside parcels: no usage known (public domain), docs/zan.md
    out: np.ndarray = urban
    return out


def pixel_artificialised(labels: np.ndarray, urban: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
    """Décret categories pixel by pixel: classes 1–5, and lawn on urban-usage land.

    ``urban`` is per pixel, or per zone when ``ids`` gives each pixel's zone (then only the
    lawn pixels look it up).

    >>> pixel_artificialised(np.array([1, 13, 13, 14]), np.array([0, 1, 0, 1], bool)).tolist()
    [True, True, False, False]
    >>> labels, ids = np.array([1, 13, 13], np.uint8), np.array([0, 1, 0])
    >>> pixel_artificialised(labels, np.array([False, True]), ids=ids).tolist()
    [True, True, False]
    """
    if labels.dtype != np.uint8:
        out: np.ndarray = np.isin(labels, ARTIFICIAL) | (
            (labels == LAWN) & (urban if ids is None else urban[ids])
        )
        return out
    out = in_codes(labels, ARTIFICIAL)
    lawn = labels == LAWN
    out[lawn] = urban[ids[lawn]] if ids is not None else np.broadcast_to(urban, labels.shape)[lawn]
    return out


def artificialised(labels: np.ndarray, urban: np.ndarray, rules: RuleSet, pixel_area: float) -> np.ndarray:
    """Boolean raster of artificialised pixels (rule sets without thresholds, or version 1).

    With thresholds: artificialised patches under ``patch_m2`` inside non-artificialised land
    become non-artificialised and vice versa (8-connected patches, GDAL sieve), except built
    patches of at least ``built_patch_m2``, which always stay artificialised. Rule sets with
    ``method="graph"`` are computed by :func:`costa.zan.windowed.measure`.
    """
    if rules.thresholds and rules.method != "sieve":
        raise ValueError(f"{rules.name} v{rules.version} is computed by windows: use costa.zan.windowed")
    valid = labels > 0
    artif = pixel_artificialised(labels, urban)
    if not rules.thresholds:
        pixelwise: np.ndarray = artif & valid
        return pixelwise
    cat = np.where(valid, artif.astype(np.uint8) + 1, 0).astype(np.uint8)  # 1 = not, 2 = artif
    size = max(1, round(rules.patch_m2 / pixel_area))
    smoothed = sieve(cat, size=size, connectivity=8, mask=valid) == 2
    built = np.isin(labels, BUILT).astype(np.uint8)
    big_built = sieve(built, size=max(1, round(rules.built_patch_m2 / pixel_area)), connectivity=8) == 1
    out: np.ndarray = (smoothed | (big_built & built.astype(bool))) & valid
    return out


def absorb_small_patches(
    size: np.ndarray, key: np.ndarray, artif: np.ndarray, pairs: np.ndarray, patch_px: int
) -> np.ndarray:
    """Final category of each patch under rule set ``cosia-2023`` version 2.

    Patches are the 8-connected components of artificialised pixels and of non-artificialised
    pixels (no-data pixels belong to none); two patches are neighbours when a pixel of one is
    8-adjacent to a pixel of the other (so neighbours have opposite categories). Patches are
    ordered by size, then by their first pixel in row-major order over the raster (``key``),
    a total order that does not depend on how the raster is cut into windows.

    * A patch of at least ``patch_px`` pixels keeps its category.
    * A smaller patch is *absorbed* by its largest neighbour and takes the category that
      neighbour ends with; chains of small patches are followed to their end (a small patch
      in a small patch in a large one ends with the large one's category).
    * When two small patches are each other's largest neighbour, the larger keeps its own
      category (and the smaller takes it); a small patch with no neighbour keeps its own.

    This is GDAL's sieve (merge into the largest neighbour, follow chains) stated on the
    graph of whole patches, without the sieve's dependence on the scan order and on
    4-connected neighbourhoods; built patches of 50 m² are then always artificialised (as in
    version 1), which the caller applies.

    Args:
        size: pixels per patch.
        key: first pixel of each patch (row-major index over the raster).
        artif: category of each patch before the rule.
        pairs: ``(m, 2)`` neighbouring patches (any order; duplicates allowed).
        patch_px: the threshold (2,500 m² / pixel area).

    Returns:
        The category of each patch after the rule.

    >>> size, key = np.array([100, 5, 2, 1]), np.arange(4)
    >>> artif = np.array([True, False, True, False])        # town, field in it, shed in the field, hole
    >>> pairs = np.array([[0, 1], [1, 2], [2, 3]])
    >>> absorb_small_patches(size, key, artif, pairs, patch_px=10).tolist()
    [True, True, True, True]

    """
    n = len(size)
    idx = np.arange(n)
    rank = np.empty(n, np.int64)
    rank[np.lexsort((key, -size))] = idx  # 0 = largest
    target = idx.copy()
    if len(pairs):
        src = np.r_[pairs[:, 0], pairs[:, 1]]
        dst = np.r_[pairs[:, 1], pairs[:, 0]]
        keep = (size[src] < patch_px) & (src != dst)
        src, dst = src[keep], dst[keep]
        order = np.lexsort((rank[dst], src))
        src, dst = src[order], dst[order]
        first = np.r_[True, src[1:] != src[:-1]] if len(src) else np.zeros(0, bool)
        target[src[first]] = dst[first]
    mutual = (target[target] == idx) & (target != idx) & (rank < rank[target])
    target[mutual] = idx[mutual]
    while True:
        nxt = target[target]
        if np.array_equal(nxt, target):
            break
        target = nxt
    out: np.ndarray = artif[target]
    return out


def parcel_status(
    artif_m2: np.ndarray, surface_m2: np.ndarray, rule: ParcelRule = ParcelRule()
) -> np.ndarray:
    """``artificialisée`` / ``partiellement artificialisée`` / ``non artificialisée`` per parcel."""
    share = np.divide(artif_m2, surface_m2, out=np.zeros_like(artif_m2, dtype=float), where=surface_m2 > 0)
    return np.where(
        share >= rule.artif_share, ARTIF, np.where(artif_m2 >= rule.partial_m2, PARTIAL, NOT_ARTIF)
    )
