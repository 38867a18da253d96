"""ZAN by windows: throughput (Mpx/s per core) and peak RSS from ~0.25 to ~1 Gpx.

    python -m benchmarks zan-windowed [--sizes 0.25,0.5,1] [--rules cosia-2023-pixel,cosia-2023-v2,cosia-2023]
                                      [--by-commune] [--window 2048] [--json FILE] [--keep DIR]
    python -m benchmarks zan-windowed --v1-vs-v2      # rule set versions 1 and 2, per parcel
    python -m benchmarks zan-windowed --real [--gsd 0.2] [--workers 1,2] [--rules ...] [--window 2048]

``--real`` runs the real four-commune case instead of the synthetic sizes: the Etalab cadastre
of Épinay-sur-Orge (91216, shipped in ``tests/data``) tiled 2 × 2 into four communes (16,964
parcels), a land cover painted over its parcels at ``--gsd`` (0.2 m: 32300 × 28900 px, 0.93 Gpx;
:mod:`costa.demo.cadastre`), each rule set with each number of ``--workers`` (windows of the
area in parallel); rows carry a hash of the parcel table, equal across runs when the tables are.

``--independent`` adds, per size, the pixel rule's artificialised ha per commune counted apart
with rasterstats (slow: minutes per 0.25 Gpx), to compare with the ``artif_ha`` of the runs.

Synthetic, generated at benchmark time (no real cadastre here, no network): a 20 cm class raster
of ``size`` Gpx written window by window (tiled 512 px GeoTIFF, LZW), and a cadastre-like
parcel table: a partition of the area into quadrilaterals of about 2,000 m² (a 40 × 50 m grid
whose shared corners are jittered by up to 8 m), in four communes tiled 2 × 2. The land cover
follows the parcels' grid: fields, scrub, woods and urban blocks (a house of 144 m² on a lawn
with a paved yard), a road network 2 m wide every 5 blocks in both directions (one patch through
every window), and 2 % of pixels of noise (many small patches, as in a real prediction).

Each measure runs ``costa.zan.compute`` (or the by-commune runner) in a fresh process, single
threaded (``OMP_NUM_THREADS=1``, ``GDAL_NUM_THREADS=1``), and reports wall seconds, Mpx/s of
wall time and Mpx per CPU-second (= Mpx/s per core; on a shared machine the wall figure also
measures the neighbours, the CPU figure much less), and the process's peak RSS (VmHWM; with
worker processes, the largest of the parent's). Reading the parcel file and building the
tables are included. The machine is shared: ratios in one run mean more than absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from costa.zan.windows import DEFAULT_WINDOW

GSD = 0.2
CELL = (250, 200)  # parcel grid: 50 m × 40 m at 20 cm
JITTER_M = 8.0
X0, Y0 = 840000.0, 6560000.0


def _hash(i: np.ndarray, j: np.ndarray, salt: int) -> np.ndarray:
    """A deterministic pseudo-random integer per cell (same for any window)."""
    h = (i.astype(np.uint64) * np.uint64(73856093)) ^ (j.astype(np.uint64) * np.uint64(19349663))
    h ^= np.uint64(salt) * np.uint64(83492791)
    h = (h ^ (h >> np.uint64(13))) * np.uint64(0x5BD1E995)
    return (h ^ (h >> np.uint64(15))).astype(np.uint64)


def block(r0: int, c0: int, h: int, w: int) -> np.ndarray:
    """Classes of the pixels ``[r0, r0+h) × [c0, c0+w)`` (a pure function of position and of
    the 4096-px generation block, whose noise has its own seed)."""
    rows, cols = np.arange(r0, r0 + h)[:, None], np.arange(c0, c0 + w)[None, :]
    ci, cj = (
        np.arange(r0 // CELL[0], (r0 + h - 1) // CELL[0] + 1),
        np.arange(c0 // CELL[1], (c0 + w - 1) // CELL[1] + 1),
    )
    kinds = (_hash(ci[:, None], cj[None, :], 1) % np.uint64(10)).astype(np.uint8)
    kind = kinds[rows // CELL[0] - ci[0], cols // CELL[1] - cj[0]]
    field = np.array([14, 14, 14, 15, 12, 10, 9, 16, 13, 13], np.uint8)  # 8, 9: urban blocks (lawn)
    lab = field[kind]
    urban = kind >= 8
    yr, yc = rows % CELL[0], cols % CELL[1]
    lab[urban & (yr >= 30) & (yr < 80) & (yc >= 20) & (yc < 180)] = 2  # paved yard
    lab[urban & (yr >= 100) & (yr < 160) & (yc >= 70) & (yc < 130)] = 1  # house
    lab[((rows % (5 * CELL[0])) < 10) | ((cols % (5 * CELL[1])) < 10)] = 2  # roads
    rng = np.random.default_rng((r0, c0))
    flip = rng.random((h, w), np.float32) < 0.02
    lab[flip] = rng.integers(1, 17, int(flip.sum()), dtype=np.uint8)
    return lab


def make_raster(path: Path, side: int) -> None:
    """Write a ``side × side`` class raster window by window (memory of one 4096-px strip)."""
    import rasterio
    from rasterio.transform import from_origin

    profile = {
        "driver": "GTiff",
        "width": side,
        "height": side,
        "count": 1,
        "dtype": "uint8",
        "crs": "EPSG:2154",
        "transform": from_origin(X0, Y0, GSD, GSD),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "LZW",
        "nodata": 0,
        "BIGTIFF": "YES",
    }
    from rasterio.windows import Window

    step = 4096
    with rasterio.open(path, "w", **profile) as dst:
        dst.update_tags(YEAR="2024")
        for r in range(0, side, step):
            for c in range(0, side, step):
                h, w = min(step, side - r), min(step, side - c)
                dst.write(block(r, c, h, w)[None], window=Window(c, r, w, h))


def make_parcels(path: Path, side: int) -> int:
    """A jittered-grid partition of the raster into parcels, four communes 2 × 2; returns count."""
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(0)
    ni, nj = -(-side // CELL[0]), -(-side // CELL[1])
    ys = Y0 - np.arange(ni + 1) * CELL[0] * GSD
    xs = X0 + np.arange(nj + 1) * CELL[1] * GSD
    gx, gy = np.meshgrid(xs, ys)
    jit = rng.uniform(-JITTER_M, JITTER_M, (2, ni + 1, nj + 1))
    jit[:, [0, -1], :] = 0  # the outline stays straight
    jit[:, :, [0, -1]] = 0
    gx, gy = gx + jit[0], gy + jit[1]
    ii, jj = np.meshgrid(np.arange(ni), np.arange(nj), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    rings = np.stack(
        [
            np.stack([gx[ii, jj], gy[ii, jj]], -1),
            np.stack([gx[ii, jj + 1], gy[ii, jj + 1]], -1),
            np.stack([gx[ii + 1, jj + 1], gy[ii + 1, jj + 1]], -1),
            np.stack([gx[ii + 1, jj], gy[ii + 1, jj]], -1),
            np.stack([gx[ii, jj], gy[ii, jj]], -1),
        ],
        axis=1,
    )
    geoms = shapely.polygons(rings)
    commune = np.where(ii < ni / 2, 0, 2) + np.where(jj < nj / 2, 0, 1)
    gdf = gpd.GeoDataFrame(
        {
            "id": [f"99{c}000A{k:06d}" for k, c in enumerate(commune)],
            "commune": [f"9900{c + 1}" for c in commune],
            "section": "A",
            "numero": [f"{k:06d}" for k in range(len(commune))],
        },
        geometry=geoms,
        crs="EPSG:2154",
    )
    gdf.to_file(path, driver="GPKG")
    return len(gdf)


_CHILD = """
import json, resource, sys, time
from pathlib import Path
from costa.jobs.worker import _peak_rss_mb
def cpu():
    return sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))
