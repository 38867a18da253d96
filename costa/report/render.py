"""Write the report folder: one self-contained HTML page per commune, an index, CSVs, JSON, maps.

Pages are rendered from the Jinja2 templates shipped in the package (autoescape on) with
Leaflet, pmtiles.js, the overlay PNG and the parcels inlined, so a page opens offline from
``file://`` and can be sent as one file. Beside the pages: each commune's parcels as CSV
(the page's download link), ``communes.csv``, ``communes.json`` (what ``costa serve``
answers from), one PMTiles archive per land-cover map (``carte-<millésime>.pmtiles``, see
:mod:`costa.report.tiles`) and the licences of Leaflet and pmtiles.js. Served by ``costa
serve``, a page's map reads the archive by byte ranges down to the raster's own pixels;
from ``file://`` (where a page cannot read files beside it) it shows the downsampled overlay.
Files are written to a hidden temporary name, then renamed.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import os
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

from costa.__about__ import __version__
from costa.errors import OptionError, OutputError
from costa.io.atomic import write_atomic
from costa.io.styles import SHARE_BREAKS, SHARE_COLORS, share_color
from costa.nomenclature import CLASSES
from costa.report.build import CommunePage, build_pages, fr_number
from costa.report.chart import class_chart
from costa.report.downloads import Download, commune_downloads
from costa.report.overlay import Overlay, read_overlay
from costa.report.tiles import TileArchive, check_ortho, write_pmtiles
from costa.zan.schema import STATUS_COLORS

__all__ = ["archive_name", "build_report", "environment", "render_commune", "render_index", "render_map"]

PARCEL_ZOOM = 16
"""From this zoom on, ``carte.html`` (served) fetches the parcels of the communes on screen."""

_STATIC = files("costa.report") / "static" / "leaflet"
_PMTILES = files("costa.report") / "static" / "pmtiles"


def environment() -> Any:
    """The Jinja2 environment over the package templates, HTML autoescaping on.

    >>> environment().autoescape
    True
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("costa.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
    )
    env.globals.update(version=__version__, fr=fr_number)
    return env


def _leaflet() -> tuple[str, str]:
    """Leaflet's CSS (its control images as data URIs) and JS, without the source-map link."""
    css = (_STATIC / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(m: re.Match[str]) -> str:
        png = (_STATIC / "images" / m.group(1)).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(png).decode()})"

    css = re.sub(r"url\(images/(layers(?:-2x)?\.png)\)", data_uri, css)
    js = (_STATIC / "leaflet.js").read_text(encoding="utf-8")
    js = re.sub(r"\n//# sourceMappingURL=\S+\s*$", "\n", js)
    return css, js


def _pmtiles_js() -> str:
    """pmtiles.js (its IIFE build: a global ``pmtiles`` with ``leafletRasterLayer``)."""
    return (_PMTILES / "pmtiles.js").read_text(encoding="utf-8")


def archive_name(label: str, kind: str = "carte") -> str:
    """The report's file name of the PMTiles archive of vintage ``label`` (``kind``: carte, ortho).

    >>> archive_name("2024"), archive_name("../x"), archive_name("2024", "ortho")
    ('carte-2024.pmtiles', 'carte-___x.pmtiles', 'ortho-2024.pmtiles')
    """
    return f"{kind}-" + re.sub(r"[^0-9A-Za-z_-]", "_", label) + ".pmtiles"


def _latlng(bounds: tuple[float, float, float, float]) -> list[list[float]]:
    """Web Mercator bounds as Leaflet's ``[[south, west], [north, east]]`` in degrees.

    >>> _latlng((0.0, 0.0, 0.0, 0.0))
    [[0.0, 0.0], [0.0, 0.0]]
    """
    r = 6378137.0

    def lat(y: float) -> float:
        return math.degrees(math.atan(math.sinh(y / r)))

    x0, y0, x1, y1 = bounds
    return [[lat(y0), math.degrees(x0 / r)], [lat(y1), math.degrees(x1 / r)]]


