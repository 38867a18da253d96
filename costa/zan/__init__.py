"""ZAN (zéro artificialisation nette) figures from land-cover rasters (rules: docs/zan.md).

:func:`compute` turns one or two land-cover rasters, parcels and communes into tables per
parcel and per commune (:class:`ZanResult`), reading the rasters by windows
(:mod:`costa.zan.windowed`); :func:`compute_by_commune` does it commune by commune, in
parallel and resumably; :func:`write` saves them as a GeoPackage (plus
CSV and Parquet) and :func:`query` reads a commune back. :mod:`costa.zan.rules` holds the
pure arithmetic (rule sets, usage proxy, thresholds, parcel status).
"""

from costa.zan.batch import compute_by_commune
from costa.zan.compute import ZanResult, compute
from costa.zan.io import query, write
from costa.zan.rules import (
    RULESETS,
    ParcelRule,
    RuleSet,
    absorb_small_patches,
    artificialised,
    class_counts,
    parcel_status,
    urban_usage,
)

__all__ = [
    "RULESETS",
    "ParcelRule",
    "RuleSet",
    "ZanResult",
    "absorb_small_patches",
    "artificialised",
    "class_counts",
    "compute",
    "compute_by_commune",
    "parcel_status",
    "query",
    "urban_usage",
    "write",
]
