"""``costa serve``: the report folder over HTTP, and a small read-only JSON API.

Routes: ``/`` (the index page), ``/communes``, ``/communes/{insee}``, ``/parcels/{id}`` (JSON),
and the report's own files by plain name (``/commune-69123.html``, ``/communes.csv``,
``/carte-2024.pmtiles``, a commune's downloads ``/commune-69123-occupation-2024.tif``...),
streamed from disk (memory does not grow with the file). Files answer HTTP range requests
(``206 Partial Content``): the map page reads its PMTiles archive a few kilobytes at a time.
The server only reads: names are checked against a strict pattern and must resolve to a
regular file directly inside the folder, so there is no directory listing and no way out
of the folder (``..``, encoded or not, ends in 404). Bound to 127.0.0.1 by default.

Tables are read when first asked for, not at start: ``communes.json`` on the first commune
request, a commune's parcels CSV on the first request for one of its parcels (found by the
INSEE code that starts a cadastral id), the last :data:`CACHED_COMMUNES` kept in memory; so a
report of hundreds of communes starts at once and holds only what was asked.

Needs the ``serve`` extra: ``pip install "costa-landcover[serve]"``.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from costa.errors import OptionError, SourceReadError, require

__all__ = ["CACHED_COMMUNES", "ReportTables", "create_app", "safe_name", "serve"]

CACHED_COMMUNES = 64
"""Communes whose parcels table stays in memory (least recently asked for goes first)."""

_NAME = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.(?:html|csv|json|geojson|txt|pmtiles|tif|gpkg)"
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".geojson": "application/geo+json",
    ".pmtiles": "application/vnd.pmtiles",
    ".tif": "image/tiff",
    ".gpkg": "application/geopackage+sqlite3",
}
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Pages are self-contained: inline script/style, data: images and the map tiles (blob:
    # images decoded from the PMTiles archive fetched from this server), nothing from elsewhere.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data: blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


def safe_name(name: str) -> bool:
    """Whether ``name`` may name a file of the report: one plain file name, no path.

    >>> [safe_name(n) for n in ("commune-69123.html", "../etc/passwd", ".env", "a/b.html", "x.py")]
    [True, False, False, False, False]
    """
    return _NAME.fullmatch(name) is not None


_TEXT = {"id": str, "commune": str, "section": str, "numero": str, "statut": str, "statut_old": str}


class ReportTables:
    """The report folder's tables, each read the first time it is asked for (thread-safe).

    Example:
        >>> tables = ReportTables(Path("out/demo/report"))  # doctest: +SKIP
        >>> tables.parcel("99101000AB0001")["statut"]  # reads only 99101's CSV  # doctest: +SKIP
        'artificialisée'

    """

    def __init__(self, root: Path, cached: int = CACHED_COMMUNES) -> None:
        if not (root / "communes.json").is_file():
            raise SourceReadError(
                f"{root} is not a costa report folder (no communes.json); make one with costa zan report"
            )
        self.root = root
        self.cached = cached
        self.reads = 0
        """Tables read from disk so far (communes.json and parcel CSVs)."""
        self._lock = threading.Lock()
        self._communes: dict[str, dict[str, Any]] | None = None
        self._parcels: OrderedDict[str, dict[str, dict[str, Any]]] = OrderedDict()
        self._owner: dict[str, str] | None = None  # parcel id → commune, for ids not led by the INSEE code

    def communes(self) -> dict[str, dict[str, Any]]:
        """Every commune's row of ``communes.json``, by INSEE code."""
        with self._lock:
            if self._communes is None:
                rows = json.loads((self.root / "communes.json").read_text(encoding="utf-8"))
                self._communes = {str(c["insee_com"]): c for c in rows}
                self.reads += 1
            return self._communes

    def _read_parcels(self, insee: str) -> dict[str, dict[str, Any]]:
        import pandas as pd

        name = str(self.communes()[insee].get("csv", ""))
        csv = self.root / name
        if not safe_name(name) or csv.is_symlink() or not csv.is_file():
            return {}
        df = pd.read_csv(csv, dtype=_TEXT, keep_default_na=False, na_values=[""])
        self.reads += 1
        return {str(r["id"]): r for r in json.loads(df.to_json(orient="records", force_ascii=False))}

    def parcels(self, insee: str) -> dict[str, dict[str, Any]]:
        """One commune's parcels by id (read once, then kept among the last ``cached``)."""
        with self._lock:
            if insee in self._parcels:
                self._parcels.move_to_end(insee)
                return self._parcels[insee]
        table = self._read_parcels(insee)
        with self._lock:
            self._parcels[insee] = table
            while len(self._parcels) > self.cached:
                self._parcels.popitem(last=False)
        return table

    def _owners(self) -> dict[str, str]:
        """Parcel id → commune over every CSV (only the ``id`` column): built once, on a first miss."""
        import pandas as pd

        if self._owner is None:
            owner: dict[str, str] = {}
            for insee, c in self.communes().items():
                csv = self.root / str(c.get("csv", ""))
                if safe_name(csv.name) and not csv.is_symlink() and csv.is_file():
                    ids = pd.read_csv(csv, usecols=["id"], dtype=str, keep_default_na=False)["id"]
                    owner.update(dict.fromkeys(ids, insee))
            self._owner = owner
        return self._owner

    def parcel(self, parcel_id: str) -> dict[str, Any] | None:
        """One parcel's row, from the commune whose INSEE code leads its id, else from any commune."""
        communes = self.communes()
        insee = parcel_id[:5]
        if insee in communes and parcel_id in (found := self.parcels(insee)):
            return found[parcel_id]
        other = self._owners().get(parcel_id)
        return None if other is None else self.parcels(other).get(parcel_id)


