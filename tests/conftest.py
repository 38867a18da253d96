"""Shared fixtures: small real models and rasters, all generated in tmp dirs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import rasterio
from onnx import TensorProto, helper
from rasterio.transform import from_origin

from costa.models.card import ModelCard

CARD = ModelCard(
    name="test",
    classes=tuple(range(1, 17)),
    bands=("R", "G", "B", "NIR"),
    mean=(120.0, 120.0, 110.0, 100.0),
    std=(50.0, 50.0, 50.0, 50.0),
    tile_size=1024,
    halo=192,
)
"""The test models' card. A random-weight deep U-Net has a far wider effective receptive field
than a trained one, so its card declares a 192 px halo (the demo model's card says 128)."""


def costa(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user does, in a fresh process (wide COLUMNS: one line per message)."""
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "costa", *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


def assert_clean_error(res: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2, one ``error:`` line holding every fragment, no traceback."""
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for f in fragments:
        assert f in res.stderr, res.stderr


def structured_image(seed: int, height: int, width: int) -> np.ndarray:
    """A (4, H, W) uint8 image with regions, edges and texture (not white noise)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (4, height // 24 + 2, width // 24 + 2)).astype(np.float32)
    img = np.repeat(np.repeat(small, 24, axis=1), 24, axis=2)[:, :height, :width]
    yy, xx = np.mgrid[0:height, 0:width]
    img += 30 * np.sin(xx / 3.0 + yy / 7.0)[None]
    img += rng.normal(0, 12, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    res: float = 0.2,
    crs: str | None = "EPSG:2154",
    nodata: float | None = None,
    origin: tuple[float, float] = (840000, 6520000),
    **extra: object,
) -> Path:
    """Write a (C, H, W) array as a tiled GeoTIFF at Lambert-93 coordinates (top-left ``origin``)."""
    profile = dict(
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=str(data.dtype),
        transform=from_origin(*origin, res, res),
        tiled=True,
        blockxsize=256,
        blockysize=256,
        nodata=nodata,
        **{"photometric": "MINISBLACK", **extra},
    )
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
    return path


def tiny_onnx(path: Path, card: ModelCard = CARD, *, metadata: bool = True, seed: int = 0) -> Path:
    """A fast fully-convolutional ONNX model (two 3×3 convs) with costa metadata."""
    rng = np.random.default_rng(seed)
    c, k = card.n_bands, len(card.classes)
    w1 = helper.make_tensor("w1", TensorProto.FLOAT, [8, c, 3, 3], rng.normal(0, 0.5, (8, c, 3, 3)).ravel())
    w2 = helper.make_tensor("w2", TensorProto.FLOAT, [k, 8, 3, 3], rng.normal(0, 0.5, (k, 8, 3, 3)).ravel())
    nodes = [
        helper.make_node("Conv", ["image", "w1"], ["h"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Conv", ["r", "w2"], ["logits"], pads=[1, 1, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", c, "h", "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", k, "h", "w"])],
        [w1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, card.to_metadata())
    onnx.save(model, path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_onnx(tmp_path_factory.mktemp("models") / "tiny.onnx")


@pytest.fixture(scope="session")
def unet_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real random-weight smp U-Net (resnet18 encoder) exported with costa's exporter."""
    torch = pytest.importorskip("torch")
    from costa.models.export import export_onnx, make_unet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "unet.onnx"
    report = export_onnx(make_unet("resnet18"), CARD, path)
    assert report.max_abs_diff < 1e-3
    return path


@pytest.fixture
def ortho(tmp_path: Path) -> Path:
    """A 4-band uint8 20 cm raster of 700 × 900 px."""
    return write_raster(tmp_path / "ortho.tif", structured_image(1, 700, 900))
