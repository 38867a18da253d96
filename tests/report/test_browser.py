"""The report in a real headless Chromium, opened from file:// and from a real `costa serve`.

Debian's /usr/bin/chromium driven by Playwright (never `playwright install`: no browser download).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from costa.nomenclature import CLASSES

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIGURES = [
    "artif_ha", "artif_pct", "n_parcelles", "n_parcelles_artif", "n_parcelles_partielles",
    "n_parcelles_non_artif", "flux_artif_ha", "flux_desartif_ha", "flux_artif_net_ha",
    "n_parcelles_nouvellement_artif", "regles_version",
]  # fmt: skip

pytestmark = pytest.mark.browser

TILES_LOADED = """() => {
  const tiles = [...document.querySelectorAll("#map .landcover-tiles img")];
  const drawn = (t) => t.style.display === "none"
    || (t.complete && t.naturalWidth && getComputedStyle(t).opacity === "1");  // faded in
  return tiles.length > 0 && tiles.every(drawn) && !document.querySelector("#map .leaflet-tile-loading");
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = "needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; .ci/run installs it")
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api", reason='needs playwright: pip install -e ".[dev]"')
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def rgb(png: bytes) -> np.ndarray:
    """(H, W, 3) uint8 pixels of a PNG screenshot."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with MemoryFile(png) as mem, mem.open() as src:
            return np.moveaxis(src.read()[:3], 0, -1)


def watch(page: Any, server: str) -> list[str]:
    """Errors of ``page`` and any request leaving the page and the local server (blob: tiles are local)."""
    problems: list[str] = []
    local = ("data:", "file:", server, f"blob:{server}/")
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(  # a fetch the page cancels itself (tiles of a zoom left) is not a failure
        "requestfailed",
        lambda r: (
            None
            if r.failure == "net::ERR_ABORTED"
            else problems.append(f"request failed: {r.url} {r.failure}")
        ),
    )
    page.on("request", lambda r: None if r.url.startswith(local) else problems.append(f"went out: {r.url}"))
    return problems


def popup(page: Any, selector: str) -> str:
    """Click the first map path matching ``selector`` (even one under another path); its popup's text."""
    page.locator(selector).first.dispatch_event("click")
    box = page.locator("#map .leaflet-popup-content")
    box.wait_for()
    text: str = box.inner_text()
    page.evaluate("window.costaMap.map.closePopup()")
    page.wait_for_function("() => !document.querySelector('#map .leaflet-popup')")  # faded out and gone
    return text


def opaque(page: Any) -> None:
    """Slide the land cover's opacity to 100 % (it starts at 70 % over the orthophotos)."""
    page.fill("#opacity", "100")
    page.locator("#opacity").dispatch_event("input")
    assert page.evaluate(
        """() => [...document.querySelectorAll("#map .landcover-tiles")]
        .every((l) => getComputedStyle(l).opacity === "1")"""
    )


def parse_fr(text: str) -> float:
    """'1\u202f234,57 ha' → 1234.57 (French thousands and decimal separators, unit after a space)."""
    return float(text.replace("\u202f", "").split(" ")[0].replace(",", "."))


