"""The command line as a user runs it: one clean error line, exit 2, no output file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio

from costa.errors import OutputError
from costa.io.writer import check_writable
from tests.conftest import assert_clean_error, costa, structured_image, tiny_onnx, write_raster


def test_predict_ok_and_quiet(ortho: Path, tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "lc.tif"
    res = costa("predict", ortho, "-m", tiny_model, "-o", out, "--tile", "256", "--halo", "32")
    assert res.returncode == 0, res.stderr
    assert "with provider cpu" in res.stderr and "Mpx/s" in res.stderr
    with rasterio.open(out) as dst:
        assert dst.read(1).min() >= 1
    res = costa("predict", ortho, "-m", tiny_model, "-o", tmp_path / "q.tif", "--quiet")
    assert res.returncode == 0 and res.stderr == "" and res.stdout == ""


@pytest.fixture
def bad_inputs(tmp_path: Path, tiny_model: Path) -> dict[str, Path]:
    img = structured_image(0, 64, 64)
    (tmp_path / "not_raster.tif").write_text("hello")
    (tmp_path / "not_onnx.onnx").write_bytes(b"\x00\x01garbage")
    return {
        "three_bands": write_raster(tmp_path / "rgb.tif", img[:3]),
        "uint16": write_raster(tmp_path / "u16.tif", img.astype(np.uint16)),
        "no_crs": write_raster(tmp_path / "nocrs.tif", img, crs=None),
        "coarse": write_raster(tmp_path / "coarse.tif", img, res=0.5),
        "near": write_raster(tmp_path / "near.tif", img, res=0.25),
        "geographic": write_raster(tmp_path / "wgs84.tif", img, crs="EPSG:4326", res=0.00001),
        "no_metadata": tiny_onnx(tmp_path / "nometa.onnx", metadata=False),
        "not_raster": tmp_path / "not_raster.tif",
        "not_onnx": tmp_path / "not_onnx.onnx",
        "good": write_raster(tmp_path / "good.tif", img),
        "model": tiny_model,
    }


@pytest.mark.parametrize(
    ("src", "model", "extra", "fragments"),
    [
        ("missing", "model", [], ["source raster not found", "missing.tif"]),
        ("not_raster", "model", [], ["not_raster.tif is not in a format GDAL can read; give a GeoTIFF"]),
        ("three_bands", "model", [], ["rgb.tif has 3 data band(s)", "takes 4 (R,G,B,NIR)", "--bands"]),
        ("good", "model", ["--bands", "1,2,3,5"], ["--bands 1,2,3,5: good.tif has bands 1–4 only"]),
        ("good", "model", ["--bands", "1,2,x"], ["--bands '1,2,x': expected comma-separated"]),
        ("uint16", "model", [], ["u16.tif has uint16 pixels", "expects uint8", "gdal_translate -ot Byte"]),
        ("no_crs", "model", [], ["nocrs.tif has no CRS", "gdal_edit.py -a_srs"]),
        ("geographic", "model", [], ["geographic CRS", "reproject"]),
        ("coarse", "model", [], ["coarse.tif has 0.5 m pixels", "150% off", "--force"]),
        ("good", "not_onnx", [], ["not_onnx.onnx is not a valid ONNX model"]),
        ("good", "no_metadata", [], ["model metadata is missing field(s) costa_format, name"]),
        ("good", "model", ["--tile", "500"], ["--tile 500 must be a multiple of the model stride 32"]),
        ("good", "model", ["--batch", "0"], ["--batch 0 must be at least 1"]),
    ],
)
def test_user_errors_are_one_line_and_leave_no_output(
    bad_inputs: dict[str, Path],
    tmp_path: Path,
    src: str,
    model: str,
    extra: list[str],
    fragments: list[str],
) -> None:
    out = tmp_path / "out" / "lc.tif"
    out.parent.mkdir()
    src_path = bad_inputs.get(src, tmp_path / "missing.tif")
    res = costa("predict", src_path, "-m", bad_inputs[model], "-o", out, *extra)
    assert_clean_error(res, *fragments)
    assert list(out.parent.iterdir()) == []


def test_output_directory_errors(bad_inputs: dict[str, Path], tmp_path: Path) -> None:
    res = costa("predict", bad_inputs["good"], "-m", bad_inputs["model"], "-o", tmp_path / "nope" / "lc.tif")
    assert_clean_error(res, "output directory", "does not exist", "mkdir -p")
    res = costa(
        "predict", bad_inputs["good"], bad_inputs["good"], "-m", bad_inputs["model"], "-o", tmp_path / "a.tif"
    )
    assert_clean_error(res, "give --out a folder")


def test_unwritable_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CI runs as root, for whom every directory is writable: simulate the permission check
    monkeypatch.setattr(os, "access", lambda *_: False)
    with pytest.raises(OutputError, match="is not writable; choose another --out"):
        check_writable(tmp_path / "lc.tif")


def test_gsd_warns_then_force_accepts(bad_inputs: dict[str, Path], tmp_path: Path) -> None:
    res = costa("predict", bad_inputs["near"], "-m", bad_inputs["model"], "-o", tmp_path / "a.tif")
    assert res.returncode == 0 and "warning: near.tif has 0.25 m pixels, 25 % away" in res.stderr
    res = costa(
        "predict", bad_inputs["coarse"], "-m", bad_inputs["model"], "-o", tmp_path / "b.tif", "--force"
    )
    assert res.returncode == 0 and (tmp_path / "b.tif").exists()


def test_cuda_request_on_a_cpu_machine(bad_inputs: dict[str, Path], tmp_path: Path) -> None:
    from costa.inference.runtime import gpu_libraries_loadable

    if gpu_libraries_loadable("cuda"):
        pytest.skip("an NVIDIA driver is present: CUDA may legitimately run here")
    res = costa(
        "predict",
        bad_inputs["good"],
        "-m",
        bad_inputs["model"],
        "-o",
        tmp_path / "a.tif",
        "--provider",
        "cuda",
    )
    assert_clean_error(res, "provider 'cuda' cannot run here")
    assert not (tmp_path / "a.tif").exists()


def test_model_inspect(tiny_model: Path) -> None:
    res = costa("model", "inspect", tiny_model)
    assert res.returncode == 0, res.stderr
    assert "R, G, B, NIR (uint8)" in res.stdout and "13 Pelouse" in res.stdout and "sha256" in res.stdout
