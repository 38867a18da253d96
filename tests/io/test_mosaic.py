"""Mosaics read as one raster: dalles placed on one grid, products combined, faults isolated."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from costa.errors import SourceError, SourceReadError
from costa.io.mosaic import MAIN, BandRecipe, MosaicSource, find_dalles, scan
from costa.tiling import Box
from tests.conftest import CARD, structured_image, write_raster

DALLE = 64


@pytest.fixture
def dalles(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 2 × 2 mosaic of 64-px dalles cut from one image, and that image."""
    image = structured_image(3, 2 * DALLE, 2 * DALLE)
    folder = tmp_path / "rvb"
    folder.mkdir()
    for r in range(2):
        for c in range(2):
            box = Box(r * DALLE, c * DALLE, DALLE, DALLE)
            write_raster(
                folder / f"d{r}{c}.tif",
                image[(slice(None), *box.slices())],
                origin=(1000.0 + box.col * 0.2, 5000.0 - box.row * 0.2),
            )
    return folder, image


def test_scan_places_dalles_on_one_grid(dalles: tuple[Path, np.ndarray]) -> None:
    folder, _ = dalles
    mosaic = scan(find_dalles(folder))
    assert (mosaic.height, mosaic.width) == (2 * DALLE, 2 * DALLE)
    assert sorted((d.box.row, d.box.col) for d in mosaic.dalles) == [(0, 0), (0, 64), (64, 0), (64, 64)]


def test_a_box_across_four_dalles_reads_the_original_pixels(dalles: tuple[Path, np.ndarray]) -> None:
    folder, image = dalles
    source = MosaicSource({MAIN: scan(find_dalles(folder))}, BandRecipe.parse("1,2,3,4"), CARD)
    box = Box(40, 30, 50, 60)
    raw, valid = source.read(box)
    assert np.array_equal(raw, image[(slice(None), *box.slices())]) and valid.all()


def test_an_unreadable_neighbour_is_no_data_but_an_unreadable_own_dalle_fails(
    dalles: tuple[Path, np.ndarray],
) -> None:
    folder, _ = dalles
    source = MosaicSource({MAIN: scan(find_dalles(folder))}, BandRecipe.parse("1,2,3,4"), CARD)
    broken = folder / "d11.tif"
    broken.write_bytes(b"not a GeoTIFF any more")  # broken after the scan, as a disk error would
    _, valid = source.read(Box(0, 0, 128, 128), own=Box(0, 0, 64, 64))
    assert valid[:64, :64].all() and not valid[64:, 64:].any()
    assert broken in source.unreadable
    with pytest.raises(SourceReadError, match=r"d11\.tif"):
        source.read(Box(0, 0, 128, 128))


def test_a_dalle_off_the_grid_is_named(dalles: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    folder, image = dalles
    write_raster(folder / "off.tif", image[:, :DALLE, :DALLE], origin=(1000.1, 5000.0))
    with pytest.raises(SourceError, match=r"off.tif is not on the pixel grid"):
        scan(find_dalles(folder))


def test_list_files_and_missing_sources(dalles: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    listing = tmp_path / "dalles.txt"
    listing.write_text("# two of four\nrvb/d00.tif\nrvb/d01.tif\n")
    assert [p.name for p in find_dalles(listing)] == ["d00.tif", "d01.tif"]
    with pytest.raises(SourceReadError, match="source not found: nowhere"):
        find_dalles("nowhere")
