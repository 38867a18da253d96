"""What a model costs in memory, read from its graph, so tiles can be planned per model.

A worker's peak memory is, to a good approximation, a fixed part plus a part per model
input pixel::

    peak ≈ RUNTIME_MB + WEIGHT_COPIES × weights + tile² × (ARENA × live + PIPELINE_PX_BYTES)

where ``live`` is the largest sum of activations alive at once during the forward pass, per
input pixel. It comes from the graph itself: ONNX shape inference at a probe size gives every
tensor's size, and a walk over the nodes in order frees each tensor after its last reader.
A 1×1 convolution and a resnet34 U-Net differ by ×3 per pixel, so one constant for all
models either starves the cheap ones of large tiles or overruns the budget with big ones.

The constants were measured with ``onnxruntime`` 1.31 on the CPU (``VmHWM`` of one process
per tile size, 256² to 2048²): the null model, the demo mobilenet_v2 U-Net and a resnet34
U-Net need 174, 274 and 562 bytes per pixel in their session, 2.2, 1.3 and 2.2 times their
``live`` bytes (the CPU arena grows by doubling and NCHWc convolutions keep reordered
copies); a whole ``costa predict`` adds 110–230 bytes per tile pixel for the chunks in
flight (the most at 16384², tiles of 2272 px), and held about six copies of the weights
(the file, and the checking and fused sessions with their pre-packed weights). Re-measured on
2026-12-02, once the COG was assembled from compressed tiles and
:func:`~costa.inference.runtime.open_model` closed its checking session: 143 (resnet34 U-Net,
tile 1216) to 167 (null model, tile 2048) pipeline bytes per tile pixel at 16384², hence
``PIPELINE_PX_BYTES`` = 180 (was 230); ``WEIGHT_COPIES`` keeps counting six.

Shape inference needs the ``onnx`` package, whose import alone takes longer than the rest of
``costa predict``'s start, so ``live`` is worked out once, when a model is written
(:func:`stamp`), and kept in its metadata under :data:`STAMP_KEY`; ONNX Runtime reads it back
with the model card. A model without it is inferred at first use, as before.

>>> round(Footprint(base_mb=300, px_bytes=1000).peak_mb(1024))
1300
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ARENA",
    "PIPELINE_PX_BYTES",
    "PROBE",
    "RUNTIME_MB",
    "SMALL_CONSTANT",
    "STAMP_KEY",
    "WEIGHT_COPIES",
    "Footprint",
    "estimate",
    "from_live",
    "live_bytes_per_px",
    "stamp",
]

ARENA = 2.25
"""Session bytes per live activation byte (ONNX Runtime CPU arena and layout copies)."""
PIPELINE_PX_BYTES = 180
"""Pipeline bytes per tile pixel: chunks in flight, batch copies, masks, class codes (measured 143–167)."""
RUNTIME_MB = 250
"""Interpreter, GDAL (block cache bounded) and ONNX Runtime libraries."""
WEIGHT_COPIES = 6
"""Copies of the weights a predicting process holds (file bytes, two sessions, pre-packing)."""
PROBE = 512
"""Input side (px) at which shapes are inferred; activations scale with the pixel count."""
SMALL_CONSTANT = 1024
"""Initializers up to this many bytes keep their values for shape inference (a resnet34 U-Net's
graph is inferred in 4 ms instead of 0.6 s without its weights)."""


STAMP_KEY = "live_bytes_per_px"
"""Metadata key of a model's :func:`live_bytes_per_px` (JSON: a number, or null if unknown)."""


@dataclass(frozen=True)
class Footprint:
    """A worker's memory as a fixed part and a part per model input pixel."""

    base_mb: float
    px_bytes: float

    def peak_mb(self, tile: int, batch: int = 1) -> float:
        """Expected peak RSS (MiB) with ``batch`` tiles of ``tile`` px per call."""
        return self.base_mb + batch * tile * tile * self.px_bytes / 2**20

    def largest_px(self, budget_mb: float, batch: int = 1) -> int:
        """Most model pixels per tile whose peak fits ``budget_mb`` (0 if none)."""
        return max(int((budget_mb - self.base_mb) * 2**20 / (self.px_bytes * batch)), 0)


