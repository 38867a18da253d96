"""Jobs over a dalle mosaic: in process vs a Dask LocalCluster of 1 and 2 workers, side by side.

    python -m benchmarks.bench_jobs [--dalles 3] [--dalle-px 1500] [--json FILE]

The same job (the synthetic territory cut into dalles, the demo model at its card's tile and
halo) runs once per mode into a fresh folder; each reports output Mpx/s, km²/h, the provider
and the peak RSS of every worker (``run.json``). Outputs are checked identical across modes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

import numpy as np
import rasterio

from costa.demo.territory import make_territory
from costa.jobs import Job, run_job
from costa.models.zoo import demo_model_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dalles", type=int, default=3)
    ap.add_argument("--dalle-px", type=int, default=1500)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.gettempdir())
    terr = make_territory(
        tmp / f"costa-bench-jobs-{args.dalles}-{args.dalle_px}",
        seed=0,
        dalles=(args.dalles, args.dalles),
        dalle_px=args.dalle_px,
    )
    src = str(terr.root / "dalles_2021")
    rows, ref = [], None
    for label, workers in (("in-process", None), ("1 worker", 1), ("2 workers", 2)):
        out = tmp / f"costa-bench-jobs-out-{label.replace(' ', '-')}"
        shutil.rmtree(out, ignore_errors=True)
        rep = run_job(Job({"main": src}, demo_model_path(), out, workers=workers)).as_dict()
        with rasterio.open(out / "landcover.vrt") as ds:
            labels = ds.read(1)
        ref = labels if ref is None else ref
        rows.append(
            {
                "mode": label,
                "mpx_per_s": rep["mpx_per_s"],
                "km2_per_h": rep["km2_per_h"],
                "wall_s": rep["wall_s"],
                "model_mpx_per_s": round(rep["model_mpx"] / rep["wall_s"], 3),
                "overlap": round(rep["model_mpx"] / rep["mpx"], 3),
                "provider": rep["provider"],
                "peak_rss_mb_per_worker": rep["peak_rss_mb_per_worker"],
                "identical_to_in_process": bool(np.array_equal(labels, ref)),
            }
        )
        print(json.dumps(rows[-1]))
    base = rows[0]["mpx_per_s"]
    result = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "dalles": args.dalles**2,
        "dalle_px": args.dalle_px,
        "rows": rows,
        "speedup_vs_in_process": {r["mode"]: round(r["mpx_per_s"] / base, 3) for r in rows},
    }
    print(json.dumps(result["speedup_vs_in_process"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
