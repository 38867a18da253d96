"""First GPU figures: CUDA provider, fp32 and fp16, IO binding, JPEG 2000 decoded on the GPU.

    python -m benchmarks gpu --json benchmarks/results/gpu.json [--jp2 DIR] [--size 16384]

Run on a lent GPU machine (``benchmarks/gpu/remote.sh bench``); each section is timed on its own
and a failing one is recorded (``errors``) without stopping the others, so one short lease gives
every figure it can. On a machine without CUDA it runs the same sections on the CPU provider at
small sizes (``--provider cpu --quick``), which is how the script itself is checked.

Sections, all on the resnet34 U-Net (FLAIR's baseline architecture, random weights exported at
benchmark time) in fp32 and in fp16 (``costa model convert --precision fp16``):

1. **model-only**: the fused graph (uint8 pixels in, class codes out) on batches already in GPU
   memory, bound with ONNX Runtime's IO binding, by batch; and the same batch passed from host
   memory as the pipeline does (``Model.classify``), to show what the copies cost;
2. **agreement** of class codes with the CPU provider (fp32) on the same 2048² scene;
3. **end to end** ``costa.predict`` from a deflate GeoTIFF of ``--size``² RGBN pixels to a COG,
   energy read from NVML around it (Wh per km² of map);
4. **JPEG 2000**: a 5000² RVB + IRC dalle pair (``benchmarks jp2``'s files) decoded by GDAL
   (OpenJPEG) on every core and by nvImageCodec (nvJPEG2000) on the GPU; then the dalle classified
   from GPU decode to class codes with no host round trip of the pixels.

Writes ``configs`` (one row per precision × tile × batch, the fields RESULTS.md tabulates) and
every raw figure to ``--json``, after each section.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import rasterio
from rasterio.windows import Window

import costa
from benchmarks.bench_predict import make_raster
from costa.demo.synthetic import make_scene
from costa.inference import PredictOptions, predict, predict_array
from costa.inference.runtime import Model, open_model
from costa.jobs.energy import EnergyMeter
from costa.tiling.tiles import plan_tiles

GSD_KM2_PER_PX = 0.2 * 0.2 / 1e6


class Results:
    """The JSON document, written again after every section (a lease can end at any time)."""

    def __init__(self, path: Path | None, head: dict[str, Any]) -> None:
        self.path, self.doc = path, {**head, "configs": [], "errors": {}}

    @contextlib.contextmanager
    def section(self, name: str) -> Iterator[dict[str, Any]]:
        """Time one section; its figures go under ``name``, its failure under ``errors``."""
        part: dict[str, Any] = {}
        t0 = time.perf_counter()
        print(f"--- {name}", flush=True)
        try:
            yield part
        except Exception as e:  # one failing section must not cost the others
            traceback.print_exc()
            self.doc["errors"][name] = f"{type(e).__name__}: {e}"[:500]
        part["section_s"] = round(time.perf_counter() - t0, 1)
        self.doc[name] = part
        print(json.dumps({name: part}, default=str)[:3000], flush=True)
        self.save()

    def save(self) -> None:
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.doc, indent=1, default=str))


def timed_loop(step: Callable[[], None], sync: Callable[[], None], seconds: float) -> float:
    """Seconds per call of ``step`` after two warm-up calls (``sync`` waits for the device)."""
    step()
    step()
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or n < 3:
        step()
        n += 1
    sync()
    return (time.perf_counter() - t0) / n


def gpu_name() -> str:
    try:
        import pynvml

        pynvml.nvmlInit()
        return str(pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0)))
    except Exception:
        return platform.processor() or "cpu"


def bound(model: Model, x: np.ndarray, *, on_device: bool) -> Callable[[], None]:
    """One fused-graph call on batch ``x``: inputs bound once in GPU memory (``on_device``) or
    passed from host memory each call as the pipeline does; codes left where the graph wrote them."""
    sess = model.fused_session(x.dtype)
    if not on_device or model.provider == "cpu":
        return lambda: sess.run(None, {"raw": x})
    binding = sess.io_binding()
    binding.bind_ortvalue_input("raw", ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0))
    binding.bind_output("codes", "cuda", 0)
    return lambda: sess.run_with_iobinding(binding)


def model_only(models: dict[str, Model], tile: int, batches: list[int], seconds: float) -> dict[str, Any]:
    """Mpx/s of the fused graph by precision and batch, inputs in GPU memory and from the host."""
    out: dict[str, Any] = {}
    rng = np.random.default_rng(0)
    for prec, model in models.items():
        by_batch: dict[int, Any] = {}
        for b in batches:
            x = rng.integers(0, 256, (b, model.card.n_bands, tile, tile), dtype=np.uint8)
            row = {}
            for where in ("device", "host"):
                s = timed_loop(bound(model, x, on_device=where == "device"), lambda: None, seconds)
                row[f"{where}_mpx_s"] = round(b * tile * tile / s / 1e6, 1)
            by_batch[b] = row
            print(prec, tile, b, row, flush=True)
        out[prec] = by_batch
    return out


def with_cuda_options(model: Model, **options: str) -> Model:
    """The same model with other CUDA provider options (fresh sessions)."""
    cuda = {**model.provider_options.get("CUDAExecutionProvider", {}), **options}
    opts = {**model.provider_options, "CUDAExecutionProvider": cuda}
    return dataclasses.replace(model, provider_options=opts, _fused_sessions={})


def two_sessions(model: Model, tile: int, batch: int, seconds: float) -> dict[str, float]:
    """Mpx/s of two threads, each with its own session (its own CUDA stream), passing batches
    from host memory: whether one stream's copies overlap the other's compute."""
    x = np.random.default_rng(1).integers(0, 256, (batch, model.card.n_bands, tile, tile), dtype=np.uint8)
    copies = [dataclasses.replace(model, _fused_sessions={}) for _ in range(2)]
    steps = [bound(m, x, on_device=False) for m in copies]
    with cf.ThreadPoolExecutor(2) as pool:
        per_call = list(pool.map(lambda f: timed_loop(f, lambda: None, seconds), steps))
    return {"host_mpx_s": round(sum(batch * tile * tile / s / 1e6 for s in per_call), 1)}


def agreement(models: dict[str, Model], cpu: Model, size: int, tile: int) -> dict[str, float]:
    """% of pixels whose class code equals the CPU provider's (fp32) on one synthetic scene."""
    scene = make_scene(1, size, size).image
    ref = predict_array(scene, cpu, PredictOptions(tile=tile, batch=1))
    return {
        prec: round(100 * float((predict_array(scene, m, PredictOptions(tile=tile)) == ref).mean()), 4)
        for prec, m in models.items()
    }


