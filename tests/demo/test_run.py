"""The bundled demo model and `costa demo`, end to end on a small territory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rio_cogeo.cogeo import cog_validate

from costa.demo.run import run_demo
from costa.inference.runtime import open_model
from costa.models.zoo import demo_model_path
from tests.conftest import costa


def test_demo_model_honours_the_contract() -> None:
    m = open_model(demo_model_path())
    assert m.card.classes == tuple(range(1, 17)) and m.card.bands == ("R", "G", "B", "NIR")
    assert demo_model_path().stat().st_size < 10_000_000
    assert m.card.extra["training"]["heldout_miou"] >= 0.8


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    s = run_demo(tmp_path, seed=4, dalles=(2, 2), dalle_px=600)
    for v in s["vintages"]:
        assert v["miou"] >= 0.8, v  # held-out seed: the model never saw seed 4
        assert cog_validate(v["landcover"])[0]
    assert json.loads((tmp_path / "run.json").read_text())["provider"] == s["provider"]
    assert (tmp_path / "zan.gpkg").is_file() and len(s["zan_vs_truth"]) == 2
    for z in s["zan_vs_truth"]:
        assert z["artif_ha"] == pytest.approx(z["artif_ha_truth"], rel=0.15)
    res = costa("evaluate", s["vintages"][0]["landcover"], s["vintages"][0]["truth"], "--json")
    assert res.returncode == 0 and json.loads(res.stdout)["miou"] == pytest.approx(
        s["vintages"][0]["miou"], abs=1e-3
    )


@pytest.mark.slow
def test_demo_writes_what_planners_open(tmp_path: Path) -> None:
    import sqlite3

    import numpy as np
    import pyogrio
    import rasterio
    import shapely

    from costa.report.tiles import read_header

    s = run_demo(tmp_path, seed=5, dalles=(1, 2), dalle_px=400)
    polygons = pyogrio.read_dataframe(s["polygons"]["path"], layer="occupation_sol")
    assert shapely.coverage_is_valid(polygons.geometry.values)
    with rasterio.open(tmp_path / "landcover_2024.tif") as src:
        labels, px = src.read(1), abs(src.res[0] * src.res[1])
    areas = polygons.groupby("code").geometry.apply(lambda g: g.area.sum())
    for code, area in areas.items():
        assert area == pytest.approx(np.count_nonzero(labels == code) * px, rel=0.01), code
    for gpkg in (tmp_path / "zan.gpkg", Path(s["polygons"]["path"])):
        query = "SELECT f_table_name, useAsDefault FROM layer_styles"
        styles = sqlite3.connect(gpkg).execute(query).fetchall()
        assert styles and all(default for _, default in styles)
    assert read_header(tmp_path / "report" / "carte-2024.pmtiles")["max_zoom"] >= 19
    assert [Path(p).name for p in s["sparte"]] == ["zan_sparte.csv"]
