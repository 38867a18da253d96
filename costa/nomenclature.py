"""The 16 CoSIA land-cover classes: the single source of truth.

Raster value = class code; 0 means no data. The COG colormap, legends, reports and the
ZAN rules all derive from :data:`CLASSES`.

>>> CLASSES[0].fr, CLASSES[0].color
('Bâtiment', '#ce7079')
>>> by_code(13).slug
'pelouse'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "CLASSES",
    "CODES",
    "NODATA",
    "N_CODES",
    "LandCoverClass",
    "ZanCategory",
    "by_code",
    "colormap",
]

NODATA = 0
"""Raster value for pixels outside the source footprint or masked."""


class ZanCategory(StrEnum):
    """How a class counts under décret n° 2023-1096 (see docs/zan.md)."""

    BUILT = "artificialisée — bâtie (1°)"
    SEALED = "artificialisée — revêtue (2°)"
    STABILISED = "artificialisée — stabilisée / composite (3°–4°)"
    USAGE = "selon l'usage (5° si usage urbain)"
    NATURAL = "non artificialisée — sol nu, eau, neige (6°)"
    VEGETATED = "non artificialisée — végétalisée / cultivée (7°–8°)"

    @property
    def artificialised(self) -> bool | None:
        """True / False, or None when it depends on usage (lawns)."""
        if self is ZanCategory.USAGE:
            return None
        return self in (ZanCategory.BUILT, ZanCategory.SEALED, ZanCategory.STABILISED)


@dataclass(frozen=True)
class LandCoverClass:
    """One land-cover class of the costa nomenclature."""

    code: int
    fr: str
    en: str
    color: str
    slug: str
    zan: ZanCategory

    @property
    def rgb(self) -> tuple[int, int, int]:
        """The colour as an (R, G, B) tuple of 0–255 integers."""
        h = self.color.lstrip("#")
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


_Z = ZanCategory
CLASSES: tuple[LandCoverClass, ...] = (
    LandCoverClass(1, "Bâtiment", "building", "#ce7079", "batiment", _Z.BUILT),
    LandCoverClass(2, "Zone imperméable", "impervious surface", "#a6aab7", "zone_impermeable", _Z.SEALED),
    LandCoverClass(3, "Zone perméable", "pervious surface", "#987752", "zone_permeable", _Z.STABILISED),
    LandCoverClass(4, "Piscine", "swimming pool", "#62d0ff", "piscine", _Z.SEALED),
    LandCoverClass(5, "Serre", "greenhouse", "#b9e2d4", "serre", _Z.BUILT),
    LandCoverClass(6, "Sol nu", "bare soil", "#bbb096", "sol_nu", _Z.NATURAL),
    LandCoverClass(7, "Surface eau", "water", "#3375a1", "surface_eau", _Z.NATURAL),
    LandCoverClass(8, "Neige", "snow", "#e9effe", "neige", _Z.NATURAL),
    LandCoverClass(9, "Conifère", "coniferous", "#216e2e", "conifere", _Z.VEGETATED),
    LandCoverClass(10, "Feuillu", "deciduous", "#4c9129", "feuillu", _Z.VEGETATED),
    LandCoverClass(11, "Coupe", "clear cut", "#e48e4d", "coupe", _Z.VEGETATED),
    LandCoverClass(12, "Broussaille", "brushwood", "#b5c335", "broussaille", _Z.VEGETATED),
    LandCoverClass(13, "Pelouse", "herbaceous", "#8cd76a", "pelouse", _Z.USAGE),
    LandCoverClass(14, "Culture", "agricultural land", "#decf55", "culture", _Z.VEGETATED),
    LandCoverClass(15, "Terre labourée", "plowed land", "#d0a349", "terre_labouree", _Z.VEGETATED),
    LandCoverClass(16, "Vigne", "vineyard", "#b08290", "vigne", _Z.VEGETATED),
)

CODES: tuple[int, ...] = tuple(c.code for c in CLASSES)
N_CODES = max(CODES) + 1
"""Raster values a class map can hold: no data (0) and the 16 class codes (size of count tables)."""
_BY_CODE = {c.code: c for c in CLASSES}


def by_code(code: int) -> LandCoverClass:
    """Return the class with this raster code.

    Raises:
        KeyError: the code is not one of 1–16 (0 is no data, not a class).

    """
    try:
        return _BY_CODE[code]
    except KeyError:
        raise KeyError(f"no land-cover class has code {code}; valid codes are 1–16") from None


def colormap() -> dict[int, tuple[int, int, int, int]]:
    """The 256-entry RGBA palette for a uint8 class raster (0 and unused codes transparent)."""
    cmap = {v: (0, 0, 0, 0) for v in range(256)}
    for c in CLASSES:
        cmap[c.code] = (*c.rgb, 255)
    return cmap
