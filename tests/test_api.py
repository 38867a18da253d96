"""The public API: costa.predict on files, DataArrays and arrays, windows, costa.evaluate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rioxarray
import xarray as xr
from affine import Affine

import costa
from costa.api import context_box, window_box
from costa.demo.synthetic import make_scene
from costa.evaluation import evaluate as evaluate_files
from costa.inference.runtime import Model
from costa.io.sources import RasterSource
from costa.nomenclature import CLASSES
from costa.tiling.tiles import Box
from tests.conftest import write_raster

H, W = 640, 896


@pytest.fixture(scope="module")
def model() -> Model:
    return costa.open_model(costa.demo_model_path(), "cpu")


@pytest.fixture(scope="module")
def scene_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic 4-band scene the demo model recognises, as a Lambert-93 GeoTIFF."""
    scene = make_scene(seed=11, height=H, width=W)
    return write_raster(tmp_path_factory.mktemp("api") / "scene.tif", scene.image)


@pytest.fixture(scope="module")
def full(scene_file: Path, model: Model) -> np.ndarray:
    """The reference: the whole scene predicted in memory with the engine."""
    with rasterio.open(scene_file) as src:
        return costa.predict_array(src.read(), model)


def test_public_api_all_is_sorted_and_resolves() -> None:
    assert costa.__all__ == sorted(costa.__all__)
    for name in costa.__all__:
        assert getattr(costa, name) is not None, name
    # names exported before the researcher API keep working
    for name in ("CLASSES", "Model", "ModelCard", "PredictOptions", "PredictReport", "open_model",
                 "predict", "predict_array", "CostaError", "SourceReadError"):  # fmt: skip
        assert name in costa.__all__
    assert callable(costa.zan.compute) and callable(costa.zan.query)
    assert callable(costa.demo.make_territory) and callable(costa.plot.landcover)


def test_numpy_in_numpy_out_equals_predict_array(scene_file: Path, model: Model, full: np.ndarray) -> None:
    with rasterio.open(scene_file) as src:
        image = src.read()
    out = costa.predict(image, model)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, full)
    truth = make_scene(seed=11, height=H, width=W).truth
    assert (full == truth).mean() > 0.95  # the demo model really recognises the scene


def test_dataarray_in_keeps_georeferencing_and_labels(
    scene_file: Path, model: Model, full: np.ndarray
) -> None:
    da = rioxarray.open_rasterio(scene_file)
    out = costa.predict(da, model)
    assert isinstance(out, xr.DataArray)
    assert out.dims == ("y", "x")
    np.testing.assert_array_equal(out.values, full)
    np.testing.assert_array_equal(out.x.values, da.x.values)
    np.testing.assert_array_equal(out.y.values, da.y.values)
    with rasterio.open(scene_file) as src:
        assert out.rio.crs == src.crs
        assert out.rio.transform() == src.transform
        assert rasterio.crs.CRS.from_wkt(out.attrs["crs"]) == src.crs
        assert Affine(*out.attrs["transform"]) == src.transform
    assert out.attrs["class_names_fr"] == tuple(c.fr for c in CLASSES)
    assert out.attrs["class_names_en"][12] == "herbaceous"
    assert out.attrs["class_colors"] == tuple(c.color for c in CLASSES)
    assert out.attrs["flag_values"] == tuple(range(1, 17))
    assert out.attrs["model"] == "costa-demo"


def test_plain_dataarray_without_rioxarray_attrs(model: Model, full: np.ndarray, scene_file: Path) -> None:
    """A DataArray made by hand (attrs only, no spatial_ref coordinate) is georeferenced the same."""
    with rasterio.open(scene_file) as src:
        da = xr.DataArray(
            src.read(),
            dims=("band", "y", "x"),
            attrs={"crs": "EPSG:2154", "transform": tuple(src.transform)[:6]},
        )
        out = costa.predict(da, model)
        np.testing.assert_array_equal(out.values, full)
        assert out.rio.transform() == src.transform
        assert out.rio.crs.to_epsg() == 2154
        assert float(out.x[0]) == src.transform.c + 0.1


