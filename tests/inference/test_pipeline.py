"""The staged pipeline: same pixels as the serial path; any stage's failure is one clean error."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles

from costa.errors import ModelError, OutputError, SourceReadError
from costa.inference import PredictOptions, predict
from costa.inference import engine as engine_module
from costa.inference.pipeline import stream
from costa.inference.runtime import Model
from costa.io.overviews import Pyramid, mode2, overview_factors
from tests.conftest import assert_clean_error, costa, structured_image, write_raster

OPTS = PredictOptions(tile=128, halo=32, chunk=160, confidence=True)
"""Small tiles and chunks: about 30 chunks over 700 × 900 px, several in flight."""


def _serial(
    items: Sequence[Any],
    read: Callable[..., Any],
    infer: Callable[..., Any],
    write: Callable[..., Any],
    **_: Any,
) -> None:
    """The serial path: one chunk at a time, read → infer → write, in the calling thread."""
    for item in items:
        write(infer(item, read(item)))


def _no_costa_threads() -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not [t for t in threading.enumerate() if t.name.startswith("costa-")]:
            return True
        time.sleep(0.05)
    return False


def test_staged_output_equals_the_serial_path(
    ortho: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = predict(ortho, tiny_model, tmp_path / "staged.tif", OPTS)
    monkeypatch.setattr(engine_module, "stream", _serial)
    serial = predict(ortho, tiny_model, tmp_path / "serial.tif", OPTS)
    assert staged.tiles == serial.tiles > 30
    with rasterio.open(tmp_path / "staged.tif") as a, rasterio.open(tmp_path / "serial.tif") as b:
        assert np.array_equal(a.read(), b.read())
        levels = len(a.overviews(1))
    for level in range(levels):
        with (
            rasterio.open(tmp_path / "staged.tif", overview_level=level) as a,
            rasterio.open(tmp_path / "serial.tif", overview_level=level) as b,
        ):
            assert np.array_equal(a.read(), b.read())
    assert _no_costa_threads()


def test_overviews_are_a_valid_cog_and_mode_of_the_image(
    ortho: Path, tiny_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "lc.tif"
    predict(ortho, tiny_model, out, PredictOptions(tile=256, halo=32))
    assert cog_validate(out, strict=True)[0]
    with rasterio.open(out) as ds:
        assert ds.overviews(1) == overview_factors(900, 700) == [2]
        full = ds.read(1)
        with rasterio.open(out, overview_level=0) as ov:
            assert np.array_equal(ov.read(1), mode2(full))
    # the same overviews as GDAL's mode resampling through rio-cogeo (costa's writer before)
    profile = cog_profiles.get("deflate")
    cog_translate(out, tmp_path / "ref.tif", profile, overview_resampling="mode", quiet=True)
    with (
        rasterio.open(out, overview_level=0) as a,
        rasterio.open(tmp_path / "ref.tif", overview_level=0) as b,
    ):
        assert np.array_equal(a.read(), b.read())


def test_mode2_is_a_majority_ignoring_nodata() -> None:
    a = np.array([[1, 1, 2, 0], [1, 3, 0, 0]], np.uint8)
    assert mode2(a).tolist() == [[1, 2]]
    assert mode2(np.zeros((3, 3), np.uint8)).shape == (2, 2)


def test_mode2_equals_gdal_mode_on_every_block_of_class_codes(tmp_path: Path) -> None:
    # all 17**4 = 289**2 blocks of codes 0-16 (the lookup table), then confidence-like values (counted)
    v = np.arange(17, dtype=np.uint8)
    a, b, c, d = (g.reshape(289, 289) for g in np.meshgrid(v, v, v, v, indexing="ij"))
    codes = np.zeros((578, 578), np.uint8)
    codes[0::2, 0::2], codes[0::2, 1::2], codes[1::2, 0::2], codes[1::2, 1::2] = a, b, c, d
    pct = np.random.default_rng(0).choice(np.array([0, 40, 41, 100], np.uint8), codes.shape)
    path = write_raster(tmp_path / "codes.tif", np.stack([codes, pct]), nodata=0)
    with rasterio.open(path, "r+") as ds:
        ds.build_overviews([2], rasterio.enums.Resampling.mode)
    with rasterio.open(path, overview_level=0) as ov:
        gdal = ov.read()
    assert np.array_equal(mode2(codes), gdal[0])
    assert np.array_equal(mode2(pct), gdal[1])


def test_pyramid_decimates_each_cell_once_when_complete() -> None:
    class Base:
        height, width = 2100, 1500

        def __init__(self) -> None:
            self.reads: list[Any] = []

        def read(self, window: Any) -> np.ndarray:
            self.reads.append(window)
            return np.ones((1, int(window.height), int(window.width)), np.uint8)

    class Level:
        def write(self, a: np.ndarray, window: Any) -> None:
            pass

    base = Base()
    p = Pyramid(base, [Level(), Level()], [2, 4])
    p.add(engine_module.Box(0, 0, 1024, 1000))
    assert base.reads == []  # the first cell still lacks 24 columns
    p.add(engine_module.Box(0, 1000, 2100, 500))
    assert len(base.reads) == 4  # cell (0, 0) and the right column of cells are complete
    p.finish()
    assert len(base.reads) == 6


def _truncated_cog(tmp_path: Path) -> Path:
    """A 4-band COG whose last blocks were cut off (as on a failing disk or a partial copy)."""
    plain = write_raster(tmp_path / "plain.tif", structured_image(3, 700, 900))
    src = tmp_path / "cut.tif"
    rasterio.shutil.copy(plain, src, driver="COG", BLOCKSIZE=128, COMPRESS="DEFLATE", OVERVIEWS="NONE")
    plain.unlink()
    data = src.read_bytes()
    src.write_bytes(data[: int(len(data) * 0.7)])
    return src


def test_unreadable_block_is_one_error_and_no_output(tiny_model: Path, tmp_path: Path) -> None:
    src = _truncated_cog(tmp_path)
    with pytest.raises(
        SourceReadError, match=r"^\S*cut\.tif is truncated or corrupt \(rows \d+–\d+, columns \d+–\d+\);"
    ):
        predict(src, tiny_model, tmp_path / "lc.tif", OPTS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tif"]
    assert _no_costa_threads()
    res = costa("predict", src, "-m", tiny_model, "-o", tmp_path / "lc.tif", "--tile", "128", "--halo", "32")
    assert_clean_error(res, "cut.tif is truncated or corrupt (rows ", "copy or download it again")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.tif"]


def test_full_disk_is_one_error_and_no_output(
    ortho: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def full(self: Pyramid, box: Any) -> None:
        calls.append(box)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(Pyramid, "add", full)
    out = tmp_path / "lc.tif"
    with pytest.raises(OutputError) as err:
        predict(ortho, tiny_model, out, OPTS)
    assert str(err.value) == f"{out} cannot be written: the disk is full; free some space"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ortho.tif"]
    assert _no_costa_threads()


def test_model_error_is_one_error_and_no_output(
    ortho: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Model.classify
    calls = []

    def failing(self: Model, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError(
                "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned\n"
                "while running Conv"
            )
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Model, "classify", failing)
    with pytest.raises(ModelError) as err:
        predict(ortho, tiny_model, tmp_path / "lc.tif", OPTS)
    assert str(err.value) == (
        "model 'test' failed on chunk 1 (pixels Box(row=0, col=160, height=160, width=192)): "
        "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ortho.tif"]
    assert _no_costa_threads()


def test_stream_surfaces_the_first_error_of_any_stage_and_ends_its_threads() -> None:
    def boom(x: int) -> int:
        if x == 7:
            raise ValueError(f"stage failed on {x}")
        return x

    for read, infer, write in (
        (boom, lambda i, x: x, lambda x: None),
        (lambda i: i, lambda i, x: boom(x), lambda x: None),
        (lambda i: i, lambda i, x: x, boom),
    ):
        with pytest.raises(ValueError, match=r"^stage failed on 7$"):
            stream(range(40), read, infer, write, readers=3, depth=2)
        assert _no_costa_threads()


def test_stream_bounds_what_is_in_flight() -> None:
    live, peak = [0], [0]
    lock = threading.Lock()

    def read(i: int) -> int:
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        return i

    def write(x: int) -> None:
        time.sleep(0.01)  # a slow writer: reads must not run ahead of it
        with lock:
            live[0] -= 1

    stream(range(50), read, lambda i, x: x, write, readers=4, depth=2)
    assert live[0] == 0 and peak[0] <= 2 * 2 + 2
