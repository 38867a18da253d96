"""The graph-fused path (normalise + argmax inside ONNX) gives the reference's exact output."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from costa.demo.synthetic import make_scene
from costa.inference import PredictOptions, predict_array
from costa.inference.runtime import Model, open_model
from costa.models.zoo import demo_model_path
from tests.conftest import structured_image


def _reference(model: Model) -> Model:
    return dataclasses.replace(model, fused=False, _fused_sessions={})


def _both(
    model: Model, img: np.ndarray, valid: np.ndarray | None, opts: PredictOptions
) -> tuple[np.ndarray, ...]:
    assert model.can_classify(img.dtype)
    return (
        predict_array(img, model, opts, valid=valid),
        predict_array(img, _reference(model), opts, valid=valid),
    )


def test_demo_model_codes_and_confidence_identical() -> None:
    model = open_model(demo_model_path())
    img = make_scene(9101, 600, 700).image
    valid = np.ones(img.shape[1:], bool)
    valid[:40, :] = False  # a no-data strip: fed as the normalised mean by both paths
    valid[300:310, 100:500] = False
    fused, ref = _both(model, img, valid, PredictOptions(tile=256, halo=64, confidence=True, batch=2))
    assert len(np.unique(ref[0])) >= 4
    assert np.array_equal(fused[0], ref[0])
    assert np.array_equal(fused[1], ref[1])
    assert (fused[0][:40] == 0).all()


def test_random_unet_codes_identical(unet_model: Path) -> None:
    model = open_model(unet_model)
    img = structured_image(11, 300, 330)
    fused, ref = _both(model, img, None, PredictOptions(tile=256, halo=64, confidence=True))
    assert np.array_equal(fused, ref)


def test_classify_matches_run_and_argmax(tiny_model: Path) -> None:
    model = open_model(tiny_model)
    raw = structured_image(2, 64, 96)[None]
    valid = np.ones((1, 64, 96), bool)
    codes, conf = model.classify(raw, valid, confidence=True)
    logits = model.run(model.card.normalize(raw[0])[None])
    assert codes.dtype == np.uint8 and codes.shape == (1, 64, 96)
    assert np.array_equal(codes[0], model.card.lut[logits[0].argmax(0)])
    top = logits[0].max(0)
    pct = np.rint(100.0 / np.exp(logits[0] - top).sum(0)).astype(np.uint8)
    assert conf is not None and np.array_equal(conf[0], pct)


@pytest.mark.parametrize(
    "classes",
    [tuple(range(1, 17)), (0, *range(1, 16)), (3, 1, 2, 16, *range(4, 16))],
    ids=["class-order", "from-0", "permuted"],
)
def test_every_lookup_form_gives_the_card_codes(tiny_model: Path, classes: tuple[int, ...]) -> None:
    # class order starting at 1 or 0 runs a cast (and an add), any other order a Gather
    import onnx
    import onnxruntime as ort

    from costa.inference.fused import fuse

    model = open_model(tiny_model)
    card = dataclasses.replace(model.card, classes=classes)
    raw = structured_image(5, 64, 96)[None]
    graph = fuse(tiny_model.read_bytes(), card, raw.dtype, confidence=False, masked=False)
    ops = {n.op_type for n in onnx.load_model_from_string(graph).graph.node}
    assert ("Gather" in ops) is (classes[0] == 3)
    (codes,) = ort.InferenceSession(graph, providers=["CPUExecutionProvider"]).run(None, {"raw": raw})
    logits = model.run(model.card.normalize(raw[0])[None])
    assert np.array_equal(codes[0], card.lut[logits[0].argmax(0)])
    assert len(np.unique(codes)) >= 3


@pytest.mark.parametrize(("masked", "confidence"), [(True, True), (False, False)])
def test_fused_graph_is_a_valid_onnx_model(tiny_model: Path, masked: bool, confidence: bool) -> None:
    """Written without the onnx package (costa.inference.onnxproto), checked with it."""
    import onnx

    from costa.inference.fused import fuse

    card = open_model(tiny_model).card
    graph = fuse(tiny_model.read_bytes(), card, np.dtype(np.uint8), confidence=confidence, masked=masked)
    proto = onnx.load_model_from_string(graph)
    onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["raw", "valid"][: 1 + masked]
    assert [o.name for o in proto.graph.output] == ["codes", "confidence"][: 1 + confidence]
    assert proto.graph.node[0].op_type == "Cast" and proto.graph.node[0].input[0] == "raw"
    assert len(proto.graph.initializer) == 2 + 2 + 1 + confidence * 2  # weights, mean/std, code 1, axes/100


@pytest.mark.parametrize("fused", [True, False])
def test_reference_switch(tiny_model: Path, fused: bool) -> None:
    model = dataclasses.replace(open_model(tiny_model), fused=fused)
    assert model.can_classify(np.dtype(np.uint8)) is fused


def test_inference_path_never_imports_torch() -> None:
    code = (
        "import sys, numpy as np, costa\n"
        "from costa.models.zoo import demo_model_path\n"
        "m = costa.open_model(demo_model_path())\n"
        "assert m.can_classify(np.dtype(np.uint8))\n"
        "costa.predict_array(np.full((4, 64, 64), 90, np.uint8), m)\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unmasked_form_until_first_no_data_batch(tiny_model: Path) -> None:
    """All-valid batches run the graph without the mask, exactly; no-data switches for good."""
    model = open_model(tiny_model)
    raw = structured_image(5, 64, 96)[None]
    full = np.ones((1, 64, 96), bool)
    holed = full.copy()
    holed[0, 10:30, 20:50] = False
    reference = _reference(model)

    def want(valid: np.ndarray) -> np.ndarray:
        return model.card.lut[reference.run(model.card.normalize(raw[0], valid[0])[None])[0].argmax(0)]

    want_full, want_holed = want(full), want(holed)
    forms = lambda: sorted(k[2] for k in model._fused_sessions)  # noqa: E731
    assert np.array_equal(model.classify(raw, full)[0][0], want_full)
    assert forms() == [False]
    unmasked = next(iter(model._fused_sessions.values()))
    assert [i.name for i in unmasked.get_inputs()] == ["raw"]
    assert np.array_equal(model.classify(raw, holed)[0][0], want_holed)
    assert forms() == [True]  # the unmasked form is freed: one copy of the weights at a time
    assert np.array_equal(model.classify(raw, full)[0][0], want_full)
    assert forms() == [True]
