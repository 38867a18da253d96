"""Styles QGIS loads by itself, read back with real GDAL (the library rasterio ships)."""

from __future__ import annotations

import ctypes
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio

from costa.io.styles import add_styles, write_raster_styles
from costa.nomenclature import CLASSES
from costa.vector.polygons import vectorize
from costa.zan.compute import compute
from costa.zan.io import write
from tests.conftest import write_raster

QGIS_COLUMNS = {
    "f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName", "styleQML",
    "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time",
}  # fmt: skip


def gdal_category_names(path: Path) -> list[str]:
    """Band 1's category names as GDAL itself reports them (GDALGetRasterCategoryNames).

    Like gdalinfo and QGIS, read the dataset's metadata first: GDAL's GTiff driver loads the
    ``.aux.xml`` lazily, on the first metadata request. Also checks the attribute table.
    """
    libs = Path(rasterio.__file__).parent.parent / "rasterio.libs"
    gdal = ctypes.CDLL(str(next(libs.glob("libgdal-*.so*"))))
    gdal.GDALAllRegister()
    gdal.GDALOpen.restype = ctypes.c_void_p
    gdal.GDALOpen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    gdal.GDALGetMetadata.restype = ctypes.c_void_p
    gdal.GDALGetMetadata.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    gdal.GDALGetDefaultRAT.restype = ctypes.c_void_p
    gdal.GDALGetDefaultRAT.argtypes = [ctypes.c_void_p]
    gdal.GDALRATGetRowCount.argtypes = [ctypes.c_void_p]
    gdal.GDALGetRasterBand.restype = ctypes.c_void_p
    gdal.GDALGetRasterBand.argtypes = [ctypes.c_void_p, ctypes.c_int]
    gdal.GDALGetRasterCategoryNames.restype = ctypes.POINTER(ctypes.c_char_p)
    gdal.GDALGetRasterCategoryNames.argtypes = [ctypes.c_void_p]
    gdal.GDALClose.argtypes = [ctypes.c_void_p]
    ds = gdal.GDALOpen(str(path).encode(), 0)
    assert ds, path
    try:
        gdal.GDALGetMetadata(ds, None)
        band = gdal.GDALGetRasterBand(ds, 1)
        rat = gdal.GDALGetDefaultRAT(band)
        assert rat and gdal.GDALRATGetRowCount(rat) == len(CLASSES)
        names = gdal.GDALGetRasterCategoryNames(band)
        out = []
        i = 0
        while names and names[i] is not None:
            out.append(names[i].decode())
            i += 1
        return out
    finally:
        gdal.GDALClose(ds)


def check_styles(gpkg: Path) -> dict[str, str]:
    """Every layer has one default layer_styles row whose QML parses and names its fields."""
    styles = pyogrio.read_dataframe(gpkg, layer="layer_styles", read_geometry=False)
    assert set(styles.columns) >= QGIS_COLUMNS
    renderers = {}
    for name, _ in pyogrio.list_layers(gpkg):
        if name == "layer_styles":
            continue
        rows = styles[(styles.f_table_name == name) & styles.useAsDefault.astype(bool)]
        assert len(rows) == 1, name
        row = rows.iloc[0]
        assert row.f_table_schema == "" and row.f_table_catalog == ""
        info = pyogrio.read_info(gpkg, layer=name)
        assert row.f_geometry_column == (info["geometry_name"] if info["geometry_type"] else "")
        root = ET.fromstring(row.styleQML)
        assert {a.get("field") for a in root.iter("alias")} == set(info["fields"]), name
        ET.fromstring(row.styleSLD)
        r = root.find("renderer-v2")
        renderers[name] = "" if r is None else f"{r.get('type')}:{r.get('attr', '')}"
    # QGIS matches on these columns with SQL: check them as QGIS reads them
    with sqlite3.connect(gpkg) as db:
        (n,) = db.execute(
            "SELECT count(*) FROM layer_styles WHERE f_table_schema = '' AND useAsDefault = 1"
        ).fetchone()
        assert n == len(renderers)
        assert db.execute("SELECT data_type FROM gpkg_contents WHERE table_name='layer_styles'").fetchone()
    return renderers