def _archives(labels: list[str], tiles: list[TileArchive | None]) -> list[dict[str, Any]]:
    """What a page's script needs of each archive: its vintage, file name and zooms."""
    return [
        {"label": label, "url": a.path.name, "min_zoom": a.min_zoom, "max_zoom": a.max_zoom}
        for label, a in zip(labels, tiles, strict=False)
        if a is not None
    ]


def _map_data(
    page: CommunePage, tiles: list[TileArchive], photos: list[TileArchive | None]
) -> dict[str, Any]:
    overlays = _overlay_data(page.overlays)
    labels = [label for label, _ in page.class_ha]
    archives = _archives(labels, list(tiles))
    return {
        "photos": _archives(labels, photos),
        "overlays": overlays,
        "tiles": archives,
        "parcels": page.parcels,
        "outline": page.outline,
        "commune": {
            "nom": page.nom,
            "insee": page.insee,
            "figures": [[f.label, f.text] for f in page.figures],
        },
        "colors": STATUS_COLORS,
        "bounds": overlays[-1]["bounds"] if overlays else None,
    }


def render_commune(
    page: CommunePage,
    env: Any | None = None,
    tiles: list[TileArchive] | None = None,
    photos: list[TileArchive | None] | None = None,
) -> str:
    """The HTML of one commune's page.

    ``tiles`` are the PMTiles archives of its vintages' land cover, in order; ``photos`` those of
    their orthophotos (None for a vintage without), drawn under the land cover when served.
    """
    env = env or environment()
    css, js = _leaflet()
    return str(
        env.get_template("commune.html").render(
            page=page,
            classes=CLASSES,
            chart=class_chart(page.class_ha),
            status_colors=STATUS_COLORS,
            map_data=_map_data(page, tiles or [], photos or []),
            leaflet_css=css,
            leaflet_js=js,
            pmtiles_js=_pmtiles_js(),
        )
    )


def _overlay_data(overlays: list[tuple[str, Overlay]]) -> list[dict[str, Any]]:
    return [
        {
            "label": label,
            "url": "data:image/png;base64," + base64.b64encode(ov.png).decode(),
            "bounds": _latlng(ov.bounds),
        }
        for label, ov in overlays
    ]


def render_map(
    pages: list[CommunePage],
    tiles: list[TileArchive],
    overlays: list[tuple[str, Overlay]],
    env: Any | None = None,
    photos: list[TileArchive | None] | None = None,
) -> str:
    """The HTML of ``carte.html``: every commune on the land-cover map, clickable for its figures.

    ``overlays`` are Web Mercator pictures of the whole rasters (the map from ``file://``);
    the parcels are fetched per commune from ``<stem>-parcelles.geojson`` when served.
    """
    env = env or environment()
    css, js = _leaflet()
    labels = [label for label, _ in overlays]
    features = [
        {
            "type": "Feature",
            "geometry": p.outline,
            "properties": {
                "insee": p.insee,
                "nom": p.nom,
                "page": f"{p.stem}.html",
                "geojson": f"{p.stem}-parcelles.geojson",
                "figures": [[f.label, f.text] for f in p.figures if f.field not in ("regles_version",)],
            },
        }
        for p in pages
        if p.outline is not None
    ]
    ov = _overlay_data(overlays)
    data = {
        "photos": _archives(labels, photos or []),
        "overlays": ov,
        "tiles": [
            {"label": label, "url": a.path.name, "min_zoom": a.min_zoom, "max_zoom": a.max_zoom}
            for label, a in zip(labels, tiles, strict=False)
        ],
        "communes": {"type": "FeatureCollection", "features": features},
        "colors": STATUS_COLORS,
        "parcel_zoom": PARCEL_ZOOM,
        "bounds": ov[-1]["bounds"] if ov else None,
    }
    return str(
        env.get_template("carte.html").render(
            n=len(pages),
            classes=CLASSES,
            parcel_zoom=PARCEL_ZOOM,
            map_data=data,
            leaflet_css=css,
            leaflet_js=js,
            pmtiles_js=_pmtiles_js(),
        )
    )


INDEX_MAP_PX = 2000
"""The index map's shapes are simplified to about this many pixels across the whole territory."""


