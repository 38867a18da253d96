"""INT8 vs fp32 on the CPU, side by side: model-only Mpx/s and mIoU on held-out scenes.

python -m benchmarks.bench_int8 [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmarks.bench_predict import model_only
from costa.demo.synthetic import make_scene
from costa.evaluation import Metrics
from costa.inference.engine import predict_array
from costa.inference.runtime import open_model
from costa.models.quantize import quantize_int8
from costa.models.zoo import demo_model_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    q = Path(tempfile.gettempdir()) / "costa-demo-int8.onnx"
    quantize_int8(demo_model_path(), q, [make_scene(5000 + i, 512, 512).image for i in range(8)])
    models = {"fp32": open_model(demo_model_path(), "cpu"), "int8": open_model(q, "cpu")}
    scenes = [make_scene(9300 + i, 1024, 1024) for i in range(2)]
    res: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "command": "python -m benchmarks int8",
        "int8_bytes": q.stat().st_size,
        "fp32_bytes": demo_model_path().stat().st_size,
    }
    for name, m in models.items():
        mat = sum(Metrics.from_arrays(predict_array(s.image, m), s.truth).matrix for s in scenes)
        res[name] = {
            "model_only_mpx_s": round(model_only(m, 1024, 1, 15), 3),
            "miou": round(Metrics.from_matrix(mat).miou, 4),
        }
    res["speedup"] = round(res["int8"]["model_only_mpx_s"] / res["fp32"]["model_only_mpx_s"], 3)  # type: ignore[index]
    res["miou_drop"] = round(res["fp32"]["miou"] - res["int8"]["miou"], 4)  # type: ignore[index]
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
