"""costa vs its peers on one raster and one set of weights, side by side in one run.

    python -m benchmarks peers [--quick] [--size 2048] [--repeats 3] [--json FILE]

Engines, all running the **same weights** (costa's bundled demo U-Net, mobilenet_v2 encoder,
4 bands, 16 classes; its torch weights are rebuilt from the ONNX initialisers, batch norms
folded, and checked against ONNX Runtime to 1e-5):

* **costa** ``costa.predict`` (ONNX Runtime, tile/halo presets, COG with overviews);
* **geo-inference** (NRCan, dask + TorchScript) on a TorchScript export of the same network
  with the normalisation inside (its models take raw pixels), in ``.venv-peers`` (created on
  first use: its dependency pins are not ours) through ``benchmarks/peer_geoinference.py``;
* **plain PyTorch** sliding window in the style of FLAIR's ``zone_detect``: 512 px patches read
  with a 128 px margin (boundless rasterio reads, zero fill), a torch ``DataLoader``, argmax, the
  central 256² of each patch written to a GeoTIFF.

Seam quality: agreement of each engine's full-raster labels with **one forward pass of the
torch model over the whole raster** (it fits in memory at 2048² and 3072²), over all pixels and over the
interior (pixels more than 32 px from the raster edge, where padding conventions differ).
Throughput: output pixels per second on the same raster; ratios are costa / peer. Each engine
runs ``--repeats`` times, round-robin, and the median is kept (the machine is shared).
Exported models, the raster and the reference are cached in ``benchmarks/.cache/peers``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

import costa
from costa.inference import PredictOptions, predict
from costa.inference.runtime import Model, open_model
from costa.models.zoo import demo_model_path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache" / "peers"
PEERS_VENV = ROOT / ".venv-peers"
PEERS_PIP = [
    # torch pinned to the local wheels (never another torch); geo-inference itself with --no-deps:
    # its torchgeo requirement is not imported by its inference path and would pull lightning etc.
    "torch==2.14.1",
    "torchvision==0.29.1",
    "numpy",
    "rasterio",
    "scipy",
    "xarray",
    "rioxarray",
    "dask[array]",
    "pystac",
    "ttach",
    "omegaconf",
    "hydra-core",
    "pyyaml",
    "requests",
    "geopandas",
    "pyogrio",
    "shapely",
    "pyproj",
    "pandas",
    "rtree",
    "tqdm",
    "colorlog==6.7.0",
    "setuptools",
]
EDGE = 32  # pixels from the raster edge left out of the "interior" agreement
PRESETS = [(1024, 128), (512, 64), (1024, 64), (2048, 128), (512, 128), (1024, 192)]


# --- the same weights in torch ----------------------------------------------------------------
def demo_torch_unet(onnx_path: Path) -> Any:
    """The bundled demo U-Net as a torch module, weights read back from its ONNX file.

    The exporter folded most batch norms into the preceding convolutions (the conv keeps the
    torch weight name and gains a bias); such a batch norm is set to the identity plus that bias.
    """
    import onnx
    import torch
    from onnx import numpy_helper

    from costa.models.export import make_unet

    proto = onnx.load(str(onnx_path))
    arch = json.loads({p.key: p.value for p in proto.metadata_props}["training"])["arch"]
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    net = make_unet(
        arch["encoder"], 4, 16, encoder_depth=arch["encoder_depth"], decoder_channels=arch["decoder_channels"]
    )
    sd = net.state_dict()
    modules = dict(net.named_modules())
    new: dict[str, np.ndarray] = {}
    for node in proto.graph.node:
        if node.op_type == "Conv":
            w = node.input[1]
            new[w] = inits[w]
            if len(node.input) > 2:
                b = inits[node.input[2]]
                if w.removesuffix("weight") + "bias" in sd:
                    new[w.removesuffix("weight") + "bias"] = b
                else:  # folded batch norm: the next module of the same Sequential
                    parts = w.split(".")
                    bn = ".".join([*parts[:-2], str(int(parts[-2]) + 1)])
                    eps = modules[bn].eps
                    c = b.shape[0]
                    new[bn + ".weight"] = np.ones(c, np.float32)
                    new[bn + ".bias"] = b
                    new[bn + ".running_mean"] = np.zeros(c, np.float32)
                    new[bn + ".running_var"] = np.full(c, 1 - eps, np.float32)
        elif node.op_type == "BatchNormalization":
            for name in node.input[1:]:
                new[name] = inits[name]
    # stages past encoder_depth are built by smp but unused, so absent from the ONNX graph
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in new.items()}, strict=False)
    net.eval()
    x = np.random.default_rng(0).normal(0, 1, (1, 4, 256, 256)).astype(np.float32)
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        diff = float(np.abs(net(torch.from_numpy(x)).numpy() - sess.run(None, {"image": x})[0]).max())
    if diff > 1e-3:
        raise SystemExit(f"torch rebuild of {onnx_path.name} differs from ONNX Runtime by {diff}")
    return net


def resnet34_unet(folder: Path) -> tuple[Model, Any]:
    """An smp U-Net (resnet34 encoder, 4 bands, 16 classes, random weights, torch seed 0) as ONNX
    with the demo model's card (normalisation, classes), exported with costa's exporter at
    benchmark time (nothing large is shipped), and the same network in torch."""
    import dataclasses

    import torch

    from costa.models.export import export_onnx, make_unet

    torch.manual_seed(0)
    net = make_unet("resnet34").eval()
    path = folder / "unet-resnet34-random.onnx"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        demo = open_model(demo_model_path(), "cpu").card
        card = dataclasses.replace(demo, name="unet-resnet34-random", tile_size=1024, halo=128, stride=32)
        export_onnx(net, card, path)
    return open_model(path, "cpu"), net


def raw_input_module(net: Any, mean: tuple[float, ...], std: tuple[float, ...]) -> Any:
    """Wrap ``net`` so it takes raw uint8 pixels, normalising inside (geo-inference's contract)."""
    import torch

    class RawUnet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32)[None, :, None, None])
            self.register_buffer("inv_std", 1.0 / torch.tensor(std, dtype=torch.float32)[None, :, None, None])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net((x.float() - self.mean) * self.inv_std)

    return RawUnet().eval()


