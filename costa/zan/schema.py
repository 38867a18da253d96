"""The ZAN tables' vocabulary in one place: parcel statuses, field names, French labels, defaults.

The GeoPackage, the CSV/Parquet tables, ``costa zan query``, the report and ``costa serve``
all read these names from here, so they cannot disagree. The module imports nothing: the
command line reads its defaults (:data:`DEFAULT_RULES`, :data:`DEFAULT_WINDOW`) at start-up.
"""

from __future__ import annotations

__all__ = [
    "ARTIF",
    "COUNT_FIELDS",
    "DEFAULT_RULES",
    "DEFAULT_WINDOW",
    "FIELDS",
    "NEW",
    "NOT_ARTIF",
    "PARTIAL",
    "STATUSES",
    "STATUS_COLORS",
    "cli_label",
]

DEFAULT_RULES = "cosia-2023-v2"
"""What ``--rules`` defaults to: the thresholds on the patch graph (version 2), exact by windows,
in bounded memory and faster than version 1; it gave version 1's tables on every case compared
(the real cadastre of 91216 tiled 2 × 2, the synthetic territories and noisy rasters of
``python -m benchmarks zan-windowed --v1-vs-v2``). Version 1 stays selectable (``cosia-2023``)."""
DEFAULT_WINDOW = 2048
"""Default window side (px): 2048² × 40 B ≈ 0.17 GB of window arrays per process. Smaller windows
are faster per pixel here (arrays closer to the CPU caches): on the real four-commune case at
20 cm, rule set v2 ran 24 Mpx per CPU-second at 2048 against 21 at 4096 (964 → 588 MB), the pixel
rule as fast; at 1024 the merge's tables in the parent grow (see ZAN benchmark notes)."""


ARTIF = "artificialisée"
PARTIAL = "partiellement artificialisée"
NOT_ARTIF = "non artificialisée"
STATUSES = (ARTIF, PARTIAL, NOT_ARTIF)
"""A parcel's ``statut`` (and ``statut_old`` for the older vintage)."""
NEW = "nouvellement artificialisée"
"""Shown (never stored) for a parcel artificialised since the older vintage."""

STATUS_COLORS: dict[str, str] = {
    ARTIF: "#c0392b",
    PARTIAL: "#e67e22",
    NOT_ARTIF: "#2e86c1",
    NEW: "#8e44ad",
}
"""Outline colour of a parcel by status."""

COUNT_FIELDS: dict[str, str] = {
    "n_parcelles_artif": ARTIF,
    "n_parcelles_partielles": PARTIAL,
    "n_parcelles_non_artif": NOT_ARTIF,
}
"""Commune field → the parcel status it counts."""

FIELDS: dict[str, tuple[str, str | None]] = {
    "insee_com": ("Code INSEE", None),
    "nom": ("Commune", None),
    "annee": ("Millésime", None),
    "perimetre": ("Périmètre", None),
    "surface_ha": ("Surface mesurée", "ha"),
    "artif_ha": ("Surface artificialisée", "ha"),
    "artif_pct": ("Part artificialisée", "%"),
    "n_parcelles": ("Parcelles", None),
    "n_parcelles_artif": ("Parcelles artificialisées", None),
    "n_parcelles_partielles": ("Parcelles partiellement artificialisées", None),
    "n_parcelles_non_artif": ("Parcelles non artificialisées", None),
    "flux_artif_ha": ("Flux d'artificialisation", "ha"),
    "flux_desartif_ha": ("Flux de désartificialisation", "ha"),
    "flux_artif_net_ha": ("Artificialisation nette", "ha"),
    "n_parcelles_nouvellement_artif": ("Parcelles nouvellement artificialisées", None),
    "regles": ("Règles", None),
    "regles_version": ("Version des règles", None),
}
"""Commune field → (French label, unit), in display order."""


def cli_label(field: str) -> str:
    """A field's French label with its unit, as ``costa zan query`` prints it.

    >>> cli_label("artif_ha"), cli_label("nom")
    ('Surface artificialisée (ha)', 'Commune')
    """
    label, unit = FIELDS[field]
    return f"{label} ({unit})" if unit else label
