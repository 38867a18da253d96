"""The report folder: figures equal the GeoPackage's, overlay downsampled, escaping, CLI."""

from __future__ import annotations

import dataclasses
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from costa.nomenclature import CLASSES
from costa.report import build_pages, build_report
from costa.report.overlay import read_overlay
from costa.report.render import render_commune
from tests.conftest import assert_clean_error, costa

FIGURES = [
    "artif_ha", "artif_pct", "surface_ha", "n_parcelles", "n_parcelles_artif", "n_parcelles_partielles",
    "n_parcelles_non_artif", "flux_artif_ha", "flux_desartif_ha", "flux_artif_net_ha",
    "n_parcelles_nouvellement_artif", "regles_version",
]  # fmt: skip


def read_png(data: bytes) -> tuple[np.ndarray, dict[int, tuple[int, ...]]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(data) as mem, mem.open() as src:
            return src.read(1), src.colormap(1)


@pytest.fixture(scope="module")
def pages(demo: dict[str, Any]) -> list[Any]:
    root = demo["root"]
    return build_pages(root / "zan.gpkg", root / "landcover_2024.tif", root / "landcover_2021.tif", 300)


def test_demo_writes_the_report(demo: dict[str, Any]) -> None:
    index = Path(demo["report"])
    assert index == demo["root"] / "report" / "index.html" and index.is_file()
    html = index.read_text()
    for insee in demo["communes_gpkg"].insee_com:
        assert f'href="commune-{insee}.html"' in html and (index.parent / f"commune-{insee}.html").is_file()
    assert json.loads((demo["root"] / "run.json").read_text())["report"] == str(index)
    assert 'href="carte.html"' in html and (index.parent / "carte.html").is_file()
    for name in ("carte-2021.pmtiles", "carte-2024.pmtiles", "LICENSE-pmtiles.txt"):
        assert (index.parent / name).is_file(), name


def test_parcels_geojson_in_longitude_latitude(demo: dict[str, Any]) -> None:
    """Each commune's parcels as GeoJSON (what carte.html fetches), inside the raster's footprint."""
    from rasterio.warp import transform_bounds

    report = Path(demo["report"]).parent
    with rasterio.open(demo["root"] / "landcover_2024.tif") as src:
        w, s, e, n = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    parcelles = demo["parcelles_gpkg"]
    for insee in demo["communes_gpkg"].insee_com:
        gj = json.loads((report / f"commune-{insee}-parcelles.geojson").read_text())
        assert [f["properties"]["id"] for f in gj["features"]] == list(
            parcelles.id[parcelles.commune == insee]
        )
        xy = np.array([c for f in gj["features"] for c in f["geometry"]["coordinates"][0]])
        assert (xy[:, 0] >= w - 1e-6).all() and (xy[:, 0] <= e + 1e-6).all()
        assert (xy[:, 1] >= s - 1e-6).all() and (xy[:, 1] <= n + 1e-6).all()


def test_mercator_overlay_lies_under_the_parcels(demo: dict[str, Any]) -> None:
    lc = demo["root"] / "landcover_2024.tif"
    with rasterio.open(lc) as src:
        full = src.read(1)
        bounds = tuple(src.bounds)
    ov = read_overlay(lc, bounds, max_px=200, web_mercator=True)  # type: ignore[arg-type]
    labels, _ = read_png(ov.png)
    assert ov.crs == "EPSG:3857" and max(ov.width, ov.height) == 200
    assert ov.bounds[0] < ov.bounds[2] and 5e6 < ov.bounds[1] < ov.bounds[3] < 6e6  # metres, France
    mapped = labels > 0
    assert mapped.mean() > 0.9  # a slightly rotated square in its Mercator box
    for c in CLASSES:
        assert (labels[mapped] == c.code).mean() == pytest.approx((full == c.code).mean(), abs=0.02), c.fr


def test_figures_are_the_geopackage_ones(demo: dict[str, Any], pages: list[Any]) -> None:
    communes = demo["communes_gpkg"].set_index("insee_com")
    assert [p.insee for p in pages] == list(communes.index)
    for page in pages:
        row = communes.loc[page.insee]
        figs = {f.field: f for f in page.figures}
        for field in FIGURES:
            assert figs[field].value == pytest.approx(row[field], rel=1e-12), field
        n = row["n_parcelles"]
        assert figs["n_parcelles_artif_pct"].value == pytest.approx(100 * row["n_parcelles_artif"] / n)
        assert figs["artif_ha"].text == f"{row['artif_ha']:.2f} ha".replace(".", ",")
        assert figs["regles"].value == row["regles"] == "cosia-2023"


def test_class_areas_per_vintage(demo: dict[str, Any], pages: list[Any]) -> None:
    """The newest vintage's areas are the sums of the parcels' areas in the GeoPackage."""
    parcelles = demo["parcelles_gpkg"]
    for page in pages:
        (old_label, old), (new_label, new) = page.class_ha
        assert (old_label, new_label) == ("2021", "2024")
        mine = parcelles[parcelles.commune == page.insee]
        expected = [mine[f"{c.slug}_m2"].sum() / 1e4 for c in CLASSES]
        np.testing.assert_allclose(new, expected, rtol=1e-9, atol=1e-9)
        assert sum(old) == pytest.approx(sum(new))  # same parcels, same grid
        assert old != new  # the two vintages differ


def test_overlay_is_downsampled_with_the_class_palette(demo: dict[str, Any], pages: list[Any]) -> None:
    lc = demo["root"] / "landcover_2024.tif"
    with rasterio.open(lc) as src:
        full = src.read(1)
        bounds = tuple(src.bounds)
    ov = read_overlay(lc, bounds, max_px=200)  # type: ignore[arg-type]
    labels, cmap = read_png(ov.png)
    assert labels.shape == (ov.height, ov.width) == (200, 200)
    assert ov.bounds == pytest.approx(bounds)
    for c in CLASSES:
        assert cmap[c.code][:3] == c.rgb and cmap[c.code][3] == 255
    assert cmap[0][3] == 0  # no data is transparent
    # Class shares survive the downsampling (mode overviews): within 2 points of the full raster.
    for c in CLASSES:
        assert (labels == c.code).mean() == pytest.approx((full == c.code).mean(), abs=0.02), c.fr
    for page in pages:
        for _, o in page.overlays:
            assert max(o.width, o.height) <= 300


def legend_items(html: str) -> list[str]:
    """The texts of the land-cover legend of a page (one ``<li>`` per class)."""
    start = html.index('<ul id="legend"')
    items = html[start : html.index("</ul>", start)].split("<li ")[1:]
    return [item.split("</span>")[1].split("</li>")[0] for item in items]


def test_every_map_page_has_the_legend(demo: dict[str, Any]) -> None:
    """The full map and each commune page list the 16 classes, colours and French names."""
    report = Path(demo["report"]).parent
    for name in ["carte.html", *(f"commune-{i}.html" for i in demo["communes_gpkg"].insee_com)]:
        html = (report / name).read_text()
        assert legend_items(html) == [f"{c.code} — {c.fr}" for c in CLASSES], name
        for c in CLASSES:
            assert f'data-code="{c.code}"><span class="swatch" style="background: {c.color}">' in html


def test_page_escapes_text_and_lists_the_16_classes(pages: list[Any]) -> None:
    evil = dataclasses.replace(pages[0], nom='<script>alert("x")</script>')
    html = render_commune(evil)
    assert '<script>alert("x")' not in html and "&lt;script&gt;alert(" in html
    assert legend_items(html) == [f"{c.code} — {c.fr}" for c in CLASSES]
    assert "<script src" not in html and "<link" not in html  # Leaflet inlined: one file, offline
    assert "leafletRasterLayer" in html  # and pmtiles.js


def test_cli_zan_report(demo: dict[str, Any], tmp_path: Path) -> None:
    root = demo["root"]
    lc, ortho = root / "landcover_2024.tif", root / "ortho_2024.vrt"
    res = costa("zan", "report", root / "zan.gpkg", "--landcover", lc, "--ortho", ortho, "--out", tmp_path)
    assert res.returncode == 0, res.stderr
    assert f"wrote {tmp_path / 'index.html'}" in res.stdout
    csv = (tmp_path / "commune-99101-parcelles.csv").read_text().splitlines()
    parcelles = demo["parcelles_gpkg"]
    assert len(csv) == 1 + (parcelles.commune == "99101").sum()
    html = (tmp_path / "commune-99101.html").read_text()
    assert 'href="commune-99101-parcelles.csv"' in html and "2021 (ha)" not in html  # one vintage only
    assert sorted(p.name for p in tmp_path.glob("*.pmtiles")) == ["carte-2024.pmtiles", "ortho-2024.pmtiles"]
    assert (
        '"photos": [{"label": "2024", "max_zoom": 19, "min_zoom": 17, "url": "ortho-2024.pmtiles"}]' in html
    )


def test_cli_zan_report_errors(demo: dict[str, Any], tmp_path: Path) -> None:
    root = demo["root"]
    lc = root / "landcover_2024.tif"
    res = costa(
        "zan", "report", root / "zan.gpkg", "--landcover", lc, "--out", tmp_path / "flat", "--no-tiles"
    )
    assert res.returncode == 0, res.stderr
    assert not list((tmp_path / "flat").glob("*.pmtiles")) and (tmp_path / "flat" / "carte.html").is_file()
    assert_clean_error(
        costa("zan", "report", tmp_path / "no.gpkg", "--landcover", lc, "--out", tmp_path / "r"),
        "ZAN GeoPackage not found",
    )
    (tmp_path / "file").write_text("x")
    assert_clean_error(
        costa("zan", "report", root / "zan.gpkg", "--landcover", lc, "--out", tmp_path / "file"),
        "is a file; give a folder",
    )
    assert not (tmp_path / "r").exists()
    ortho = root / "ortho_2024.vrt"
    refused = [
        (["--ortho-before", ortho], "--ortho-before is the mosaic of --landcover-before: give both"),
        (["--ortho", ortho, "--no-tiles"], "drop --no-tiles"),
        (["--ortho", lc.with_suffix(".vrt")], "orthophoto not found"),
    ]
    for extra, line in refused:
        res = costa("zan", "report", root / "zan.gpkg", "--landcover", lc, *extra, "-o", tmp_path / "r")
        assert_clean_error(res, line)
    assert not (tmp_path / "r").exists()  # refused before any work


def test_build_report_refuses_a_raster_elsewhere(demo: dict[str, Any], tmp_path: Path) -> None:
    from costa.errors import SourceError
    from tests.conftest import write_raster

    far = write_raster(tmp_path / "far.tif", np.ones((1, 64, 64), np.uint8))  # 840000, 6520000: south
    with pytest.raises(SourceError, match="overlaps"):
        build_report(demo["root"] / "zan.gpkg", far, tmp_path / "r")


def test_small_communes_carry_the_patch_rule_caveat(demo: dict[str, Any], pages: list[Any]) -> None:
    communes = demo["communes_gpkg"].set_index("insee_com")
    for page in pages:
        small = communes.loc[page.insee, "surface_ha"] < 2.5  # 10 × 2,500 m² (cosia-2023)
        assert bool(page.notes) == small
        html = render_commune(page)
        assert ('class="caveat"' in html) == small
        if small:
            assert "moins de 10 fois le seuil de 2\u202f500 m²" in page.notes[0]
    assert any(p.notes for p in pages)  # the test territory is small enough to show it
    big = dataclasses.replace(pages[0], row={**pages[0].row, "surface_ha": 1200.0})
    from costa.report.build import _caveats

    assert (
        _caveats(big.row) == [] and _caveats({**big.row, "regles": "cosia-2023-pixel", "surface_ha": 1}) == []
    )


def test_the_caveat_looks_the_rule_set_up_by_name_and_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """A table of ``cosia-2023-v2`` says ``cosia-2023`` version 2: its caveat uses version 2."""
    from costa.report.build import _caveats
    from costa.zan.rules import RULESETS, RuleSet

    v2 = RuleSet("cosia-2023", 2, thresholds=True, patch_m2=100.0, method="graph")
    monkeypatch.setitem(RULESETS, "cosia-2023-v2", v2)
    row = {"regles": "cosia-2023", "surface_ha": 0.05}
    assert "seuil de 100 m²" in _caveats({**row, "regles_version": 2})[0]
    assert "seuil de 2\u202f500 m²" in _caveats({**row, "regles_version": 1})[0]
    assert _caveats({**row, "regles_version": 9}) == []
