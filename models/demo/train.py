"""Train costa's bundled demo model on synthetic scenes and export it to ONNX.

    python models/demo/train.py --out models/demo/costa-demo.onnx

Training scenes use seeds 1000.. (both vintages); accuracy is measured on held-out
scenes with seeds 9000.., never seen in training. Needs the ``train`` extra; a GPU makes
it take minutes instead of an hour. Writes the model and ``metrics.json`` beside it.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from costa.evaluation import Metrics
from costa.models.export import export_onnx, make_unet
from costa.models.card import ModelCard
from costa.demo.synthetic import make_scene

ARCH = {"encoder": "mobilenet_v2", "encoder_depth": 4, "decoder_channels": (64, 32, 16, 16)}
STRIDE = 16


def scene(args: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Image and truth of one scene (a process-pool task)."""
    seed, size = args
    s = make_scene(seed, size, size, vintage=seed % 2)
    return s.image, s.truth


def colour_baseline(
    train: list[tuple[np.ndarray, np.ndarray]], test: list[tuple[np.ndarray, np.ndarray]]
) -> float:
    """MIoU of a nearest-class-mean classifier on R, G, B, NIR alone (fitted on truth)."""
    means = np.zeros((17, 4))
    for c in range(1, 17):
        px = [img[:, t == c].T for img, t in train[:8]]
        means[c] = np.concatenate(px).mean(0) if sum(len(p) for p in px) else 1e9
    conf = np.zeros((17, 17), np.int64)
    for img, t in test:
        x = img.reshape(4, -1).T.astype(np.float32)
        d = ((x[:, None, :] - means[None, 1:, :].astype(np.float32)) ** 2).sum(-1)
        conf += Metrics.from_arrays((d.argmin(1) + 1).reshape(t.shape), t).matrix
    return Metrics.from_matrix(conf).miou


def main() -> None:
    """Generate data, train, evaluate on held-out scenes, export with metrics."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scenes", type=int, default=48)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--test-scenes", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("models/demo/costa-demo.onnx"))
    args = ap.parse_args()
    torch.manual_seed(0)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    t0 = time.time()
    with ProcessPoolExecutor() as pool:
        train = list(pool.map(scene, [(1000 + i, args.size) for i in range(args.scenes)]))
        test = list(pool.map(scene, [(9000 + i, args.size) for i in range(args.test_scenes)]))
    print(f"generated {len(train)} + {len(test)} scenes in {time.time() - t0:.0f} s", flush=True)
    imgs = np.stack([i for i, _ in train])
    mean = imgs.reshape(len(train), 4, -1).mean((0, 2))
    std = imgs.reshape(len(train), 4, -1).std((0, 2))
    card = ModelCard(
        name="costa-demo",
        classes=tuple(range(1, 17)),
        bands=("R", "G", "B", "NIR"),
        mean=tuple(round(float(m), 2) for m in mean),
        std=tuple(round(float(s), 2) for s in std),
        tile_size=1024,
        halo=128,
        stride=STRIDE,
        license="EUPL-1.2",
        source="costa models/demo/train.py on costa.demo.synthetic scenes (seeds 1000+)",
    )
    X = torch.from_numpy(imgs).to(dev)
    Y = torch.from_numpy(np.stack([t for _, t in train]).astype(np.int64) - 1).to(dev)
    m_t = torch.tensor(mean, dtype=torch.float32, device=dev)[None, :, None, None]
    s_t = torch.tensor(std, dtype=torch.float32, device=dev)[None, :, None, None]
    model = (
        make_unet(
            ARCH["encoder"],
            4,
            16,
            encoder_depth=ARCH["encoder_depth"],
            decoder_channels=ARCH["decoder_channels"],
        )
        .to(dev)
        .train()
    )
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=args.steps)
    g = torch.Generator(device="cpu").manual_seed(0)
    c = args.crop
    for step in range(args.steps):
        idx = torch.randint(0, len(train), (args.batch,), generator=g)
        rs = torch.randint(0, args.size - c + 1, (args.batch,), generator=g)
        cs = torch.randint(0, args.size - c + 1, (args.batch,), generator=g)
        xb = torch.stack([X[i, :, r : r + c, s : s + c] for i, r, s in zip(idx, rs, cs, strict=True)])
        yb = torch.stack([Y[i, r : r + c, s : s + c] for i, r, s in zip(idx, rs, cs, strict=True)])
        if step % 2:
            xb, yb = xb.flip(-1), yb.flip(-1)
        x = (xb.float() - m_t) / s_t
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=dev == "cuda"):
            loss = torch.nn.functional.cross_entropy(model(x), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == args.steps - 1:
            print(f"step {step} loss {loss.item():.3f} ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    conf = np.zeros((17, 17), np.int64)
    with torch.no_grad():
        for img, t in test:
            x = (torch.from_numpy(img)[None].to(dev).float() - m_t) / s_t
            pred = model(x).argmax(1)[0].cpu().numpy() + 1
            conf += Metrics.from_arrays(pred, t).matrix
    metrics = Metrics.from_matrix(conf)
    baseline = colour_baseline(train, test)
    print(f"held-out mIoU {metrics.miou:.3f} (colour-only baseline {baseline:.3f})", flush=True)
    card = ModelCard(
        **{
            **card.__dict__,
            "extra": {
                "training": {
                    "arch": {k: list(v) if isinstance(v, tuple) else v for k, v in ARCH.items()},
                    "scenes": args.scenes,
                    "size": args.size,
                    "steps": args.steps,
                    "batch": args.batch,
                    "heldout_miou": round(metrics.miou, 4),
                    "colour_baseline_miou": round(baseline, 4),
                }
            },
        }
    )
    report = export_onnx(model.float().cpu(), card, args.out)
    out = {
        **metrics.to_dict(),
        "colour_baseline_miou": round(baseline, 4),
        "export_max_abs_diff": report.max_abs_diff,
        "onnx_bytes": report.size_bytes,
        "train_seconds": round(time.time() - t0),
    }
    args.out.with_name("metrics.json").write_text(json.dumps(out, indent=1, ensure_ascii=False))
    print(json.dumps({k: v for k, v in out.items() if k != "confusion"}, ensure_ascii=False))


if __name__ == "__main__":
    main()
