r"""Tile planning: where each model input is read and which pixels it writes.

Pure functions on integers; nothing here touches a file.

Per axis, for a raster of length :math:`L`, tile :math:`T`, halo :math:`H` and network
stride :math:`m` (``T`` and ``H`` multiples of ``m``):

* the raster is padded to :math:`L_p = m\lceil L/m \rceil`, as whole-image inference pads it,
  and the tile length is :math:`t = \min(T, L_p)` (a tile larger than the raster is one
  window over the whole raster);
* with :math:`S = T - 2H`, the fewest tiles whose overlaps are all at least :math:`2H` is
  :math:`n = 1 + \lceil (L_p - t) / S \rceil`; tile :math:`k` is read at
  :math:`r_k = m\,\mathrm{round}(k (L_p - t) / ((n-1) m))`, evenly spread from 0 to
  :math:`L_p - t`. Consecutive origins differ by at most :math:`S` (a multiple of ``m``), and
  every origin is a multiple of ``m`` on the raster's own pixel grid, so the network's pooling
  grid is the same in every tile as in the whole image; edge tiles end at the raster edge
  rather than being padded inside it, so they see the edge exactly as the whole image does;
* each pixel is written by exactly one tile, the one in which it sits deepest: the boundary
  between tiles :math:`k-1` and :math:`k` is the midpoint of their centres,
  :math:`b_k = (r_{k-1} + r_k + t)/2`. Consecutive reads overlap by at least :math:`2H`,
  so every written pixel has at least :math:`H` pixels of context on every interior side.

Because a pixel's value depends only on its own tile, the output does not depend on how
tiles are grouped into chunks or spread over workers.

>>> for span in axis_spans(1000, tile=512, halo=64, stride=32):
...     print(span)
Span(read=0, core_start=0, core_stop=384)
Span(read=256, core_start=384, core_stop=640)
Span(read=512, core_start=640, core_stop=1000)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from affine import Affine

from costa.errors import OptionError

if TYPE_CHECKING:
    from rasterio.windows import Window

__all__ = [
    "Box",
    "Span",
    "Tile",
    "axis_spans",
    "check_geometry",
    "plan_tiles",
    "round_up",
    "segment_spans",
    "tile_length",
]


class Span(NamedTuple):
    """One tile along one axis: read origin, and the half-open core it writes."""

    read: int
    core_start: int
    core_stop: int


@dataclass(frozen=True)
class Box:
    """A half-open pixel rectangle ``[row, row+height) × [col, col+width)``."""

    row: int
    col: int
    height: int
    width: int

    @property
    def row_stop(self) -> int:
        """First row past the box."""
        return self.row + self.height

    @property
    def col_stop(self) -> int:
        """First column past the box."""
        return self.col + self.width

    def slices(self, origin: Box | None = None) -> tuple[slice, slice]:
        """Row and column slices of this box, relative to ``origin``'s top-left corner."""
        b = self.relative_to(origin) if origin else self
        return (slice(b.row, b.row_stop), slice(b.col, b.col_stop))

    def relative_to(self, origin: Box) -> Box:
        """The same pixels, counted from ``origin``'s top-left corner (a window inside a file of ``origin``).

        >>> Box(5, 7, 2, 3).relative_to(Box(4, 4, 10, 10))
        Box(row=1, col=3, height=2, width=3)
        """
        return Box(self.row - origin.row, self.col - origin.col, self.height, self.width)

    def union(self, other: Box) -> Box:
        """Smallest box holding both."""
        r, c = min(self.row, other.row), min(self.col, other.col)
        return Box(r, c, max(self.row_stop, other.row_stop) - r, max(self.col_stop, other.col_stop) - c)

    def intersect(self, other: Box) -> Box:
        """Overlap of both boxes (``height`` or ``width`` 0 when they do not meet).

        >>> Box(0, 0, 10, 10).intersect(Box(5, 8, 10, 10))
        Box(row=5, col=8, height=5, width=2)
        """
        r, c = max(self.row, other.row), max(self.col, other.col)
        return Box(
            r,
            c,
            max(0, min(self.row_stop, other.row_stop) - r),
            max(0, min(self.col_stop, other.col_stop) - c),
        )

    def clip(self, height: int, width: int) -> Box:
        """Cut the box to ``[0, height) × [0, width)`` (the result may be empty)."""
        return self.intersect(Box(0, 0, height, width))

    @property
    def empty(self) -> bool:
        """True when the box holds no pixel."""
        return self.height <= 0 or self.width <= 0

    def window(self) -> Window:
        """The same pixels as a rasterio :class:`~rasterio.windows.Window` (to read or write them).

        >>> Box(2, 3, 4, 5).window()
        Window(col_off=3, row_off=2, width=5, height=4)
        """
        from rasterio.windows import Window

        return Window(self.col, self.row, self.width, self.height)

    def transform(self, parent: Affine) -> Affine:
        """Geotransform of the box's top-left pixel, given the transform of the raster it is in.

        >>> from affine import Affine
        >>> Box(10, 20, 1, 1).transform(Affine(0.2, 0, 1000, 0, -0.2, 5000))[2:6:3]
        (1004.0, 4998.0)
        """
        return parent * Affine.translation(self.col, self.row)

    @classmethod
    def from_bounds(
        cls, bounds: tuple[float, float, float, float], transform: Affine, height: int, width: int
    ) -> Box:
        """Pixels of a ``height × width`` raster meeting map ``bounds`` (xmin, ymin, xmax, ymax).

        Snapped outwards to whole pixels (a bound within 10⁻⁶ px of a pixel edge counts as on
        it) and clipped to the raster; empty when the bounds miss it.

        >>> from affine import Affine
        >>> Box.from_bounds((1000.1, 4999.0, 1000.5, 4999.9), Affine(0.2, 0, 1000, 0, -0.2, 5000), 100, 100)
        Box(row=0, col=0, height=5, width=3)
        """
        xmin, ymin, xmax, ymax = bounds
        inv = ~transform
        cols, rows = zip(*(inv * (x, y) for x in (xmin, xmax) for y in (ymin, ymax)), strict=True)
        eps = 1e-6
        c0, c1 = math.floor(min(cols) + eps), math.ceil(max(cols) - eps)
        r0, r1 = math.floor(min(rows) + eps), math.ceil(max(rows) - eps)
        return cls(r0, c0, max(0, r1 - r0), max(0, c1 - c0)).clip(height, width)


