"""STAC Item beside each COG: structure of the projection, raster and classification extensions."""

from __future__ import annotations

import json
from pathlib import Path

import pystac

from costa.demo.territory import make_territory
from costa.io.catalog import ASSET, STAC_SUFFIX
from costa.nomenclature import CLASSES


def test_stac_item_beside_cog(tmp_path: Path) -> None:
    t = make_territory(tmp_path / "demo", dalles=(1, 1), dalle_px=128)
    cog = t.truth[2021]
    path = cog.with_name(cog.stem + STAC_SUFFIX)
    d = json.loads(path.read_text())
    assert d["type"] == "Feature" and d["stac_version"].startswith("1.")
    exts = " ".join(d["stac_extensions"])
    for ext in ("projection", "raster", "classification"):
        assert f"/{ext}/" in exts
    props = d["properties"]
    assert props["proj:epsg"] == 2154 and props["proj:shape"] == [128, 128]
    assert props["proj:transform"][:6] == [0.2, 0.0, 840000.0, 0.0, -0.2, 6521000.0]
    assert props["start_datetime"].startswith("2021-01-01") and props["end_datetime"].startswith("2021-12-31")
    asset = d["assets"][ASSET]
    assert asset["href"] == cog.name and "data" in asset["roles"]
    assert asset["raster:bands"][0]["data_type"] == "uint8" and asset["raster:bands"][0]["nodata"] == 0
    classes = asset["classification:classes"]
    assert [(c["value"], c["description"], "#" + c["color_hint"].lower()) for c in classes] == [
        (c.code, c.fr, c.color) for c in CLASSES
    ]
    lon, lat = d["geometry"]["coordinates"][0][0]
    assert 4 < lon < 6 and 45 < lat < 46  # Lambert-93 footprint in WGS84
    item = pystac.Item.from_dict(d)  # pystac reads it back, extensions included
    assert item.id == cog.stem and item.bbox is not None
    from pystac.extensions.classification import ClassificationExtension

    assert len(ClassificationExtension.ext(item.assets[ASSET]).classes or []) == 16


def test_no_stac_item_without_crs(tmp_path: Path) -> None:
    import numpy as np

    from costa.io.catalog import describe_cog
    from tests.conftest import write_raster

    cog = write_raster(tmp_path / "nocrs.tif", np.ones((1, 8, 8), np.uint8), crs=None)
    assert [p.name for p in describe_cog(cog)] == ["nocrs.tif.aux.xml", "nocrs.qml"]
