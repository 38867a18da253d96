"""What a user reads: whole lines in pipes and logs, nothing with --quiet, errors in costa's words."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from costa.io.atomic import temp_name
from tests.conftest import assert_clean_error, costa, structured_image, write_raster


def _costa_with_columns(columns: int, *args: str | Path) -> tuple[int, str, str]:
    """The CLI with its output going to pipes (as in CI or ``| cat``) and ``COLUMNS`` set."""
    env = {**os.environ, "COLUMNS": str(columns)}
    cmd = [sys.executable, "-m", "costa", *map(str, args)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, check=False)
    return res.returncode, res.stdout, res.stderr


def _shape(text: str) -> list[str]:
    """Lines with their numbers masked (timings differ between runs, wording must not)."""
    return [re.sub(r"\d+(?:[.,]\d+)?", "N", line) for line in text.splitlines()]


@pytest.mark.slow
def test_demo_in_a_pipe_prints_whole_lines_whatever_columns(tmp_path: Path) -> None:
    runs = [_costa_with_columns(c, "demo", "--out", tmp_path, "--dalle-px", "300") for c in (30, 250)]
    for rc, stdout, stderr in runs:
        assert rc == 0, stderr
        assert "\x1b" not in stdout + stderr
        assert len(stdout.splitlines()) == 9, stdout
        vintage_line = r"^  2024: .* mIoU \d\.\d{3} vs truth \(lowest: .+ \d\.\d{3}\)$"
        assert re.search(vintage_line, stdout, re.M), stdout
    assert _shape(runs[0][1]) == _shape(runs[1][1])
    rc, stdout, stderr = _costa_with_columns(30, "demo", "--out", tmp_path, "--dalle-px", "300", "--quiet")
    assert (rc, stdout, stderr) == (0, "", "")


@pytest.fixture
def ortho(tmp_path: Path) -> Path:
    return write_raster(tmp_path / "ortho.tif", structured_image(1, 256, 256), compress="deflate")


def test_a_truncated_geotiff_is_named_in_costa_words(ortho: Path, tiny_model: Path, tmp_path: Path) -> None:
    data = ortho.read_bytes()
    bad = tmp_path / "trunc.tif"
    bad.write_bytes(data[: len(data) * 2 // 3])
    res = costa("predict", bad, "-m", tiny_model, "-o", tmp_path / "lc.tif", "--tile", "256", "--halo", "32")
    assert_clean_error(res)
    assert re.fullmatch(
        r"error: \S*trunc\.tif is truncated or corrupt \(rows \d+–\d+, columns \d+–\d+\); "
        r"copy or download it again\n",
        res.stderr,
    ), res.stderr
    assert not (tmp_path / "lc.tif").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_file_that_is_not_a_raster(tiny_model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "notes.tif"
    bad.write_text("not pixels")
    res = costa("predict", bad, "-m", tiny_model, "-o", tmp_path / "lc.tif")
    assert_clean_error(res)
    assert res.stderr == (
        f"error: {bad} is not in a format GDAL can read; give a GeoTIFF, COG, VRT or JPEG 2000 raster "
        "(GeoPackage, GeoJSON or Shapefile for vectors)\n"
    )


def test_an_existing_folder_as_out_prints_no_library_warning(tiny_model: Path, tmp_path: Path) -> None:
    img = structured_image(2, 256, 256)
    img[:, :20, :20] = 0
    src = write_raster(tmp_path / "alpha.tif", img, nodata=0, photometric="RGB", alpha="YES")
    out = tmp_path / "existing"
    out.mkdir()
    res = costa("predict", src, "-m", tiny_model, "-o", out, "--tile", "256", "--halo", "32")
    assert res.returncode == 0, res.stderr
    assert "Warning" not in res.stderr and ".py:" not in res.stderr, res.stderr
    assert all(ln.startswith(("warning: ", str(out))) for ln in res.stderr.splitlines()), res.stderr


def test_temporary_names_differ_for_the_same_pid_on_two_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    target = Path("/shared/out/landcover.tif")
    names = []
    for host in ("node-a", "node-b"):
        monkeypatch.setattr(os, "getpid", lambda: 4242)
        monkeypatch.setattr(socket, "gethostname", lambda h=host: h)
        names.append(temp_name(target, ".tif"))
    assert names[0] != names[1] and names[0].parent == target.parent
    assert np.unique([n.name for n in names]).size == 2