@dataclass(frozen=True)
class Tile:
    """One model input: the window it reads and the pixels it writes (``core ⊆ read``)."""

    read: Box
    core: Box

    @classmethod
    def from_spans(cls, row: Span, col: Span, height: int, width: int) -> Tile:
        """The tile of a row span and a column span, reading ``height × width`` pixels."""
        return cls(
            Box(row.read, col.read, height, width),
            Box(
                row.core_start, col.core_start, row.core_stop - row.core_start, col.core_stop - col.core_start
            ),
        )


def round_up(n: int, m: int) -> int:
    """Smallest multiple of ``m`` that is ``>= n``."""
    return -(-n // m) * m


def check_geometry(tile: int, halo: int, stride: int) -> None:
    """Raise OptionError unless tile and halo fit the network stride.

    >>> check_geometry(512, 64, 32)
    >>> check_geometry(500, 64, 32)
    Traceback (most recent call last):
    ...
    costa.errors.OptionError: --tile 500 must be a multiple of the model stride 32 (e.g. 512)
    """
    problem = geometry_problem(tile, halo, stride)
    if problem:
        raise OptionError(f"--{problem[0]} {problem[1]}")


def geometry_problem(tile: int, halo: int, stride: int) -> tuple[str, str] | None:
    """What is wrong with a tile and halo for a network stride: ``(tile or halo, why)``, or None.

    The one statement of the rule, for options (:func:`check_geometry`) and model cards alike.

    >>> geometry_problem(256, 128, 32)
    ('tile', '256 must be larger than twice --halo 128')
    """
    if stride <= 0:
        return "tile", f"{tile} needs a positive model stride, got {stride}"
    if tile <= 0 or tile % stride:
        example = max(stride, round_up(tile, stride))
        return "tile", f"{tile} must be a multiple of the model stride {stride} (e.g. {example})"
    if halo < 0 or halo % stride:
        return "halo", (
            f"{halo} must be a non-negative multiple of the model stride {stride} "
            f"(e.g. {round_up(max(halo, 0), stride)})"
        )
    if tile <= 2 * halo:
        return "tile", f"{tile} must be larger than twice --halo {halo}"
    return None


def axis_spans(length: int, tile: int, halo: int, stride: int) -> list[Span]:
    """Plan the tiles along one axis (see the module docstring for the maths)."""
    check_geometry(tile, halo, stride)
    if length <= 0:
        return []
    padded = round_up(length, stride)
    t = min(tile, padded)
    n = 1 if padded <= t else 1 + math.ceil((padded - t) / (tile - 2 * halo))
    span = (padded - t) / max(n - 1, 1) / stride
    reads = sorted({stride * round(k * span) for k in range(n)})
    bounds = [0] + [(a + b + t) // 2 for a, b in itertools.pairwise(reads)] + [length]
    return [Span(r, lo, min(hi, length)) for r, lo, hi in zip(reads, bounds[:-1], bounds[1:], strict=True)]


def segment_spans(start: int, stop: int, length: int, tile: int, halo: int, stride: int) -> list[Span]:
    r"""Tiles whose cores partition ``[start, stop)`` of an axis, reading their context beyond it.

    For a chunk such as a dalle, planned on its own so no tile is run by two chunks. A read
    origin :math:`r = m\lfloor (c_0 - H)/m \rfloor` (clamped to ``[0, L_p - t]``) frames a core
    ``[c0, c1)`` with at least ``H`` pixels of context on both sides (or up to the raster edge)
    when :math:`c_1 - c_0 \le t - 2H - m + 1`; the segment is cut into the fewest such cores,
    of even lengths. Origins stay multiples of ``m`` on the raster's grid.

    >>> for span in segment_spans(1000, 2000, 3000, tile=512, halo=64, stride=32):
    ...     print(span)
    Span(read=928, core_start=1000, core_stop=1333)
    Span(read=1248, core_start=1333, core_stop=1667)
    Span(read=1600, core_start=1667, core_stop=2000)
    """
    check_geometry(tile, halo, stride)
    padded = round_up(length, stride)
    t = min(tile, padded)
    if t == padded:
        return [Span(0, start, stop)]
    room = t - 2 * halo - stride + 1
    n = math.ceil((stop - start) / room)
    bounds = [start + round(k * (stop - start) / n) for k in range(n + 1)]
    return [
        Span(min(max((lo - halo) // stride * stride, 0), padded - t), lo, hi)
        for lo, hi in itertools.pairwise(bounds)
    ]


def tile_length(length: int, tile: int, stride: int) -> int:
    """Length of every tile along an axis of this length (``min(tile, padded length)``)."""
    return min(tile, round_up(length, stride))


def plan_tiles(height: int, width: int, tile: int, halo: int, stride: int) -> list[Tile]:
    """All tiles of a ``height × width`` raster, row-major; their cores partition it.

    >>> tiles = plan_tiles(700, 1000, tile=512, halo=64, stride=32)
    >>> len(tiles), tiles[0].read, tiles[-1].core
    (6, Box(row=0, col=0, height=512, width=512), Box(row=352, col=640, height=348, width=360))
    """
    th, tw = tile_length(height, tile, stride), tile_length(width, tile, stride)
    return [
        Tile.from_spans(r, c, th, tw)
        for r in axis_spans(height, tile, halo, stride)
        for c in axis_spans(width, tile, halo, stride)
    ]