# --- cached inputs ------------------------------------------------------------------------------
def prepare(size: int, model: Model, net: Any = None) -> dict[str, Path]:
    """Raster, TorchScript export and whole-image reference, made once and cached.

    ``net`` is the torch network of ``model`` (default: rebuilt from the demo model's ONNX).
    """
    import torch

    CACHE.mkdir(parents=True, exist_ok=True)
    raster = CACHE / f"scene_{size}.tif"
    ts = CACHE / f"{model.card.name}-raw.torchscript.pt"
    ref = CACHE / f"reference_{model.card.name}_{size}.npy"
    if not raster.exists():
        from costa.demo.synthetic import make_scene

        img = make_scene(7, size, size).image
        tmp = raster.with_suffix(".tmp.tif")
        with rasterio.open(
            tmp, "w", driver="GTiff", width=size, height=size, count=4, dtype="uint8", crs="EPSG:2154",
            transform=from_origin(840000, 6520000, 0.2, 0.2), tiled=True, compress="deflate",
            photometric="MINISBLACK",
        ) as dst:  # fmt: skip
            dst.write(img)
        tmp.rename(raster)
    if not ts.exists() or not ref.exists():
        net = demo_torch_unet(model.path) if net is None else net
        wrapped = raw_input_module(net, model.card.mean, model.card.std)
        with torch.no_grad():
            traced = torch.jit.trace(wrapped, torch.zeros((1, 4, 512, 512), dtype=torch.uint8))
        traced.save(str(ts))
        with rasterio.open(raster) as src, torch.no_grad():
            logits = wrapped(torch.from_numpy(src.read())[None])
        np.save(ref, logits[0].argmax(0).numpy().astype(np.uint8))
    return {"raster": raster, "torchscript": ts, "reference": ref}


# --- engines --------------------------------------------------------------------------------------
def run_costa(src: Path, model: Model, tile: int | None, halo: int | None) -> tuple[float, np.ndarray, float]:
    """costa on ``src``; ``tile`` None: planned within the memory budget (costa's default)."""
    out = CACHE / f"costa_{tile}_{halo}.tif"
    rep = predict(src, model, out, PredictOptions(tile=tile, halo=halo))
    with rasterio.open(out) as r:
        codes = r.read(1)
    return rep.seconds, codes, rep.overlap