def estimate(model_bytes: bytes) -> Footprint | None:
    """The footprint of a serialised ONNX model, or None if its shapes cannot be inferred."""
    live = live_bytes_per_px(model_bytes)
    return None if live is None else from_live(live, len(model_bytes))


def from_live(live: float, model_size: int) -> Footprint:
    """The footprint of a model of ``model_size`` bytes whose activations peak at ``live`` B/px.

    >>> from_live(100.0, 2**20)
    Footprint(base_mb=256.0, px_bytes=405.0)
    """
    return Footprint(
        base_mb=RUNTIME_MB + WEIGHT_COPIES * model_size / 2**20,
        px_bytes=ARENA * live + PIPELINE_PX_BYTES,
    )


def stamp(path: str | Path) -> Path:
    """Write the model's :func:`live_bytes_per_px` into its metadata (:data:`STAMP_KEY`), in place.

    Called by every costa command that writes a model (export, FLAIR import, INT8 and fp16
    copies), so ``costa predict`` plans its tiles without importing ``onnx``.
    """
    from costa.inference.onnxproto import set_metadata

    path = Path(path)
    data = path.read_bytes()
    live = live_bytes_per_px(data)
    path.write_bytes(set_metadata(data, STAMP_KEY, json.dumps(live)))
    return path


def live_bytes_per_px(model_bytes: bytes, probe: int = PROBE) -> float | None:
    """Peak bytes of activations alive at once per input pixel, over one forward pass.

    None when some activation's shape stays unknown after shape inference (a custom op, a
    data-dependent shape): the caller then falls back to a conservative constant.

    >>> from onnx import TensorProto, helper
    >>> x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4, "h", "w"])
    >>> y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4, "h", "w"])
    >>> g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"]), helper.make_node("Neg", ["t"], ["y"])],
    ...                       "g", [x], [y])
    >>> live_bytes_per_px(helper.make_model(g).SerializeToString())  # x and t, then t and y: 2 × 16 B
    32.0
    """
    import onnx
    from onnx import helper, shape_inference

    proto = onnx.load_model_from_string(model_bytes)
    graph = proto.graph
    weights = {i.name for i in graph.initializer}
    for init in graph.initializer:  # shape inference copies the weights: keep only small
        if len(init.raw_data) > SMALL_CONSTANT:  # constants (shapes, axes) it may need
            init.ClearField("raw_data")
    inputs = [i for i in graph.input if i.name not in weights]
    for inp in inputs:
        for axis, dim in enumerate(inp.type.tensor_type.shape.dim):
            if axis == 0 or axis >= 2:
                dim.dim_value = 1 if axis == 0 else probe  # replaces a symbolic dim_param
    try:
        graph = shape_inference.infer_shapes(proto, data_prop=True).graph
    except Exception:  # an op shape inference does not know
        return None
    size: dict[str, int] = {}
    for info in (*graph.input, *graph.value_info, *graph.output):
        tensor = info.type.tensor_type
        known = all(d.HasField("dim_value") for d in tensor.shape.dim)
        if tensor.elem_type and known:
            itemsize = helper.tensor_dtype_to_np_dtype(tensor.elem_type).itemsize
            size[info.name] = math.prod(int(d.dim_value) for d in tensor.shape.dim) * itemsize
    last_use = {name: i for i, node in enumerate(graph.node) for name in node.input}
    kept = {o.name for o in graph.output} | weights
    alive = sum(size.get(i.name, 0) for i in inputs)
    peak = alive
    for i, node in enumerate(graph.node):
        if any(o and o not in size for o in node.output):
            return None
        alive += sum(size[o] for o in node.output if o)
        peak = max(peak, alive)
        alive -= sum(size.get(x, 0) for x in set(node.input) if last_use[x] == i and x not in kept)
    return peak / probe**2
