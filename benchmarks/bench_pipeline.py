"""The pipeline against its own I/O floor: ``costa predict`` with a model that costs nothing.

    python -m benchmarks pipeline [--size 8192] [--repeats 3] [--json FILE]

A fast GPU looks, to the pipeline, like a model that costs almost nothing. The *null model*
is a 1×1 convolution, 4 → 16 channels, carrying the demo model's card (same tile, halo,
normalisation, classes). The *serial floor* is what any tool must do for the same output,
one step after the other in one process: read the input once (2048-px windows), write the
same class codes block by block into a GeoTIFF, then ``rio_cogeo.cog_translate`` to a
deflate COG with mode overviews (costa's own writer before issue 15). The class codes the
floor writes are costa's output, loaded beforehand (not timed), so both compress the same
pixels. Both run in this process, alternating, ``--repeats`` times; the ratio
floor seconds / costa seconds of each round is kept and the median reported (the machine may
be shared: only figures taken seconds apart compare). Each round also times the null model's
fused graph alone on the same tiles (``model_alone_s``; ``model_alone_masked_s``, once after the
rounds, for the form that takes a no-data mask, which tiles with no-data pixels run): on a CPU
the "null" model still casts, normalises, reorders 16 channels and takes their argmax for every
model pixel, and that time is a floor of its own for costa.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import rasterio

from benchmarks.bench_predict import make_raster
from costa.inference import PredictOptions, predict
from costa.inference.footprint import stamp
from costa.models.zoo import demo_model_path


def null_model(path: Path) -> Path:
    """A 1×1 convolution (4 → 16 channels, fixed random weights) with the demo model's card."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    demo = onnx.load(str(demo_model_path()))
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 1, (16, 4, 1, 1)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.normal(0, 0.1, 16).astype(np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["logits"])],
        "null",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 4, "h", "w"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 16, "h", "w"])],
        [w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = demo.ir_version
    for p in demo.metadata_props:
        model.metadata_props.add(key=p.key, value=p.value)
    onnx.save(model, str(path))
    return stamp(path)  # as costa model export would: predict plans tiles without importing onnx


def serial_floor(src: Path, labels: np.ndarray, out: Path, chunk: int = 2048) -> dict[str, float]:
    """Read ``src`` once, write ``labels`` block by block, then cog_translate (mode overviews)."""
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    times: dict[str, float] = {}
    tmp = out.with_suffix(".blocks.tif")
    t0 = time.perf_counter()
    with rasterio.open(src) as ds:
        profile = dict(
            driver="GTiff",
            width=ds.width,
            height=ds.height,
            count=1,
            dtype="uint8",
            crs=ds.crs,
            transform=ds.transform,
            nodata=0,
            tiled=True,
            blockxsize=512,
            blockysize=512,
            compress="zstd",
            zstd_level=1,
        )
        read = write = 0.0
        with rasterio.open(tmp, "w", **profile) as dst:
            for r in range(0, ds.height, chunk):
                for c in range(0, ds.width, chunk):
                    win = rasterio.windows.Window(c, r, min(chunk, ds.width - c), min(chunk, ds.height - r))
                    t = time.perf_counter()
                    ds.read(window=win)
                    read += time.perf_counter() - t
                    t = time.perf_counter()
                    dst.write(labels[r : r + win.height, c : c + win.width], 1, window=win)
                    write += time.perf_counter() - t
        times["read_s"], times["write_s"] = read, write
    t = time.perf_counter()
    cog = cog_profiles.get("deflate")
    cog.update(blockxsize=512, blockysize=512)
    cog_translate(tmp, out, cog, overview_resampling="mode", quiet=True, use_cog_driver=False)
    times["cog_translate_s"] = time.perf_counter() - t
    times["total_s"] = time.perf_counter() - t0
    tmp.unlink()
    return times


def model_only_mpx_s(model: Any, tile: int, calls: int = 4, *, masked: bool = False) -> float:
    """Mpx/s of the fused null graph alone (cast, normalise, 1×1 conv, argmax, lookup) on one tile.

    ``masked``: one no-data pixel per tile, so the graph's masked form runs (and stays: give
    it a model of its own).
    """
    x = np.random.default_rng(0).integers(0, 256, (1, model.card.n_bands, tile, tile), np.uint8)
    valid = np.ones((1, tile, tile), bool)
    valid[0, 0, 0] = not masked
    model.classify(x, valid)
    t = time.perf_counter()
    for _ in range(calls):
        model.classify(x, valid)
    return calls * tile * tile / (time.perf_counter() - t) / 1e6


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "costa-bench")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument(
        "--memory",
        type=int,
        default=None,
        help="also run costa with this budget (MB): the planner's bytes per pixel are a U-Net's, "
        "a 1x1 convolution needs ~15x less, so a larger budget gives it the tiles it could afford",
    )
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    src = make_raster(args.workdir / f"bench_{args.size}.tif", args.size)
    model = null_model(args.workdir / "null.onnx")
    out = args.workdir / "null_out.tif"
    from costa.inference.runtime import open_model

    m = open_model(model, "cpu")
    rep = predict(src, m, out, PredictOptions())  # warm-up: the fused graph is built at first use
    with rasterio.open(out) as ds:
        labels = ds.read(1)
    rounds = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        rep = predict(src, m, out, PredictOptions())
        costa_s = time.perf_counter() - t
        floor = serial_floor(src, labels, args.workdir / "floor_out.tif")
        model_s = rep.model_pixels / 1e6 / model_only_mpx_s(m, rep.tile)
        big: dict[str, float] = {}
        if args.memory:
            t = time.perf_counter()
            rep_big = predict(src, m, out, PredictOptions(memory_mb=args.memory))
            big = {
                "costa_big_tiles_s": round(time.perf_counter() - t, 3),
                "big_tile": rep_big.tile,
                "big_overlap": round(rep_big.overlap, 3),
            }
        rounds.append(
            {
                **big,
                "costa_s": round(costa_s, 3),
                "model_alone_s": round(model_s, 3),
                **{k: round(v, 3) for k, v in floor.items()},
            }
        )
        print(rounds[-1], file=sys.stderr)
    # the graph's masked form (tiles with no-data pixels), once, on a model of its own opened only now:
    # a second session beside costa's during the rounds slowed costa by up to 10 %
    masked = open_model(model, "cpu")
    masked_s = rep.model_pixels / 1e6 / model_only_mpx_s(masked, rep.tile, masked=True)
    del masked
    res = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.node(),
        "cpu_count": os.cpu_count(),
        "command": "python -m benchmarks pipeline " + " ".join(argv),
        "size": args.size,
        "tile": rep.tile,
        "halo": rep.halo,
        "overlap": round(rep.overlap, 3),
        "rounds": rounds,
        "model_alone_masked_s": round(masked_s, 3),
        "ratio_floor_over_costa": round(statistics.median(r["total_s"] / r["costa_s"] for r in rounds), 3),
        **(
            {
                "ratio_floor_over_costa_big_tiles": round(
                    statistics.median(r["total_s"] / r["costa_big_tiles_s"] for r in rounds), 3
                )
            }
            if args.memory
            else {}
        ),
        "ratio_floor_over_model_alone": round(
            statistics.median(r["total_s"] / r["model_alone_s"] for r in rounds), 3
        ),
        "costa_output_mpx_s": round(args.size**2 / statistics.median(r["costa_s"] for r in rounds) / 1e6, 2),
    }
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
