"""``costa vectorize``: polygons per km², throughput and peak memory across raster sizes.

    python -m benchmarks vectorize [--sizes 2048,4096,8192,16384] [--min-area 1] [--json FILE]
    python -m benchmarks vectorize --demo     # demo truth: area agreement, vertices kept by simplification

Each raster is a synthetic land-cover map (written strip by strip, so making it needs no
memory): class regions of 16–96 px with 1 % isolated noise pixels, 20 cm Lambert-93.
Each size is vectorised by ``costa vectorize`` in a fresh process whose peak RSS is read
from ``getrusage`` (children); memory is flat when the peak does not grow with the raster.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

from costa.nomenclature import CODES

STRIP = 1024


def make_raster(path: Path, size: int, seed: int = 0, noise: float = 0.01) -> Path:
    """A ``size``² land-cover GeoTIFF of blocky regions with ``noise`` of single-pixel flips."""
    if path.exists():
        return path
    codes = np.array(CODES, np.uint8)
    profile = dict(
        driver="GTiff", width=size, height=size, count=1, dtype="uint8", crs="EPSG:2154",
        transform=from_origin(840000, 6520000, 0.2, 0.2), tiled=True, blockxsize=512, blockysize=512,
        compress="deflate", nodata=0,
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        for r in range(0, size, STRIP):
            rng = np.random.default_rng([seed, r])
            h = min(STRIP, size - r)
            strip = np.empty((h, size), np.uint8)
            for block in (96, 48, 16):  # nested regions: large fields, then smaller patches over them
                n = size // block + 1
                small = rng.choice(codes, (h // block + 1, n))
                keep = rng.random(small.shape) < (1.0 if block == 96 else 0.3)
                layer = np.kron(small * keep, np.ones((block, block), np.uint8))[:h, :size]
                strip = np.where(layer > 0, layer, strip) if block != 96 else layer
            flip = rng.random(strip.shape) < noise
            strip[flip] = rng.choice(codes, int(flip.sum()))
            dst.write(strip, 1, window=rasterio.windows.Window(0, r, size, h))
    return path


def run_one(raster: Path, out: Path, min_area: float, window: int) -> dict[str, float]:
    argv = ["costa", "vectorize", str(raster), "--out", str(out), "--min-area", str(min_area)]
    argv += ["--window", str(window)]
    child = (  # the CLI in a fresh process that reports its own peak RSS on its last stderr line
        "import resource, sys\nfrom costa.cli import main\n"
        f"sys.argv = {argv!r}\ntry:\n    main()\nfinally:\n"
        "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)"
    )
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    peak = int(res.stderr.strip().splitlines()[-1])  # KiB
    import pyogrio

    info = pyogrio.read_info(out, layer="occupation_sol", force_feature_count=True)
    with rasterio.open(raster) as src:
        size, km2 = src.width, src.width * src.height * 0.04 / 1e6
    return {
        "size": float(size),
        "polygons": float(info["features"]),
        "per_km2": info["features"] / km2,
        "wall_s": wall,
        "mpx_per_s": (km2 * 1e6 / 0.04) / wall / 1e6,
        "km2_per_h": km2 / wall * 3600,
        "peak_rss_mb": peak / 1024,
        "stdout": res.stdout.strip(),  # type: ignore[dict-item]
    }


def demo_check() -> None:
    """The demo territory's truth with communes, --min-area 0: validity, area error, vertices."""
    import pyogrio
    import shapely

    from costa.demo.territory import make_territory
    from costa.vector.polygons import LAYER, vectorize

    t = make_territory(Path(tempfile.gettempdir()) / "costa-bench-vectorize" / "demo", dalles=(2, 2))
    with rasterio.open(t.truth[2024]) as src:
        counts = np.bincount(src.read(1).ravel(), minlength=17) * 0.04
    for tol in (0.0, 1.0):
        out = t.root / f"poly-tol{tol:g}.gpkg"
        rep = vectorize(t.truth[2024], out, communes=t.communes, tolerance=tol)
        df = pyogrio.read_dataframe(out, layer=LAYER)
        areas = df.groupby("code").surface_m2.sum()
        err = max(abs(areas.get(c, 0.0) - counts[c]) / counts[c] for c in CODES if counts[c])
        valid = bool(shapely.coverage_is_valid(df.geometry.values))
        print(
            f"tolerance {tol:g} px: {rep.polygons} polygons, {rep.vertices} vertices, "
            f"valid coverage {valid}, "
            f"max per-class area error {100 * err:.3f} %"
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="2048,4096,8192,16384")
    ap.add_argument("--min-area", type=float, default=1.0)
    ap.add_argument("--window", type=int, default=2048)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--demo", action="store_true", help="only the demo-truth check")
    args = ap.parse_args(argv)
    if args.demo:
        demo_check()
        return
    root = Path(tempfile.gettempdir()) / "costa-bench-vectorize"
    root.mkdir(exist_ok=True)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        raster = make_raster(root / f"lc-{size}.tif", size)
        row = run_one(raster, root / f"poly-{size}.gpkg", args.min_area, args.window)
        rows.append(row)
        print(
            f"{size}²: {row['polygons']:.0f} polygons ({row['per_km2']:.0f}/km²), {row['wall_s']:.1f} s, "
            f"{row['mpx_per_s']:.2f} Mpx/s = {row['km2_per_h']:.1f} km²/h, "
            f"peak RSS {row['peak_rss_mb']:.0f} MB",
            flush=True,
        )
    if args.json:
        args.json.write_text(
            json.dumps({"min_area": args.min_area, "window": args.window, "rows": rows}, indent=1)
        )


if __name__ == "__main__":
    main()