a = json.loads(sys.argv[1])
t0, c0 = time.perf_counter(), cpu()
if a["by_commune"]:
    from costa.zan.batch import compute_by_commune
    rep = compute_by_commune(a["raster"], a["parcels"], None, a["out"], rules=a["rules"], window=a["window"],
                             workers=a["workers"])
    artif = rep.result.communes.artif_ha.tolist()
    sha = None
else:
    from costa.zan.compute import compute
    res = compute(a["raster"], a["parcels"], rules=a["rules"], window=a["window"], workers=a["workers"])
    artif = res.communes.artif_ha.tolist()
seconds, cpu_seconds = time.perf_counter() - t0, cpu() - c0
if not a["by_commune"]:
    import hashlib
    table = res.parcelles.drop(columns="geometry")
    sha = hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()[:16]
rss = _peak_rss_mb()
children_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_rss_mb": rss, "artif_ha": artif,
                  "parcels_sha": sha, "workers_peak_rss_mb": children_rss}))
"""


def run_child(args: dict[str, object]) -> dict[str, object]:
    """One measure in a fresh single-threaded process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GDAL_NUM_THREADS": "1", "GDAL_CACHEMAX": "64"}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(args)], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def independent_counts(raster: Path, parcels: Path) -> dict[str, float]:
    """Pixel-rule artificialised ha per commune, counted apart from costa's code: rasterstats'
    categorical zonal statistics per parcel (its own per-feature rasterisation, pixel centres),
    then the usage proxy and the sum per commune written out again here."""
    import geopandas as gpd
    from rasterstats import zonal_stats

    g = gpd.read_file(parcels)
    px = GSD * GSD
    artif = []
    for d in zonal_stats(g, str(raster), categorical=True, nodata=0):
        n = {int(k): v for k, v in d.items()}
        a15 = sum(n.get(c, 0) for c in (1, 2, 3, 4, 5))
        valid = sum(n.values())
        urban = (n.get(1, 0) + n.get(5, 0)) * px >= 50 or (valid > 0 and a15 / valid >= 0.5)
        artif.append(a15 + (n.get(13, 0) if urban else 0))
    g["artif_px"] = artif
    return {str(k): round(float(v) * px / 1e4, 4) for k, v in g.groupby("commune").artif_px.sum().items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="0.25,0.5,1", help="Gpx, comma-separated")
    ap.add_argument("--rules", default="cosia-2023-pixel,cosia-2023-v2,cosia-2023")  # v1 too: bounded now
    ap.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="px (before 2026-12-05: 4096)")
    ap.add_argument("--by-commune", action="store_true", help="also the 4 communes one by one (largest size)")
    ap.add_argument("--workers", default=None, help="processes, comma-separated (default 1; --real: 1,2)")
    ap.add_argument("--real", action="store_true", help="the real four-commune case instead of --sizes")
    ap.add_argument("--gsd", type=float, default=0.2, help="pixel size of the real case (m)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--keep", type=Path, default=None, help="folder for the rasters (default: a temp dir)")
    ap.add_argument("--v1-vs-v2", action="store_true", help="only compare rule set versions 1 and 2")
    ap.add_argument("--independent", action="store_true", help="also count the pixel rule with rasterstats")
    a = ap.parse_args(argv)
    root = a.keep or Path(tempfile.mkdtemp(prefix="costa-bench-zanw-"))
    root.mkdir(parents=True, exist_ok=True)
    if a.v1_vs_v2:
        rows_v = compare_rules(root)
        if a.json:
            a.json.write_text(json.dumps({"date": time.strftime("%Y-%m-%d %H:%M"), "rows": rows_v}, indent=1))
        return
    workers = [int(w) for w in (a.workers or ("1,2" if a.real else "1")).split(",")]
    if a.real:
        rows = run_real(root, a, workers)
        _save(a, argv, rows)
        return
    rows = []
    for gpx in (float(s) for s in a.sizes.split(",")):
        side = round((gpx * 1e9) ** 0.5 / 512) * 512
        raster, parcels = root / f"lc_{side}.tif", root / f"parcels_{side}.gpkg"
        t0 = time.perf_counter()
        if not raster.is_file():
            make_raster(raster, side)
        if parcels.is_file():
            import pyogrio

            n = int(pyogrio.read_info(parcels)["features"])
        else:
            n = make_parcels(parcels, side)
        gen = time.perf_counter() - t0
        runs = [(r, False) for r in a.rules.split(",")]
        if a.by_commune:
            runs += [(r, True) for r in a.rules.split(",")]
        for rules, by in runs:
            res = run_child(
                {
                    "raster": str(raster),
                    "parcels": str(parcels),
                    "rules": rules,
                    "window": a.window,
                    "by_commune": by,
                    "workers": workers[0],
                    "out": str(root / f"out_{side}_{rules}_{time.monotonic_ns()}"),
                }
            )
            mpx = side * side / 1e6
            row = {
                "gpx": round(side * side / 1e9, 3),
                "side_px": side,
                "parcels": n,
                "rules": rules,
                "by_commune": by,
                "window": a.window,
                "seconds": round(float(res["seconds"]), 1),  # type: ignore[arg-type]
                "cpu_seconds": round(float(res["cpu_seconds"]), 1),  # type: ignore[arg-type]
                "mpx_per_s_wall": round(mpx / float(res["seconds"]), 2),  # type: ignore[arg-type]
                "mpx_per_cpu_s": round(mpx / float(res["cpu_seconds"]), 2),  # type: ignore[arg-type]
                "peak_rss_mb": round(float(res["peak_rss_mb"])),  # type: ignore[arg-type]
                "artif_ha": [round(x, 2) for x in res["artif_ha"]],  # type: ignore[attr-defined]
                "generate_s": round(gen, 1),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
        if a.independent:
            t0 = time.perf_counter()
            ind = {
                "gpx": round(side * side / 1e9, 3),
                "independent_artif_ha": independent_counts(raster, parcels),
            }
            ind["seconds"] = round(time.perf_counter() - t0, 1)
            print(json.dumps(ind), flush=True)
            rows.append(ind)
    _save(a, argv, rows)


def _save(a: argparse.Namespace, argv: list[str] | None, rows: list[dict[str, object]]) -> None:
    out = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "command": "python -m benchmarks zan-windowed "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "rows": rows,
    }
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))


