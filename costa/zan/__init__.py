"""ZAN (zéro artificialisation nette) figures from land-cover rasters (rules: docs/zan.md).

:func:`compute` turns one or two land-cover rasters, parcels and communes into tables per
parcel and per commune (:class:`ZanResult`), reading the rasters by windows
(:mod:`costa.zan.windowed`); :func:`compute_by_commune` does it commune by commune, in
parallel and resumably; :func:`write` saves them as a GeoPackage (plus
CSV and Parquet) and :func:`query` reads a commune back. :mod:`costa.zan.rules` holds the
pure arithmetic (rule sets, usage proxy, thresholds, parcel status).

Names are imported at first use (PEP 562): ``costa zan query`` (:mod:`costa.zan.lookup`)
answers without numpy, GDAL or pandas.
"""

import importlib
import sys
import types
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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

_LAZY = {
    "RULESETS": "costa.zan.rules",
    "ParcelRule": "costa.zan.rules",
    "RuleSet": "costa.zan.rules",
    "ZanResult": "costa.zan.compute",
    "absorb_small_patches": "costa.zan.rules",
    "artificialised": "costa.zan.rules",
    "class_counts": "costa.zan.rules",
    "compute": "costa.zan.compute",
    "compute_by_commune": "costa.zan.batch",
    "parcel_status": "costa.zan.rules",
    "query": "costa.zan.io",
    "urban_usage": "costa.zan.rules",
    "write": "costa.zan.io",
}


def __getattr__(name: str) -> object:
    """A public name, imported from its module at first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'costa.zan' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """``costa.zan.compute`` is the function, even once the module of that name is imported.

    Importing a submodule binds its name in the package; an eager ``from costa.zan.compute
    import compute`` used to rebind it to the function for good. Imported lazily, the
    submodule would come second and win, so its binding is refused here and
    :func:`__getattr__` answers with the function (the module stays in ``sys.modules``).
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name == "compute" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