def test_file_in_dataarray_out_round_trips_to_a_geotiff(
    scene_file: Path, model: Model, full: np.ndarray, tmp_path: Path
) -> None:
    out = costa.predict(scene_file, model)
    np.testing.assert_array_equal(out.values, full)
    out.rio.to_raster(tmp_path / "labels.tif")
    with rasterio.open(tmp_path / "labels.tif") as a, rasterio.open(scene_file) as b:
        assert (a.crs, a.shape) == (b.crs, b.shape)
        assert a.transform.almost_equals(b.transform, precision=1e-9)
        np.testing.assert_array_equal(a.read(1), full)


def test_file_to_cog_keeps_the_old_signature(
    scene_file: Path, model: Model, full: np.ndarray, tmp_path: Path
) -> None:
    report = costa.predict(scene_file, model, tmp_path / "lc.tif", costa.PredictOptions(chunk=512))
    assert isinstance(report, costa.PredictReport)
    assert (report.width, report.height) == (W, H)
    with rasterio.open(tmp_path / "lc.tif") as src:
        np.testing.assert_array_equal(src.read(1), full)


@pytest.mark.parametrize(
    "rows, cols",
    [
        (slice(200, 456), slice(300, 620)),  # interior
        (slice(0, 100), slice(0, 130)),  # top-left corner
        (slice(517, None), slice(-201, None)),  # bottom-right corner, negative index
        (slice(333, 334), slice(7, 801)),  # one row
    ],
)
def test_window_matches_the_full_prediction(
    scene_file: Path, model: Model, full: np.ndarray, rows: slice, cols: slice
) -> None:
    out = costa.predict(scene_file, model, window=(rows, cols))
    expected = full[rows, cols]
    assert out.shape == expected.shape
    assert (out.values == expected).mean() >= 0.999
    with rasterio.open(scene_file) as src:
        r0, c0 = rows.indices(H)[0], cols.indices(W)[0]
        assert out.rio.transform() == src.transform * Affine.translation(c0, r0)
    # the same window of a numpy array and of a DataArray gives the same labels
    with rasterio.open(scene_file) as src:
        image = src.read()
    np.testing.assert_array_equal(costa.predict(image, model, window=(rows, cols)), out.values)
    np.testing.assert_array_equal(
        costa.predict(rioxarray.open_rasterio(scene_file), model, window=(rows, cols)), out
    )


def test_bounds_select_the_pixels_they_cover(scene_file: Path, model: Model, full: np.ndarray) -> None:
    # rows 100..300, cols 50..250 of a grid whose top-left corner is (840000, 6520000) at 0.2 m
    bounds = (840010.0, 6520000 - 60.0, 840050.0, 6520000 - 20.0)
    out = costa.predict(scene_file, model, bounds=bounds)
    assert out.shape == (200, 200)
    assert (out.values == full[100:300, 50:250]).mean() >= 0.999
    assert out.rio.bounds() == pytest.approx((840010.0, 6519940.0, 840050.0, 6519980.0))
    da = costa.predict(rioxarray.open_rasterio(scene_file), model, bounds=bounds)
    np.testing.assert_array_equal(da.values, out.values)
    np.testing.assert_allclose(da.x.values, out.x.values, rtol=0, atol=1e-6)


