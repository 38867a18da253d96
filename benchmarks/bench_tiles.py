"""Peak memory and time of ``costa map`` (PMTiles) against raster size: memory must stay flat.

    python -m benchmarks.bench_tiles [SIZE ...]          # default 4096 16384 (px a side, 20 cm)
    python -m benchmarks.bench_tiles --ortho [SIZE ...]  # the orthophoto's WebP archive instead

Each size: a synthetic 16-class COG (blocky fields and 1-pixel noise, mode overviews) written
by costa's COG writer, then ``costa map`` in a fresh process; prints wall time, tiles, archive
size and the child's peak RSS (VmHWM of /proc/self/status: Linux only). With ``--ortho``, a
synthetic RGB orthophoto of the same size (a tiled GeoTIFF without overviews, as a dalle mosaic
is) tiled to WebP at the land cover's zooms, as ``costa zan report --ortho`` does.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rasterio.crs import CRS
from rasterio.transform import from_origin

from costa.io.writer import write_cog
from costa.tiling.tiles import Box


def make_landcover(path: Path, size: int, block: int = 2048) -> None:
    rng = np.random.default_rng(0)
    with write_cog(
        path,
        crs=CRS.from_epsg(2154),
        transform=from_origin(840000, 6521000, 0.2, 0.2),
        width=size,
        height=size,
        confidence=False,
        tags={},
    ) as write:
        for r in range(0, size, block):
            for c in range(0, size, block):
                h, w = min(block, size - r), min(block, size - c)
                fields = rng.integers(1, 17, (h // 64 + 1, w // 64 + 1), dtype=np.uint8)
                labels = np.kron(fields, np.ones((64, 64), np.uint8))[:h, :w]
                noise = rng.random((h, w)) < 0.01
                labels[noise] = rng.integers(1, 17, int(noise.sum()), dtype=np.uint8)
                write(Box(r, c, h, w), labels)


def make_ortho(path: Path, size: int, block: int = 2048) -> None:
    """An RGB photo: smooth fields of colour, texture noise; tiled deflate GeoTIFF, no overviews."""
    import rasterio

    rng = np.random.default_rng(0)
    profile = dict(
        driver="GTiff", width=size, height=size, count=3, dtype="uint8", crs=CRS.from_epsg(2154),
        transform=from_origin(840000, 6521000, 0.2, 0.2), tiled=True, compress="deflate",
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        for r in range(0, size, block):
            for c in range(0, size, block):
                h, w = min(block, size - r), min(block, size - c)
                fields = rng.integers(40, 220, (3, h // 64 + 1, w // 64 + 1), dtype=np.uint8)
                rgb = np.kron(fields, np.ones((1, 64, 64), np.uint8))[:, :h, :w].astype(np.int16)
                rgb += rng.integers(-12, 13, (3, h, w), dtype=np.int16)
                dst.write(rgb.clip(0, 255).astype(np.uint8), window=((r, r + h), (c, c + w)))


def main(sizes: list[int] | None = None) -> None:
    """Tile rasters of the given sides (default: ``python -m benchmarks tiles 2048 4096 16384``)."""
    args = sys.argv[1:]
    photo = "--ortho" in args
    sizes = sizes or [int(a) for a in args if a != "--ortho"] or [4096, 16384]
    print("| raster (px) | km² | tiles | archive (MB) | seconds | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            lc = Path(tmp) / f"lc{size}.tif"
            (make_ortho if photo else make_landcover)(lc, size)
            out = Path(tmp) / f"lc{size}.pmtiles"
            code = (  # VmHWM: the child's own peak (ru_maxrss would carry the forking parent's)
                "from pathlib import Path; from costa.report.tiles import write_pmtiles;"
                f"a = write_pmtiles({str(lc)!r}, {str(out)!r}, photo={photo});"
                "hwm = [x for x in Path('/proc/self/status').read_text().split(chr(10)) if 'VmHWM' in x];"
                "print(a.tiles, a.bytes, hwm[0].split()[1])"
            )
            t0 = time.perf_counter()
            res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            seconds = time.perf_counter() - t0
            tiles, size_b, rss_kib = (int(v) for v in res.stdout.split())
            km2 = size * size * 0.04 / 1e6
            mb, mib = size_b / 1e6, rss_kib / 1024
            print(f"| {size}² | {km2:.2f} | {tiles} | {mb:.1f} | {seconds:.1f} | {mib:.0f} |", flush=True)
            lc.unlink()
            out.unlink()


if __name__ == "__main__":
    main()