@pytest.mark.parametrize("origin", ["file", "server"])
def test_commune_page_in_chromium(
    browser: Any, demo: dict[str, Any], server: str, origin: str, tmp_path: Path
) -> None:
    report = Path(demo["report"]).parent
    insee = "99102"
    url = (
        (report / f"commune-{insee}.html").as_uri() if origin == "file" else f"{server}/commune-{insee}.html"
    )
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = watch(page, server)
    archive_reads: list[int] = []
    page.on("response", lambda r: archive_reads.append(r.status) if r.url.endswith(".pmtiles") else None)
    page.goto(url)

    # The map drew: from file:// the overlay image, served the PMTiles tiles (read by byte ranges);
    # the parcels are paths, the commune's outline one more, and the pixels show the classes.
    if origin == "file":
        overlay = page.locator("img.leaflet-image-layer")
        overlay.wait_for()
        assert overlay.evaluate("img => img.complete && img.naturalWidth > 0 && img.naturalWidth <= 1500")
        assert not page.evaluate("window.costaMap.tiles")
    else:
        page.wait_for_function(TILES_LOADED)
        assert page.evaluate("window.costaMap.tiles") and page.locator("img.leaflet-image-layer").count() == 0
        assert archive_reads and set(archive_reads) == {206}  # byte ranges, never the whole archive
        opaque(page)
    parcels = demo["parcelles_gpkg"]
    assert page.locator("#map path.leaflet-interactive").count() == (parcels.commune == insee).sum() + 1
    assert page.locator("#map path.commune").count() == 1
    shot = page.locator("#map").screenshot(path=str(tmp_path / f"report-{origin}.png"))
    px = rgb(shot).reshape(-1, 3).astype(int)
    assert (px < 240).any(axis=1).mean() > 0.2, "the map is blank"
    colours = np.array([c.rgb for c in CLASSES])
    near = np.abs(px[:, None, :] - colours[None]).max(axis=2) <= 16  # fill tint and antialiasing
    assert near.any(axis=1).mean() > 0.2 and near.any(axis=0).sum() >= 6, "no class colours on the map"

    # Clicking a parcel or the commune's outline shows its figures.
    text = popup(page, "#map path:not(.commune)")
    assert "Statut" in text and "Part artificialisée" in text
    assert text.split("\n")[0].removeprefix("Parcelle ") in set(parcels.id[parcels.commune == insee])
    commune = popup(page, "#map path.commune")
    row = demo["communes_gpkg"].set_index("insee_com").loc[insee]
    assert f"({insee})" in commune and f"{row['artif_ha']:.2f} ha".replace(".", ",") in commune

    # The legend lists the 16 classes, in the nomenclature's order.
    items = page.locator("#legend li").all_inner_texts()
    assert [t.strip() for t in items] == [f"{c.code} — {c.fr}" for c in CLASSES]

    # The figures are the GeoPackage's (value attribute and the French text shown).
    row = demo["communes_gpkg"].set_index("insee_com").loc[insee]
    shown = page.eval_on_selector_all(
        "#figures tr[data-field]",
        "rows => rows.map(r => [r.dataset.field, r.dataset.value, r.cells[1].innerText])",
    )
    figures = {f: (float(v) if f != "regles" else v, text) for f, v, text in shown}
    for field in FIGURES:
        value, text = figures[field]
        assert value == pytest.approx(row[field], rel=1e-12), field
        assert parse_fr(text) == pytest.approx(row[field], abs=0.006), (field, text)
    assert figures["regles"][0] == row["regles"]
    assert page.locator("#csv").get_attribute("href") == f"commune-{insee}-parcelles.csv"
    assert page.locator("#chart rect").count() == 2 * 16 + 2
    assert problems == []
    page.close()


def sample(
    path: Path, mx: np.ndarray, my: np.ndarray, bands: list[int], overview: int | None = None
) -> np.ndarray:
    """(..., len(bands)) values of a raster (or of an overview) under Web Mercator points; 0 outside."""
    import rasterio
    from rasterio.warp import transform

    opts = {} if overview is None else {"overview_level": overview}
    with rasterio.open(path, **opts) as src:
        values = src.read(bands)
        xs, ys = transform("EPSG:3857", src.crs, mx.ravel(), my.ravel())
        rows, cols = (np.asarray(v) for v in rasterio.transform.rowcol(src.transform, xs, ys))
    inside = (rows >= 0) & (rows < values.shape[1]) & (cols >= 0) & (cols < values.shape[2])
    out = np.zeros((rows.size, len(bands)), np.uint8)
    out[inside] = values[:, rows[inside], cols[inside]].T
    return out.reshape(*mx.shape, len(bands))


def labels_at(path: Path, mx: np.ndarray, my: np.ndarray, overview: int | None = None) -> np.ndarray:
    """The class of the raster (or of one of its overviews) under Web Mercator points; 0 outside."""
    return sample(path, mx, my, [1], overview)[..., 0]