def run_real(root: Path, a: argparse.Namespace, workers: list[int]) -> list[dict[str, object]]:
    """The real four-commune case: each rule set with each number of workers, side by side."""
    import rasterio

    from costa.demo.cadastre import tile_communes, write_landcover

    raster, parcels = root / f"real_{a.gsd:g}m.tif", root / "real_parcels.gpkg"
    t0 = time.perf_counter()
    if not parcels.is_file() or not raster.is_file():
        gdf = tile_communes(CADASTRE)
        write_landcover(gdf, raster, gsd=a.gsd)
        gdf.to_file(parcels, driver="GPKG")
    gen = time.perf_counter() - t0
    with rasterio.open(raster) as ds:
        mpx = ds.width * ds.height / 1e6
    rows = []
    for rules in a.rules.split(","):
        for n in workers:
            res = run_child(
                {
                    "raster": str(raster),
                    "parcels": str(parcels),
                    "rules": rules,
                    "window": a.window,
                    "by_commune": False,
                    "workers": n,
                    "out": "",
                }
            )
            seconds, cpu = float(res["seconds"]), float(res["cpu_seconds"])  # type: ignore[arg-type]
            row = {
                "case": f"real 91216 × 4, {a.gsd:g} m",
                "mpx": round(mpx, 1),
                "rules": rules,
                "window": a.window,
                "workers": n,
                "seconds": round(seconds, 1),
                "cpu_seconds": round(cpu, 1),
                "mpx_per_s_wall": round(mpx / seconds, 2),
                "mpx_per_cpu_s": round(mpx / cpu, 2),
                "peak_rss_mb": round(float(res["peak_rss_mb"])),  # type: ignore[arg-type]
                "workers_peak_rss_mb": round(float(res["workers_peak_rss_mb"])) if n > 1 else None,  # type: ignore[arg-type]
                "artif_ha": [round(x, 4) for x in res["artif_ha"]],  # type: ignore[attr-defined]
                "parcels_sha": res["parcels_sha"],
                "generate_s": round(gen, 1),
            }
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