def _index_features(pages: list[CommunePage]) -> dict[str, Any]:
    """The communes' shapes for the index map, simplified to its scale, with colour and link."""
    import shapely

    shapes = [shapely.geometry.shape(p.outline) if p.outline else None for p in pages]
    found = [g for g in shapes if g is not None]
    x0, y0, x1, y1 = shapely.GeometryCollection(found).bounds if found else (0.0, 0.0, 0.0, 0.0)
    tolerance = max(x1 - x0, y1 - y0) / INDEX_MAP_PX
    features = []
    for p, g in zip(pages, shapes, strict=True):
        if g is None:
            continue
        simple = shapely.set_precision(shapely.simplify(g, tolerance, preserve_topology=True), 1e-6)
        pct = float(p.row.get("artif_pct") or 0.0)
        features.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(simple),
                "properties": {
                    "insee": p.insee,
                    "nom": p.nom,
                    "page": f"{p.stem}.html",
                    "share": f"{fr_number(pct)} % artificialisé",
                    "color": share_color(pct),
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def render_index(pages: list[CommunePage], gpkg: str, env: Any | None = None) -> str:
    """The HTML of the index page: the map of the communes by artificialised share, and their table.

    The table is searched by name or INSEE code and sorted by any column in the page itself
    (no server), so it serves hundreds of communes from ``file://`` too.
    """
    env = env or environment()
    css, js = _leaflet()
    row = pages[0].row if pages else {}
    shares = [
        (f"{lo:g}", f"{hi:g}", color)
        for lo, hi, color in zip(SHARE_BREAKS, SHARE_BREAKS[1:], SHARE_COLORS, strict=False)
    ]
    return str(
        env.get_template("index.html").render(
            communes=pages,
            gpkg=gpkg,
            rules=f"{row.get('regles', '?')} v{row.get('regles_version', '?')}",
            flux=row.get("flux_artif_ha") is not None,
            map_data={"communes": _index_features(pages)},
            shares=shares,
            leaflet_css=css,
            leaflet_js=js,
        )
    )


def _whole_overlay(raster: Path, max_px: int) -> Overlay:
    """The whole raster as a Web Mercator overlay (``carte.html`` from ``file://``)."""
    import rasterio

    with rasterio.open(raster) as src:
        bounds = src.bounds
    return read_overlay(raster, (bounds[0], bounds[1], bounds[2], bounds[3]), max_px, web_mercator=True)


def _parcel_csvs(out: Path, gpkg: Path, pages: list[CommunePage]) -> dict[str, list[Download]]:
    """Each commune's parcels as CSV, the one download of a report written without the others."""
    import pyogrio

    parcelles = pyogrio.read_dataframe(gpkg, layer="parcelles", read_geometry=False)
    parcelles["commune"] = parcelles["commune"].astype(str)
    files = {}
    for page in pages:
        name = f"{page.stem}-parcelles.csv"
        write_atomic(out / name, parcelles[parcelles["commune"] == page.insee].to_csv(index=False))
        files[page.insee] = [Download("Parcelles (CSV)", name)]
    return files


def _downloads(
    out: Path, gpkg: Path, pages: list[CommunePage], vintages: list[tuple[str, Path]]
) -> dict[str, list[Download]]:
    """Every commune's downloads (:func:`costa.report.downloads.commune_downloads`), by INSEE code."""
    import pyogrio

    from costa.zan.shapes import parcel_union

    parcelles = pyogrio.read_dataframe(gpkg, layer="parcelles")
    parcelles["commune"] = parcelles["commune"].astype(str)
    shaped = pyogrio.read_info(gpkg, layer="communes").get("geometry_type") is not None
    communes = pyogrio.read_dataframe(gpkg, layer="communes", read_geometry=shaped)
    communes["insee_com"] = communes["insee_com"].astype(str)
    shapes = dict(zip(communes["insee_com"], communes.geometry, strict=True)) if shaped else {}
    files = {}
    for page in pages:
        mine = parcelles[parcelles["commune"] == page.insee]
        shape, crs = shapes.get(page.insee), getattr(communes, "crs", None)
        if shape is None or shape.is_empty:
            shape, crs = parcel_union(mine.geometry.values), parcelles.crs  # a GeoPackage of an older costa
        files[page.insee] = commune_downloads(out, page.stem, page.row, shape, crs, mine, vintages)
    return files


def build_report(
    gpkg: str | Path,
    landcover: str | Path,
    out: str | Path,
    landcover_before: str | Path | None = None,
    max_px: int = 1500,
    tiles: bool = True,
    downloads: bool = True,
    ortho: str | Path | None = None,
    ortho_before: str | Path | None = None,
) -> Path:
    """Write the report of every commune of ``gpkg`` into folder ``out``; returns ``index.html``.

    With ``tiles`` (the default), each land-cover map also goes in as a full-resolution
    PMTiles archive that the pages show when served by ``costa serve``. With ``downloads``
    (the default), each commune's land cover, class polygons, parcels and figures go in as
    files its page links (:mod:`costa.report.downloads`); without, its parcels as CSV only.
    ``ortho`` and ``ortho_before`` (the input mosaics of the two vintages) go in as WebP
    PMTiles archives (``ortho-<millésime>.pmtiles``, the land cover's zooms) shown under the
    land cover when served, with an opacity slider and, with both, a swipe between vintages.

    Example:
        >>> build_report("out/demo/zan.gpkg", "out/demo/landcover_2024.tif", "report")  # doctest: +SKIP
        PosixPath('report/index.html')

    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder for the report")
    if ortho_before is not None and landcover_before is None:
        raise OptionError("--ortho-before is the mosaic of --landcover-before: give both")
    mosaics = [ortho_before, ortho] if landcover_before is not None else [ortho]
    if not tiles and any(m is not None for m in mosaics):
        raise OptionError("the orthophotos are shown as tiles: drop --no-tiles, or drop --ortho")
    mosaics = [None if m is None else check_ortho(m) for m in mosaics]  # before the long work
    pages = build_pages(gpkg, landcover, landcover_before, max_px)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the report folder {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"report folder {out} is not writable; choose another --out")
    env = environment()
    archives: list[TileArchive] = []
    rasters = [Path(p) for p in (landcover_before, landcover) if p is not None]
    labels = [label for label, _ in pages[0].class_ha] if pages else []
    if tiles:
        archives = [
            write_pmtiles(r, out / archive_name(label)) for label, r in zip(labels, rasters, strict=True)
        ]
    photos: list[TileArchive | None] = [
        None
        if m is None
        else write_pmtiles(
            m, out / archive_name(label, "ortho"), min_zoom=a.min_zoom, max_zoom=a.max_zoom, photo=True
        )
        for label, m, a in zip(labels, mosaics, archives, strict=False)
    ]
    vintages = list(zip(labels, rasters, strict=True))
    files = (
        _downloads(out, Path(gpkg), pages, vintages) if downloads else _parcel_csvs(out, Path(gpkg), pages)
    )
    for page in pages:
        page = dataclasses.replace(page, downloads=[(d.label, d.name) for d in files[page.insee]])
        write_atomic(out / f"{page.stem}.html", render_commune(page, env, archives, photos))
        write_atomic(out / f"{page.stem}-parcelles.geojson", json.dumps(page.parcels, ensure_ascii=False))
    whole = [(label, _whole_overlay(r, max_px)) for label, r in zip(labels, rasters, strict=True)]
    write_atomic(out / "carte.html", render_map(pages, archives, whole, env, photos))
    import pandas as pd

    write_atomic(out / "communes.csv", pd.DataFrame([p.row for p in pages]).to_csv(index=False))
    api = [{**p.row, "page": f"{p.stem}.html", "csv": f"{p.stem}-parcelles.csv"} for p in pages]
    write_atomic(out / "communes.json", json.dumps(api, ensure_ascii=False, indent=1))
    write_atomic(out / "LICENSE-leaflet.txt", (_STATIC / "LICENSE").read_bytes())
    write_atomic(out / "LICENSE-pmtiles.txt", (_PMTILES / "LICENSE").read_bytes())
    index = out / "index.html"
    write_atomic(index, render_index(pages, Path(gpkg).name, env))
    return index