def end_to_end(model: Model, src: Path, work: Path, opts: PredictOptions, repeats: int) -> dict[str, Any]:
    """``costa.predict`` GeoTIFF → COG: median Mpx/s (model pixels), output Mpx/s, Wh per km²."""
    predict(make_raster(work / "warm_4096.tif", 4096), model, work / "warm.tif", opts)  # sessions, cuDNN
    runs, energy = [], []
    for _ in range(repeats):
        meter = EnergyMeter()
        meter.start()
        rep = predict(src, model, work / "e2e.tif", opts)
        reading = meter.stop()
        runs.append(rep)
        km2 = rep.width * rep.height * GSD_KM2_PER_PX
        energy.append(reading.as_dict(km2))
    mid = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
    return {
        "tile": mid.tile,
        "halo": mid.halo,
        "batch": opts.batch,
        "chunk": opts.chunk,
        "e2e_mpx_s": round(mid.mpx_per_s, 1),
        "e2e_output_mpx_s": round(mid.width * mid.height / mid.seconds / 1e6, 1),
        "seconds": round(mid.seconds, 2),
        "runs_s": [round(r.seconds, 2) for r in runs],
        "overlap": round(mid.overlap, 3),
        "wh_per_km2": statistics.median(e["wh_per_km2"] for e in energy) if energy[0]["wh"] else None,
        "energy": energy[len(energy) // 2],
    }


def cpu_decode(paths: list[Path], threads: int) -> dict[str, float]:
    """GDAL/OpenJPEG decode Mpx/s (dalle pixels, both files) two ways: one handle decoding with
    ``threads`` (costa's reader), and ``threads`` handles on 1024-px windows in parallel."""

    def whole(path: Path) -> None:
        with rasterio.Env(GDAL_NUM_THREADS=str(threads)), rasterio.open(path) as ds:
            ds.read()

    def window(path: Path, r: int, c: int) -> None:
        with rasterio.Env(GDAL_NUM_THREADS="1"), rasterio.open(path) as ds:
            ds.read(window=Window(c, r, min(1024, ds.width - c), min(1024, ds.height - r)))

    with rasterio.open(paths[0]) as ds:
        h, w = ds.height, ds.width
    t0 = time.perf_counter()
    for p in paths:
        whole(p)
    t_whole = time.perf_counter() - t0
    jobs = [(p, r, c) for p in paths for r in range(0, h, 1024) for c in range(0, w, 1024)]
    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda a: window(*a), jobs))
    t_win = time.perf_counter() - t0
    return {
        "one_handle_mpx_s": round(h * w / t_whole / 1e6, 1),
        "windows_mpx_s": round(h * w / t_win / 1e6, 1),
    }


