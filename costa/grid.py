"""Chunk planning: the unit of reading, scheduling and writing.

A chunk is a group of neighbouring tiles (:mod:`costa.tiling`) read from the source in
one windowed read, halo included, and written back as one block of the output. Chunks
bound memory (nothing larger than a chunk is ever held) and are the Dask task unit: never
one task per tile, whose scheduling overhead would dominate.

Tiles are planned on the whole raster first, then grouped, so a chunk's halo is read
from its neighbours and chunk borders are invisible in the output.

>>> chunks = plan_chunks(3000, 3000, tile=512, halo=64, stride=32, chunk=2048)
>>> len(chunks), chunks[0].core, len(chunks[0].tiles)
(4, Box(row=0, col=0, height=2224, width=2224), 36)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import reduce

from costa.errors import OptionError
from costa.tiling import Box, Tile, plan_tiles

__all__ = ["Chunk", "plan_chunks"]


@dataclass(frozen=True)
class Chunk:
    """A group of tiles: ``read`` is the union of their reads, ``core`` of their cores."""

    index: int
    read: Box
    core: Box
    tiles: tuple[Tile, ...]


def plan_chunks(height: int, width: int, tile: int, halo: int, stride: int, chunk: int) -> list[Chunk]:
    """Group the raster's tiles into chunks of about ``chunk × chunk`` written pixels.

    A tile belongs to the chunk holding the top-left pixel of its core; chunks come in
    row-major order and their cores partition the raster.
    """
    if chunk <= 0:
        raise OptionError(f"--chunk {chunk} must be a positive number of pixels (e.g. 2048)")
    groups: dict[tuple[int, int], list[Tile]] = defaultdict(list)
    for t in plan_tiles(height, width, tile, halo, stride):
        groups[(t.core.row // chunk, t.core.col // chunk)].append(t)
    return [
        Chunk(
            index=i,
            read=reduce(Box.union, (t.read for t in tiles)),
            core=reduce(Box.union, (t.core for t in tiles)),
            tiles=tuple(tiles),
        )
        for i, (_, tiles) in enumerate(sorted(groups.items()))
    ]
