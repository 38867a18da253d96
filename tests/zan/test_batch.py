"""ZAN commune by commune: parallel, resumable after kill -9 with identical tables."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from costa.jobs.manifest import Manifest
from costa.zan.windows import DEFAULT_WINDOW
from tests.conftest import assert_clean_error, costa, write_raster
from tests.zan.test_windowed import X0, Y0, N, scene

COMMUNES = 10


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("batch")
    raster = write_raster(d / "lc.tif", scene(2)[None], nodata=0)
    feats, step = [], 32 * 0.2
    for i in range(N // 32):
        for j in range(N // 32):
            x, y = X0 + j * step, Y0 - i * step
            ring = [[x, y], [x + step, y], [x + step, y - step], [x, y - step], [x, y]]
            props = {"id": f"p{i}_{j}", "commune": f"990{j // 2:02d}"}  # 10 communes in columns
            feats.append(
                {
                    "type": "Feature",
                    "properties": props,
                    "geometry": {"type": "Polygon", "coordinates": [ring]},
                }
            )
    parcels = d / "parcels.json.gz"  # gzipped, as Etalab publishes a département's cadastre
    crs = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}}
    parcels.write_bytes(
        gzip.compress(json.dumps({"type": "FeatureCollection", "crs": crs, "features": feats}).encode())
    )
    return {"raster": raster, "parcels": parcels}


def _args(inputs: dict[str, Path], out: Path, *extra: str) -> list[str | Path]:
    return [
        "zan", "compute", "--landcover", inputs["raster"], "--parcels", inputs["parcels"], "--year", "2024",
        "--rules", "cosia-2023-v2", "--window", "128", "--by-commune", "-o", out, *extra,
    ]  # fmt: skip


def _done(out: Path) -> dict[str, int | None]:
    if not (out / "manifest.sqlite").is_file():
        return {}
    try:
        with Manifest(out, readonly=True) as man:
            return {r.name: r.run for r in man.rows() if r.status == "done"}
    except sqlite3.OperationalError:  # created, not yet initialised
        return {}


def test_kill_9_then_rerun_gives_identical_tables(inputs: dict[str, Path], tmp_path: Path) -> None:
    ref = costa(*_args(inputs, tmp_path / "ref", "--workers", "2"))  # in 2 processes
    assert ref.returncode == 0, ref.stderr
    out = tmp_path / "run"
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "costa", *map(str, _args(inputs, out))],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while len(_done(out)) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        proc.kill()  # SIGKILL: no cleanup of any kind
        proc.wait()
    first = _done(out)
    assert 2 <= len(first) < COMMUNES, first
    stamps = {k: (out / "communes" / f"{k}.gpkg").stat().st_mtime_ns for k in first}
    res = costa(*_args(inputs, out))
    assert res.returncode == 0, res.stderr
    assert f"{len(first)} commune(s) already computed" in res.stderr
    after = _done(out)
    assert len(after) == COMMUNES and all(after[k] == 1 for k in first)  # not recomputed
    assert all(after[k] == 2 for k in after if k not in first)
    assert stamps == {k: (out / "communes" / f"{k}.gpkg").stat().st_mtime_ns for k in first}
    for table in ("communes", "parcelles"):
        a = pd.read_parquet(tmp_path / "ref" / f"zan_{table}.parquet")
        b = pd.read_parquet(out / f"zan_{table}.parquet")
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert len(a) == (N // 32) ** 2
    q = costa("zan", "query", out / "zan.gpkg", "--commune", "99003", "--format", "json")
    assert q.returncode == 0 and json.loads(q.stdout)[0]["regles_version"] == 2
    rep = costa("zan", "report", out / "zan.gpkg", "--landcover", inputs["raster"], "-o", tmp_path / "rep")
    assert rep.returncode == 0 and len(list((tmp_path / "rep").glob("commune-*.html"))) == COMMUNES


def test_refusals(inputs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "z"
    assert costa(*_args(inputs, out)).returncode == 0
    args = _args(inputs, out)
    args[args.index("cosia-2023-v2")] = "cosia-2023-pixel"
    res = costa(*args)
    assert_clean_error(res, f"{out} holds a ZAN run with other inputs or rules; use another --out folder")
    res = costa(*_args(inputs, tmp_path / "z.gpkg"))
    assert_clean_error(res, "with --by-commune, give a folder (it gets zan.gpkg and communes/)")
    args = _args(inputs, tmp_path / "w")
    args[args.index("--window") + 1] = "8"
    assert_clean_error(costa(*args), f"--window 8: choose between 16 and 65536 px (default {DEFAULT_WINDOW})")
