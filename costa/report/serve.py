"""``costa serve``: the report folder over HTTP, and a small read-only JSON API.

Routes: ``/`` (the index page), ``/communes``, ``/communes/{insee}``, ``/parcels/{id}`` (JSON),
and the report's own files by plain name (``/commune-69123.html``, ``/communes.csv``...).
The server only reads: names are checked against a strict pattern and must resolve to a
regular file directly inside the folder, so there is no directory listing and no way out
of the folder (``..``, encoded or not, ends in 404). Bound to 127.0.0.1 by default.

Needs the ``serve`` extra: ``pip install "costa-landcover[serve]"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from costa.errors import OptionError, SourceReadError, require

__all__ = ["create_app", "safe_name", "serve"]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*\.(?:html|csv|json|txt)")
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Pages are self-contained: inline script/style and data: images, nothing from elsewhere.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


def safe_name(name: str) -> bool:
    """Whether ``name`` may name a file of the report: one plain file name, no path.

    >>> [safe_name(n) for n in ("commune-69123.html", "../etc/passwd", ".env", "a/b.html", "x.py")]
    [True, False, False, False, False]
    """
    return _NAME.fullmatch(name) is not None


def _load(root: Path) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The communes (from ``communes.json``) and parcels (from the per-commune CSVs) by key."""
    import pandas as pd

    index = root / "communes.json"
    if not index.is_file():
        raise SourceReadError(
            f"{root} is not a costa report folder (no communes.json); make one with costa zan report"
        )
    communes = {str(c["insee_com"]): c for c in json.loads(index.read_text(encoding="utf-8"))}
    parcels: dict[str, dict[str, Any]] = {}
    text = {"id": str, "commune": str, "section": str, "numero": str, "statut": str, "statut_old": str}
    for c in communes.values():
        csv = root / str(c["csv"])
        if safe_name(str(c["csv"])) and csv.is_file():
            df = pd.read_csv(csv, dtype=text, keep_default_na=False, na_values=[""])
            records = json.loads(df.to_json(orient="records", force_ascii=False))
            parcels.update((str(r["id"]), r) for r in records)
    return communes, parcels


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
    communes, parcels = _load(root)
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
        return list(communes.values())

    @app.get("/communes/{insee}", response_model=None)
    def get_commune(insee: str) -> dict[str, Any] | JSONResponse:
        """One commune's ZAN figures by INSEE code."""
        if insee not in communes:
            return missing(f"commune inconnue : {insee[:20]!r} (connues : {', '.join(sorted(communes))})")
        return communes[insee]

    @app.get("/parcels/{parcel_id}", response_model=None)
    def get_parcel(parcel_id: str) -> dict[str, Any] | JSONResponse:
        """One parcel's ZAN figures by cadastral id."""
        if parcel_id not in parcels:
            return missing(f"parcelle inconnue : {parcel_id[:40]!r}")
        return parcels[parcel_id]

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
        """A page, CSV or licence of the report, by plain file name."""
        return file(name)

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
