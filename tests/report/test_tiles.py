"""The PMTiles map: native zoom ≥ 19, tiles of the deepest zoom are the raster's own pixels, errors."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from pmtiles.reader import MmapSource, Reader
from pmtiles.tile import TileType
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.warp import transform, transform_bounds

from costa.errors import OptionError, SourceError, SourceReadError
from costa.report.tiles import (
    EQUATOR,
    TILE,
    check_ortho,
    photo_webp,
    read_header,
    rgba,
    rgba_png,
    tile_range,
    write_pmtiles,
)
from tests.conftest import assert_clean_error, costa, write_raster


def decode(png: bytes) -> np.ndarray:
    """(H, W, 4) uint8 of an RGBA PNG."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(png) as mem, mem.open() as src:
            return np.moveaxis(src.read(), 0, -1)


def tile_labels(
    src: Any, z: int, x: int, y: int, overview: int | None = None, bands: tuple[int, ...] = (1,)
) -> np.ndarray:
    """The class under each pixel centre of tile (z, x, y), read from the raster (or an overview);
    with ``bands``, those bands' values, (TILE, TILE, len(bands))."""
    size = EQUATOR / 2**z
    jj, ii = np.mgrid[0:TILE, 0:TILE]
    mx = -EQUATOR / 2 + x * size + (ii + 0.5) * size / TILE
    my = EQUATOR / 2 - y * size - (jj + 0.5) * size / TILE
    xs, ys = transform("EPSG:3857", src.crs, mx.ravel(), my.ravel())
    with rasterio.open(src.name, **({} if overview is None else {"overview_level": overview})) as ds:
        values = ds.read(list(bands))
        rows, cols = rasterio.transform.rowcol(ds.transform, xs, ys)
    rows, cols = np.asarray(rows), np.asarray(cols)
    inside = (rows >= 0) & (rows < values.shape[1]) & (cols >= 0) & (cols < values.shape[2])
    out = np.zeros((rows.size, len(bands)), np.uint8)
    out[inside] = values[:, rows[inside], cols[inside]].T
    return out.reshape(TILE, TILE, len(bands)) if len(bands) > 1 else out.reshape(TILE, TILE)


@pytest.fixture(scope="module")
def archive(demo: dict[str, Any]) -> Path:
    """The archive `costa demo` wrote into its report (newest vintage)."""
    return Path(demo["report"]).parent / "carte-2024.pmtiles"


def test_archive_header_reaches_the_native_zoom(archive: Path, demo: dict[str, Any]) -> None:
    head = read_header(archive)
    assert head["max_zoom"] >= 19 and head["tile_type"] == TileType.PNG
    assert head["min_zoom"] <= head["max_zoom"] - 2  # coarser zooms down to about one tile
    with rasterio.open(demo["root"] / "landcover_2024.tif") as src:
        w, _, _, n = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    assert head["min_lon_e7"] / 1e7 == pytest.approx(w, abs=1e-6)
    assert head["max_lat_e7"] / 1e7 == pytest.approx(n, abs=1e-6)
    assert (Path(demo["report"]).parent / "carte-2021.pmtiles").is_file()  # one archive per vintage


def test_deepest_tiles_are_the_raster_pixels(archive: Path, demo: dict[str, Any]) -> None:
    """At the deepest zoom a tile pixel is the raster's pixel under it, not an upscaled overview."""
    with rasterio.open(demo["root"] / "landcover_2024.tif") as src, archive.open("rb") as f:
        reader = Reader(MmapSource(f))  # type: ignore[no-untyped-call]
        z = reader.header()["max_zoom"]  # type: ignore[no-untyped-call]
        x0, y0, x1, y1 = tile_range(transform_bounds(src.crs, "EPSG:3857", *src.bounds), z)
        x, y = (x0 + x1) // 2, (y0 + y1) // 2
        got = decode(reader.get(z, x, y))  # type: ignore[no-untyped-call]
        assert got.shape == (TILE, TILE, 4)
        full = tile_labels(src, z, x, y)
        coarse = tile_labels(src, z, x, y, overview=0)
    same = (got == rgba(full)).all(axis=2).mean()
    assert same > 0.995
    assert (got == rgba(coarse)).all(axis=2).mean() < same - 0.005  # the overview would not match


def test_coarse_zooms_come_from_the_overviews(archive: Path) -> None:
    with archive.open("rb") as f:
        reader = Reader(MmapSource(f))  # type: ignore[no-untyped-call]
        head = reader.header()  # type: ignore[no-untyped-call]
        z = head["min_zoom"]
        lon, lat = head["center_lon_e7"] / 1e7, head["center_lat_e7"] / 1e7
        mx, my = transform("EPSG:4326", "EPSG:3857", [lon], [lat])
        x0, y0, _, _ = tile_range((mx[0], my[0], mx[0], my[0]), z)
        tile = decode(reader.get(z, x0, y0))  # type: ignore[no-untyped-call]
    assert tile[..., 3].any() and set(np.unique(tile[..., 3])) <= {0, 255}  # classes opaque, no data clear


