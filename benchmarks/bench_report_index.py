"""How soon a 500-commune report's index is interactive in headless Chromium (map, search, sort).

    python -m benchmarks report-index [--communes 500] [--repeats 3]

Builds a synthetic territory of N square communes (200 m a side, 4 parcels each) on a 1 m
land-cover raster, computes its ZAN GeoPackage and writes the report (no tiles, no
downloads: the index does not use them), then opens ``index.html`` from ``file://`` in
Debian's Chromium (Playwright, never a downloaded browser) and measures, per load: the time
from navigation start to the end of the index script (map drawn, search and sort wired:
``costaIndex.readyAt``), then one search keystroke and one sort, in the page.
"""

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from rasterio.transform import from_origin

CHROMIUM = "/usr/bin/chromium"
SIDE_M = 200.0
PIXEL_M = 1.0
ORIGIN = (840000.0, 6521000.0)


def make_territory(root: Path, n: int) -> tuple[Path, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """A land-cover raster, N square communes in a grid and 4 parcels in each."""
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    px = int(SIDE_M / PIXEL_M)
    rng = np.random.default_rng(0)
    fields = rng.integers(1, 17, (rows * 10, cols * 10), dtype=np.uint8)
    labels = np.kron(fields, np.ones((px // 10, px // 10), np.uint8))
    raster = root / "landcover_2024.tif"
    profile = {"driver": "GTiff", "width": labels.shape[1], "height": labels.shape[0], "count": 1}
    with rasterio.open(
        raster, "w", **profile, dtype="uint8", crs="EPSG:2154", nodata=0, tiled=True, compress="deflate",
        transform=from_origin(*ORIGIN, PIXEL_M, PIXEL_M),
    ) as dst:  # fmt: skip
        dst.write(labels, 1)
        dst.update_tags(YEAR="2024")
        dst.build_overviews([2, 4, 8, 16], rasterio.enums.Resampling.mode)
    communes, parcels = [], []
    for i in range(n):
        r, c = divmod(i, cols)
        x0, y1 = ORIGIN[0] + c * SIDE_M, ORIGIN[1] - r * SIDE_M
        insee = f"{99000 + i:05d}"
        communes.append(
            {
                "insee_com": insee,
                "nom": f"Commune n° {i} de Costa",
                "geometry": shapely.box(x0, y1 - SIDE_M, x0 + SIDE_M, y1),
            }
        )
        h = SIDE_M / 2
        for k, (dx, dy) in enumerate(((0, 0), (h, 0), (0, h), (h, h))):
            box = shapely.box(x0 + dx + 2, y1 - h - dy + 2, x0 + dx + h - 2, y1 - dy - 2)
            parcels.append({"id": f"{insee}000AB{k:04d}", "commune": insee, "geometry": box})
    return (
        raster,
        gpd.GeoDataFrame(parcels, crs="EPSG:2154"),
        gpd.GeoDataFrame(communes, crs="EPSG:2154"),
    )


def measure(index: Path, repeats: int) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    loads, searches, sorts = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(index.as_uri())
            page.wait_for_function("() => document.body.dataset.ready === '1'")
            loads.append(page.evaluate("window.costaIndex.readyAt"))
            shapes = page.locator("#map path.commune-shape").count()
            searches.append(
                page.evaluate("""() => { const t = performance.now();
                    const n = window.costaIndex.search("n° 42"); return [performance.now() - t, n]; }""")
            )
            sorts.append(
                page.evaluate("""() => { const t = performance.now();
                    window.costaIndex.sortBy(document.querySelectorAll("#communes thead th[data-type]")[4]);
                    return performance.now() - t; }""")
            )
            page.close()
        browser.close()
    return {
        "shapes_drawn": shapes,
        "ready_ms": [round(v, 1) for v in loads],
        "ready_ms_median": round(statistics.median(loads), 1),
        "search_ms_median": round(statistics.median(s[0] for s in searches), 1),
        "search_hits": searches[0][1],
        "sort_ms_median": round(statistics.median(sorts), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--communes", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from costa.report import build_report
    from costa.zan.compute import compute
    from costa.zan.io import write

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        raster, parcels, communes = make_territory(root, args.communes)
        t0 = time.perf_counter()
        write(compute(raster, parcels, communes, year=2024), root / "zan.gpkg")
        t1 = time.perf_counter()
        index = build_report(root / "zan.gpkg", raster, root / "report", tiles=False, downloads=False)
        t2 = time.perf_counter()
        result = {
            "communes": args.communes,
            "zan_seconds": round(t1 - t0, 1),
            "report_seconds": round(t2 - t1, 1),
            "index_kb": round(index.stat().st_size / 1024),
            **measure(index, args.repeats),
        }
    print(json.dumps(result, indent=1))
    out = Path(__file__).parent / "results" / "report_index.json"
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
