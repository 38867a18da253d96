"""Where the pixels go: tiles with their halo, chunks of tiles, national dalle grids.

Pure arithmetic on half-open pixel boxes (:class:`Box`), no file is opened here except the
grid definitions shipped in ``grids/``:

* :mod:`costa.tiling.tiles` — :class:`Box`, :class:`Tile` and the halo maths;
* :mod:`costa.tiling.chunks` — tiles grouped into chunks read and written at once;
* :mod:`costa.tiling.national` — the national 1 km dalle grids (Lambert-93, overseas).
"""

from costa.tiling.chunks import Chunk, plan_box_chunks, plan_chunks
from costa.tiling.national import Grid, find_grid, grid_cells, grids, square_cells
from costa.tiling.tiles import Box, Tile, plan_tiles, round_up, segment_spans

__all__ = [
    "Box",
    "Chunk",
    "Grid",
    "Tile",
    "find_grid",
    "grid_cells",
    "grids",
    "plan_box_chunks",
    "plan_chunks",
    "plan_tiles",
    "round_up",
    "segment_spans",
    "square_cells",
]