def gpu_jp2(paths: list[Path], model: Model, tile: int, batch: int) -> dict[str, Any]:
    """nvImageCodec decode of the RVB + IRC pair, then R, G, B, NIR tiles cut on the GPU and
    classified through IO binding, codes copied to the host once per dalle."""
    import cupy as cp
    import nvidia

    if os.environ.get("NVIMGCODEC_NVIDIA"):  # installed apart (remote.sh), beside CUDA's own 'nvidia'
        nvidia.__path__.append(os.environ["NVIMGCODEC_NVIDIA"])
    from nvidia import nvimgcodec

    decoder = nvimgcodec.Decoder()
    data = [p.read_bytes() for p in paths]

    def decode() -> list[Any]:
        """Both files in one batched call; images in GPU memory, (H, W, 3) uint8."""
        return [cp.asarray(im) for im in decoder.decode(data)]

    rvb, irc = decode()
    h, w = rvb.shape[:2]
    t_dec = timed_loop(decode, cp.cuda.runtime.deviceSynchronize, 2.0)
    sess = model.fused_session(np.dtype(np.uint8))
    tiles = plan_tiles(h, w, tile, model.card.halo, model.card.stride)
    th, tw = tiles[0].read.height, tiles[0].read.width
    ph, pw = max(t.read.row_stop for t in tiles) - h, max(t.read.col_stop for t in tiles) - w
    # past the dalle, costa feeds the band means (invalid pixels, masked graph); here, the
    # means rounded to raw units through the unmasked graph
    fill = cp.asarray(np.round(model.card.mean).astype(np.uint8))[:, None, None]

    def classify() -> np.ndarray:
        rvb, irc = decode()
        x = cp.empty((4, h + ph, w + pw), cp.uint8)
        x[...] = fill
        x[:3, :h, :w] = rvb.transpose(2, 0, 1)  # R, G, B, NIR
        x[3, :h, :w] = irc[:, :, 0]
        labels = cp.zeros((h, w), cp.uint8)
        xb = cp.empty((batch, 4, th, tw), cp.uint8)
        codes = cp.empty((batch, th, tw), cp.uint8)
        for i in range(0, len(tiles), batch):
            group = tiles[i : i + batch]
            for k, t in enumerate(group):
                xb[k] = x[(slice(None), *t.read.slices())]
            cp.cuda.runtime.deviceSynchronize()
            binding = sess.io_binding()  # always a full batch (one shape: see costa.inference.engine)
            binding.bind_input("raw", "cuda", 0, np.uint8, [batch, 4, th, tw], xb.data.ptr)
            binding.bind_output("codes", "cuda", 0, np.uint8, [batch, th, tw], codes.data.ptr)
            sess.run_with_iobinding(binding)
            binding.synchronize_outputs()
            for k, t in enumerate(group):
                core = t.core.slices(t.read)
                labels[t.core.slices()] = codes[(k, *core)]
        return cp.asnumpy(labels)

    labels = classify()
    t_cls = timed_loop(classify, cp.cuda.runtime.deviceSynchronize, 3.0)
    # the same dalle through the CPU decoder and costa's pipeline on the GPU, for agreement
    with rasterio.open(paths[0]) as a, rasterio.open(paths[1]) as b:
        cpu_px = np.concatenate([a.read(), b.read(1)[None]])
    rvb, irc = decode()
    gpu_px = cp.asnumpy(cp.concatenate([rvb.transpose(2, 0, 1), irc[None, :, :, 0]]))
    ref = predict_array(cpu_px, model, PredictOptions(tile=tile, batch=batch))
    return {
        "dalle_px": [h, w],
        "decode_mpx_s": round(h * w / t_dec / 1e6, 1),
        "decode_to_codes_mpx_s": round(h * w / t_cls / 1e6, 1),
        "decoded_pixels_equal_gdal_pct": round(100 * float((gpu_px == cpu_px).mean()), 3),
        "decoded_max_abs_diff": int(np.abs(gpu_px.astype(int) - cpu_px).max()),
        "codes_agree_cpu_decode_pct": round(100 * float((labels == ref).mean()), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--provider", default="cuda")
    ap.add_argument("--quick", action="store_true", help="small sizes and short timings (CPU check)")
    ap.add_argument("--size", type=int, default=16384, help="GeoTIFF side for the end-to-end runs")
    ap.add_argument(
        "--jp2", type=Path, nargs=2, metavar=("RVB", "IRC"), help="JPEG 2000 dalle pair (default: made here)"
    )
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "costa-gpu")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--repeats", type=int, default=2, help="end-to-end runs per configuration")
    ap.add_argument("--skip", default="", help="model_only: skip the model-only sections")
    args = ap.parse_args()
    q = args.quick
    size, seconds, tile = (1024, 0.5, 512) if q else (args.size, 2.0, 1024)
    batches = [1, 2] if q else [1, 4, 8, 16]
    args.workdir.mkdir(parents=True, exist_ok=True)
    res = Results(
        args.json,
        {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "device": gpu_name(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "costa": costa.__version__,
            "onnxruntime": ort.__version__,
            "providers_available": ort.get_available_providers(),
            "model": "unet-resnet34 (smp, random weights)",
            "command": "python -m benchmarks gpu " + " ".join(sys.argv[1:]),
        },
    )
    models: dict[str, Model] = {}
    with res.section("models") as part:
        from benchmarks.bench_peers import resnet34_unet
        from costa.models.quantize import convert_fp16

        fp32 = resnet34_unet(args.workdir)[0].path
        fp16 = args.workdir / "unet-resnet34-random-fp16.onnx"
        if not fp16.exists():
            convert_fp16(fp32, fp16)
        models = {"fp32": open_model(fp32, args.provider), "fp16": open_model(fp16, args.provider)}
        part["provider_that_runs"] = models["fp32"].provider
        part["provider_options"] = models["fp32"].provider_options
    provider = models["fp32"].provider if models else "none"
    skip = set(args.skip.split(","))
    if "model_only" not in skip:
        with res.section("model_only") as part:
            part.update(model_only(models, tile, batches, seconds))
    if provider != "cpu" and "model_only" not in skip:
        with res.section("model_only_nchw") as part:  # costa's default is NHWC (prefer_nhwc)
            nchw = {p: with_cuda_options(m, prefer_nhwc="0") for p, m in models.items()}
            part.update(model_only(nchw, tile, [8], seconds))
        with res.section("host_two_sessions") as part:
            part.update({p: two_sessions(m, tile, 8, seconds) for p, m in models.items()})
    with res.section("agreement") as part:
        cpu = open_model(models["fp32"].path, "cpu")
        part.update(agreement(models, cpu, 512 if q else 2048, tile))
    src = make_raster(args.workdir / f"e2e_{size}.tif", size)
    e2e_configs = [("fp16", tile, 8, 4096), ("fp32", tile, 8, 4096), ("fp16", 2 * tile, 2, 4096)]
    with res.section("end_to_end") as part:
        for prec, t, b, chunk in e2e_configs[:2] if q else e2e_configs:
            opts = PredictOptions(tile=t, batch=b, chunk=chunk)
            row = end_to_end(models[prec], src, args.workdir, opts, args.repeats)
            part[f"{prec}_tile{t}_batch{b}_chunk{chunk}"] = row
            print(prec, row, flush=True)
    with res.section("jp2") as part:
        if args.jp2:
            pair = list(args.jp2)
        else:
            from benchmarks.bench_jp2 import write_dalles

            folders = write_dalles(args.workdir / "jp2", 1, 512 if q else 5000)
            pair = [next(folders["main"].glob("*.jp2")), next(folders["irc"].glob("*.jp2"))]
        part["cpu"] = cpu_decode(pair, os.cpu_count() or 1)
        if provider != "cpu":
            part["gpu"] = gpu_jp2(pair, models["fp16"], tile, 8)
    res.doc["configs"] = configs(res.doc, provider, tile)
    res.save()
    print(json.dumps(res.doc["configs"], indent=1))


def configs(doc: dict[str, Any], provider: str, tile: int) -> list[dict[str, Any]]:
    """One row per end-to-end configuration, beside the model-only figure at its precision and batch."""
    jp2 = doc.get("jp2", {})
    rows = []
    for key, e in doc.get("end_to_end", {}).items():
        if not isinstance(e, dict):
            continue
        prec = key.split("_")[0]
        mo = doc.get("model_only", {}).get(prec, {}).get(e["batch"], {}) if e["tile"] == tile else {}
        rows.append(
            {
                "date": doc["date"],
                "device": doc["device"],
                "provider": provider,
                "precision": prec,
                "model": doc["model"],
                "tile": e["tile"],
                "batch": e["batch"],
                "chunk": e["chunk"],
                "model_only_mpx_s": mo.get("device_mpx_s"),
                "e2e_mpx_s": e["e2e_mpx_s"],
                "e2e_over_model_only": round(e["e2e_mpx_s"] / mo["device_mpx_s"], 3) if mo else None,
                "overlap": e["overlap"],
                "wh_per_km2": e["wh_per_km2"],
                "agreement_vs_cpu": doc.get("agreement", {}).get(prec),
                "jp2_gpu_decode_mpx_s": jp2.get("gpu", {}).get("decode_mpx_s"),
                "jp2_cpu_decode_mpx_s": max(jp2.get("cpu", {"-": None}).values(), key=lambda v: v or 0),
            }
        )
    return rows


if __name__ == "__main__":
    main()
