"""The planners' report: one offline HTML page per commune, with map, legend, chart and ZAN figures.

:func:`build_report` reads a ZAN GeoPackage (``costa zan compute``) and the land-cover COG(s)
and writes a folder that opens from ``file://`` or through ``costa serve``; with it, each
land-cover map as a full-resolution PMTiles archive (:func:`write_pmtiles`, also ``costa map``).
"""

from costa.report.build import CommunePage, build_pages
from costa.report.render import build_report
from costa.report.tiles import TileArchive, write_pmtiles

__all__ = ["CommunePage", "TileArchive", "build_pages", "build_report", "write_pmtiles"]
