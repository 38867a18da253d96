"""Run geo-inference (NRCan) once on a raster and print its timing as JSON.

Runs in the peers venv (``.venv-peers``, where geo-inference and its dask/xarray stack live),
started by ``benchmarks/bench_peers.py``:

    .venv-peers/bin/python benchmarks/peer_geoinference.py MODEL.pt RASTER.tif WORKDIR \
        --classes 16 --patch 1024 --workers 0

geo-inference's contract, read from its source (geo_inference/geo_inference.py, geo_dask.py,
version 3.2.4): the TorchScript model receives the raster's raw pixels (uint8 here, shape
``(1, C, P, P)``) and returns ``(1, K, P, P)`` scores; the raster is padded to a multiple of
P/2 and read in P/2 dask chunks, each P × P patch (stride P/2, so every pixel is predicted 4
times) is multiplied by a 2-D Hann window, the four overlapping windows are summed and
normalised, and the argmax (0..K-1) is written as a GeoTIFF by rioxarray. Dask runs on threads
(``workers=0``: cores − 1). The model is loaded and warmed up (TorchScript's profiling runs)
before the timed call, as costa's model is opened before its timed call.
"""

from __future__ import annotations

import argparse
import json
import time
from importlib.metadata import version
from pathlib import Path

import torch
from geo_inference.geo_inference import GeoInference


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("raster", type=Path)
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--classes", type=int, default=16)
    ap.add_argument("--patch", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--bands", type=int, default=4)
    args = ap.parse_args()
    gi = GeoInference(
        model=str(args.model), work_dir=str(args.workdir), device="cpu", num_classes=args.classes
    )
    with torch.no_grad():
        for _ in range(2):
            gi.model(torch.zeros((1, args.bands, args.patch, args.patch), dtype=torch.uint8))
    t0 = time.perf_counter()
    name = gi(str(args.raster), patch_size=args.patch, workers=args.workers)
    seconds = time.perf_counter() - t0
    print(
        "GEOINF_RESULT "
        + json.dumps(
            {
                "mask": str(args.workdir / name),
                "seconds": seconds,
                "torch": torch.__version__,
                "geo_inference": version("geo-inference"),
                "threads": torch.get_num_threads(),
            }
        )
    )


if __name__ == "__main__":
    main()
