"""`costa serve`: read-only JSON API and pages, 404s, no way out of the folder, no writes."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from costa.errors import SourceReadError
from costa.report.serve import create_app, safe_name
from tests.conftest import assert_clean_error, costa


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``root`` with its size and mtime (ns)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.stat(os.path.join(dirpath, name), follow_symlinks=False)
            out[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_size, st.st_mtime_ns)
    return out


def raw_get(base: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` byte for byte, without any client-side normalisation of ``..``."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=False, skip_accept_encoding=True)
        conn.endheaders()
        res = conn.getresponse()
        return res.status, res.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def client(demo: dict[str, Any]) -> TestClient:
    return TestClient(create_app(Path(demo["report"]).parent))


def test_api_answers_the_geopackage_figures(client: TestClient, demo: dict[str, Any]) -> None:
    communes = demo["communes_gpkg"]
    listed = client.get("/communes").json()
    assert [c["insee_com"] for c in listed] == list(communes.insee_com)
    for row in communes.to_dict("records"):
        got = client.get(f"/communes/{row['insee_com']}")
        assert got.status_code == 200 and got.headers["content-type"] == "application/json"
        body = got.json()
        for k in ("artif_ha", "artif_pct", "n_parcelles", "flux_artif_ha", "n_parcelles_nouvellement_artif"):
            assert body[k] == pytest.approx(row[k], rel=1e-12), k
        assert body["page"] == f"commune-{row['insee_com']}.html"
    parcel = demo["parcelles_gpkg"].iloc[7]
    got = client.get(f"/parcels/{parcel['id']}").json()
    assert got["id"] == parcel["id"] and got["statut"] == parcel["statut"]
    assert got["artif_m2"] == pytest.approx(parcel["artif_m2"]) and got["numero"] == parcel["numero"]


def test_pages_and_files(client: TestClient) -> None:
    index = client.get("/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    assert "Artificialisation des sols" in index.text
    assert client.get("/commune-99101.html").text.count('<li data-code="') == 16
    csv = client.get("/commune-99101-parcelles.csv")
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("id,commune,")
    assert "default-src 'none'" in index.headers["content-security-policy"]
    assert index.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/communes/00000", "commune inconnue : '00000' (connues : 99101, 99102)"),
        ("/parcels/99999000ZZ0000", "parcelle inconnue"),
        ("/nope.html", "page introuvable"),
        ("/.communes.json", "page introuvable"),
        ("/zan.gpkg", "page introuvable"),
        ("/docs", "page introuvable"),
    ],
)
def test_unknown_is_404_with_a_message(client: TestClient, path: str, fragment: str) -> None:
    res = client.get(path)
    assert res.status_code == 404 and fragment in res.json()["detail"]


def test_read_only_methods(client: TestClient) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert client.request(method, "/communes").status_code == 405
        assert client.request(method, "/index.html").status_code == 405


TRAVERSALS = [
    "/../communes.json",
    "/../../../../etc/passwd",
    "/%2e%2e/etc/passwd",
    "/%2e%2e%2fetc%2fpasswd",
    "/..%2f..%2fetc%2fpasswd",
    "/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
    "/..%5c..%5cetc%5cpasswd",
    "/%252e%252e%252fetc%252fpasswd",
    "/static/../index.html",
    "/communes/..%2f..%2fetc%2fpasswd",
    "/parcels/%2e%2e%2fcommunes.json",
    "/report/",
    "//etc/passwd",
    "/.%2e/zan.gpkg",
]


def test_no_way_out_of_the_folder_and_no_listing(server: str, demo: dict[str, Any]) -> None:
    """Against the real server (raw request lines): every traversal is 404, nothing is written."""
    root = demo["root"]
    before = tree(root)
    assert raw_get(server, "/communes")[0] == 200
    assert raw_get(server, "/LICENSE-leaflet.txt")[0] == 200
    for path in TRAVERSALS:
        status, body = raw_get(server, path)
        assert status == 404, path
        assert b"root:" not in body and b"SQLite" not in body, path
    for path in ("/communes/00000", "/parcels/x", "/index.htm"):
        assert raw_get(server, path)[0] == 404
    assert tree(root) == before  # the server never wrote anything under the demo folder
    assert json.loads(raw_get(server, "/communes/99102")[1])["nom"] == "Costa-sur-Orge"


def test_safe_name_accepts_only_plain_report_files() -> None:
    for bad in (
        "..",
        ".",
        "",
        "a/b.html",
        "..\\x.html",
        "x.html/",
        "a..html/..",
        "x.gpkg",
        " x.html",
        "x.html\x00",
    ):
        assert not safe_name(bad), bad
    for good in ("index.html", "commune-2A004.html", "commune-2A004-parcelles.csv", "LICENSE-leaflet.txt"):
        assert safe_name(good), good


def test_a_demo_folder_serves_its_report(demo: dict[str, Any]) -> None:
    report = Path(demo["report"]).parent
    app = TestClient(create_app(report.parent))
    assert app.get("/communes").json() == TestClient(create_app(report)).get("/communes").json()


def test_not_a_report_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceReadError, match="not a costa report folder"):
        create_app(tmp_path)
    assert_clean_error(costa("serve", tmp_path / "missing"), "report folder not found")
    assert_clean_error(costa("serve", tmp_path, "--port", "70000"), "--port 70000")
