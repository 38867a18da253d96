"""Overviews of a class map, built while its blocks are written (no second pass).

A COG's overviews are usually computed once the full-resolution image is finished: a
serial pass over the whole file, after the last block, that nothing can hide. Class maps
need *mode* resampling, which is local: a pixel of the 2× overview depends on a 2×2 block
of the image only. So the image is cut into aligned cells of ``C × C`` pixels (``C`` a
power of two at least as large as the coarsest overview factor); as soon as every pixel
of a cell has been written, the cell is decimated down the whole pyramid (2×, 4×, …, each
level from the previous one, as GDAL does) and written into one small raster per level.
The writer thread does this between blocks, overlapping with inference.

Mode of a 2×2 block: the most frequent valid code (no data, 0, does not vote unless the
four pixels are all no data); on a tie, GDAL's rule (the code that first reaches the count).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from costa.tiling.tiles import Box

__all__ = ["Pyramid", "mode2", "overview_factors"]

MIN_CELL = 1024
"""Smallest cell side (pixels of the image) decimated at once."""


def overview_factors(width: int, height: int, blocksize: int = 512) -> list[int]:
    """Decimation factors of a COG's overviews, halving until the smaller side fits one block.

    The same levels as rio-cogeo (``get_maximum_overview_level`` with the block size).

    >>> overview_factors(8192, 8192), overview_factors(700, 900), overview_factors(512, 4000)
    ([2, 4, 8, 16], [2], [])
    """
    factors: list[int] = []
    f = 1
    while min(width // f, height // f) > blocksize:
        f *= 2
        factors.append(f)
    return factors


def mode2(a: np.ndarray) -> np.ndarray:
    """Mode of every 2×2 block of ``(..., h, w)`` codes (0 = no data), odd edges padded as no data.

    GDAL's rule, so overviews match ``gdaladdo -r mode``: reading the block in order and
    counting, the code that first reaches the highest count wins. Class codes (0–16) are
    looked up in a table of every 2×2 block, built once with the same rule (3× faster than
    counting); other values (the confidence band) are counted.

    >>> mode2(np.array([[3, 5, 0, 0], [5, 1, 0, 7]], np.uint8))
    array([[5, 7]], dtype=uint8)
    >>> mode2(np.array([[2, 3], [3, 2]], np.uint8))  # a tie: 3 reaches two votes first
    array([[3]], dtype=uint8)
    >>> mode2(np.array([[90, 3], [90, 3]], np.uint8))  # not a class code: counted
    array([[90]], dtype=uint8)
    """
    h, w = a.shape[-2:]
    if h % 2 or w % 2:
        pad = [(0, 0)] * (a.ndim - 2) + [(0, h % 2), (0, w % 2)]
        a = np.pad(a, pad)
    quad = [a[..., i::2, j::2] for i in (0, 1) for j in (0, 1)]
    if a.size and int(a.max()) < _CODES:
        key = quad[0].astype(np.uint32)
        for q in quad[1:]:
            key *= _CODES
            key += q
        return _mode_table()[key]
    return _counted_mode(quad)


_CODES = 17
"""Values the lookup table covers: no data (0) and the 16 class codes."""


@functools.cache
def _mode_table() -> np.ndarray:
    """The mode of every 2×2 block of values below ``_CODES``, by key ``((a·17 + b)·17 + c)·17 + d``."""
    v = np.arange(_CODES, dtype=np.uint8)
    quad = [g.ravel() for g in np.meshgrid(v, v, v, v, indexing="ij")]
    return _counted_mode(quad)


def _counted_mode(quad: Sequence[np.ndarray]) -> np.ndarray:
    """GDAL's mode of the 2×2 blocks whose four pixels, in reading order, are ``quad``."""
    best = quad[0].copy()
    best_count = (quad[0] != 0).view(np.uint8).copy()
    for p in range(1, 4):
        c = quad[p]
        count = sum(((q == c).view(np.uint8) for q in quad[: p + 1]), np.zeros(c.shape, np.uint8))
        count[c == 0] = 0
        better = count > best_count
        best[better] = c[better]
        best_count[better] = count[better]
    return best


class Pyramid:
    """Tracks which cells of an image are complete and decimates each into the overview rasters.

    Args:
        base: the full-resolution dataset being written (opened readable, ``w+``).
        levels: one writable dataset per factor of ``factors``, each ``ceil(size / factor)``.
        factors: 2, 4, 8, … (each twice the previous).

    """

    def __init__(self, base: Any, levels: Sequence[Any], factors: Sequence[int]) -> None:
        self._base, self._levels, self._factors = base, list(levels), list(factors)
        self._cell = max(MIN_CELL, factors[-1] if factors else 1)
        self._height, self._width = base.height, base.width
        self._covered: dict[tuple[int, int], int] = {}
        self._done: set[tuple[int, int]] = set()

    def add(self, box: Box) -> None:
        """Count ``box`` as written; decimate the cells it completes."""
        if not self._factors:
            return
        c = self._cell
        for i in range(box.row // c, (box.row_stop - 1) // c + 1):
            for j in range(box.col // c, (box.col_stop - 1) // c + 1):
                cell = self._cell_box(i, j)
                part = cell.intersect(box)
                self._covered[(i, j)] = self._covered.get((i, j), 0) + part.height * part.width
                if self._covered[(i, j)] >= cell.height * cell.width:
                    self._decimate(i, j)

    def finish(self) -> None:
        """Decimate the cells not yet complete (parts never written read as no data)."""
        if not self._factors:
            return
        c = self._cell
        for i in range(-(-self._height // c)):
            for j in range(-(-self._width // c)):
                if (i, j) not in self._done:
                    self._decimate(i, j)

    def _cell_box(self, i: int, j: int) -> Box:
        c = self._cell
        return Box(i * c, j * c, c, c).clip(self._height, self._width)

    def _decimate(self, i: int, j: int) -> None:
        cell = self._cell_box(i, j)
        a = self._base.read(window=cell.window())
        for f, dst in zip(self._factors, self._levels, strict=True):
            a = mode2(a)
            dst.write(a, window=Box(cell.row // f, cell.col // f, a.shape[1], a.shape[2]).window())
        self._done.add((i, j))
        self._covered.pop((i, j), None)