def run_geoinference(
    src: Path, ts: Path, patch: int, workers: int
) -> tuple[float, np.ndarray, dict[str, Any]]:
    work = CACHE / "geoinference"
    work.mkdir(exist_ok=True)
    for old in work.glob("*_mask_*.tif"):
        old.unlink()
    cmd = [
        str(PEERS_VENV / "bin" / "python"), str(ROOT / "benchmarks" / "peer_geoinference.py"), str(ts),
        str(src), str(work), "--classes", "16", "--patch", str(patch), "--workers", str(workers),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("GEOINF_RESULT ")), None)
    if proc.returncode or line is None:
        raise SystemExit(f"geo-inference failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    res = json.loads(line.removeprefix("GEOINF_RESULT "))
    with rasterio.open(res["mask"]) as r:
        idx = r.read(1)
    return res["seconds"], idx, res


def run_torch_sliding(
    src: Path, net: Any, patch: int = 512, margin: int = 128, batch: int = 4
) -> tuple[float, np.ndarray]:
    """FLAIR ``zone_detect``-style loop: margin-cropped patches through a torch DataLoader."""
    import torch
    from torch.utils.data import DataLoader, Dataset

    step = patch - 2 * margin
    with rasterio.open(src) as r:
        height, width, profile = r.height, r.width, r.profile

    class Patches(Dataset):  # type: ignore[type-arg]
        def __init__(self) -> None:
            self.origins = [(row, col) for row in range(0, height, step) for col in range(0, width, step)]
            self.src: Any = None

        def __len__(self) -> int:
            return len(self.origins)

        def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int]:
            if self.src is None:
                self.src = rasterio.open(src)
            row, col = self.origins[i]
            win = Window(col - margin, row - margin, patch, patch)
            return torch.from_numpy(self.src.read(window=win, boundless=True, fill_value=0)), row, col

    out = CACHE / "torch_sliding.tif"
    profile.update(count=1, dtype="uint8", compress="deflate", tiled=True, nodata=None)
    t0 = time.perf_counter()
    with rasterio.open(out, "w", **profile) as dst, torch.no_grad():
        for x, rows, cols in DataLoader(Patches(), batch_size=batch, num_workers=0):
            pred = net(x).argmax(1).numpy().astype(np.uint8)
            for p, row, col in zip(pred, rows.tolist(), cols.tolist(), strict=True):
                h, w = min(step, height - row), min(step, width - col)
                dst.write(p[margin : margin + h, margin : margin + w], 1, window=Window(col, row, w, h))
    seconds = time.perf_counter() - t0
    with rasterio.open(out) as r:
        return seconds, r.read(1)


