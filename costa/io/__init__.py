"""Pixels in and out: raster sources, dalle mosaics, the COG writer, xarray glue.

The only modules of the inference path that open files:

* :mod:`costa.io.sources` — one raster (or a numpy array) read by boxes, bands checked;
* :mod:`costa.io.mosaic` — many dalles and products read as one raster;
* :mod:`costa.io.writer` — land-cover COGs and VRT mosaics, written atomically;
* :mod:`costa.io.overviews` — the COG's overviews, by mode, built as blocks complete;
* :mod:`costa.io.cogfile` — the COG laid out from tiles already compressed (no re-encoding);
* :mod:`costa.io.atomic` — the one temporary-file-then-rename idiom every writer uses;
* :mod:`costa.io.xr` — labelled ``xarray.DataArray`` in and out;
* :mod:`costa.io.gpkg` — which tables of a GeoPackage hold data, read with :mod:`sqlite3`.

Names are imported at first use (PEP 562): ``costa.io.gpkg`` alone does not import GDAL.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from costa.io.atomic import atomic_path
    from costa.io.gpkg import data_layer
    from costa.io.mosaic import BandRecipe, Mosaic, MosaicSource, find_dalles, scan
    from costa.io.sources import ArraySource, RasterSource, Source
    from costa.io.writer import check_writable, write_cog, write_vrt

__all__ = [
    "ArraySource",
    "BandRecipe",
    "Mosaic",
    "MosaicSource",
    "RasterSource",
    "Source",
    "atomic_path",
    "check_writable",
    "data_layer",
    "find_dalles",
    "scan",
    "write_cog",
    "write_vrt",
]

_LAZY = {
    "ArraySource": "costa.io.sources",
    "BandRecipe": "costa.io.mosaic",
    "Mosaic": "costa.io.mosaic",
    "MosaicSource": "costa.io.mosaic",
    "RasterSource": "costa.io.sources",
    "Source": "costa.io.sources",
    "atomic_path": "costa.io.atomic",
    "check_writable": "costa.io.writer",
    "data_layer": "costa.io.gpkg",
    "find_dalles": "costa.io.mosaic",
    "scan": "costa.io.mosaic",
    "write_cog": "costa.io.writer",
    "write_vrt": "costa.io.writer",
}


def __getattr__(name: str) -> object:
    """A public name, imported from its module at first use."""
    if name not in _LAZY:
        raise AttributeError(f"module 'costa.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value