def screen(page: Any, z: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The map's pixels at zoom ``z`` (controls hidden) and each one's Web Mercator centre (mx, my)."""
    from costa.report.tiles import EQUATOR, TILE

    hidden = ".leaflet-control-container { visibility: hidden; }"  # the pixels alone
    hide = page.add_style_tag(content=hidden)
    box = page.evaluate(
        """() => { const m = window.costaMap.map, el = m.getContainer(), r = el.getBoundingClientRect();
        const o = m.options.crs.project(m.containerPointToLatLng([0, 0]));
        return { x: r.left + el.clientLeft, y: r.top + el.clientTop, w: el.clientWidth, h: el.clientHeight,
                 mx: o.x, my: o.y }; }"""
    )
    shot = rgb(page.screenshot(clip={"x": box["x"], "y": box["y"], "width": box["w"], "height": box["h"]}))
    hide.evaluate("style => style.remove()")
    res = EQUATOR / (TILE * 2**z)  # Web Mercator metres per screen pixel
    jj, ii = np.mgrid[0 : shot.shape[0], 0 : shot.shape[1]]
    return shot, box["mx"] + (ii + 0.5) * res, box["my"] - (jj + 0.5) * res


def test_deepest_zoom_draws_the_raster_pixels(browser: Any, demo: dict[str, Any], server: str) -> None:
    """Served, at the archive's deepest zoom the page shows the 20 cm pixels, not an upscaled overview."""
    from costa.report.tiles import read_header, rgba

    report = Path(demo["report"]).parent
    z = read_header(report / "carte-2024.pmtiles")["max_zoom"]
    assert z >= 19
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith((server, f"blob:{server}/", "data:")) else outside.append(r.url),
    )
    page.goto(f"{server}/commune-99101.html")
    page.wait_for_function(TILES_LOADED)
    page.evaluate(
        """z => { const m = window.costaMap;
        for (const layer of Object.values(m.others)) { m.map.removeLayer(layer); }
        m.map.setView(m.map.getCenter(), z, { animate: false }); }""",
        z,
    )
    page.wait_for_function(TILES_LOADED)
    opaque(page)  # the class colours over the orthophoto, exact
    zooms = page.evaluate(
        """() => { const m = window.costaMap;
        const layer = Object.values(m.bases).find((l) => m.map.hasLayer(l));
        return Object.values(layer._tiles).filter((t) => t.current).map((t) => t.coords.z); }"""
    )
    assert zooms and set(zooms) == {z}
    shot, mx, my = screen(page, z)
    page.close()
    crop = (slice(130, -40), slice(60, -60))  # an inner window, away from the map's edges
    lc = demo["root"] / "landcover_2024.tif"
    full = labels_at(lc, mx, my)[crop]
    coarse = labels_at(lc, mx, my, overview=0)[crop]
    seen = shot[crop].astype(int)
    mapped = full > 0
    assert mapped.mean() > 0.5

    def agreement(labels: np.ndarray) -> float:
        expected = rgba(labels)[..., :3].astype(int)
        return float((np.abs(seen - expected).max(axis=2) <= 3)[mapped].mean())

    assert agreement(full) > 0.99, "the map does not show the raster's pixels"
    assert agreement(coarse) < agreement(full) - 0.005  # an upscaled overview would not pass
    assert outside == []


@pytest.mark.parametrize("origin", ["file", "server"])
def test_map_of_every_commune(browser: Any, demo: dict[str, Any], server: str, origin: str) -> None:
    """carte.html: every commune, clickable for its figures; served, the tiles and then the parcels."""
    report = Path(demo["report"]).parent
    url = (report / "carte.html").as_uri() if origin == "file" else f"{server}/carte.html"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = watch(page, server)
    page.goto(url)
    communes = demo["communes_gpkg"].set_index("insee_com")
    assert page.locator("#map path.commune").count() == len(communes)
    if origin == "file":
        page.locator("img.leaflet-image-layer").wait_for()
        assert page.evaluate("[...window.costaMap.loaded]") == []  # a file:// page fetches nothing
        assert page.locator("#opacity").count() == 0  # no photo to fade to: no slider
    else:
        page.wait_for_function(TILES_LOADED)
        assert page.evaluate("Object.keys(window.costaMap.photos)") == [
            "Ortho-photo 2021",
            "Ortho-photo 2024",
        ]
        assert page.input_value("#opacity") == "70" and page.input_value("#swipe") == "50"
        page.evaluate("window.costaMap.map.setZoom(17, { animate: false })")
        page.wait_for_function(f"() => window.costaMap.loaded.size === {len(communes)}")
        n = len(demo["parcelles_gpkg"])
        page.wait_for_function(
            f"() => document.querySelectorAll('#map path.leaflet-interactive').length === {n + len(communes)}"
        )
    text = popup(page, "#map path.commune")
    insee = text.split("(")[1].split(")")[0]
    assert insee in communes.index and communes.loc[insee, "nom"] in text
    assert "Part artificialisée" in text and "Page de la commune" in text
    assert page.locator("#carte").count() == 0  # the map page itself has no link to itself
    items = page.locator("#legend li").all_inner_texts()
    assert [t.strip() for t in items] == [f"{c.code} — {c.fr}" for c in CLASSES]
    swatches = page.eval_on_selector_all(
        "#legend .swatch", "s => s.map(e => getComputedStyle(e).backgroundColor)"
    )
    assert swatches == [f"rgb({r}, {g}, {b})" for r, g, b in (c.rgb for c in CLASSES)]
    assert problems == []
    page.close()