def test_ortho_archive_is_the_photo_at_the_land_cover_zooms(archive: Path, demo: dict[str, Any]) -> None:
    """The orthophoto's archive: WebP tiles at the land cover's zooms, showing the photo's colours."""
    ortho = Path(demo["report"]).parent / "ortho-2024.pmtiles"
    head, land = read_header(ortho), read_header(archive)
    assert head["tile_type"] == TileType.WEBP
    assert (head["min_zoom"], head["max_zoom"]) == (land["min_zoom"], land["max_zoom"])
    with rasterio.open(demo["root"] / "ortho_2024.vrt") as src, ortho.open("rb") as f:
        reader = Reader(MmapSource(f))  # type: ignore[no-untyped-call]
        z = head["max_zoom"]
        x0, y0, x1, y1 = tile_range(transform_bounds(src.crs, "EPSG:3857", *src.bounds), z)
        x, y = (x0 + x1) // 2, (y0 + y1) // 2
        webp = reader.get(z, x, y)  # type: ignore[no-untyped-call]
        assert webp[8:12] == b"WEBP"
        got = decode(webp).astype(int)
        photo = tile_labels(src, z, x, y, bands=(1, 2, 3)).astype(int)
    assert got.shape[:2] == (TILE, TILE) and (got[..., 3:] == 255).all()  # opaque (WebP drops full alpha)
    err = np.abs(got[..., :3] - photo).mean()
    assert err < 8  # lossy WebP, bilinear: near the photo...
    assert np.abs(got[..., :3] - np.roll(photo, 40, axis=(0, 1))).mean() > 2 * err  # ...and not elsewhere


def test_photo_webp_keeps_alpha() -> None:
    pixels = np.zeros((32, 32, 4), np.uint8)
    pixels[:, :16] = (200, 120, 40, 255)  # left half an opaque colour, right half transparent
    got = decode(photo_webp(pixels)).astype(int)
    assert (got[:, :16, 3] == 255).all() and (got[:, 16:, 3] == 0).all()
    assert np.abs(got[4:-4, 2:12, :3] - (200, 120, 40)).max() <= 8


def test_check_ortho(tmp_path: Path) -> None:
    rgb = write_raster(tmp_path / "rgb.tif", np.full((3, 64, 64), 90, np.uint8))
    assert check_ortho(rgb) == rgb
    with pytest.raises(SourceReadError, match="orthophoto not found"):
        check_ortho(tmp_path / "missing.tif")
    grey = write_raster(tmp_path / "grey.tif", np.full((1, 64, 64), 90, np.uint8))
    with pytest.raises(SourceError, match="1 uint8 band"):
        write_pmtiles(grey, tmp_path / "o.pmtiles", photo=True)
    deep = write_raster(tmp_path / "deep.tif", np.full((3, 64, 64), 900, np.uint16))
    with pytest.raises(SourceError, match="3 uint16 band"):
        check_ortho(deep)
    flat = write_raster(tmp_path / "flat.tif", np.full((3, 64, 64), 90, np.uint8), crs=None)
    with pytest.raises(SourceError, match="no CRS"):
        check_ortho(flat)
    (tmp_path / "text.tif").write_text("x")
    with pytest.raises(SourceReadError, match="not a raster GDAL can read"):
        check_ortho(tmp_path / "text.tif")


def test_same_archive_whatever_the_threads(tmp_path: Path) -> None:
    labels = np.random.default_rng(1).integers(0, 17, (1, 700, 500), dtype=np.uint8)
    lc = write_raster(tmp_path / "lc.tif", labels, nodata=0)
    one = write_pmtiles(lc, tmp_path / "one.pmtiles", workers=1, block=2)
    three = write_pmtiles(lc, tmp_path / "three.pmtiles", workers=3, block=2)
    assert one.tiles == three.tiles > 4
    assert one.path.read_bytes() == three.path.read_bytes()
    with pytest.raises(OptionError, match="at least 1"):
        write_pmtiles(lc, tmp_path / "x.pmtiles", workers=0)


def test_rgba_png_round_trips() -> None:
    labels = np.random.default_rng(0).integers(0, 17, (37, 53), dtype=np.uint8)
    assert (decode(rgba_png(rgba(labels))) == rgba(labels)).all()


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceReadError, match="not found"):
        write_pmtiles(tmp_path / "missing.tif", tmp_path / "m.pmtiles")
    lc = write_raster(tmp_path / "lc.tif", np.full((1, 64, 64), 3, np.uint8))
    with pytest.raises(OptionError, match="min zoom <= max zoom"):
        write_pmtiles(lc, tmp_path / "m.pmtiles", min_zoom=18, max_zoom=12)
    empty = write_raster(tmp_path / "empty.tif", np.zeros((1, 64, 64), np.uint8), nodata=0)
    with pytest.raises(SourceReadError, match="no class pixel"):
        write_pmtiles(empty, tmp_path / "e.pmtiles")
    assert not (tmp_path / "e.pmtiles").exists() and not list(tmp_path.glob(".*"))  # nothing half-written
    with pytest.raises(SourceReadError, match="not a PMTiles archive"):
        read_header(lc)


def test_cli_map(tmp_path: Path) -> None:
    lc = write_raster(tmp_path / "lc.tif", np.full((1, 300, 200), 7, np.uint8))
    res = costa("map", lc, "--out", tmp_path / "lc.pmtiles")
    assert res.returncode == 0, res.stderr
    assert f"wrote {tmp_path / 'lc.pmtiles'} (zooms" in res.stdout
    head = read_header(tmp_path / "lc.pmtiles")
    assert head["max_zoom"] == 19 and head["addressed_tiles_count"] >= 1
    assert_clean_error(costa("map", lc, "--out", tmp_path / "x.png"), "give a .pmtiles file name")
    assert_clean_error(
        costa("map", lc, "--out", tmp_path / "x.pmtiles", "--max-zoom", "30"), "max zoom <= 24"
    )
