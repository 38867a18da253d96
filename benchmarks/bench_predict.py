"""Throughput and memory of ``costa predict``, side by side in one run.

Measures, on one model and machine:

1. **model-only** ONNX Runtime throughput: batches of tiles already normalised in memory,
   the ceiling for this model/provider (Mpx/s of model input, halo included);
2. **end-to-end** ``costa.predict`` on a GeoTIFF (read, normalise, infer, argmax, write COG),
   counted in the same model-processed pixels, and the ratio end-to-end / model-only;
3. **overlap overhead** of the tile/halo: model pixels per output pixel;
4. **peak RSS** of a ``costa predict`` process for each raster size (flat = constant memory).

Rasters are the synthetic territory tiled to the requested size (a real orthophoto-like
texture, written as tiled deflate GeoTIFFs). Prints a table and writes JSON to ``--json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

import costa
from costa.demo.synthetic import make_scene
from costa.inference import PredictOptions, predict
from costa.inference.options import settle
from costa.inference.runtime import open_model
from costa.models.zoo import demo_model_path
from costa.tiling.tiles import plan_tiles


def make_raster(path: Path, size: int, block: int = 2048) -> Path:
    """A size × size RGBN GeoTIFF tiled from one synthetic scene (written block by block)."""
    if path.exists():
        return path
    tile = make_scene(0, block, block).image
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=4,
        dtype="uint8",
        crs="EPSG:2154",
        transform=from_origin(840000, 6520000, 0.2, 0.2),
        tiled=True,
        compress="deflate",
        photometric="MINISBLACK",
        bigtiff="if_safer",
        num_threads="ALL_CPUS",
    ) as dst:
        for r in range(0, size, block):
            for c in range(0, size, block):
                h, w = min(block, size - r), min(block, size - c)
                dst.write(tile[:, :h, :w], window=Window(c, r, w, h))
    return path


def model_only(model: costa.Model, tile: int, batch: int, seconds: float = 10.0) -> float:
    """Mpx/s of the bare ORT session on random normalised batches in memory."""
    x = np.random.default_rng(0).normal(0, 1, (batch, model.card.n_bands, tile, tile)).astype(np.float32)
    model.run(x)  # warm-up (and TensorRT engine build)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 3:
        model.run(x)
        n += 1
    return n * batch * tile * tile / (time.perf_counter() - t0) / 1e6


def peak_rss_mb(src: Path, model: Path, out: Path, provider: str, batch: int) -> tuple[float, float]:
    """Peak RSS (MB, sampled every 10 ms) and wall time of a `costa predict` child process.

    Sampled rather than read from ``ru_maxrss``: a forked child's maxrss also counts the
    parent's pages it held between fork and exec.
    """
    import psutil

    t0 = time.perf_counter()
    proc = psutil.Popen(
        [
            sys.executable,
            "-m",
            "costa",
            "predict",
            str(src),
            "-m",
            str(model),
            "-o",
            str(out),
            "--provider",
            provider,
            "--batch",
            str(batch),
            "--quiet",
        ]
    )
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.01)
    if proc.returncode:
        raise SystemExit(f"costa predict failed on {src}")
    return peak / 2**20, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small rasters (2048, 4096), short timings")
    ap.add_argument("--sizes", default="4096,16384", help="raster sides for the memory test")
    ap.add_argument("--provider", default="auto")
    ap.add_argument("--batch", type=int, default=None, help="default: 1 on CPU, 8 on GPU")
    ap.add_argument(
        "--model",
        default=str(demo_model_path()),
        help="an ONNX file, or resnet34: an smp U-Net with random weights exported at benchmark time",
    )
    ap.add_argument("--no-reference", action="store_true", help="skip the numpy post-processing path")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "costa-bench")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--e2e-size", type=int, default=4096, help="raster side for the end-to-end ratio")
    ap.add_argument("--repeats", type=int, default=3, help="end-to-end runs per path (median kept)")
    ap.add_argument("--batch-sweep", default="", help="also time model-only at these batches, e.g. 1,4,16")
    args = ap.parse_args()
    sizes = [2048, 4096] if args.quick else [int(s) for s in args.sizes.split(",")]
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.model == "resnet34":
        from benchmarks.bench_peers import resnet34_unet

        args.model = resnet34_unet(args.workdir)[0].path
    args.model = Path(args.model)
    model = open_model(args.model, args.provider)
    batch = args.batch or (1 if model.provider == "cpu" else 8)  # costa's own default
    src = make_raster(args.workdir / f"bench_{args.e2e_size}.tif", args.e2e_size)
    planned = settle(
        PredictOptions(batch=batch),
        model.card,
        model.provider,
        (args.e2e_size, args.e2e_size),
        footprint=model.footprint,
    )
    tile, halo = planned.tile, planned.halo  # what costa predict runs on this raster
    res: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.node(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "costa": costa.__version__,
        "onnxruntime": ort.__version__,
        "model": args.model.name,
        "provider": model.provider,
        "tile": tile,
        "halo": halo,
        "batch": batch,
        "command": "python -m benchmarks run " + " ".join(sys.argv[1:]),
    }
    if args.batch_sweep:
        res["model_only_by_batch"] = {
            b: round(model_only(model, tile, int(b), 5), 3) for b in args.batch_sweep.split(",")
        }
    # fused: normalisation + argmax inside the graph (costa's default); reference: in numpy.
    # Model-only and both end-to-end paths alternate, each repeat gives its own ratios, and the
    # median is kept: the machine is shared, so only figures taken seconds apart compare.
    reference = dataclasses.replace(model, fused=False, _fused_sessions={})
    warm = make_raster(args.workdir / "bench_1024.tif", 1024)
    paths = (("fused", model),) if args.no_reference else (("fused", model), ("reference", reference))
    for _, m in paths:  # session start-up (the fused graph is built at first use)
        predict(warm, m, args.workdir / "out_warm.tif", PredictOptions(batch=batch))
    runs: dict[str, list[float]] = {"model_only": [], **{name: [] for name, _ in paths}}
    for _ in range(args.repeats):
        runs["model_only"].append(model_only(model, tile, batch, 3 if args.quick else 6))
        for name, m in paths:
            rep = predict(src, m, args.workdir / "out_e2e.tif", PredictOptions(batch=batch))
            runs[name].append(rep.mpx_per_s)
    med = {k: statistics.median(v) for k, v in runs.items()}
    ratios = {
        k: statistics.median(e / mo for e, mo in zip(runs[k], runs["model_only"], strict=True))
        for k, _ in paths
    }
    res["e2e_size"] = args.e2e_size
    res["model_only_mpx_s"] = round(med["model_only"], 3)
    res["end_to_end_mpx_s"] = round(med["fused"], 3)
    res["runs_mpx_s"] = {k: [round(x, 3) for x in v] for k, v in runs.items()}
    res["ratio_e2e_over_model_only"] = round(ratios["fused"], 3)
    if "reference" in ratios:
        res["ratio_e2e_numpy_postprocess_over_model_only"] = round(ratios["reference"], 3)
    res["overlap_model_px_per_output_px"] = round(rep.overlap, 3)
    res["output_mpx_s"] = round(rep.width * rep.height / rep.seconds / 1e6, 3)
    res["km2_per_hour"] = round(rep.width * rep.height * 0.04 / 1e6 / rep.seconds * 3600, 2)
    mem = []
    for size in sizes:
        path = make_raster(args.workdir / f"bench_{size}.tif", size)
        rss, wall = peak_rss_mb(path, args.model, args.workdir / f"out_{size}.tif", model.provider, batch)
        r = settle(
            PredictOptions(batch=batch), model.card, model.provider, (size, size), footprint=model.footprint
        )
        n_px = sum(
            t.read.height * t.read.width for t in plan_tiles(size, size, r.tile, r.halo, model.card.stride)
        )
        mem.append(
            {
                "size": size,
                "tile": r.tile,
                "peak_rss_mb": round(rss),
                "wall_s": round(wall, 1),
                "process_mpx_s": round(n_px / wall / 1e6, 3),
            }
        )
    res["memory"] = mem
    res["rss_growth"] = round(mem[-1]["peak_rss_mb"] / mem[0]["peak_rss_mb"] - 1, 3)
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
