"""Each commune's downloads: the page links them, `costa serve` streams them, and each reads back right."""

from __future__ import annotations

import io
import re
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from rasterio.features import rasterize
from rasterio.windows import from_bounds

from costa.nomenclature import CLASSES
from costa.report import build_report
from costa.report.downloads import download_names

YEARS = ["2021", "2024"]


def links(report: Path, insee: str) -> list[str]:
    html = (report / f"commune-{insee}.html").read_text()
    block = html[html.index('<ul id="downloads">') : html.index("</ul>", html.index('<ul id="downloads">'))]
    return re.findall(r'href="([^"]+)" download', block)


def test_pages_link_every_download(demo: dict[str, Any]) -> None:
    report = Path(demo["report"]).parent
    for insee in demo["communes_gpkg"].insee_com:
        names = [d.name for d in download_names(f"commune-{insee}", YEARS)]
        assert links(report, insee) == names
        for name in names:
            assert (report / name).is_file() and (report / name).stat().st_size > 0, name


def test_served_downloads_are_the_files(demo: dict[str, Any], server: str) -> None:
    """`costa serve` answers each download whole and by byte ranges (a GIS client's partial reads)."""
    report = Path(demo["report"]).parent
    insee = demo["communes_gpkg"].insee_com.iloc[0]
    for name in links(report, insee):
        with urllib.request.urlopen(f"{server}/{name}", timeout=10) as r:
            assert r.status == 200 and r.read() == (report / name).read_bytes(), name
    cog = f"commune-{insee}-occupation-2024.tif"
    req = urllib.request.Request(f"{server}/{cog}", headers={"Range": "bytes=0-15"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 206 and r.read() == (report / cog).read_bytes()[:16]
        assert r.headers["Content-Type"] == "image/tiff"


def commune_shapes(demo: dict[str, Any]) -> Any:
    return pyogrio.read_dataframe(demo["root"] / "zan.gpkg", layer="communes").set_index("insee_com")


@pytest.mark.parametrize("year", YEARS)
def test_clip_is_the_communes_pixels_of_the_full_map(demo: dict[str, Any], year: str) -> None:
    report = Path(demo["report"]).parent
    communes = commune_shapes(demo)
    with rasterio.open(demo["root"] / f"landcover_{year}.tif") as full:
        labels, transform, crs = full.read(1), full.transform, full.crs
    assert len(communes) == 2
    for insee, shape in zip(communes.index, communes.geometry, strict=True):
        with rasterio.open(report / f"commune-{insee}-occupation-{year}.tif") as clip:
            got = clip.read(1)
            assert clip.crs == crs and clip.res == (transform.a, -transform.e)
            assert clip.profile["tiled"] and b"LAYOUT=IFDS_BEFORE_DATA" in Path(clip.name).read_bytes()[:400]
            table = clip.colormap(1)
            assert all(table[c.code][:3] == c.rgb for c in CLASSES)
            tags = clip.tags(1)
            assert [tags[f"CLASS_{c.code}"] for c in CLASSES] == [c.fr for c in CLASSES]
            assert clip.tags()["COMMUNE"] == insee and clip.tags()["YEAR"] == year
            win = from_bounds(*clip.bounds, transform=transform)
        row, col = round(win.row_off), round(win.col_off)
        assert np.allclose((win.row_off, win.col_off), (row, col))  # on the map's pixel grid
        # The commune's pixels (centre inside its shape) of the full map, and nothing else.
        inside = rasterize([shape], out_shape=labels.shape, transform=transform).astype(bool)
        expected = np.where(inside, labels, 0)
        h, w = got.shape
        assert np.array_equal(got, expected[row : row + h, col : col + w])
        assert expected[row : row + h, col : col + w].sum() == expected.sum()  # no commune pixel left out
        assert (got > 0).mean() > 0.3


def test_polygons_parcels_and_figures(demo: dict[str, Any]) -> None:
    report = Path(demo["report"]).parent
    parcels = pyogrio.read_dataframe(demo["root"] / "zan.gpkg", layer="parcelles")
    communes = demo["communes_gpkg"].set_index("insee_com")
    for insee in communes.index:
        stem = report / f"commune-{insee}"
        poly = pyogrio.read_dataframe(f"{stem}-occupation-2024.gpkg", layer="occupation_sol")
        assert len(poly) and poly.geometry.is_valid.all() and shapely.coverage_is_valid(poly.geometry.values)
        assert set(poly.code) <= {c.code for c in CLASSES}
        assert list(poly.classe) == [next(c.fr for c in CLASSES if c.code == k) for k in poly.code]
        with rasterio.open(f"{stem}-occupation-2024.tif") as clip:
            px = clip.read(1)
            cell = abs(clip.transform.a * clip.transform.e)
        assert poly.surface_m2.sum() == pytest.approx((px > 0).sum() * cell, rel=0.02)
        for name, layer, renderer in (
            (f"{stem}-occupation-2024.gpkg", "occupation_sol", "categorizedSymbol"),
            (f"{stem}-parcelles.gpkg", "parcelles", "categorizedSymbol"),
        ):
            styles = pyogrio.read_dataframe(name, layer="layer_styles", read_geometry=False)
            style = styles[styles.f_table_name == layer]
            assert len(style) == 1 and style.useAsDefault.iloc[0], name
            assert f'type="{renderer}"' in style.styleQML.iloc[0], name
        mine = parcels[parcels.commune == insee].reset_index(drop=True)
        got = pyogrio.read_dataframe(f"{stem}-parcelles.gpkg", layer="parcelles")
        assert list(got.id) == list(mine.id) and np.allclose(got.artif_m2, mine.artif_m2)
        assert shapely.equals_exact(got.geometry.values, mine.geometry.values, tolerance=1e-6).all()
        csv = pd.read_csv(f"{stem}-parcelles.csv", dtype={"id": str, "commune": str})
        assert list(csv.id) == list(mine.id) and np.allclose(csv.artif_pct, mine.artif_pct)
        figures = pd.read_csv(io.StringIO(Path(f"{stem}-chiffres.csv").read_text()), dtype={"insee_com": str})
        assert list(figures.insee_com) == [insee]
        for field in ("artif_ha", "artif_pct", "surface_ha", "flux_artif_ha", "n_parcelles"):
            assert figures[field].iloc[0] == pytest.approx(communes.loc[insee, field], rel=1e-12), field


def test_no_downloads_leaves_the_parcels_csv_only(demo: dict[str, Any], tmp_path: Path) -> None:
    root = demo["root"]
    build_report(root / "zan.gpkg", root / "landcover_2024.tif", tmp_path, tiles=False, downloads=False)
    insee = demo["communes_gpkg"].insee_com.iloc[0]
    assert links(tmp_path, insee) == [f"commune-{insee}-parcelles.csv"]
    assert not list(tmp_path.glob("*.tif")) and not list(tmp_path.glob("*.gpkg"))
