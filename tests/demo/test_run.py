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
