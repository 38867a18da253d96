"""End-to-end prediction: seams, COG validity, nodata, confidence, the Python API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp
from rio_cogeo.cogeo import cog_validate

import costa
from costa.demo.synthetic import make_scene
from costa.inference import PredictOptions, predict, predict_array
from costa.inference.options import settle
from costa.inference.runtime import open_model
from costa.models.zoo import demo_model_path
from costa.tiling.tiles import plan_tiles, round_up
from tests.conftest import structured_image, write_raster


def _tile_border_mask(h: int, w: int, tile: int, halo: int, width: int = 2) -> np.ndarray:
    """Pixels within ``width`` px of an internal boundary between tile cores."""
    mask = np.zeros((h, w), bool)
    for t in plan_tiles(h, w, tile, halo, 32):
        for r in (t.core.row, t.core.row_stop):
            if 0 < r < h:
                mask[max(r - width, 0) : r + width, t.core.col : t.core.col_stop] = True
        for c in (t.core.col, t.core.col_stop):
            if 0 < c < w:
                mask[t.core.row : t.core.row_stop, max(c - width, 0) : c + width] = True
    return mask


def _seam_agreement(model: costa.Model, img: np.ndarray) -> tuple[float, float, int]:
    """Agreement of default tiling with one whole-image window: interior, tile borders (±2 px)."""
    h, w = img.shape[1:]
    whole = predict_array(img, model, PredictOptions(tile=round_up(max(h, w), 32), halo=0))
    tiled = predict_array(img, model)  # the default: tiles planned for this image and the memory budget
    planned = settle(PredictOptions(), model.card, model.provider, (h, w))
    inner = np.zeros((h, w), bool)
    inner[32:-32, 32:-32] = True  # whole-image inference itself depends on padding there
    border = _tile_border_mask(h, w, planned.tile, planned.halo) & inner
    agree = whole == tiled
    assert len(np.unique(whole)) >= 4  # the network really draws class boundaries
    return float(agree[inner].mean()), float(agree[border].mean()), int(border.sum())


@pytest.mark.slow
def test_no_seams_random_weight_unet(unet_model: Path) -> None:
    """A random-weight resnet18 U-Net, on a size that is no multiple of the tile."""
    interior, border, n = _seam_agreement(open_model(unet_model), structured_image(7, 1500, 1700))
    assert n > 10_000 and interior >= 0.999 and border >= 0.995, (interior, border)


@pytest.mark.slow
def test_no_seams_demo_model() -> None:
    """The trained demo U-Net (stride 16, tile 1024, halo 128) on a held-out synthetic scene."""
    scene = make_scene(9100, 1500, 1700)
    interior, border, n = _seam_agreement(open_model(demo_model_path()), scene.image)
    assert n > 10_000 and interior >= 0.999 and border >= 0.995, (interior, border)


@pytest.mark.slow
def test_output_does_not_depend_on_chunks_or_batch(unet_model: Path) -> None:
    model = open_model(unet_model)
    img = structured_image(3, 400, 530)
    a = predict_array(img, model, PredictOptions(tile=256, halo=64, chunk=2048, batch=4))
    b = predict_array(img, model, PredictOptions(tile=256, halo=64, chunk=200, batch=1))
    assert np.array_equal(a, b)


def test_predict_writes_a_valid_cog(ortho: Path, tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "lc.tif"
    opts = PredictOptions(tile=256, halo=32, confidence=True)
    report = predict(ortho, tiny_model, out, opts)
    assert report.provider == "cpu" and report.tiles == len(plan_tiles(700, 900, 256, 32, 32))
    assert cog_validate(out)[0]
    with rasterio.open(out) as dst, rasterio.open(ortho) as src:
        assert (dst.crs, dst.transform, dst.shape) == (src.crs, src.transform, src.shape)
        assert dst.count == 2 and dst.dtypes == ("uint8", "uint8") and dst.nodata == 0
        assert dst.colormap(1)[1] == (0xCE, 0x70, 0x79, 255)
        assert dst.tags(1)["CLASS_13"] == "Pelouse"
        tags = dst.tags()
        assert tags["COSTA_VERSION"] == costa.__version__ and len(tags["MODEL_SHA256"]) == 64
        assert str(ortho.resolve()) in tags["SOURCES"]
        assert dst.overviews(1)  # internal overviews
        labels, conf = dst.read(1), dst.read(2)
    expected = predict_array(structured_image(1, 700, 900), tiny_model, opts)
    assert np.array_equal(labels, expected[0])
    assert set(np.unique(labels)) <= set(range(1, 17)) and conf.min() >= 6 and conf.max() <= 100
    assert np.array_equal(conf, expected[1])
    assert not list(tmp_path.glob(".lc.tif*"))  # no temporary files left behind


def test_nodata_pixels_are_exactly_zero(tiny_model: Path, tmp_path: Path) -> None:
    img = structured_image(2, 200, 260)
    img[:, 50:90, 100:200] = 0  # a nodata hole
    img[:, :, :40] = 0  # a nodata strip (a whole tile core nearly empty)
    src = write_raster(tmp_path / "nd.tif", img, nodata=0)
    out = tmp_path / "lc.tif"
    predict(src, tiny_model, out, PredictOptions(tile=128, halo=32))
    with rasterio.open(out) as dst:
        labels = dst.read(1)
    hole = (img == 0).all(axis=0)
    assert (labels[hole] == 0).all() and (labels[~hole] > 0).all()


def test_alpha_band_is_a_mask_and_bands_option(tiny_model: Path, tmp_path: Path) -> None:
    img = structured_image(4, 128, 160)
    alpha = np.full((1, 128, 160), 255, np.uint8)
    alpha[0, :20] = 0
    src = write_raster(tmp_path / "a.tif", np.concatenate([img, alpha]))
    with rasterio.open(src, "r+") as ds:  # R, G, B, NIR, alpha
        ds.colorinterp = [
            ColorInterp.red,
            ColorInterp.green,
            ColorInterp.blue,
            ColorInterp.undefined,
            ColorInterp.alpha,
        ]
    out = tmp_path / "lc.tif"
    predict(src, tiny_model, out)
    with rasterio.open(out) as dst:
        labels = dst.read(1)
    assert (labels[:20] == 0).all() and (labels[20:] > 0).all()
    # --bands reorders inputs: NIR first gives another prediction than the default order
    swapped = predict_array(img, tiny_model, PredictOptions(bands=(4, 1, 2, 3)))
    assert not np.array_equal(swapped, labels)


def test_rgbn_written_as_rgba_uses_nir_and_warns(tiny_model: Path, tmp_path: Path) -> None:
    img = structured_image(6, 96, 128)
    img[3, :10] = 0  # NIR zeros are data, not a mask
    src = write_raster(tmp_path / "rgba.tif", img, photometric="RGB", alpha="YES")
    with rasterio.open(src) as ds:
        assert ds.colorinterp[3] is ColorInterp.alpha
    messages: list[str] = []
    predict(src, tiny_model, tmp_path / "lc.tif", warn=messages.append)
    assert messages and "band 4 of rgba.tif is flagged as alpha but feeds the model as NIR" in messages[0]
    with rasterio.open(tmp_path / "lc.tif") as dst:
        assert np.array_equal(dst.read(1), predict_array(img, tiny_model))


def test_predict_array_confidence_band(tiny_model: Path) -> None:
    img = structured_image(5, 100, 90)
    both = predict_array(img, tiny_model, PredictOptions(confidence=True))
    assert both.shape == (2, 100, 90)
    assert np.array_equal(both[0], predict_array(img, tiny_model))


def test_a_crash_mid_run_leaves_no_output(ortho: Path, tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "lc.tif"

    def boom(done: int, total: int) -> None:
        if done >= 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C half way

    with pytest.raises(KeyboardInterrupt):
        predict(ortho, tiny_model, out, PredictOptions(tile=256, halo=32, chunk=256), progress=boom)
    assert list(tmp_path.iterdir()) == [ortho]


def test_gpu_batches_keep_one_shape(unet_model: Path) -> None:
    """On a GPU provider a chunk's short last batch is filled to the batch size (each new shape
    costs cuDNN a new set-up), and the filler tiles change no code."""
    import dataclasses

    from costa.inference.runtime import Model

    class OnGpu(Model):  # reported as a GPU provider, run by ONNX Runtime's CPU provider
        @property
        def provider(self) -> str:
            return "cuda"

    cpu = open_model(unet_model, "cpu")
    gpu = OnGpu(**{f.name: getattr(cpu, f.name) for f in dataclasses.fields(Model) if f.init})
    shapes: list[tuple[int, ...]] = []
    classify = gpu.classify

    def recorded(raw: np.ndarray, valid: np.ndarray, confidence: bool = False) -> tuple:
        shapes.append(raw.shape)
        return classify(raw, valid, confidence)

    gpu.classify = recorded  # type: ignore[method-assign]
    image = make_scene(3, 700, 900).image
    opts = PredictOptions(tile=256, halo=32, batch=4, chunk=512)
    assert (predict_array(image, gpu, opts) == predict_array(image, cpu, opts)).all()
    assert len(shapes) > 2 and len(set(shapes)) == 1 and shapes[0][0] == 4
