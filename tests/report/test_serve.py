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
        "x.gpkg-wal",
        "x.sqlite",
        "x.tif.aux.xml",
        " x.html",
        "x.html\x00",
    ):
        assert not safe_name(bad), bad
    for good in (
        "index.html",
        "commune-2A004.html",
        "commune-2A004-parcelles.csv",
        "commune-2A004-parcelles.geojson",
        "carte-2024.pmtiles",
        "LICENSE-leaflet.txt",
        "commune-2A004-occupation-2024.tif",
        "commune-2A004-parcelles.gpkg",
    ):
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


def test_map_archive_answers_byte_ranges(client: TestClient, server: str, demo: dict[str, Any]) -> None:
    """The map page reads its PMTiles archive by HTTP range requests: 206 with the exact bytes."""
    archive = (Path(demo["report"]).parent / "carte-2024.pmtiles").read_bytes()
    res = client.get("/carte-2024.pmtiles", headers={"Range": "bytes=0-126"})
    assert res.status_code == 206 and res.content == archive[:127] and res.content.startswith(b"PMTiles\x03")
    assert res.headers["content-range"] == f"bytes 0-126/{len(archive)}"
    assert res.headers["accept-ranges"] == "bytes"
    tail = client.get("/carte-2024.pmtiles", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == archive[-10:]
    bad = client.get("/carte-2024.pmtiles", headers={"Range": f"bytes={len(archive) + 5}-"})
    assert bad.status_code == 416
    whole = client.get("/carte-2024.pmtiles")
    assert whole.status_code == 200 and whole.content == archive
    # The real server too (uvicorn), byte for byte.
    u = urlsplit(server)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", "/carte-2024.pmtiles", headers={"Range": "bytes=127-1126"})
        got = conn.getresponse()
        assert got.status == 206 and got.read() == archive[127:1127]
        assert got.getheader("content-range") == f"bytes 127-1126/{len(archive)}"
    finally:
        conn.close()


def fake_report(root: Path, n: int) -> Path:
    """A report folder of ``n`` communes (communes.json and one parcels CSV each), as build_report writes."""
    root.mkdir()
    communes = []
    for i in range(n):
        insee = f"{10000 + i}"
        communes.append({"insee_com": insee, "nom": f"Commune {i}", "page": f"commune-{insee}.html",
                         "csv": f"commune-{insee}-parcelles.csv"})  # fmt: skip
        rows = [
            f"{insee}000AB{k:04d},{insee},AB,{k:04d},{'artificialisée' if k % 2 else ''},{k}.5"
            for k in range(3)
        ]
        (root / f"commune-{insee}-parcelles.csv").write_text(
            "id,commune,section,numero,statut,artif_m2\n" + "\n".join(rows) + "\n"
        )
    (root / "communes.json").write_text(json.dumps(communes))
    return root


def test_tables_are_read_lazily(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A report of 200 communes: nothing read at start, one CSV per commune asked for."""
    import pandas as pd

    root = fake_report(tmp_path / "r", 200)
    read: list[str] = []
    real = pd.read_csv
    monkeypatch.setattr(
        pd, "read_csv", lambda path, *a, **k: read.append(Path(path).name) or real(path, *a, **k)
    )
    app = create_app(root)
    tables = app.state.tables
    client = TestClient(app)
    assert read == [] and tables.reads == 0  # startup reads no table
    assert len(client.get("/communes").json()) == 200 and tables.reads == 1  # communes.json only
    assert read == []
    got = client.get("/parcels/10042000AB0001").json()
    assert got["commune"] == "10042" and got["statut"] == "artificialisée" and got["artif_m2"] == 1.5
    assert read == ["commune-10042-parcelles.csv"]
    assert client.get("/parcels/10042000AB0002").json()["numero"] == "0002"
    assert client.get("/communes/10199").json()["nom"] == "Commune 199"
    assert read == ["commune-10042-parcelles.csv"]  # cached
    # An id not led by its commune's INSEE code is still found, through one pass over the id columns.
    (root / "commune-10007-parcelles.csv").write_text("id,commune,statut\nZZ-1,10007,artificialisée\n")
    assert client.get("/parcels/ZZ-1").json()["commune"] == "10007"
    assert client.get("/parcels/nope").status_code == 404
    assert len(read) == 1 + 200 + 1  # the id pass (200 CSVs, once), then commune 10007's table
    assert client.get("/communes/00000").json()["detail"].endswith("10019… (200 communes))")


def test_tables_keep_a_bounded_cache_and_refuse_symlinks(tmp_path: Path) -> None:
    from costa.report.serve import ReportTables

    root = fake_report(tmp_path / "r", 5)
    tables = ReportTables(root, cached=2)
    for insee in ("10000", "10001", "10002", "10000"):
        assert tables.parcel(f"{insee}000AB0000") is not None
    assert list(tables._parcels) == ["10002", "10000"]
    outside = tmp_path / "outside.csv"
    outside.write_text("id,commune\n10003000AB0000,10003\n")
    (root / "commune-10003-parcelles.csv").unlink()
    (root / "commune-10003-parcelles.csv").symlink_to(outside)
    assert tables.parcel("10003000AB0000") is None
    client = TestClient(create_app(root))
    assert client.get("/commune-10003-parcelles.csv").status_code == 404
    assert client.get("/parcels/10003000AB0000").status_code == 404