def agreement(codes: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    same = codes == ref
    return {
        "all": round(float(same.mean()), 6),
        "interior": round(float(same[EDGE:-EDGE, EDGE:-EDGE].mean()), 6),
    }


def ensure_peers_venv() -> None:
    """Create ``.venv-peers`` with geo-inference (its wheel with --no-deps, torch pinned)."""
    py = PEERS_VENV / "bin" / "python"
    if py.exists() and subprocess.run([str(py), "-c", "import geo_inference"], check=False).returncode == 0:
        return
    print(f"creating {PEERS_VENV} for geo-inference (once)", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
    pip = [str(py), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, *PEERS_PIP], check=True)
    subprocess.run([*pip, "--no-deps", "geo-inference==3.2.4"], check=True)


def main(argv: list[str] | None = None) -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 repeat, card preset only")
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--patch", type=int, default=1024, help="geo-inference patch size")
    ap.add_argument("--workers", type=int, default=0, help="geo-inference dask workers (0: cores - 1)")
    ap.add_argument("--no-geoinference", action="store_true")
    ap.add_argument(
        "--model",
        choices=["demo", "resnet34"],
        default="demo",
        help="demo: the bundled mobilenet_v2 U-Net at its card preset; resnet34: an smp U-Net with "
        "random weights (FLAIR's baseline architecture), exported at benchmark time, costa's planned tiles",
    )
    ap.add_argument("--no-torch-loop", action="store_true", help="skip the plain PyTorch loop")
    ap.add_argument(
        "--halo",
        type=int,
        default=None,
        help="costa's halo with --model resnet34 (default: the card's 128); tiles are still planned",
    )
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    size, repeats = args.size, (1 if args.quick else args.repeats)
    torch.set_num_threads(os.cpu_count() or 1)
    if args.model == "resnet34":
        model, torch_net = resnet34_unet(CACHE)
        card_preset: tuple[int | None, int | None] = (None, args.halo)
    else:
        model, torch_net = open_model(demo_model_path(), "cpu"), None
        card_preset = (model.card.tile_size, model.card.halo)
    if not args.no_geoinference:
        ensure_peers_venv()
    files = prepare(size, model, torch_net)
    lut = model.card.lut
    ref = lut[np.load(files["reference"])]
    net = raw_input_module(
        demo_torch_unet(model.path) if torch_net is None else torch_net, model.card.mean, model.card.std
    )
    times: dict[str, list[float]] = {}
    quality: dict[str, dict[str, float]] = {}
    overlap: dict[str, float] = {}
    extra: dict[str, Any] = {}
    engines = (
        ["costa"]
        + ([] if args.no_torch_loop else ["torch_sliding"])
        + ([] if args.no_geoinference else ["geoinference"])
    )
    for _ in range(repeats):
        for eng in engines:
            if eng == "costa":
                sec, codes, overlap["costa"] = run_costa(files["raster"], model, *card_preset)
            elif eng == "torch_sliding":
                sec, idx = run_torch_sliding(files["raster"], net)
                codes, overlap["torch_sliding"] = lut[idx], (512 / 256) ** 2
            else:
                sec, idx, extra = run_geoinference(
                    files["raster"], files["torchscript"], args.patch, args.workers
                )
                codes, overlap["geoinference"] = np.where(idx == 255, 0, lut[np.minimum(idx, 15)]), 4.0
            times.setdefault(eng, []).append(sec)
            quality[eng] = agreement(codes, ref)
            print(f"{eng}: {sec:.2f} s, agreement {quality[eng]}", file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    mpx = size * size / 1e6
    res: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": platform.node(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "command": "python -m benchmarks peers " + " ".join(sys.argv[1:] if argv is None else argv),
        "versions": {
            "costa": costa.__version__,
            "onnxruntime": ort.__version__,
            "torch": torch.__version__,
            "geo_inference": extra.get("geo_inference"),
        },
        "raster": f"{size}x{size} RGBN uint8 (costa.demo.synthetic seed 7)",
        "model": (
            "smp U-Net resnet34, random weights (torch seed 0), 4 bands, 16 classes; costa's planned tile"
            if args.model == "resnet34"
            else "costa-demo (smp U-Net mobilenet_v2, 4 bands, 16 classes)"
        ),
        "repeats": repeats,
        "seconds": {k: [round(s, 3) for s in v] for k, v in times.items()},
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "output_mpx_s": {k: round(mpx / v, 3) for k, v in med.items()},
        "model_px_per_output_px": {k: round(v, 3) for k, v in overlap.items()},
        "agreement_with_whole_image": quality,
        "costa_speedup": {k: round(v / med["costa"], 2) for k, v in med.items() if k != "costa"},
        # noise on a shared machine only adds time: the best run of each is the other estimate
        "costa_speedup_best": {
            k: round(min(v) / min(times["costa"]), 2) for k, v in times.items() if k != "costa"
        },
        "geoinference_options": {
            "patch": args.patch,
            "workers": args.workers,
            "threads": extra.get("threads"),
        },
        "torch_sliding_options": {"patch": 512, "margin": 128, "batch": 4, "dataloader_workers": 0},
    }
    if not args.quick and args.model == "demo":
        sweep = []
        for tile, halo in PRESETS:
            sec, codes, ov = run_costa(files["raster"], model, tile, halo)
            sweep.append(
                {
                    "tile": tile,
                    "halo": halo,
                    "seconds": round(sec, 3),
                    "overlap": round(ov, 3),
                    **agreement(codes, ref),
                }
            )
            print(f"costa {tile}/{halo}: {sweep[-1]}", file=sys.stderr, flush=True)
        res["costa_presets"] = sweep
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1) + "\n")