def test_zan_geopackage_styled(territory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t = territory
    write(compute(t.truth[2024], t.parcels, t.communes, landcover_before=t.truth[2021]), tmp_path / "z.gpkg")
    renderers = check_styles(tmp_path / "z.gpkg")
    assert renderers["parcelles"] == "categorizedSymbol:statut"
    assert renderers["communes"] == "graduatedSymbol:artif_pct"  # a map: the communes carry their shapes
    assert pyogrio.read_info(tmp_path / "z.gpkg", layer="communes")["geometry_type"] in (
        "Polygon",
        "MultiPolygon",
    )
    qml = pyogrio.read_dataframe(tmp_path / "z.gpkg", layer="layer_styles", read_geometry=False)
    communes_qml = qml[qml.f_table_name == "communes"].styleQML.iloc[0]
    assert 'alias field="artif_ha" index="5" name="Surface artificialisée (ha)"' in communes_qml


def test_polygons_styled_by_class(tmp_path: Path) -> None:
    labels = np.kron(np.arange(1, 17, dtype=np.uint8).reshape(4, 4), np.ones((8, 8), np.uint8))
    vectorize(write_raster(tmp_path / "lc.tif", labels[None]), tmp_path / "p.gpkg")
    assert check_styles(tmp_path / "p.gpkg") == {"occupation_sol": "categorizedSymbol:code"}
    add_styles(tmp_path / "p.gpkg")  # again: still one default row per layer
    check_styles(tmp_path / "p.gpkg")
    qml = pyogrio.read_dataframe(tmp_path / "p.gpkg", layer="layer_styles", read_geometry=False).styleQML[0]
    cats = ET.fromstring(qml).iter("category")
    assert [(c.get("value"), c.get("label")) for c in cats] == [(str(c.code), c.fr) for c in CLASSES]


def test_graduated_communes_with_geometry(tmp_path: Path) -> None:
    import geopandas as gpd
    from shapely.geometry import box

    gpd.GeoDataFrame(
        {"insee_com": ["1"], "artif_pct": [12.5]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:2154"
    ).to_file(tmp_path / "c.gpkg", layer="communes")
    add_styles(tmp_path / "c.gpkg")
    assert check_styles(tmp_path / "c.gpkg") == {"communes": "graduatedSymbol:artif_pct"}


def test_cog_category_names_and_qml(tmp_path: Path) -> None:
    from costa.demo.territory import make_territory

    t = make_territory(tmp_path / "demo", dalles=(1, 1), dalle_px=128)
    cog = t.truth[2024]  # written by write_cog: sidecars are already there
    names = gdal_category_names(cog)
    assert names[0] == "" and names[1:17] == [c.fr for c in CLASSES]
    qml = ET.parse(cog.with_suffix(".qml")).getroot()
    assert [e.get("label") for e in qml.iter("paletteEntry")] == [c.fr for c in CLASSES]
    with rasterio.open(cog) as src:  # the colour table and band tags are unchanged
        assert src.colormap(1)[1][:3] == CLASSES[0].rgb and src.tags(1)["CLASS_13"] == "Pelouse"
    write_raster_styles(cog)  # idempotent
    assert gdal_category_names(cog)[13] == "Pelouse"


def test_category_names_keep_other_aux_entries(tmp_path: Path) -> None:
    cog = write_raster(tmp_path / "lc.tif", np.ones((1, 8, 8), np.uint8))
    aux = cog.with_name("lc.tif.aux.xml")
    aux.write_text('<PAMDataset><Metadata><MDI key="K">v</MDI></Metadata></PAMDataset>')
    write_raster_styles(cog)
    with rasterio.open(cog) as src:
        assert src.tags()["K"] == "v"
    assert gdal_category_names(cog)[1] == "Bâtiment"


@pytest.fixture(scope="module")
def territory(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from costa.demo.territory import make_territory

    return make_territory(tmp_path_factory.mktemp("terr"), dalles=(1, 2), dalle_px=384)
