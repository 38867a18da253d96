"""ZAN tables on the synthetic territory's truth, checked against an independent count."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.features import rasterize
from rasterio.warp import transform_geom

from costa.demo.territory import make_territory
from costa.zan.compute import compute
from costa.zan.io import write
from tests.conftest import assert_clean_error, costa


@pytest.fixture(scope="module")
def territory(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_territory(tmp_path_factory.mktemp("terr"), seed=3, dalles=(2, 2), dalle_px=500)


@pytest.mark.parametrize("window", [4096, 128])
def test_pixel_rules_match_an_independent_count(territory, tmp_path: Path, window: int) -> None:  # type: ignore[no-untyped-def]
    t = territory
    res = compute(
        t.truth[2024],
        t.parcels,
        t.communes,
        landcover_before=t.truth[2021],
        rules="cosia-2023-pixel",
        window=window,
    )
    with rasterio.open(t.truth[2024]) as src:
        lab, tr, shape = src.read(1), src.transform, src.shape
    feats = json.loads(t.parcels.read_text())["features"]
    geoms = [transform_geom("EPSG:4326", "EPSG:2154", f["geometry"]) for f in feats]
    ids = rasterize(
        ((g, i + 1) for i, g in enumerate(geoms)), out_shape=shape, transform=tr, fill=0, dtype="int32"
    )
    artif = np.isin(lab, [1, 2, 3, 4, 5])
    n_artif_parcels: dict[str, int] = {}
    for i, f in enumerate(feats, start=1):  # one parcel at a time, the slow obvious way
        m = ids == i
        built_m2 = np.isin(lab[m], [1, 5]).sum() * 0.04
        urban = built_m2 >= 50 or np.isin(lab[m], [1, 2, 3, 4, 5]).mean() >= 0.5
        if urban:
            artif |= m & (lab == 13)
        share = (artif[m]).mean() if m.any() else 0
        code = f["properties"]["commune"]
        n_artif_parcels[code] = n_artif_parcels.get(code, 0) + int(share >= 0.5)
    for row in res.communes.itertuples():
        geom = next(
            c["geometry"]
            for c in json.loads(t.communes.read_text())["features"]
            if c["properties"]["INSEE_COM"] == row.insee_com
        )
        cm = rasterize([(geom, 1)], out_shape=shape, transform=tr, fill=0, dtype="uint8") == 1
        expected_ha = (artif & cm).sum() * 0.04 / 1e4
        assert row.artif_ha == pytest.approx(expected_ha, rel=1e-3)
        assert row.n_parcelles_artif == n_artif_parcels[row.insee_com]
        assert row.regles == "cosia-2023-pixel" and row.annee == 2024 and row.annee_old == 2021
    assert res.communes.flux_artif_ha.sum() > 0  # new houses and a road appear in 2024


def test_geopackage_reads_back_with_documented_fields(territory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = territory
    files = write(compute(t.truth[2024], t.parcels, t.communes), tmp_path / "zan.gpkg")
    assert {p.suffix for p in files} == {".gpkg", ".csv", ".parquet"}
    layers = {name for name, _ in pyogrio.list_layers(tmp_path / "zan.gpkg")}
    assert layers == {"parcelles", "communes", "layer_styles"}
    info = pyogrio.read_info(tmp_path / "zan.gpkg", layer="parcelles")
    fields = dict(zip(info["fields"], info["dtypes"], strict=True))
    assert (
        fields["artif_m2"] == "float64" and fields["statut"] == "object" and fields["vigne_m2"] == "float64"
    )
    assert info["crs"] == "EPSG:2154" and info["geometry_type"] == "Polygon"
    c = pyogrio.read_dataframe(tmp_path / "zan.gpkg", layer="communes")
    assert list(c.insee_com) == ["99101", "99102"] and (c.perimetre == "commune").all()
    # Each commune carries its boundary given (the shape its figures were counted over).
    given = gpd.read_file(t.communes).to_crs(c.crs).set_index("INSEE_COM").loc[list(c.insee_com)]
    assert c.crs == "EPSG:2154" and c.geometry.is_valid.all()
    assert np.allclose(c.geometry.area, given.geometry.area)
    assert shapely.equals_exact(c.geometry.values, given.geometry.values, tolerance=1e-6).all()


def test_communes_without_boundaries_are_the_union_of_their_parcels(territory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = territory
    write(compute(t.truth[2024], t.parcels), tmp_path / "zan.gpkg")
    c = pyogrio.read_dataframe(tmp_path / "zan.gpkg", layer="communes")
    parcels = pyogrio.read_dataframe(tmp_path / "zan.gpkg", layer="parcelles")
    assert (c.perimetre == "parcelles").all() and c.geometry.is_valid.all()
    for insee, shape in zip(c.insee_com, c.geometry, strict=True):
        mine = parcels[parcels.commune == insee]
        union = shapely.union_all(mine.geometry.values)
        assert shape.buffer(1.0).contains(union)  # every parcel inside (corners within 0.5 m + arcs)
        assert shape.area < 1.2 * union.area  # closed between parcels, not a hull of the commune
        others = parcels[parcels.commune != insee].representative_point()
        assert not shape.contains(others).any()


def test_zan_cli_errors(territory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = territory
    empty = tmp_path / "empty.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}')
    res = costa("zan", "compute", "--landcover", t.truth[2024], "--parcels", empty, "-o", tmp_path / "z.gpkg")
    assert_clean_error(res, "holds no parcels")
    res = costa(
        "zan", "compute", "--landcover", t.truth[2024], "--parcels", t.parcels, "-o", tmp_path / "z.gpkg"
    )
    assert res.returncode == 0, res.stderr
    res = costa("zan", "query", tmp_path / "z.gpkg", "--commune", "Costa sur Orgue")
    assert_clean_error(
        res, "no commune 'Costa sur Orgue'", "known: 99101, 99102"
    )  # no names without --communes
    res = costa("zan", "query", tmp_path / "z.gpkg", "--commune", "99101", "--format", "json")
    assert res.returncode == 0 and json.loads(res.stdout)[0]["perimetre"] == "parcelles"
    assert not list(tmp_path.glob(".z.gpkg*"))


@pytest.mark.parametrize("case", ["far_away", "no_crs", "missing_field", "other_grid"])
def test_bad_inputs_give_one_line_and_no_output(territory, tmp_path: Path, case: str) -> None:  # type: ignore[no-untyped-def]
    t = territory
    fc = json.loads(t.parcels.read_text())
    args: list[object] = ["--landcover", t.truth[2024]]
    if case == "far_away":  # parcels on the other side of France: no overlap
        for f in fc["features"]:
            f["geometry"]["coordinates"] = [
                [[x - 4.0, y] for x, y in ring] for ring in f["geometry"]["coordinates"]
            ]
        frag = ["no parcel of", "overlaps"]
    elif case == "no_crs":
        p = tmp_path / "p.gpkg"
        import geopandas as gpd

        with pytest.warns(UserWarning, match="crs"):
            gpd.read_file(t.parcels).set_crs(None, allow_override=True).to_file(p)
        args += ["--parcels", p]
        frag = ["has no CRS"]
    elif case == "missing_field":
        for f in fc["features"]:
            del f["properties"]["commune"]
        frag = ["has no 'commune' field"]
    else:  # the older vintage on another grid
        other = tmp_path / "other.tif"
        with rasterio.open(t.truth[2021]) as src:
            prof = src.profile | {"width": src.width // 2, "height": src.height // 2, "driver": "GTiff"}
            with rasterio.open(other, "w", **prof) as dst:
                dst.write(src.read(1)[: src.height // 2, : src.width // 2], 1)
        args += ["--landcover-before", other]
        frag = ["not on the same grid"]
    if "--parcels" not in args:
        p = tmp_path / "p.geojson"
        p.write_text(json.dumps(fc))
        args += ["--parcels", p]
    res = costa("zan", "compute", *args, "--year", "2024", "--year-before", "2021", "-o", tmp_path / "z.gpkg")
    assert_clean_error(res, *frag)
    assert not (tmp_path / "z.gpkg").exists()


def test_communes_too_small_for_the_patch_rule_get_a_caveat(territory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    small = compute(territory.truth[2024], territory.parcels, territory.communes)
    areas = dict(zip(small.communes.insee_com, small.communes.surface_ha, strict=True))
    expected = sorted(k for k, ha in areas.items() if ha < 2.5)  # 10 × 2,500 m²
    assert expected, areas  # the test territory is small enough to exercise the caveat
    assert sorted(n.split()[1] for n in small.notes) == expected
    assert all("cosia-2023-pixel" in n for n in small.notes)
    pixel = compute(territory.truth[2024], territory.parcels, territory.communes, rules="cosia-2023-pixel")
    assert pixel.notes == ()
    res = costa(
        "zan",
        "compute",
        "--landcover",
        territory.truth[2024],
        "--parcels",
        territory.parcels,
        "--communes",
        territory.communes,
        "-o",
        tmp_path / "z.gpkg",
        "--window",
        "256",
        "--workers",
        "2",  # windows in two processes, communes rasterised per window: the same table
    )
    assert res.returncode == 0 and f"warning: commune {expected[0]}" in res.stderr
    written = pd.read_parquet(tmp_path / "z_communes.parquet")
    table = pd.DataFrame(small.communes.drop(columns="geometry"))  # the tables beside: no shapes
    pd.testing.assert_frame_equal(written, table, check_exact=True)
