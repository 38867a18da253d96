"""Write the report folder: one self-contained HTML page per commune, an index, CSVs, JSON.

Pages are rendered from the Jinja2 templates shipped in the package (autoescape on) with
Leaflet, the overlay PNG and the parcels inlined, so a page opens offline from ``file://``
and can be sent as one file. Beside the pages: each commune's parcels as CSV (the page's
download link), ``communes.csv``, ``communes.json`` (what ``costa serve`` answers from) and
Leaflet's licence. Files are written to a hidden temporary name, then renamed.
"""

from __future__ import annotations

import base64
import json
import os
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

from costa.__about__ import __version__
from costa.errors import OutputError
from costa.io.atomic import write_atomic
from costa.nomenclature import CLASSES
from costa.report.build import CommunePage, build_pages, fr_number
from costa.report.chart import class_chart
from costa.zan.schema import STATUS_COLORS

__all__ = ["build_report", "environment", "render_commune", "render_index"]

_STATIC = files("costa.report") / "static" / "leaflet"


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


def _map_data(page: CommunePage) -> dict[str, Any]:
    overlays = []
    for label, ov in page.overlays:
        x0, y0, x1, y1 = ov.bounds
        overlays.append(
            {
                "label": label,
                "url": "data:image/png;base64," + base64.b64encode(ov.png).decode(),
                "bounds": [[0.0, 0.0], [y1 - y0, x1 - x0]],
            }
        )
    bounds = overlays[-1]["bounds"] if overlays else [[0.0, 0.0], [1.0, 1.0]]
    return {"overlays": overlays, "parcels": page.parcels, "colors": STATUS_COLORS, "bounds": bounds}


def render_commune(page: CommunePage, env: Any | None = None) -> str:
    """The HTML of one commune's page."""
    env = env or environment()
    css, js = _leaflet()
    return str(
        env.get_template("commune.html").render(
            page=page,
            classes=CLASSES,
            chart=class_chart(page.class_ha),
            status_colors=STATUS_COLORS,
            map_data=_map_data(page),
            leaflet_css=css,
            leaflet_js=js,
        )
    )


def render_index(pages: list[CommunePage], gpkg: str, env: Any | None = None) -> str:
    """The HTML of the index page listing every commune."""
    env = env or environment()
    row = pages[0].row if pages else {}
    return str(
        env.get_template("index.html").render(
            communes=pages,
            gpkg=gpkg,
            rules=f"{row.get('regles', '?')} v{row.get('regles_version', '?')}",
            flux=row.get("flux_artif_ha") is not None,
        )
    )


def build_report(
    gpkg: str | Path,
    landcover: str | Path,
    out: str | Path,
    landcover_before: str | Path | None = None,
    max_px: int = 1500,
) -> Path:
    """Write the report of every commune of ``gpkg`` into folder ``out``; returns ``index.html``.

    Example:
        >>> build_report("out/demo/zan.gpkg", "out/demo/landcover_2024.tif", "report")  # doctest: +SKIP
        PosixPath('report/index.html')

    """
    import pyogrio

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file; give a folder for the report")
    pages = build_pages(gpkg, landcover, landcover_before, max_px)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the report folder {out}: {e.strerror}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise OutputError(f"report folder {out} is not writable; choose another --out")
    env = environment()
    parcelles = pyogrio.read_dataframe(gpkg, layer="parcelles", read_geometry=False)
    parcelles["commune"] = parcelles["commune"].astype(str)
    for page in pages:
        write_atomic(out / f"{page.stem}.html", render_commune(page, env))
        mine = parcelles[parcelles["commune"] == page.insee]
        write_atomic(out / f"{page.stem}-parcelles.csv", mine.to_csv(index=False))
    import pandas as pd

    write_atomic(out / "communes.csv", pd.DataFrame([p.row for p in pages]).to_csv(index=False))
    api = [{**p.row, "page": f"{p.stem}.html", "csv": f"{p.stem}-parcelles.csv"} for p in pages]
    write_atomic(out / "communes.json", json.dumps(api, ensure_ascii=False, indent=1))
    write_atomic(out / "LICENSE-leaflet.txt", (_STATIC / "LICENSE").read_bytes())
    index = out / "index.html"
    write_atomic(index, render_index(pages, Path(gpkg).name, env))
    return index
