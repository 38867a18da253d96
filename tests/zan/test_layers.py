"""GeoPackages as people make them: QGIS's style and project tables, several data layers."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest

from costa.demo.territory import make_territory
from costa.errors import SourceError
from costa.io.gpkg import data_layer, data_layers
from costa.io.styles import add_styles
from tests.conftest import costa


@pytest.fixture(scope="module")
def territory(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return make_territory(tmp_path_factory.mktemp("terr"), seed=3, dalles=(1, 2), dalle_px=384)


def _as_qgis_saves_it(src: Path, out: Path, layer: str) -> Path:
    """``src`` in a GeoPackage with a ``layer_styles`` table and a ``qgis_projects`` table."""
    gpd.read_file(src).to_file(out, layer=layer, driver="GPKG")
    add_styles(out)  # QGIS's layer_styles, registered in gpkg_contents as an attributes table
    with sqlite3.connect(out) as con:  # QGIS's project storage: a table gpkg_contents does not list
        con.execute("CREATE TABLE qgis_projects (name TEXT PRIMARY KEY, metadata BLOB, content BLOB)")
        con.execute("INSERT INTO qgis_projects VALUES ('zan', NULL, x'00')")
    return out


def _zan(t, *args: str | Path) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    # the pixel rules: no caveat about communes too small for the patch rule on stderr
    res = costa("zan", "compute", "--landcover", t.truth[2024], "--rules", "cosia-2023-pixel", *args)
    return res.returncode, res.stdout, res.stderr


def test_style_and_project_tables_are_not_layers(territory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = territory
    parcels = _as_qgis_saves_it(t.parcels, tmp_path / "parcelles.gpkg", "parcelles")
    communes = _as_qgis_saves_it(t.communes, tmp_path / "communes.gpkg", "communes")
    assert {name for name, _ in pyogrio.list_layers(parcels)} >= {"parcelles", "layer_styles"}
    assert data_layers(parcels) == ["parcelles"]
    assert data_layer(parcels) == "parcelles"

    rc, _, stderr = _zan(t, "--parcels", parcels, "--communes", communes, "-o", tmp_path / "a.gpkg")
    assert rc == 0 and stderr == "", stderr  # no "More than one layer found" warning
    rc, _, stderr = _zan(t, "--parcels", t.parcels, "--communes", t.communes, "-o", tmp_path / "b.gpkg")
    assert rc == 0, stderr
    a = pyogrio.read_dataframe(tmp_path / "a.gpkg", layer="communes", read_geometry=False)
    b = pyogrio.read_dataframe(tmp_path / "b.gpkg", layer="communes", read_geometry=False)
    assert a.equals(b) and len(a) == 2


@pytest.fixture
def two_layers(territory, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Parcels and communes in one GeoPackage, styled (three tables, two data layers)."""
    path = tmp_path / "cadastre.gpkg"
    gpd.read_file(territory.parcels).to_file(path, layer="parcelles", driver="GPKG")
    gpd.read_file(territory.communes).to_file(path, layer="communes", driver="GPKG")
    add_styles(path)
    return path


def test_several_data_layers_give_one_line_naming_them(territory, two_layers: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t, f = territory, two_layers
    out = tmp_path / "z.gpkg"
    assert _zan(t, "--parcels", f, "-o", out) == (
        2,
        "",
        f"error: {f} holds several data layers (parcelles, communes): choose one with --layer NAME\n",
    )
    assert _zan(t, "--parcels", f, "--layer", "parcelles", "--communes", f, "-o", out) == (
        2,
        "",
        f"error: {f} holds several data layers (parcelles, communes): "
        "choose one with --communes-layer NAME\n",
    )
    assert _zan(t, "--parcels", f, "--layer", "parcels", "-o", out) == (
        2,
        "",
        f"error: {f} has no data layer 'parcels'; its data layers: parcelles, communes\n",
    )
    assert _zan(t, "--parcels", f, "--layer", "layer_styles", "-o", out) == (
        2,
        "",
        f"error: {f} has no data layer 'layer_styles'; its data layers: parcelles, communes\n",
    )
    assert not out.exists()
    rc, stdout, stderr = _zan(
        t, "--parcels", f, "--layer", "parcelles", "--communes", f, "--communes-layer", "communes", "-o", out
    )
    assert rc == 0 and stdout.startswith(f"wrote {out}"), stderr
    communes = pyogrio.read_dataframe(out, layer="communes", read_geometry=False)
    assert communes.insee_com.tolist() == ["99101", "99102"]


def test_a_geopackage_without_features(tmp_path: Path) -> None:
    path = tmp_path / "styles.gpkg"
    with sqlite3.connect(path) as con:
        con.execute("CREATE TABLE gpkg_contents (table_name TEXT, data_type TEXT)")
        con.execute("INSERT INTO gpkg_contents VALUES ('layer_styles', 'attributes')")
    with pytest.raises(SourceError, match="holds no data layer"):
        data_layer(path)
    assert data_layers(path) == []
