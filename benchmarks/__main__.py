"""One entry point for every benchmark: ``python -m benchmarks NAME [options]`` (see RESULTS.md).

``python -m benchmarks`` alone lists them. Each benchmark parses its own options (``--help``).
"""

import importlib
import sys

BENCHMARKS = {
    "run": ("benchmarks.bench_predict", "costa predict: model ceiling, end to end, overlap, memory"),
    "peers": ("benchmarks.bench_peers", "costa vs geo-inference and a plain PyTorch loop, same weights"),
    "jobs": ("benchmarks.bench_jobs", "dalle jobs in process and on a LocalCluster"),
    "cluster": ("benchmarks.bench_cluster", "one job in process, local workers, a scheduler, Slurm"),
    "zan": ("benchmarks.bench_zan", "ZAN zonal statistics vs rasterstats and exactextract"),
    "zan-windowed": ("benchmarks.bench_zan_windowed", "ZAN by windows: Mpx per CPU-s, memory, 0.25-1 Gpx"),
    "pipeline": ("benchmarks.bench_pipeline", "null-model pipeline vs the serial read + COG-write floor"),
    "jp2": ("benchmarks.bench_jp2", "a 2 x 2 job of 5000² JPEG 2000 RVB + IRC dalles, decode speed"),
    "gpu": ("benchmarks.bench_gpu", "CUDA provider fp32/fp16, IO binding, JPEG 2000 on the GPU (gpu.json)"),
    "int8": ("benchmarks.bench_int8", "INT8 vs fp32 on the CPU: speed and agreement"),
    "vectorize": ("benchmarks.bench_vectorize", "land-cover polygons: count, throughput, memory by size"),
    "tiles": ("benchmarks.bench_tiles", "PMTiles map: tiles, archive size, seconds, peak memory by size"),
    "cli-start": (
        "benchmarks.bench_cli_start",
        "CLI start-up: --help, zan query, predict; 8192² vs floor",
    ),
    "report-index": (
        "benchmarks.bench_report_index",
        "a 500-commune report's index in Chromium: ready, search, sort",
    ),
    "plot": ("benchmarks.plot", "redraw results.png from results/*.json"),
}


def main() -> None:
    """Dispatch to one benchmark's ``main``, with the remaining arguments as its own."""
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    if name not in BENCHMARKS:
        print("usage: python -m benchmarks NAME [options]\n")
        for key, (_, what) in BENCHMARKS.items():
            print(f"  {key:<14} {what}")
        sys.exit(0 if name in ("", "-h", "--help") else 2)
    sys.argv = [f"python -m benchmarks {name}", *sys.argv[2:]]
    importlib.import_module(BENCHMARKS[name][0]).main()


main()
