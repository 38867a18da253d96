"""Model zoo: FLAIR import round trip, INT8 quantisation, export command."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from costa.demo.synthetic import make_scene
from costa.evaluation import Metrics
from costa.inference import PredictOptions, predict_array
from costa.inference.runtime import open_model
from costa.models.flair import FLAIR1_TO_COSTA, import_flair
from costa.models.quantize import quantize_int8
from costa.models.zoo import demo_model_path
from tests.conftest import costa, structured_image

torch = pytest.importorskip("torch")


@pytest.mark.slow
def test_flair_import_round_trip(tmp_path: Path) -> None:
    """A FLAIR-1-layout checkpoint made here: ONNX predictions = mapped argmax of torch."""
    from costa.models.export import make_unet

    torch.manual_seed(1)
    net = make_unet("resnet18", in_channels=5, classes=19)
    ckpt = tmp_path / "flair.ckpt"
    torch.save(
        {"state_dict": {f"model.seg_model.{k}": v for k, v in net.state_dict().items()}, "epoch": 3}, ckpt
    )
    rep = import_flair(ckpt, tmp_path / "flair.onnx", encoder="resnet18")
    assert rep.max_abs_diff < 1e-3
    model = open_model(rep.path)
    assert model.card.bands == ("R", "G", "B", "NIR", "DEM") and len(model.card.classes) == 19
    img = np.concatenate([structured_image(3, 256, 320), structured_image(4, 256, 320)[:1]])
    got = predict_array(img, model, PredictOptions(tile=512, halo=0))
    x = torch.from_numpy(model.card.normalize(img)[None])
    with torch.no_grad():
        idx = net.eval()(x).argmax(1)[0].numpy()
    lut = np.array([costa_code for _, _, costa_code in FLAIR1_TO_COSTA], np.uint8)
    assert (got == lut[idx]).mean() >= 0.9999


def test_checkpoint_with_code_is_refused(tmp_path: Path) -> None:
    import pickle

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    bad = tmp_path / "evil.ckpt"
    bad.write_bytes(pickle.dumps({"state_dict": Evil()}))
    res = costa("model", "import-flair", bad, "-o", tmp_path / "x.onnx")
    assert res.returncode == 2 and "not a weights-only torch checkpoint" in res.stderr
    assert "pwned" not in res.stdout and not (tmp_path / "x.onnx").exists()


@pytest.mark.slow
def test_int8_keeps_accuracy(tmp_path: Path) -> None:
    calib = [make_scene(5000 + i, 512, 512).image for i in range(4)]
    q = quantize_int8(demo_model_path(), tmp_path / "demo_int8.onnx", calib)
    fp32, int8 = open_model(demo_model_path()), open_model(q)
    assert int8.card.classes == fp32.card.classes and int8.card.extra["precision"] == "int8"
    scene = make_scene(9200, 1024, 1024)
    m32 = Metrics.from_arrays(predict_array(scene.image, fp32), scene.truth).miou
    m8 = Metrics.from_arrays(predict_array(scene.image, int8), scene.truth).miou
    assert m32 - m8 <= 0.02, (m32, m8)


def test_fp16_copy_agrees_with_fp32(tmp_path: Path) -> None:
    from costa.models.quantize import convert_fp16

    half = open_model(convert_fp16(demo_model_path(), tmp_path / "demo16.onnx"))
    assert half.card.extra["precision"] == "fp16"
    scene = make_scene(9201, 512, 512)
    a = predict_array(scene.image, open_model(demo_model_path()))
    b = predict_array(scene.image, half)
    assert (a == b).mean() >= 0.999


def test_export_command_with_int8(tmp_path: Path) -> None:
    out = tmp_path / "m.onnx"
    res = costa("model", "export", "--encoder", "resnet18", "--precision", "int8", "-o", out)
    assert res.returncode == 0, res.stderr
    assert "max |Δ|" in res.stdout and "int8" in res.stdout
    m = open_model(out)
    assert m.card.extra["precision"] == "int8" and m.card.classes == tuple(range(1, 17))
