"""How fast the command line answers: whole processes, as a user runs them.

    python -m benchmarks cli-start [--repeats 5] [--size 8192] [--big-repeats 3] [--json FILE]

Each figure is the median wall time of fresh ``python -m costa ...`` processes:

* ``help``: ``costa --help``;
* ``zan_query``: ``costa zan query zan.gpkg --commune 99101`` on the demo territory's ZAN GeoPackage;
* ``predict_start``: ``costa predict`` of a 256² RGBN GeoTIFF with the null model (a 1×1
  convolution, :func:`benchmarks.bench_pipeline.null_model`), whose pixels take milliseconds:
  the fixed start of every ``costa predict`` (imports, model checks, sessions, COG set-up);
* ``big``: ``costa predict`` of a ``--size``² RGBN GeoTIFF with the null model against the serial
  floor of :mod:`benchmarks.bench_pipeline` (read the input once, write the same class codes, then
  ``cog_translate``) run as a whole process too (its imports included, the codes loaded from an
  ``.npy`` file); ``ratio`` = floor seconds / costa seconds, median of rounds taken back to back.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_FLOOR = """
import sys, time, numpy as np
from pathlib import Path
from benchmarks.bench_pipeline import serial_floor
serial_floor(Path(sys.argv[1]), np.load(sys.argv[2]), Path(sys.argv[3]))
"""


def wall(cmd: list[str]) -> float:
    """Seconds one whole process takes (it must succeed)."""
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "COLUMNS": "200"})
    return time.perf_counter() - t


def cmd(*args: object) -> list[str]:
    """The command line of ``costa ARGS`` in this interpreter."""
    return [sys.executable, "-m", "costa", *map(str, args)]


def median_wall(cmd: list[str], repeats: int) -> float:
    wall(cmd)  # warm the file cache once
    return statistics.median(wall(cmd) for _ in range(repeats))


def main() -> None:
    """Measure, print one line per figure, and optionally write them as JSON."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks cli-start", description=__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=8192, help="side of the big raster (0: skip it)")
    ap.add_argument("--big-repeats", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import numpy as np
    import rasterio

    import costa
    from benchmarks.bench_pipeline import null_model
    from benchmarks.bench_predict import make_raster

    res: dict[str, Any] = {"machine": f"{platform.node()} {os.cpu_count()} cores", "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model = null_model(tmp / "null.onnx")
        terr = costa.demo.make_territory(tmp / "demo", dalles=(1, 2), dalle_px=384)
        zan = costa.zan.compute(terr.truth[2024], terr.parcels, terr.communes)
        costa.zan.write(zan, tmp / "zan.gpkg")
        tiny = make_raster(tmp / "tiny.tif", 256)

        res["help_s"] = median_wall(cmd("--help"), args.repeats)
        res["zan_query_s"] = median_wall(
            cmd("zan", "query", tmp / "zan.gpkg", "--commune", "99101"), args.repeats
        )
        res["predict_start_s"] = median_wall(
            cmd("predict", tiny, "-m", model, "-o", tmp / "tiny_lc.tif", "-q"), args.repeats
        )
        for key in ("help_s", "zan_query_s", "predict_start_s"):
            print(f"{key:<16} {res[key]:.3f} s")
        if args.size:
            big = make_raster(tmp / "big.tif", args.size)
            out = tmp / "big_lc.tif"
            predict = cmd("predict", big, "-m", model, "-o", out, "-q")
            wall(predict)
            with rasterio.open(out) as src:
                np.save(tmp / "codes.npy", src.read(1))
            floor = [sys.executable, "-c", _FLOOR, str(big), str(tmp / "codes.npy"), str(tmp / "floor.tif")]
            rounds = []
            for _ in range(args.big_repeats):
                c, f = wall(predict), wall(floor)
                rounds.append({"costa_s": c, "floor_s": f, "ratio": f / c})
                print(f"{args.size}²: costa {c:.2f} s, floor {f:.2f} s, ratio {f / c:.2f}")
            res["big"] = {
                "size": args.size,
                "rounds": rounds,
                "costa_s": statistics.median(r["costa_s"] for r in rounds),
                "floor_s": statistics.median(r["floor_s"] for r in rounds),
                "ratio": statistics.median(r["ratio"] for r in rounds),
            }
            print(f"{args.size}² median ratio {res['big']['ratio']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
