"""ZAN rules as pure functions on class rasters, parcel-id rasters and count tables.

Rule set ``cosia-2023`` (version 1) applies the décret n° 2023-1096 categories with the
OCS GE reference thresholds; ``cosia-2023-pixel`` applies the categories pixel by pixel.
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
from costa.zan.schema import ARTIF, NOT_ARTIF, PARTIAL

__all__ = [
    "ARTIFICIAL",
    "BUILT",
    "LAWN",
    "RULESETS",
    "ParcelRule",
    "RuleSet",
    "artificialised",
    "class_counts",
    "parcel_status",
    "urban_usage",
]

ARTIFICIAL = tuple(c.code for c in CLASSES if c.zan.artificialised)
"""Codes artificialised whatever the usage (1–5)."""
BUILT = tuple(c.code for c in CLASSES if c.zan is ZanCategory.BUILT)
"""Built codes (bâtiment, serre): a patch of 50 m² is always artificialised."""
LAWN = next(c.code for c in CLASSES if c.zan is ZanCategory.USAGE)
"""Herbaceous (pelouse): artificialised only on urban-usage land."""


@dataclass(frozen=True)
class RuleSet:
    """A named, versioned way of turning classes into artificialisation."""

    name: str
    version: int
    thresholds: bool
    patch_m2: float = 2500.0
    built_patch_m2: float = 50.0


RULESETS: dict[str, RuleSet] = {
    "cosia-2023": RuleSet("cosia-2023", 1, thresholds=True),
    "cosia-2023-pixel": RuleSet("cosia-2023-pixel", 1, thresholds=False),
}


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


def artificialised(labels: np.ndarray, urban: np.ndarray, rules: RuleSet, pixel_area: float) -> np.ndarray:
    """Boolean raster of artificialised pixels.

    With thresholds: artificialised patches under ``patch_m2`` inside non-artificialised land
    become non-artificialised and vice versa (8-connected patches, GDAL sieve), except built
    patches of at least ``built_patch_m2``, which always stay artificialised.
    """
    valid = labels > 0
    artif = np.isin(labels, ARTIFICIAL) | ((labels == LAWN) & urban)
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


def parcel_status(
    artif_m2: np.ndarray, surface_m2: np.ndarray, rule: ParcelRule = ParcelRule()
) -> np.ndarray:
    """``artificialisée`` / ``partiellement artificialisée`` / ``non artificialisée`` per parcel."""
    share = np.divide(artif_m2, surface_m2, out=np.zeros_like(artif_m2, dtype=float), where=surface_m2 > 0)
    return np.where(
        share >= rule.artif_share, ARTIF, np.where(artif_m2 >= rule.partial_m2, PARTIAL, NOT_ARTIF)
    )