@pytest.mark.parametrize("origin", ["file", "server"])
def test_index_map_search_and_sort(browser: Any, demo: dict[str, Any], server: str, origin: str) -> None:
    """index.html: the communes' map coloured by share, a click opens the page, search and sort work."""
    from costa.io.styles import share_color

    report = Path(demo["report"]).parent
    url = (report / "index.html").as_uri() if origin == "file" else f"{server}/"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = watch(page, server)
    page.goto(url)
    page.wait_for_function("() => document.body.dataset.ready === '1'")
    communes = demo["communes_gpkg"].set_index("insee_com")
    shapes = page.locator("#map path.commune-shape")
    assert shapes.count() == len(communes)
    fills = page.eval_on_selector_all("#map path.commune-shape", "ps => ps.map(p => p.getAttribute('fill'))")
    assert sorted(fills) == sorted(share_color(v) for v in communes.artif_pct)
    assert page.locator("#shares li").count() == 5

    # Search by accent-free name, then by INSEE code: rows and shapes follow.
    insee = communes.index[1]
    name = communes.loc[insee, "nom"]
    page.fill("#search", name.upper().replace("É", "E").replace("é", "e")[:8])
    visible = page.eval_on_selector_all(
        "#communes tbody tr", "rs => rs.filter(r => !r.hidden).map(r => r.dataset.insee)"
    )
    assert insee in visible and all(name[:8].lower() in communes.loc[i, "nom"].lower() for i in visible)
    page.fill("#search", insee)
    visible = page.eval_on_selector_all(
        "#communes tbody tr", "rs => rs.filter(r => !r.hidden).map(r => r.dataset.insee)"
    )
    assert visible == [insee] and "1 sur" in page.inner_text("#count")
    page.fill("#search", "zzzz")
    assert page.locator("#communes tbody tr:not([hidden])").count() == 0
    page.fill("#search", "")
    assert page.locator("#communes tbody tr:not([hidden])").count() == len(communes)

    # Sort by artificialised share, both ways.
    def order() -> list[str]:
        return page.eval_on_selector_all("#communes tbody tr", "rs => rs.map(r => r.dataset.insee)")

    head = page.locator("#communes thead th", has_text="Part artificialisée")
    head.locator("button").click()
    assert order() == list(communes.artif_pct.sort_values().index)
    assert head.get_attribute("aria-sort") == "ascending"
    head.locator("button").click()
    assert order() == list(communes.artif_pct.sort_values(ascending=False).index)

    # A click on a commune's shape opens its page.
    with page.expect_navigation():
        page.locator("#map path.commune-shape").first.dispatch_event("click")
    assert page.url.endswith(".html") and "/commune-" in page.url
    page.locator("#figures").wait_for()
    assert problems == []
    page.close()


def slide(page: Any, slider: str, value: int) -> None:
    """Move one of the map's sliders (``#opacity``, ``#swipe``) to ``value`` as a user would."""
    page.fill(slider, str(value))
    page.locator(slider).dispatch_event("input")


