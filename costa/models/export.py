"""Export a PyTorch segmentation network to ONNX with costa metadata.

Needs the ``train`` extra (torch, segmentation-models-pytorch, onnx); imported lazily so
that inference never imports torch. The exported graph takes ``(N, C, H, W)`` float input
with dynamic batch and any height/width multiple of the stride, and its ONNX Runtime
output is checked against torch on a random batch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from costa.errors import require
from costa.inference.footprint import stamp
from costa.models.card import ModelCard

__all__ = ["ExportReport", "export_onnx", "make_unet"]


@dataclass(frozen=True)
class ExportReport:
    """Result of an export: where it went and how closely ONNX Runtime matches torch."""

    path: Path
    max_abs_diff: float
    size_bytes: int


def make_unet(encoder: str = "resnet34", in_channels: int = 4, classes: int = 16, **kwargs: Any) -> Any:
    """An untrained segmentation-models-pytorch U-Net (no weight download)."""
    smp = require("segmentation_models_pytorch", "train", "make_unet")
    return smp.Unet(
        encoder_name=encoder, encoder_weights=None, in_channels=in_channels, classes=classes, **kwargs
    ).eval()


def export_onnx(
    module: Any, card: ModelCard, path: str | Path, *, check_size: int = 256, opset: int = 18
) -> ExportReport:
    """Write ``module`` to ``path`` as ONNX with ``card`` in its metadata, then verify it.

    Args:
        module: a torch ``nn.Module`` mapping ``(N, C, H, W)`` to ``(N, K, H, W)`` logits.
        card: what the model expects and produces (bands, classes, normalisation...).
        path: output ``.onnx`` file.
        check_size: side of the random test batch compared between torch and ORT.
        opset: ONNX opset.

    """
    torch = require("torch", "train", "export_onnx")
    onnx = require("onnx", "train", "export_onnx")
    ort = importlib.import_module("onnxruntime")
    path = Path(path)
    module = module.eval()
    x = torch.randn(2, card.n_bands, check_size, check_size)
    dim = torch.export.Dim
    k = 32768 // card.stride
    shapes = {
        0: dim("batch", min=1, max=1024),
        2: card.stride * dim("h", min=1, max=k),
        3: card.stride * dim("w", min=1, max=k),
    }
    with torch.no_grad():
        program = torch.onnx.export(
            module,
            (x,),
            dynamo=True,
            dynamic_shapes=(shapes,),
            input_names=["image"],
            output_names=["logits"],
            opset_version=opset,
            verbose=False,
            optimize=True,
        )
        expected = module(x).numpy()
    proto = program.model_proto
    for key, value in card.to_metadata().items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save_model(proto, str(path))
    stamp(path)  # the tile footprint, read back by costa predict without importing onnx
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = sess.run(None, {"image": x.numpy()})
    diff = float(np.abs(got - expected).max())
    return ExportReport(path, diff, path.stat().st_size)
