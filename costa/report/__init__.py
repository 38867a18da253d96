"""The planners' report: one offline HTML page per commune, with map, legend, chart and ZAN figures.

:func:`build_report` reads a ZAN GeoPackage (``costa zan compute``) and the land-cover COG(s)
and writes a folder that opens from ``file://`` or through ``costa serve``.
"""

from costa.report.build import CommunePage, build_pages
from costa.report.render import build_report

__all__ = ["CommunePage", "build_pages", "build_report"]
