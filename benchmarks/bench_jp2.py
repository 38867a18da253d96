"""BD ORTHO-like input: a job over JPEG 2000 RVB + IRC dalles, and what decoding costs.

    python -m benchmarks jp2 [--dalles 2] [--dalle-px 5000] [--model demo|null] [--json FILE]

IGN's BD ORTHO comes as 5000 × 5000 px dalles of 20 cm, colour (RVB) and infrared (IRC) in
separate JPEG 2000 files. This writes such a mosaic at benchmark time (the synthetic scene
tiled over each dalle, lossy JPEG 2000 through GDAL's JP2OpenJPEG driver, 1024-px
code-blocks as IGN ships them; cached in the work folder), then:

1. decodes one dalle of each format on one thread, to give decode Mpx/s per core
   (JPEG 2000 RVB, and the same pixels as a deflate GeoTIFF);
2. runs a costa job on the mosaic, bands ``1,2,3,irc:1`` (R, G, B from RVB, NIR from IRC), in
   this process, and reports its throughput and where the time goes (decoding time of every
   dalle it reads, on one core, against the job's wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.transform import from_origin
from rasterio.windows import Window

from costa.demo.synthetic import make_scene
from costa.jobs import Job, run_job
from costa.models.zoo import demo_model_path

GSD = 0.2


def write_dalles(folder: Path, n: int, px: int) -> dict[str, Path]:
    """``n × n`` dalles of ``px`` pixels, RVB and IRC JPEG 2000 files (cached)."""
    rvb, irc = folder / "rvb", folder / "irc"
    if (folder / "done").exists():
        return {"main": rvb, "irc": irc}
    shutil.rmtree(folder, ignore_errors=True)
    rvb.mkdir(parents=True)
    irc.mkdir(parents=True)
    block = make_scene(0, 2048, 2048).image  # R, G, B, NIR
    for i in range(n):
        for j in range(n):
            x0, y0 = 840000 + j * px * GSD, 6520000 - i * px * GSD
            name = f"dalle_{int(x0)}_{int(y0)}"
            for product, bands in (("rvb", [0, 1, 2]), ("irc", [3, 0, 1])):
                tmp = folder / f"{name}_{product}.tif"
                with rasterio.open(
                    tmp, "w", driver="GTiff", width=px, height=px, count=3, dtype="uint8", crs="EPSG:2154",
                    transform=from_origin(x0, y0, GSD, GSD), tiled=True, photometric="RGB",
                ) as dst:  # fmt: skip
                    for r in range(0, px, 2048):
                        for c in range(0, px, 2048):
                            h, w = min(2048, px - r), min(2048, px - c)
                            dst.write(block[bands, :h, :w], window=Window(c, r, w, h))
                rasterio.shutil.copy(
                    tmp,
                    folder / product / f"{name}.jp2",
                    driver="JP2OpenJPEG",
                    QUALITY="10",
                    REVERSIBLE="NO",
                    BLOCKXSIZE="1024",
                    BLOCKYSIZE="1024",
                    RESOLUTIONS="6",
                )
                if product == "rvb" and i == j == 0:
                    rasterio.shutil.copy(
                        tmp, folder / "deflate.tif", driver="GTiff", COMPRESS="DEFLATE", TILED="YES"
                    )
                tmp.unlink()
    (folder / "done").touch()
    return {"main": rvb, "irc": irc}


def decode_mpx_s(path: Path) -> float:
    """Mpx/s of reading a whole raster in 1024-px windows on one thread."""
    with rasterio.Env(GDAL_NUM_THREADS="1", GDAL_CACHEMAX=64), rasterio.open(path) as ds:
        t0 = time.perf_counter()
        for r in range(0, ds.height, 1024):
            for c in range(0, ds.width, 1024):
                ds.read(window=Window(c, r, min(1024, ds.width - c), min(1024, ds.height - r)))
        return ds.width * ds.height / (time.perf_counter() - t0) / 1e6


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dalles", type=int, default=2)
    ap.add_argument("--dalle-px", type=int, default=5000)
    ap.add_argument("--model", choices=["demo", "null"], default="demo")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "costa-bench")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    folder = args.workdir / f"jp2_{args.dalles}x{args.dalles}_{args.dalle_px}"
    t = time.perf_counter()
    sources = write_dalles(folder, args.dalles, args.dalle_px)
    print(f"dalles ready in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    first = sorted(sources["main"].glob("*.jp2"))[0]
    decode = {
        "jp2_rvb_mpx_s_per_core": round(decode_mpx_s(first), 2),
        "gtiff_deflate_rvb_mpx_s_per_core": round(decode_mpx_s(folder / "deflate.tif"), 2),
    }
    print(decode, file=sys.stderr)
    if args.model == "null":
        from benchmarks.bench_pipeline import null_model

        model = null_model(args.workdir / "null.onnx")
    else:
        model = demo_model_path()
    out = folder / f"out_{args.model}"
    shutil.rmtree(out, ignore_errors=True)
    job = Job({"main": str(sources["main"]), "irc": str(sources["irc"])}, model, out, bands="1,2,3,irc:1")
    rep = run_job(job).as_dict()
    with rasterio.open(out / "landcover.vrt") as ds:
        labels = ds.read(1, out_shape=(ds.height // 8, ds.width // 8))
    n_px = args.dalles**2 * args.dalle_px**2
    # every dalle is decoded once for its own chunk, plus the halo strips read from neighbours
    decode_s = n_px / 1e6 / decode["jp2_rvb_mpx_s_per_core"] * 2  # RVB and IRC files
    res = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.node(),
        "cpu_count": os.cpu_count(),
        "command": "python -m benchmarks jp2 " + " ".join(argv),
        "dalles": f"{args.dalles}x{args.dalles} of {args.dalle_px} px, RVB + IRC JPEG 2000 (QUALITY 10)",
        "model": args.model,
        **decode,
        "job_wall_s": rep["wall_s"],
        "job_output_mpx_s": rep["mpx_per_s"],
        "job_km2_per_h": rep["km2_per_h"],
        "overlap": round(rep["model_mpx"] / rep["mpx"], 3),
        "tile": rep.get("tile"),
        "provider": rep["provider"],
        "peak_rss_mb_per_worker": rep["peak_rss_mb_per_worker"],
        "decode_core_s_estimate": round(decode_s, 1),
        "decode_share_of_wall_on_one_core": round(decode_s / rep["wall_s"], 3),
        "classes_seen": len(np.unique(labels)),
    }
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
