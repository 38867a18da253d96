"""Catalogue metadata: a STAC Item (and the styles) beside each land-cover COG.

The Item (``<stem>.stac.json``, written with rio-stac and pystac) carries the footprint in
WGS84, the ``projection`` extension (EPSG code, shape, transform), the ``raster`` extension
(data type, no data, statistics) and the ``classification`` extension listing the 16
classes with their codes, French names and colours, so a STAC browser or a catalogue
(GeoNetwork, stac-fastapi) describes the map without opening it. The asset's ``href`` is
the COG's file name, relative to the Item: move the two files together.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from costa.io.atomic import write_atomic
from costa.nomenclature import CLASSES

__all__ = ["ASSET", "STAC_SUFFIX", "describe_cog", "stac_item", "write_stac_item"]

ASSET = "landcover"
"""Name of the COG's asset in the Item."""
STAC_SUFFIX = ".stac.json"


def _period(tags: dict[str, str]) -> tuple[dt.datetime, dict[str, str]]:
    """The Item's datetime and, for a vintage (``YEAR`` tag), its start and end."""
    year = tags.get("YEAR", "")
    if year.isdigit():
        start = dt.datetime(int(year), 1, 1, tzinfo=dt.UTC)
        end = dt.datetime(int(year), 12, 31, 23, 59, 59, tzinfo=dt.UTC)
        return start, {"start_datetime": start.isoformat(), "end_datetime": end.isoformat()}
    return dt.datetime.now(dt.UTC).replace(microsecond=0), {}


def stac_item(cog: str | Path) -> dict[str, Any]:
    """The STAC Item of a land-cover COG, as a JSON-ready dict.

    Examples:
        >>> import costa
        >>> terr = costa.demo.make_territory(tmp / "demo", dalles=(1, 1), dalle_px=256)
        >>> item = stac_item(terr.truth[2024])
        >>> item["properties"]["proj:epsg"], len(item["assets"]["landcover"]["classification:classes"])
        (2154, 16)

    """
    import rasterio
    from pystac.extensions.classification import Classification, ClassificationExtension
    from rio_stac import create_stac_item

    cog = Path(cog)
    with rasterio.open(cog) as src:
        when, period = _period(src.tags())
        item = create_stac_item(
            src,
            input_datetime=when,
            id=cog.stem,
            properties={**period, "title": f"Occupation du sol — {cog.stem}"},
            asset_name=ASSET,
            asset_roles=["data"],
            asset_href=cog.name,
            asset_media_type="image/tiff; application=geotiff; profile=cloud-optimized",
            with_proj=True,
            with_raster=True,
            geom_precision=7,
        )
    classes = [
        Classification.create(value=c.code, description=c.fr, name=c.slug, color_hint=c.color[1:].upper())
        for c in CLASSES
    ]
    ClassificationExtension.ext(item.assets[ASSET], add_if_missing=True).classes = classes
    d: dict[str, Any] = item.to_dict(include_self_link=False)
    return d


def write_stac_item(cog: str | Path) -> Path:
    """Write the STAC Item beside ``cog`` as ``<stem>.stac.json`` (atomically); returns its path."""
    cog = Path(cog)
    path = cog.with_name(cog.stem + STAC_SUFFIX)
    return write_atomic(path, json.dumps(stac_item(cog), ensure_ascii=False, indent=1) + "\n")


def describe_cog(cog: str | Path) -> list[Path]:
    """Everything written beside a land-cover COG so tools describe it without costa.

    ``<name>.aux.xml`` (GDAL category names and attribute table), ``<stem>.qml`` (QGIS
    style) and ``<stem>.stac.json`` (STAC Item; not for a raster without CRS, which has no
    footprint to describe). Returns the paths written.
    """
    import rasterio

    from costa.io.styles import write_raster_styles

    written = write_raster_styles(cog)
    with rasterio.open(cog) as src:
        located = src.crs is not None
    return [*written, write_stac_item(cog)] if located else written
