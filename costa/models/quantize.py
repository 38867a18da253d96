"""Reduced precision: INT8 for CPU (ONNX Runtime static QDQ, per-channel weights), fp16 for GPU.

Calibration feeds real tiles (normalised like at inference) so that activation ranges
match the data. The quantised model keeps the original costa metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx

from costa.inference.footprint import stamp
from costa.models.card import ModelCard

__all__ = ["convert_fp16", "quantize_int8"]


def quantize_int8(src: str | Path, dst: str | Path, calibration: list[np.ndarray]) -> Path:
    """Write an INT8 copy of ``src`` calibrated on ``(C, H, W)`` source images (raw units).

    Args:
        src: fp32 costa ONNX model.
        dst: output path.
        calibration: a few representative images in the model's source units (e.g. uint8).

    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = Path(src), Path(dst)
    proto = onnx.load(str(src))
    props = {p.key: p.value for p in proto.metadata_props}
    card = ModelCard.from_metadata(props)
    name = proto.graph.input[0].name

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] = iter(
                {name: card.normalize(img)[None]} for img in calibration
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    pre = dst.with_suffix(".pre.onnx")
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(dst),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    finally:
        pre.unlink(missing_ok=True)
    q = onnx.load(str(dst))
    del q.metadata_props[:]
    for k, v in {**props, "precision": '"int8"'}.items():
        e = q.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(q, str(dst))
    return stamp(dst)  # its own activations' footprint, not the fp32 model's


def convert_fp16(src: str | Path, dst: str | Path) -> Path:
    """Write an fp16 copy of ``src`` for GPUs (inputs and outputs stay float32, metadata kept)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    dst = Path(dst)
    proto = convert_float_to_float16(onnx.load(str(src)), keep_io_types=True)
    for e in proto.metadata_props:
        if e.key == "precision":
            e.value = '"fp16"'
            break
    else:
        e = proto.metadata_props.add()
        e.key, e.value = "precision", '"fp16"'
    onnx.save(proto, str(dst))
    return stamp(dst)
