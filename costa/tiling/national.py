"""National dalle grids (data files in ``tiling/grids``) and how a raster is cut into chunks.

A job's chunk is its unit of work, of output and of resumption. Dalles given as files are
their own chunks; one large raster is cut along the national dalle grid of its CRS (so its
outputs are named and bounded like the national product), or in squares of ``--chunk`` pixels
when no grid matches.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from rasterio.crs import CRS

from costa.errors import OptionError
from costa.resources import data_path
from costa.tiling.tiles import Box

__all__ = ["Grid", "find_grid", "grid_cells", "grids", "square_cells"]


@dataclass(frozen=True)
class Grid:
    """A national dalle grid: square dalles of ``dalle_m`` metres in ``crs``."""

    name: str
    title: str
    crs: str
    dalle_m: float
    gsd_m: float
    dalle_name: str

    def matches(self, crs: Any) -> bool:
        """True if ``crs`` is this grid's CRS."""
        return bool(crs is not None and CRS.from_user_input(self.crs) == crs)


@cache
def grids() -> dict[str, Grid]:
    """Every grid preset by name.

    >>> sorted(grids())
    ['antilles', 'guyane', 'lambert93', 'mayotte', 'reunion']
    >>> grids()["reunion"].crs
    'EPSG:2975'
    """
    out = {}
    for f in sorted(data_path("tiling", "grids").glob("*.json")):
        d = json.loads(f.read_text())
        out[d["name"]] = Grid(d["name"], d["title"], d["crs"], d["dalle_m"], d["gsd_m"], d["dalle_name"])
    return out


def find_grid(name: str | None, crs: Any) -> Grid | None:
    """The grid called ``name``, or (``name`` None or ``auto``) the one in ``crs``, if any.

    >>> find_grid("auto", CRS.from_epsg(2154)).name
    'lambert93'
    >>> find_grid(None, CRS.from_epsg(32631)) is None
    True
    """
    table = grids()
    if name in (None, "auto"):
        return next((g for g in table.values() if g.matches(crs)), None)
    if name == "none":
        return None
    if name not in table:
        raise OptionError(f"--grid {name!r} is not one of auto, none, {', '.join(sorted(table))}")
    grid = table[name]
    if not grid.matches(crs):
        raise OptionError(f"--grid {name} is for {grid.crs} but the source is in {CRS.from_user_input(crs)}")
    return grid


def grid_cells(grid: Grid, transform: Any, height: int, width: int) -> list[tuple[str, Box]]:
    """The grid's dalles over a raster, clipped to it, named as the national product names them.

    >>> from rasterio.transform import from_origin
    >>> cells = grid_cells(grids()["lambert93"], from_origin(380500, 6280000, 0.2, 0.2), 5000, 5000)
    >>> [(name, box.width) for name, box in cells]
    [('0380-6280', 2500), ('0381-6280', 2500)]
    """
    res = abs(transform.a)
    x0, y0 = transform.c, transform.f
    x1, y1 = x0 + width * res, y0 - height * res
    step = grid.dalle_m
    cells = []
    for ky in range(math.ceil(y0 / step - 1e-9), math.floor(y1 / step + 1e-9), -1):
        for kx in range(math.floor(x0 / step + 1e-9), math.ceil(x1 / step - 1e-9)):
            col, row = round((kx * step - x0) / res), round((y0 - ky * step) / res)
            box = Box(row, col, round(step / res), round(step / res)).clip(height, width)
            if box.height and box.width:
                name = grid.dalle_name.format(x_km=round(kx * step / 1000), y_km=round(ky * step / 1000))
                cells.append((name, box))
    return cells


def square_cells(height: int, width: int, side: int) -> list[tuple[str, Box]]:
    """Squares of ``side`` pixels, named ``r<row>-c<col>`` by their pixel origin.

    >>> square_cells(3000, 2000, 2048)[-1]
    ('r2048-c0', Box(row=2048, col=0, height=952, width=2000))
    """
    if side <= 0:
        raise OptionError(f"--chunk {side} must be a positive number of pixels (e.g. 2048)")
    return [
        (f"r{r}-c{c}", Box(r, c, side, side).clip(height, width))
        for r in range(0, height, side)
        for c in range(0, width, side)
    ]
