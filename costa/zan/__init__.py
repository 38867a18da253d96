"""ZAN (zéro artificialisation nette) figures from land-cover rasters (see shared ZAN.md).

Work in progress: :mod:`costa.zan.rules` holds the pure arithmetic (rule sets, usage proxy,
thresholds, parcel status); reading parcels, commune aggregation and exports come next.
"""

from costa.zan.rules import (
    RULESETS,
    ParcelRule,
    RuleSet,
    artificialised,
    class_counts,
    parcel_status,
    urban_usage,
)

__all__ = [
    "RULESETS",
    "ParcelRule",
    "RuleSet",
    "artificialised",
    "class_counts",
    "parcel_status",
    "urban_usage",
]
