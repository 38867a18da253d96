"""The shape of each commune of the ``communes`` layer: its boundary given, else its parcels' union.

With commune boundaries (``costa zan compute --communes``), a commune is mapped by its own
boundary, the perimeter its figures were counted over. Without, its figures were counted over
its parcels, so its shape is their union, closed: widened then narrowed by
:data:`OUTLINE_GAP_M`, so that the roads and rivers between parcels (not cadastral parcels
themselves) do not draw as holes and the commune reads as one area on a map. Either way the
``communes`` layer becomes a map QGIS styles by the artificialised share
(:func:`costa.io.styles.add_styles`) and the report draws on its index page.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["OUTLINE_GAP_M", "commune_shapes", "parcel_union"]

OUTLINE_GAP_M = 12.0
"""Gaps between parcels narrower than twice this (metres: roads, rivers) are closed in a commune's shape."""


def parcel_union(geoms: Any, gap: float = OUTLINE_GAP_M) -> Any:
    """The union of parcel polygons (metric CRS), gaps under ``2 · gap`` closed; None for no parcel.

    >>> import shapely
    >>> a, b = shapely.box(0, 0, 100, 100), shapely.box(110, 0, 200, 100)  # a 10 m road between
    >>> shape = parcel_union([a, b])
    >>> shape.geom_type, shape.contains(shapely.Point(105, 50)), parcel_union([])  # one area, road inside
    ('Polygon', True, None)
    """
    import shapely

    parts = np.asarray(geoms, dtype=object)
    if not parts.size:
        return None
    union = shapely.union_all(parts)
    if gap <= 0:
        return union
    closed = union.buffer(gap, quad_segs=4).buffer(-gap, quad_segs=4)
    return shapely.make_valid(closed.simplify(0.5)) if not closed.is_empty else union


def commune_shapes(keys: list[str], parcelles: Any, communes: Any | None) -> Any:
    """One shape per commune of ``keys`` (in order), in the CRS of ``parcelles``.

    Args:
        keys: INSEE codes, the rows of the ``communes`` table.
        parcelles: GeoDataFrame of the parcels with their ``commune`` code, in a metric CRS.
        communes: the commune boundaries given (``insee_com``, in the order of ``keys``), or None.

    Returns:
        A GeoSeries (None where a commune has neither boundary nor parcel).

    """
    import geopandas as gpd

    if communes is not None:
        geoms = communes.to_crs(parcelles.crs).geometry.make_valid()
        by_key = dict(zip(communes["insee_com"].astype(str), geoms, strict=True))
        return gpd.GeoSeries([by_key.get(k) for k in keys], crs=parcelles.crs)
    groups = parcelles.geometry.groupby(parcelles["commune"].astype(str), sort=False)
    by_commune = {k: parcel_union(g.values) for k, g in groups}
    return gpd.GeoSeries([by_commune.get(k) for k in keys], crs=parcelles.crs)
