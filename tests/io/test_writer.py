"""COGs and VRTs written whole or not at all, with the classes' colours and names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_validate

from costa.errors import OutputError
from costa.io.atomic import TEMP_MARK, atomic_path, remove_stale, temp_name, write_atomic
from costa.io.writer import write_cog, write_vrt
from costa.nomenclature import colormap
from costa.tiling import Box

T = from_origin(840000, 6520000, 0.2, 0.2)


def _labels(h: int, w: int) -> np.ndarray:
    return (np.arange(h * w, dtype=np.int64).reshape(h, w) % 17).astype(np.uint8)


def test_blocks_in_any_order_make_a_valid_cog(tmp_path: Path) -> None:
    out, labels = tmp_path / "lc.tif", _labels(700, 900)
    with write_cog(
        out, crs="EPSG:2154", transform=T, width=900, height=700, confidence=False, tags={"X": "1"}
    ) as w:
        for box in (Box(350, 450, 350, 450), Box(0, 0, 350, 900), Box(350, 0, 350, 450)):
            w(box, labels[box.slices()])
    assert cog_validate(out)[0]
    with rasterio.open(out) as ds:
        assert np.array_equal(ds.read(1), labels) and ds.tags()["X"] == "1"
        assert ds.colormap(1)[5] == colormap()[5] and ds.overviews(1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_an_error_while_writing_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "lc.tif"
    with (
        pytest.raises(RuntimeError, match="model failed"),
        write_cog(out, crs="EPSG:2154", transform=T, width=64, height=64, confidence=False, tags={}) as w,
    ):
        w(Box(0, 0, 32, 64), _labels(32, 64))
        raise RuntimeError("model failed")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_as_output_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="is a directory; give a file name"):
        write_cog(
            tmp_path, crs="EPSG:2154", transform=T, width=8, height=8, confidence=False, tags={}
        ).__enter__()


def test_vrt_mosaic_of_two_cogs(tmp_path: Path) -> None:
    labels, parts = _labels(64, 128), []
    for i, box in enumerate((Box(0, 0, 64, 64), Box(0, 64, 64, 64))):
        p = tmp_path / f"d{i}.tif"
        with write_cog(
            p, crs="EPSG:2154", transform=box.transform(T), width=64, height=64, confidence=False, tags={}
        ) as w:
            w(Box(0, 0, 64, 64), labels[box.slices()])
        parts.append(p)
    vrt = write_vrt(
        tmp_path / "m.vrt",
        parts,
        width=128,
        height=64,
        transform=T,
        crs_wkt="EPSG:2154",
        count=1,
        offsets=[(0, 0, 64, 64), (0, 64, 64, 64)],
        palette=colormap(),
    )
    with rasterio.open(vrt) as ds:
        assert np.array_equal(ds.read(1), labels) and ds.nodata == 0


def test_temporaries_are_unique_and_cleaned(tmp_path: Path) -> None:
    target = tmp_path / "run.json"
    names = {temp_name(target).name for _ in range(100)}
    assert len(names) == 100 and all(n.startswith(".run.json" + TEMP_MARK) for n in names)
    write_atomic(target, "{}")
    with pytest.raises(ValueError, match="boom"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise ValueError("boom")
    assert target.read_text() == "{}" and [p.name for p in tmp_path.iterdir()] == ["run.json"]
    temp_name(target).write_text("left by a killed run")
    assert remove_stale(tmp_path) == 1 and [p.name for p in tmp_path.iterdir()] == ["run.json"]
