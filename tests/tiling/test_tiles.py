from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from costa.errors import OptionError
from costa.tiling.chunks import plan_box_chunks, plan_chunks
from costa.tiling.tiles import Box, axis_spans, check_geometry, plan_tiles, round_up, segment_spans

geometry = st.tuples(st.integers(1, 12), st.integers(0, 4)).filter(lambda th: th[0] > 2 * th[1])


@given(length=st.integers(1, 5000), th=geometry, stride=st.sampled_from([8, 32]))
def test_axis_spans_partition_align_and_context(length: int, th: tuple[int, int], stride: int) -> None:
    tile, halo = th[0] * stride * 2, th[1] * stride
    spans = axis_spans(length, tile, halo, stride)
    padded = round_up(length, stride)
    t = min(tile, padded)
    # cores partition [0, length)
    assert spans[0].core_start == 0 and spans[-1].core_stop == length
    for a, b in itertools.pairwise(spans):
        assert a.core_stop == b.core_start
    for s in spans:
        assert s.core_start < s.core_stop
        assert s.read % stride == 0  # aligned on the raster grid
        assert s.read >= 0 and s.read + t <= max(padded, t)  # never before 0, never past the padding
        assert s.read <= s.core_start and s.core_stop <= s.read + t
        if s.core_start > 0:  # interior sides keep >= halo of context
            assert s.core_start - s.read >= halo
        if s.core_stop < length:
            assert s.read + t - s.core_stop >= halo


@given(
    length=st.integers(1, 5000),
    cut=st.tuples(st.floats(0, 1), st.floats(0, 1)),
    th=geometry,
    stride=st.sampled_from([8, 32]),
)
def test_segment_spans_partition_the_segment_with_context_from_outside(
    length: int, cut: tuple[float, float], th: tuple[int, int], stride: int
) -> None:
    tile, halo = th[0] * stride * 2, th[1] * stride
    start, stop = sorted(int(c * length) for c in cut)
    stop = max(stop, start + 1)
    if stop > length:
        start, stop = length - 1, length
    spans = segment_spans(start, stop, length, tile, halo, stride)
    padded = round_up(length, stride)
    t = min(tile, padded)
    assert spans[0].core_start == start and spans[-1].core_stop == stop
    for a, b in itertools.pairwise(spans):
        assert a.core_stop == b.core_start
    for s in spans:
        assert s.core_start < s.core_stop
        assert s.read % stride == 0 and s.read >= 0 and s.read + t <= max(padded, t)
        assert s.core_start - s.read >= min(halo, s.core_start)  # halo, or all there is up to the edge
        assert s.read + t - s.core_stop >= min(halo, padded - s.core_stop)


def test_tile_larger_than_raster_is_one_padded_window() -> None:
    assert axis_spans(700, tile=1024, halo=64, stride=32) == [(0, 0, 700)]
    tiles = plan_tiles(700, 300, tile=1024, halo=64, stride=32)
    assert len(tiles) == 1 and (tiles[0].read.height, tiles[0].read.width) == (704, 320)


@given(h=st.integers(1, 3000), w=st.integers(1, 3000), chunk=st.integers(200, 4000))
def test_chunks_partition_the_raster(h: int, w: int, chunk: int) -> None:
    cover = np.zeros((h, w), np.int32)
    chunks = plan_chunks(h, w, tile=512, halo=64, stride=32, chunk=chunk)
    assert sum(len(c.tiles) for c in chunks) == len(plan_tiles(h, w, 512, 64, 32))
    for c in chunks:
        cover[c.core.slices()] += 1
        for t in c.tiles:
            assert c.read.row <= t.read.row and t.read.row_stop <= c.read.row_stop
            assert c.core.row <= t.core.row and t.core.col_stop <= c.core.col_stop
    assert (cover == 1).all()


@pytest.mark.parametrize(
    ("tile", "halo", "match"),
    [
        (500, 64, "--tile 500 must be a multiple of the model stride 32"),
        (512, 40, "--halo 40 must be a non-negative multiple"),
        (256, 128, "larger than twice --halo"),
    ],
)
def test_bad_geometry_is_explained(tile: int, halo: int, match: str) -> None:
    with pytest.raises(OptionError, match=match):
        check_geometry(tile, halo, 32)


@given(
    rows=st.integers(1, 4),
    cols=st.integers(1, 4),
    side=st.integers(100, 1600),
    tile=st.sampled_from([256, 512]),
)
def test_box_chunks_own_their_tiles(rows: int, cols: int, side: int, tile: int) -> None:
    boxes = [Box(r * side, c * side, side, side) for r in range(rows) for c in range(cols)]
    chunks = plan_box_chunks(rows * side, cols * side, tile, 64, 32, boxes)
    covered = np.zeros((rows * side, cols * side), np.int8)
    for box, chunk in zip(boxes, chunks, strict=True):
        assert chunk.core == box
        for t in chunk.tiles:
            assert t.core.intersect(box) == t.core  # a tile writes in its own chunk only: never run twice
            assert t.read.intersect(chunk.read) == t.read
            covered[t.core.slices()] += 1
    assert (covered == 1).all()
