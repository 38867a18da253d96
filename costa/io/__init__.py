"""Pixels in and out: raster sources, dalle mosaics, the COG writer, xarray glue.

The only modules of the inference path that open files:

* :mod:`costa.io.sources` — one raster (or a numpy array) read by boxes, bands checked;
* :mod:`costa.io.mosaic` — many dalles and products read as one raster;
* :mod:`costa.io.writer` — land-cover COGs and VRT mosaics, written atomically;
* :mod:`costa.io.overviews` — the COG's overviews, by mode, built as blocks complete;
* :mod:`costa.io.cogfile` — the COG laid out from tiles already compressed (no re-encoding);
* :mod:`costa.io.atomic` — the one temporary-file-then-rename idiom every writer uses;
* :mod:`costa.io.xr` — labelled ``xarray.DataArray`` in and out.
"""

from costa.io.atomic import atomic_path
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
    "find_dalles",
    "scan",
    "write_cog",
    "write_vrt",
]
