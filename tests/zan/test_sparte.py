"""sparte-style export: column names, units, roll-up to groups, zones, impermeable flux."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from shapely.geometry import box

from costa.demo.territory import make_territory
from costa.zan.compute import compute
from costa.zan.io import write
from costa.zan.sparte import COLUMNS, IMPERMEABLE, OCSGE, export, sparte_table
from tests.conftest import assert_clean_error, costa

SPARTE = (
    "surface_artif", "pourcent_artif", "flux_artif", "flux_desartif", "flux_artif_net", "millesime_debut",
    "millesime_fin", "surface_imper", "pourcent_imper", "flux_imper", "flux_desimper", "flux_imper_net",
)  # fmt: skip


@pytest.fixture(scope="module")
def zan(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("sparte")
    t = make_territory(root / "terr", seed=3, dalles=(1, 2), dalle_px=500)
    res = compute(t.truth[2024], t.parcels, t.communes, landcover_before=t.truth[2021])
    write(res, root / "zan.gpkg")
    groups = root / "groups.csv"
    groups.write_text(
        "insee_com,groupe,nom_groupe\n99101,200000001,CC de Costa\n99102,200000001,CC de Costa\n"
    )
    with rasterio.open(t.truth[2024]) as src:
        x0, y0, x1, y1 = src.bounds
        crs = src.crs
    xm = (x0 + x1) / 2
    zones = root / "plu.gpkg"
    gpd.GeoDataFrame(
        {"typezone": ["Ub", "N"]}, geometry=[box(x0, y0, xm, y1), box(xm, y0, x1, y1)], crs=crs
    ).to_file(zones, layer="zone_urba")
    return {"t": t, "res": res, "gpkg": root / "zan.gpkg", "groups": groups, "zones": zones}


def test_columns_and_units_match_zan(zan) -> None:  # type: ignore[no-untyped-def]
    table, zones = sparte_table(zan["gpkg"])
    assert zones is None and tuple(table.columns) == COLUMNS and set(SPARTE) <= set(table.columns)
    c = zan["res"].communes
    assert np.allclose(table.surface_artif, c.artif_ha) and np.allclose(table.pourcent_artif, c.artif_pct)
    assert np.allclose(table.flux_artif_net, c.flux_artif_ha - c.flux_desartif_ha)
    assert (table.millesime_debut == 2021).all() and (table.millesime_fin == 2024).all()
    imper = sum(c[f"{s}_ha"] for s in ("batiment", "zone_impermeable", "piscine", "serre"))
    assert np.allclose(table.surface_imper, imper) and table.flux_imper.isna().all()


def test_impermeable_flux_from_rasters(zan) -> None:  # type: ignore[no-untyped-def]
    t = zan["t"]
    table, _ = sparte_table(
        zan["gpkg"], landcover=t.truth[2024], landcover_before=t.truth[2021], communes=t.communes
    )
    areas = {}
    for year in (2021, 2024):
        with rasterio.open(t.truth[year]) as src:
            areas[year] = np.isin(src.read(1), IMPERMEABLE).sum() * 0.04 / 1e4
    assert table.flux_imper_net.sum() == pytest.approx(areas[2024] - areas[2021], abs=1e-9)
    assert (table.flux_imper >= 0).all() and table.flux_imper.sum() > 0  # new houses and a road
    assert np.allclose(table.flux_imper_net, table.flux_imper - table.flux_desimper)


def test_groups_and_zones(zan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    table, zones = sparte_table(zan["gpkg"], groups=zan["groups"], zones=zan["zones"])
    communes, group = table[table.type_territoire == "commune"], table[table.type_territoire == "groupe"]
    assert group.code.tolist() == ["200000001"] and group.nom.tolist() == ["CC de Costa"]
    g = group.iloc[0]
    for col in ("surface", "surface_artif", "flux_artif", "flux_desartif", "surface_imper"):
        assert g[col] == pytest.approx(communes[col].sum())
    assert g.pourcent_artif == pytest.approx(100 * communes.surface_artif.sum() / communes.surface.sum())
    assert zones is not None and set(zones.zone) == {"U", "N"}
    per_commune = zones[zones.type_territoire == "commune"].groupby("code").surface.sum()
    parcels = pyogrio.read_dataframe(zan["gpkg"], layer="parcelles", read_geometry=False)
    assert per_commune.to_dict() == pytest.approx(
        (parcels.groupby("commune").surface_m2.sum() / 1e4).to_dict()
    )
    assert (zones.perimetre == "parcelles").all()


def test_export_files_and_cli(zan, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files = export(zan["gpkg"], tmp_path / "s.csv", zones=zan["zones"])
    assert [f.name for f in files] == ["s.csv", "s_zonage.csv"]
    assert tuple(pd.read_csv(files[0]).columns) == COLUMNS
    res = costa("zan", "export", zan["gpkg"], "--out", tmp_path / "s.gpkg", "--groups", zan["groups"])
    assert res.returncode == 0, res.stderr
    layers = {n for n, _ in pyogrio.list_layers(tmp_path / "s.gpkg")}
    assert layers == {"sparte", "layer_styles"}
    assert_clean_error(costa("zan", "export", zan["gpkg"], "--out", tmp_path / "s.xlsx"), ".csv or .gpkg")
    bad = tmp_path / "g.csv"
    bad.write_text("insee_com,groupe\n99101,A\n")
    assert_clean_error(
        costa("zan", "export", zan["gpkg"], "--out", tmp_path / "x.csv", "--groups", bad), "99102"
    )


def test_ocsge_correspondence_covers_every_class() -> None:
    from costa.nomenclature import CODES

    assert sorted(OCSGE) == list(CODES)
    assert {OCSGE[c][0] for c in IMPERMEABLE} == {"CS1.1.1.1", "CS1.1.1.2"}
    assert all(code.startswith(("CS1.", "CS2.")) for code, _ in OCSGE.values())


def test_docs_table_is_the_data() -> None:
    from costa.nomenclature import CLASSES

    page = (Path(__file__).resolve().parents[2] / "docs" / "planners.md").read_text()
    for c in CLASSES:
        assert f"| {c.code} | {c.fr} | {OCSGE[c.code][0]} | {OCSGE[c.code][1]} |" in page, c.fr
