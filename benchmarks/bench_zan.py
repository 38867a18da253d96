"""ZAN zonal statistics: costa vs rasterstats vs exactextract, side by side on one case.

    python -m benchmarks.bench_zan [--dalle-px 2500] [--json FILE]

The case is the synthetic territory (2 × 2 dalles, 1 km² at the default size) and its
cadastre-like parcels: per parcel, pixel area per class. costa rasterises parcels at pixel
centres and counts with one bincount; rasterstats (categorical) and exactextract (unique +
frac, exact coverage) compute the same histogram their own way.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio

from costa.demo.territory import make_territory
from costa.zan.compute import compute, zone_ids
from costa.zan.rules import class_counts


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dalle-px", type=int, default=2500)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    from exactextract import exact_extract
    from rasterstats import zonal_stats

    t = make_territory(
        Path(tempfile.gettempdir()) / f"costa-bench-zan-{args.dalle_px}",
        seed=0,
        dalles=(2, 2),
        dalle_px=args.dalle_px,
    )
    raster = t.truth[2024]
    with rasterio.open(raster) as src:
        crs, shape, tr = src.crs, src.shape, src.transform
    parcels = gpd.read_file(t.parcels).to_crs(crs)

    def costa_core() -> np.ndarray:
        with rasterio.open(raster) as src:
            labels = src.read(1)
        ids = zone_ids(parcels, crs, shape, tr)
        return class_counts(ids, labels, len(parcels))

    counts, t_costa = timed(costa_core)
    _, t_full = timed(lambda: compute(raster, t.parcels, t.communes))
    rs, t_rs = timed(lambda: zonal_stats(parcels, str(raster), categorical=True, nodata=0))
    ee, t_ee = timed(lambda: exact_extract(str(raster), parcels, ["unique", "frac"], output="pandas"))
    same = all(counts[i + 1, k] == v for i, d in enumerate(rs) for k, v in d.items())
    res = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": "python -m benchmarks zan",
        "pixels": shape[0] * shape[1],
        "parcels": len(parcels),
        "costa_zonal_s": round(t_costa, 3),
        "costa_full_compute_s": round(t_full, 3),
        "rasterstats_s": round(t_rs, 3),
        "exactextract_s": round(t_ee, 3),
        "speedup_vs_rasterstats": round(t_rs / t_costa, 1),
        "speedup_vs_exactextract": round(t_ee / t_costa, 2),
        "costa_equals_rasterstats_counts": same,
        "exactextract_rows": len(ee),
    }
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