def test_ortho_under_the_land_cover_with_slider_and_swipe(
    browser: Any, demo: dict[str, Any], server: str
) -> None:
    """Served, each vintage's orthophoto lies under the land cover: the opacity slider fades from the
    class colours (100 %) to the photo's (0 %), and the swipe shows 2021 left of it, 2024 right."""
    from costa.report.tiles import read_header, rgba

    report = Path(demo["report"]).parent
    for year in ("2021", "2024"):
        head, land = (
            read_header(report / f"ortho-{year}.pmtiles"),
            read_header(report / f"carte-{year}.pmtiles"),
        )
        assert head["tile_type"].name == "WEBP"
        assert (head["min_zoom"], head["max_zoom"]) == (land["min_zoom"], land["max_zoom"])
    z = land["max_zoom"]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = watch(page, server)
    reads: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: reads.append((r.url.rsplit("/", 1)[1], r.status)) if ".pmtiles" in r.url else None,
    )
    page.goto(f"{server}/commune-99101.html")
    page.wait_for_function(TILES_LOADED)
    assert page.input_value("#opacity") == "70"  # the photo shows through at first
    page.evaluate(
        """z => { const m = window.costaMap;
        for (const layer of Object.values(m.others)) { m.map.removeLayer(layer); }
        m.map.setView(m.map.getCenter(), z, { animate: false }); }""",
        z,
    )
    page.wait_for_function(TILES_LOADED)
    page.wait_for_function(TILES_LOADED.replace("landcover-tiles", "ortho-tiles"))
    assert {n for n, _ in reads} >= {"ortho-2021.pmtiles", "ortho-2024.pmtiles", "carte-2024.pmtiles"}
    assert {s for _, s in reads} == {206}  # byte ranges, as the land cover's
    zs = page.evaluate(
        """() => ["ortho0", "ortho1", "tilePane"]
        .map((p) => +getComputedStyle(window.costaMap.map.getPane(p)).zIndex)"""
    )
    assert zs[0] < zs[1] < zs[2]  # the photos under the land cover, the newer above the older

    def shots(opacity: int, swipe: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        slide(page, "#opacity", opacity)
        slide(page, "#swipe", swipe)
        return screen(page, z)

    land_shot, mx, my = shots(100, 0)
    half = shots(50, 0)[0].astype(int)
    photo_2024 = shots(0, 0)[0].astype(int)
    photo_2021 = shots(0, 100)[0].astype(int)
    swiped = shots(0, 30)[0].astype(int)
    page.close()
    inner = (slice(10, -10), slice(10, -10))
    classes = rgba(labels_at(demo["root"] / "landcover_2024.tif", mx, my))[..., :3].astype(int)[inner]
    ortho = {
        y: sample(demo["root"] / f"ortho_{y}.vrt", mx, my, [1, 2, 3]).astype(int)[inner] for y in (2021, 2024)
    }
    mapped = classes.any(axis=2) & ortho[2024].any(axis=2)
    assert mapped.mean() > 0.5

    def err(seen: np.ndarray, expected: np.ndarray) -> float:
        """Mean absolute difference over the mapped pixels, in colour levels."""
        return float(np.abs(seen[inner] - expected).mean(axis=2)[mapped].mean())

    # The whole view: class colours at 100 %, the photo at 0 %, their average at 50 %.
    assert err(land_shot.astype(int), classes) < 0.5
    assert err(photo_2024, ortho[2024]) < 10 < 25 < err(photo_2024, classes)  # WebP and bilinear: near
    assert err(half, (classes + ortho[2024]) / 2) < 6
    assert err(photo_2021, ortho[2021]) < 10 < err(photo_2021, ortho[2024])

    # Point by point, where the class colour and the photo's differ: the slider takes one to the other.
    def dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.abs(a[inner] - b).max(axis=2)

    far = mapped & (np.abs(classes - ortho[2024]).max(axis=2) > 60)
    assert far.sum() > 1000
    assert (dist(land_shot.astype(int), classes) <= 3)[far].mean() > 0.99
    assert (dist(photo_2024, ortho[2024]) < dist(photo_2024, classes))[far].mean() > 0.99

    # The swipe at 30 %: 2021 left of the handle, 2024 right of it, where the vintages differ.
    cols = np.broadcast_to(np.arange(swiped.shape[1])[None, 10:-10], mapped.shape)
    handle = 0.3 * swiped.shape[1]
    changed = mapped & (np.abs(ortho[2021] - ortho[2024]).max(axis=2) > 60)
    nearer_2021 = dist(swiped, ortho[2021]) < dist(swiped, ortho[2024])
    left, right = changed & (cols < handle - 2), changed & (cols > handle + 2)
    assert left.sum() > 100 and right.sum() > 100
    assert nearer_2021[left].mean() > 0.95 and (~nearer_2021[right]).mean() > 0.95
    assert problems == []
