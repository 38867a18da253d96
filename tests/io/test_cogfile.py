"""COGs assembled from compressed tiles: GDAL's own layout, tags and tiles, TIFF or BigTIFF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from costa.io import cogfile
from costa.io.cogfile import assemble, read_ifds
from costa.io.writer import write_cog
from costa.tiling import Box


def _class_map(out: Path, confidence: bool) -> np.ndarray:
    """A 1300 × 1500 class map (two overview levels) written by costa's writer; returns its pixels."""
    rng = np.random.default_rng(1)
    codes = np.repeat(rng.integers(0, 17, (130, 150), dtype=np.uint8), 10, axis=0).repeat(10, axis=1)
    pct = rng.integers(30, 101, codes.shape, dtype=np.uint8)
    with write_cog(
        out,
        crs="EPSG:2154",
        transform=from_origin(840000, 6520000, 0.2, 0.2),
        width=1500,
        height=1300,
        confidence=confidence,
        tags={"MODEL": "m"},
    ) as w:
        w(Box(0, 0, 700, 1500), codes[:700], pct[:700])
        w(Box(700, 0, 600, 1500), codes[700:], pct[700:])
    return np.stack([codes, pct]) if confidence else codes[None]


@pytest.mark.parametrize("confidence", [False, True])
def test_assembled_cog_has_gdals_tags_tiles_and_layout(tmp_path: Path, confidence: bool) -> None:
    out, ref = tmp_path / "lc.tif", tmp_path / "gdal.tif"
    pixels = _class_map(out, confidence)
    assert cog_validate(out, strict=True)[0]
    # GDAL's COG driver, given the same pixels and overviews, writes the same images, tags and tiles
    rasterio.shutil.copy(
        out, ref, driver="COG", COMPRESS="DEFLATE", BLOCKSIZE=512, OVERVIEWS="FORCE_USE_EXISTING"
    )
    ours, gdal = read_ifds(out), read_ifds(ref)
    assert len(ours) == len(gdal) == 3
    for a, b in zip(ours, gdal, strict=True):
        # GDAL's COG driver flags a second band as alpha (ExtraSamples 2): confidence is no opacity
        extra = a.tags.pop(338, None), b.tags.pop(338, None)
        assert extra == (((3, 1, b"\0\0"), (3, 1, b"\2\0")) if confidence else (None, None))
        assert a.tags == b.tags and a.counts == b.counts and a.offsets == b.offsets
    mine, theirs = out.read_bytes(), ref.read_bytes()
    tiles = [(o, n) for i in ours for o, n in zip(i.offsets, i.counts, strict=True)]
    assert all(mine[o - 4 : o + n + 4] == theirs[o - 4 : o + n + 4] for o, n in tiles)
    with rasterio.open(out) as ds:
        assert np.array_equal(ds.read(), pixels) and ds.nodata == 0
        assert ds.tags()["MODEL"] == "m" and "CLASSES" in ds.tags(1) and ds.colormap(1)[1]
        assert ds.descriptions[0].startswith("classe")


def test_bigtiff_scratch_and_bigtiff_cog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = tmp_path / "lc.tif"
    pixels = _class_map(small, confidence=False)
    base, ovr = tmp_path / "base.tif", tmp_path / "ovr.tif"
    for src, dst, level in ((small, base, None), (small, ovr, 0)):
        with rasterio.open(src, overview_level=level) as ds:
            profile = {**ds.profile, "BIGTIFF": "YES"}
            with rasterio.open(dst, "w", **profile) as out:
                out.write(ds.read())
    classic, big = tmp_path / "classic.tif", tmp_path / "big.tif"
    assemble(classic, base, [ovr])  # BigTIFF scratch files, a small COG: classic TIFF
    monkeypatch.setattr(cogfile, "CLASSIC_LIMIT", 1)
    assemble(big, base, [ovr])
    assert classic.read_bytes()[:4] == b"II*\0" and big.read_bytes()[:4] == b"II+\0"
    for cog in (classic, big):
        assert cog_validate(cog, strict=True)[0]
        with rasterio.open(cog) as ds, rasterio.open(small, overview_level=0) as ref:
            assert np.array_equal(ds.read(), pixels) and ds.overviews(1) == [2]
            with rasterio.open(cog, overview_level=0) as o:
                assert np.array_equal(o.read(), ref.read())


def test_only_tiled_little_endian_tiffs_are_assembled(tmp_path: Path) -> None:
    (tmp_path / "x.tif").write_bytes(b"MM\0*" + bytes(12))
    with pytest.raises(ValueError, match="not a little-endian TIFF"):
        read_ifds(tmp_path / "x.tif")
    striped = tmp_path / "s.tif"
    grid = {"crs": "EPSG:2154", "transform": from_origin(840000, 6520000, 0.2, 0.2)}
    with rasterio.open(striped, "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8", **grid) as ds:
        ds.write(np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(ValueError, match="not tiled"):
        read_ifds(striped)