def create_app(root: str | Path) -> Any:
    """The FastAPI application serving the report folder ``root`` (read-only).

    Example:
        >>> from fastapi.testclient import TestClient  # doctest: +SKIP
        >>> TestClient(create_app("out/demo/report")).get("/communes").json()[0]["nom"]  # doctest: +SKIP
        'Saint-Costa-les-Vignes'

    """
    require("fastapi", "serve", "costa serve")
    from fastapi import FastAPI, Request, Response
    from fastapi.responses import FileResponse, JSONResponse

    root = Path(root).resolve()
    if not root.is_dir():
        raise SourceReadError(f"report folder not found: {root} (make it with costa zan report)")
    if not (root / "communes.json").is_file() and (root / "report" / "communes.json").is_file():
        root = root / "report"  # an output folder of costa demo: serve its report
    tables = ReportTables(root)
    app = FastAPI(
        title="costa",
        description="Chiffres ZAN par commune et parcelle (lecture seule).",
        docs_url=None,
        redoc_url=None,  # their pages load scripts from a CDN: not offline
        redirect_slashes=False,  # "/x/" is 404, not a redirect that hints at what exists
    )

    def missing(what: str) -> JSONResponse:
        return JSONResponse({"detail": what}, status_code=404, headers=_HEADERS)

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for k, v in _HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    @app.get("/communes")
    def list_communes() -> list[dict[str, Any]]:
        """Every commune's ZAN figures."""
        return list(tables.communes().values())

    @app.get("/communes/{insee}", response_model=None)
    def get_commune(insee: str) -> dict[str, Any] | JSONResponse:
        """One commune's ZAN figures by INSEE code."""
        communes = tables.communes()
        if insee not in communes:
            known = sorted(communes)
            listed = ", ".join(known[:20]) + (f"… ({len(known)} communes)" if len(known) > 20 else "")
            return missing(f"commune inconnue : {insee[:20]!r} (connues : {listed})")
        return communes[insee]

    @app.get("/parcels/{parcel_id}", response_model=None)
    def get_parcel(parcel_id: str) -> dict[str, Any] | JSONResponse:
        """One parcel's ZAN figures by cadastral id."""
        found = tables.parcel(parcel_id)
        if found is None:
            return missing(f"parcelle inconnue : {parcel_id[:40]!r}")
        return found

    def file(name: str) -> Response:
        path = root / name
        if not safe_name(name) or path.is_symlink() or not path.is_file() or path.resolve().parent != root:
            return missing("page introuvable")
        return FileResponse(path, media_type=_TYPES[path.suffix], headers=_HEADERS)

    @app.get("/", response_model=None)
    def index() -> Response:
        """The report's index page."""
        return file("index.html")

    @app.get("/{name}", response_model=None)
    def page(name: str) -> Response:
        """A page, CSV, map archive or licence of the report, by plain file name (byte ranges too)."""
        return file(name)

    app.state.tables = tables
    return app


def serve(
    root: str | Path, host: str = "127.0.0.1", port: int = 8000, announce: Callable[[str], None] | None = None
) -> None:
    """Serve the report folder ``root`` until interrupted (Ctrl-C); ``announce`` gets the URL."""
    if not 0 < port < 65536:
        raise OptionError(f"--port {port}: give a TCP port between 1 and 65535")
    app = create_app(root)
    uvicorn = require("uvicorn", "serve", "costa serve")
    if announce is not None:
        announce(f"http://{host}:{port}/")
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