def test_a_window_reads_only_its_context(
    scene_file: Path, model: Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    boxes: list[Box] = []
    read = RasterSource.read

    def spy(self: RasterSource, box: Box) -> tuple[np.ndarray, np.ndarray]:
        boxes.append(box)
        return read(self, box)

    monkeypatch.setattr(RasterSource, "read", spy)
    costa.predict(scene_file, model, window=(slice(300, 364), slice(400, 480)))
    # the demo model's halo is 128 px and its stride 16: 300-128=172 → 160, 364+128=492 → 496
    assert boxes == [Box(160, 272, 336, 336)]


def test_confidence_adds_a_band(scene_file: Path, model: Model, full: np.ndarray) -> None:
    out = costa.predict(
        scene_file, model, options=costa.PredictOptions(confidence=True), window=(slice(0, 64), slice(0, 64))
    )
    assert out.dims == ("band", "y", "x") and list(out.band.values) == [1, 2]
    assert (out.sel(band=1).values == full[:64, :64]).mean() >= 0.999
    assert out.sel(band=2).values.min() >= 30 and out.sel(band=2).values.max() <= 100


def test_nodata_of_a_dataarray_comes_out_as_zero(scene_file: Path, model: Model) -> None:
    da = rioxarray.open_rasterio(scene_file).copy()
    da[:, :50, :] = 0
    da.attrs["_FillValue"] = 0
    out = costa.predict(da, model)
    assert (out.values[:50] == 0).all()
    assert (out.values[60:] > 0).all()


def test_evaluate_accepts_paths_dataarrays_and_arrays(scene_file: Path, model: Model, tmp_path: Path) -> None:
    truth = make_scene(seed=11, height=H, width=W).truth
    truth_path = write_raster(tmp_path / "truth.tif", truth[None])
    pred = costa.predict(scene_file, model)
    costa.predict(scene_file, model, tmp_path / "pred.tif")
    by_files = costa.evaluate(tmp_path / "pred.tif", truth_path)
    np.testing.assert_array_equal(by_files.matrix, evaluate_files(tmp_path / "pred.tif", truth_path).matrix)
    for a, b in ((pred, truth_path), (pred, truth), (pred.values, str(truth_path))):
        m = costa.evaluate(a, b)
        np.testing.assert_array_equal(m.matrix, by_files.matrix)
    assert by_files.overall_accuracy == pytest.approx((pred.values == truth).mean())


def test_window_maths() -> None:
    assert window_box(10, 10) == Box(0, 0, 10, 10)
    assert window_box(10, 20, window=(slice(None, 3), slice(5, 100))) == Box(0, 5, 3, 15)
    t = Affine(0.5, 0, 100, 0, -0.5, 50)
    # bounds touching pixels partially take them whole; clipped to the raster
    assert window_box(10, 10, bounds=(100.2, 46.9, 101.1, 60.0), transform=t) == Box(0, 0, 7, 3)
    assert context_box(Box(0, 0, 10, 10), 10, 10, 128, 16) == Box(0, 0, 10, 10)
    assert context_box(Box(40, 40, 8, 8), 1000, 1000, 16, 16) == Box(16, 16, 48, 48)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"window": (slice(0, 10), slice(0, 10)), "bounds": (0, 0, 1, 1)}, "not both"),
        ({"window": (slice(0, 10, 2), slice(0, 10))}, "step"),
        ({"window": (slice(700, 800), slice(0, 10))}, "holds no pixel"),
        ({"window": (slice(0, 10),)}, "two slices"),
        (
            {"bounds": (0.0, 0.0, 1.0, 1.0)},
            "do not overlap the raster, which covers (840000.00, 6519872.00, 840179.20, 6520000.00)",
        ),
        ({"bounds": (840010.0, 6519990.0, 840000.0, 6519999.0)}, "xmin < xmax"),
    ],
)
def test_bad_windows_are_clean_errors(scene_file: Path, model: Model, kwargs: dict, message: str) -> None:
    with pytest.raises(costa.OptionError) as e:
        costa.predict(scene_file, model, **kwargs)
    assert message in str(e.value)
    assert isinstance(e.value, ValueError)


def test_misuse_of_out_and_bounds_are_clean_errors(scene_file: Path, model: Model, tmp_path: Path) -> None:
    image = np.zeros((4, 64, 64), np.uint8)
    with pytest.raises(costa.OptionError, match="out= writes a COG from a raster file"):
        costa.predict(image, model, tmp_path / "x.tif")
    with pytest.raises(costa.OptionError, match="bounds= needs a georeferenced source"):
        costa.predict(image, model, bounds=(0, 0, 1, 1))  # type: ignore[call-overload]
    with pytest.raises(costa.OptionError, match="drop out="):
        costa.predict(scene_file, model, tmp_path / "x.tif", window=(slice(0, 9), slice(0, 9)))  # type: ignore[call-overload]
    with pytest.raises(costa.OptionError, match="pass options as options="):
        costa.predict(scene_file, model, costa.PredictOptions())  # type: ignore[call-overload]
    with pytest.raises(costa.OptionError, match="bands, height, width"):
        costa.predict(np.zeros((64, 64), np.uint8), model)
    with pytest.raises(costa.SourceReadError, match="not found"):
        costa.predict(tmp_path / "missing.tif", model)
    with pytest.raises(costa.OptionError, match="bounds= needs a georeferenced source"):
        costa.predict(xr.DataArray(image, dims=("band", "y", "x")), model, bounds=(0, 0, 1, 1))
