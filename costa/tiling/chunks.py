"""Chunk planning: the unit of reading, scheduling and writing.

A chunk is a group of neighbouring tiles (:mod:`costa.tiling.tiles`) read from the source in
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
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce

from costa.errors import OptionError
from costa.tiling.tiles import Box, Tile, plan_tiles, segment_spans, tile_length

__all__ = ["Chunk", "plan_box_chunks", "plan_chunks", "split_chunk"]


@dataclass(frozen=True)
class Chunk:
    """A group of tiles read at once (``read``, the union of their reads), writing ``core``.

    A tile writes the part of its core inside the chunk's core.
    """

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


def plan_box_chunks(
    height: int, width: int, tile: int, halo: int, stride: int, boxes: Sequence[Box]
) -> list[Chunk]:
    """One chunk per box (e.g. one dalle of a mosaic), its tiles reading context from the neighbours.

    Each box is tiled on its own (:func:`costa.tiling.tiles.segment_spans` per axis): tile cores
    partition the box, so no tile runs in two chunks, while reads reach into the neighbouring
    boxes for at least ``halo`` pixels of context. Pixels at box borders therefore see the
    same context as anywhere else, and boxes never show seams.

    >>> boxes = [Box(0, 0, 1000, 1000), Box(0, 1000, 1000, 1000)]
    >>> [(c.read, len(c.tiles)) for c in plan_box_chunks(1000, 2000, 512, 64, 32, boxes)]
    [(Box(row=0, col=0, height=1024, width=1088), 9), (Box(row=0, col=928, height=1024, width=1088), 9)]
    """
    th, tw = tile_length(height, tile, stride), tile_length(width, tile, stride)
    chunks = []
    for i, box in enumerate(boxes):
        if box.clip(height, width) != box or not box.height or not box.width:
            raise OptionError(f"chunk {box} is not a non-empty part of the {height}×{width} raster")
        tiles = tuple(
            Tile.from_spans(r, c, th, tw)
            for r in segment_spans(box.row, box.row_stop, height, tile, halo, stride)
            for c in segment_spans(box.col, box.col_stop, width, tile, halo, stride)
        )
        chunks.append(Chunk(i, reduce(Box.union, (t.read for t in tiles)), box, tiles))
    return chunks


def split_chunk(chunk: Chunk, size: int) -> list[Chunk]:
    """Cut a chunk into bands of whole tile rows about ``size`` pixels high, to stream them.

    A job's chunk is a whole dalle; cut into bands, its reading, inference and writing
    overlap (:mod:`costa.inference.pipeline`) instead of taking turns. The tiles are the
    same ones, so are the pixels. Bands keep the chunk's index.

    >>> dalle = plan_box_chunks(5000, 5000, 1024, 128, 32, [Box(0, 0, 5000, 5000)])[0]
    >>> [(c.core.row, c.core.height, len(c.tiles)) for c in split_chunk(dalle, 2048)]
    [(0, 2143, 21), (2143, 2143, 21), (4286, 714, 7)]
    """
    if size <= 0:
        raise OptionError(f"--chunk {size} must be a positive number of pixels (e.g. 2048)")
    rows: dict[int, list[Tile]] = defaultdict(list)
    for t in chunk.tiles:
        rows[t.core.row].append(t)
    bands: list[list[Tile]] = []
    top = None
    for row in sorted(rows):
        if not bands or top is None or row - top >= size:
            bands.append([])
            top = row
        bands[-1].extend(rows[row])
    return [
        Chunk(
            index=chunk.index,
            read=reduce(Box.union, (t.read for t in tiles)),
            core=reduce(Box.union, (t.core for t in tiles)),
            tiles=tuple(tiles),
        )
        for tiles in bands
    ]