CADASTRE = Path(__file__).parents[1] / "tests" / "data" / "cadastre-91216-parcelles.json.gz"
"""The Etalab cadastre of 91216 shipped for tests (Licence Ouverte 2.0, "DGFiP / Etalab, cadastre")."""


def compare_rules(root: Path) -> list[dict[str, object]]:
    """v1 (GDAL sieve, whole area) vs v2 (patch graph, 1024-px windows), per parcel: synthetic cases
    and the real four-commune case at 1 m (at 20 cm: ``--real --rules cosia-2023,cosia-2023-v2``)."""
    from costa.demo.territory import make_territory
    from costa.zan.compute import compute

    cases: list[tuple[str, Path, Path, Path | None]] = []
    for seed in (0, 1, 2, 3):
        t = make_territory(root / f"terr_{seed}", seed=seed, dalles=(2, 2), dalle_px=1000)
        cases.append((f"territory seed {seed}", t.truth[2024], t.parcels, t.communes))
    import rasterio

    rng = np.random.default_rng(0)
    n = 2048
    parcels = root / f"parcels_{n}.gpkg"
    if not parcels.is_file():
        make_parcels(parcels, n)
    for scale, noise in ((40, 0.02), (12, 0.05), (4, 0.1)):
        kinds = rng.choice(
            [1, 2, 3, 13, 14, 10, 12], size=(n // scale + 1,) * 2, p=[0.08, 0.12, 0.05, 0.15, 0.3, 0.2, 0.1]
        )
        lab = np.repeat(np.repeat(kinds, scale, 0), scale, 1)[:n, :n].astype(np.uint8)
        m = rng.random((n, n)) < noise
        lab[m] = rng.integers(1, 17, int(m.sum()))
        path = root / f"random_{scale}.tif"
        from rasterio.transform import from_origin

        prof = {"driver": "GTiff", "width": n, "height": n, "count": 1, "dtype": "uint8", "crs": "EPSG:2154",
                "transform": from_origin(X0, Y0, GSD, GSD), "nodata": 0, "tiled": True}  # fmt: skip
        with rasterio.open(path, "w", **prof) as dst:
            dst.write(lab[None])
        cases.append((f"random blobs of {scale} px + {noise:.0%} noise", path, parcels, None))
    from costa.demo.cadastre import tile_communes, write_landcover

    real = root / "real_parcels_v1v2.gpkg"
    gdf = tile_communes(CADASTRE)
    gdf.to_file(real, driver="GPKG")
    cases.append(("real 91216 × 4 at 1 m", write_landcover(gdf, root / "real_1m.tif", gsd=1.0), real, None))
    rows = []
    for name, lc, pp, cc in cases:
        a = compute(lc, pp, cc, rules="cosia-2023", year=2024)
        b = compute(lc, pp, cc, rules="cosia-2023-v2", year=2024, window=1024)
        d = np.abs(a.parcelles.artif_m2.to_numpy() - b.parcelles.artif_m2.to_numpy())
        row = {
            "case": name,
            "area_ha": round(float(a.communes.surface_ha.sum()), 2),
            "v1_artif_ha": round(float(a.communes.artif_ha.sum()), 4),
            "v2_artif_ha": round(float(b.communes.artif_ha.sum()), 4),
            "parcels_differing": int((d > 0).sum()),
            "parcels": len(d),
            "status_changes": int((a.parcelles.statut != b.parcelles.statut).sum()),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows
