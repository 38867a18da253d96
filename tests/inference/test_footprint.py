"""Memory per model, read from the graph: planned tiles follow the model and keep to the budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import onnx
import pytest

from costa.inference.footprint import estimate, live_bytes_per_px
from costa.inference.options import DEFAULT_FOOTPRINT, PredictOptions, settle
from costa.inference.runtime import open_model
from costa.models.zoo import demo_model_path
from tests.conftest import CARD, structured_image, write_raster


def test_live_bytes_follow_the_widest_moment_of_the_graph(tiny_model: Path) -> None:
    # image (4 ch) → h (8) → r (8) → logits (16), float32: the peak holds r and logits
    assert live_bytes_per_px(tiny_model.read_bytes()) == pytest.approx(4 * (8 + 16))


def test_unknown_shapes_give_no_estimate(tiny_model: Path) -> None:
    proto = onnx.load(tiny_model)
    proto.graph.node[1].op_type = "NoSuchOp"  # shape inference cannot follow it
    proto.graph.node[1].domain = "costa.test"
    assert estimate(proto.SerializeToString()) is None


def test_a_cheap_model_gets_larger_tiles_than_a_unet_under_the_same_budget(tiny_model: Path) -> None:
    tiny, demo = open_model(tiny_model, "cpu"), open_model(demo_model_path(), "cpu")
    assert tiny.footprint is not None and demo.footprint is not None
    assert tiny.footprint.px_bytes < demo.footprint.px_bytes < DEFAULT_FOOTPRINT.px_bytes
    shape = (16384, 16384)
    tiles = [
        settle(PredictOptions(), CARD, "cpu", shape, footprint=f).tile
        for f in (tiny.footprint, demo.footprint)
    ]
    assert tiles[0] > tiles[1]
    for model, tile in zip((tiny, demo), tiles, strict=True):
        assert model.footprint is not None
        assert model.footprint.peak_mb(tile) <= 2048


def test_a_prediction_keeps_to_its_memory_budget(tmp_path: Path) -> None:
    """The demo U-Net on 2048², planned for 700 MB: the process's peak RSS stays under it."""
    src = write_raster(tmp_path / "ortho.tif", structured_image(3, 2048, 2048))
    code = (
        "import costa, pathlib;"
        f"r = costa.predict({str(src)!r}, costa.demo_model_path(), {str(tmp_path / 'out.tif')!r},"
        " costa.PredictOptions(memory_mb=700, provider='cpu'));"
        "hwm = [x for x in pathlib.Path('/proc/self/status').read_text().splitlines() if 'VmHWM' in x];"
        "print(r.tile, int(hwm[0].split()[1]) // 1024)"
    )
    if not Path("/proc/self/status").exists():
        pytest.skip("peak RSS is read from /proc (Linux)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    tile, peak_mb = map(int, out.stdout.split())
    assert tile < 1152  # smaller than the 2 GB default would give on this raster
    assert peak_mb <= 700


def test_a_stamped_model_plans_without_importing_onnx(tiny_model: Path, tmp_path: Path) -> None:
    """The footprint is written into the metadata once; predict reads it through ONNX Runtime."""
    from costa.inference.footprint import STAMP_KEY, stamp

    path = tmp_path / "stamped.onnx"
    path.write_bytes(tiny_model.read_bytes())
    stamp(path)
    stamp(path)  # a second stamp replaces the first
    props = [p.key for p in onnx.load(path).metadata_props]
    assert props.count(STAMP_KEY) == 1 and set(props) >= {"name", "classes"}
    model = open_model(path)
    assert model.card.extra[STAMP_KEY] == pytest.approx(4 * (8 + 16))
    unstamped = open_model(tiny_model).footprint
    assert unstamped is not None and model.footprint is not None
    assert model.footprint.px_bytes == unstamped.px_bytes
    assert model.footprint.base_mb == pytest.approx(unstamped.base_mb, abs=1e-3)
    src = write_raster(tmp_path / "src.tif", structured_image(0, 300, 300))
    code = (
        "import sys\n"
        "from costa.cli import main\n"
        f"sys.argv = {['costa', 'predict', str(src), '-m', str(path), '-o', str(tmp_path / 'o.tif')]!r}\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'onnx' not in sys.modules, 'onnx imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "o.tif").is_file()


def test_the_demo_model_is_stamped() -> None:
    from costa.inference.footprint import STAMP_KEY

    model = open_model(demo_model_path())
    assert model.card.extra[STAMP_KEY] == pytest.approx(live_bytes_per_px(demo_model_path().read_bytes()))
