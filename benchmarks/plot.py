"""Draw ``benchmarks/results.png`` from the JSON in ``benchmarks/results/``.

    python -m benchmarks plot

Three panels: output throughput of costa and its peers on the same raster and weights (with
their agreement with a whole-image pass), costa's tile/halo presets (overlap vs agreement),
and costa's end-to-end / model-only ratio with the post-processing in the graph or in numpy.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    peers = json.loads((HERE / "results" / "cpu_peers.json").read_text())
    pred_path = HERE / "results" / "cpu_e2e.json"
    pred = json.loads(pred_path.read_text()) if pred_path.exists() else None
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), dpi=80)

    ax = axes[0]
    names = {"costa": "costa", "geoinference": "geo-inference", "torch_sliding": "PyTorch\nloop"}
    engines = [e for e in names if e in peers["output_mpx_s"]]
    vals = [peers["output_mpx_s"][e] for e in engines]
    bars = ax.bar([names[e] for e in engines], vals, color=["#2a7f62", "#c0504d", "#7f7f7f"][: len(engines)])
    for b, e in zip(bars, engines, strict=True):
        agree = peers["agreement_with_whole_image"][e]["interior"]
        ax.annotate(f"{agree:.4%}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom")
    ax.set_ylabel("output Mpx/s (CPU)")
    ax.set_title(
        f"same weights, {peers['raster'].split()[0]} raster\n(label: agreement with whole image)", fontsize=9
    )

    ax = axes[1]
    for p in peers.get("costa_presets", []):
        ax.scatter(p["overlap"], p["interior"] * 100, color="#2a7f62")
        ax.annotate(f"{p['tile']}/{p['halo']}", (p["overlap"], p["interior"] * 100), fontsize=7)
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_xlabel("model px per output px")
    ax.set_ylabel("agreement with whole image (%)")
    ax.set_title("costa tile/halo presets", fontsize=9)

    ax = axes[2]
    if pred:
        labels = ["numpy post-proc.", "in-graph (default)"]
        ratios = [pred["ratio_e2e_numpy_postprocess_over_model_only"], pred["ratio_e2e_over_model_only"]]
        ax.bar(labels, ratios, color=["#7f7f7f", "#2a7f62"])
        ax.axhline(0.9, ls="--", color="k", lw=1)
        ax.set_ylim(0, 1)
        ax.set_ylabel("end-to-end / model-only")
        ax.set_title(f"costa predict {pred['e2e_size']}² (goal 0.9)", fontsize=9)
    fig.tight_layout()
    fig.savefig(HERE / "results.png")
    print(HERE / "results.png")


if __name__ == "__main__":
    main()
