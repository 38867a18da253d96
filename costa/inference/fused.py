"""Pre- and post-processing moved inside the ONNX graph, so ONNX Runtime does them in its threads.

The reference path normalises each chunk in numpy, runs the network for ``(N, K, H, W)``
float logits, then takes the argmax, looks class codes up and (optionally) computes the
confidence in numpy, one thread, after every call. :func:`fuse` edits the model's graph at
load time (no torch needed, only the light ``onnx`` package) into one that takes the raw
source pixels and a validity mask and returns the class codes directly::

    raw (N, C, H, W) uint8 ─ Cast ─ Sub(mean) ─ Mul(1/std) ─ Mul(valid) ─┐
                                                                         network ─ logits
    codes (N, H, W) uint8 ─ Gather(lut) ─ ArgMax(axis=1) ────────────────┘    │
                           (or Cast + Add when codes follow class order)
    confidence (N, H, W) uint8 ─ Cast ─ Round(100 / ReduceSum(Exp(logits − ReduceMax)))

A batch whose pixels are all valid (most of a territory) runs a second form of the graph
without the ``valid`` input (``masked=False``): multiplying by one changes no bit, and skipping
the mask's cast and product saves about 15 % of a cheap model's CPU time (a 1×1 convolution,
``benchmarks/RESULTS.md``) and a fifth of the bytes sent to a GPU.

The arithmetic is the reference's, op for op and in the same float32 order, so codes are
identical (``tests/inference/test_fused.py``): normalisation, argmax (first maximum on ties) and the
lookup are exact. The confidence goes through ``Exp``, whose last bit may differ from
numpy's, so a pixel whose ``100 / sum`` falls within one float32 ulp of a .5 rounding tie
could come out 1 % apart; none did on the test scenes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from costa.models.card import ModelCard

if TYPE_CHECKING:
    from onnx import NodeProto

__all__ = ["fuse"]

RAW, VALID, CODES, CONFIDENCE = "raw", "valid", "codes", "confidence"


def fuse(
    model_bytes: bytes, card: ModelCard, raw_dtype: np.dtype, *, confidence: bool, masked: bool = True
) -> bytes:
    """The model with normalisation, argmax, class lookup (and confidence) inside its graph.

    Args:
        model_bytes: the serialised ONNX model, ``(N, C, H, W)`` input → ``(N, K, H, W)`` logits.
        card: its model card (normalisation and class codes).
        raw_dtype: dtype of the source pixels the new ``raw`` input takes (e.g. uint8).
        confidence: also output the max class probability in % (uint8).
        masked: take the ``valid`` mask (False: every pixel is valid, no mask input).

    Returns:
        The serialised model; inputs ``raw`` ``(N, C, H, W)`` and, if ``masked``, ``valid``
        ``(N, 1, H, W)`` (bool), outputs ``codes`` ``(N, H, W)`` uint8 and, with
        ``confidence``, ``confidence``.

    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    proto = onnx.load_model_from_string(model_bytes)
    graph = proto.graph
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 13)
    inits = {i.name for i in graph.initializer}
    (image,) = [i for i in graph.input if i.name not in inits]
    logits = graph.output[0].name
    image_type = image.type.tensor_type.elem_type
    taken = {n for node in graph.node for n in (*node.input, *node.output)} | inits
    names: dict[str, str] = {}

    def name(base: str) -> str:
        """A fresh tensor name (never one the network uses)."""
        n, k = f"costa_{base}", 0
        while n in taken:
            k += 1
            n = f"costa_{base}_{k}"
        taken.add(n)
        names[base] = n
        return n

    def const(base: str, value: np.ndarray) -> str:
        graph.initializer.append(numpy_helper.from_array(value, name(base)))
        return names[base]

    dims = [d for d in image.type.tensor_type.shape.dim]
    mean = const("mean", np.asarray(card.mean, np.float32)[None, :, None, None])
    inv_std = const("inv_std", (1.0 / np.asarray(card.std, np.float32))[None, :, None, None])
    pre = [
        helper.make_node("Cast", [RAW], [name("raw_f")], to=TensorProto.FLOAT),
        helper.make_node("Sub", [names["raw_f"], mean], [name("centred")]),
        helper.make_node("Mul", [names["centred"], inv_std], [name("scaled")]),
    ]
    x = names["scaled"]
    if masked:
        pre.append(helper.make_node("Cast", [VALID], [name("valid_f")], to=TensorProto.FLOAT))
        pre.append(helper.make_node("Mul", [x, names["valid_f"]], [name("masked")]))
        x = names["masked"]
    if image_type == TensorProto.FLOAT:  # an Identity ORT removes: the network's input name stays
        pre.append(helper.make_node("Identity", [x], [image.name]))
    else:  # fp16 graphs: normalise in float32 as the reference does, then cast
        pre.append(helper.make_node("Cast", [x], [image.name], to=image_type))
    post = [
        helper.make_node("ArgMax", [logits], [name("index")], axis=1, keepdims=0),
        *_lookup(card.lut, names["index"], const=const, name=name),
    ]
    batch_dims = [_dim(dims[0]), _dim(dims[2]), _dim(dims[3])]
    outputs = [helper.make_tensor_value_info(CODES, TensorProto.UINT8, batch_dims)]
    if confidence:
        lg = logits
        if image_type != TensorProto.FLOAT:
            post.append(helper.make_node("Cast", [logits], [name("logits_f")], to=TensorProto.FLOAT))
            lg = names["logits_f"]
        post += [
            _reduce("ReduceMax", lg, name("top"), opset, keepdims=1, axes=const("axes", np.array([1]))),
            helper.make_node("Sub", [lg, names["top"]], [name("shifted")]),
            helper.make_node("Exp", [names["shifted"]], [name("exp")]),
            _reduce("ReduceSum", names["exp"], name("sum"), opset, keepdims=0, axes=names["axes"]),
            helper.make_node(
                "Div", [const("hundred", np.array(100.0, np.float32)), names["sum"]], [name("pct")]
            ),
            helper.make_node("Round", [names["pct"]], [name("rounded")]),
            helper.make_node("Cast", [names["rounded"]], [CONFIDENCE], to=TensorProto.UINT8),
        ]
        outputs.append(helper.make_tensor_value_info(CONFIDENCE, TensorProto.UINT8, batch_dims))
    nodes = [*pre, *graph.node, *post]
    del graph.node[:]
    graph.node.extend(nodes)
    raw_type = helper.np_dtype_to_tensor_dtype(np.dtype(raw_dtype))
    new_inputs = [helper.make_tensor_value_info(RAW, raw_type, [_dim(d) for d in dims])]
    if masked:
        mask_dims = [_dim(dims[0]), 1, _dim(dims[2]), _dim(dims[3])]
        new_inputs.append(helper.make_tensor_value_info(VALID, TensorProto.BOOL, mask_dims))
    keep = [i for i in graph.input if i.name != image.name]
    del graph.input[:]
    graph.input.extend([*new_inputs, *keep])
    del graph.output[:]
    graph.output.extend(outputs)
    return bytes(proto.SerializeToString())


def _lookup(
    lut: np.ndarray, index: str, *, const: Callable[[str, np.ndarray], str], name: Callable[[str], str]
) -> list[NodeProto]:
    """Nodes turning ``index`` (int64 class indices) into ``codes`` (uint8 class codes).

    Codes in class order (``lut`` = first, first + 1, …, the usual case) take a cast and an add:
    ONNX Runtime's Gather of int64 indices cost 14 % of a 1×1 convolution's whole graph.
    """
    from onnx import TensorProto, helper

    first = int(lut[0])
    if not np.array_equal(lut, np.arange(first, first + len(lut))):
        return [helper.make_node("Gather", [const("lut", np.asarray(lut)), index], [CODES], axis=0)]
    if not first:
        return [helper.make_node("Cast", [index], [CODES], to=TensorProto.UINT8)]
    small = name("index_u8")
    return [
        helper.make_node("Cast", [index], [small], to=TensorProto.UINT8),
        helper.make_node("Add", [small, const("first", np.array(first, np.uint8))], [CODES]),
    ]


def _dim(d: object) -> int | str | None:
    """A graph dimension as make_tensor_value_info takes it (value, symbol or unknown)."""
    if d.HasField("dim_value"):  # type: ignore[attr-defined]
        return int(d.dim_value)  # type: ignore[attr-defined]
    return str(d.dim_param) or None  # type: ignore[attr-defined]


def _reduce(op: str, x: str, out: str, opset: int, *, keepdims: int, axes: str) -> NodeProto:
    """A reduction over the class axis, in the form the graph's opset expects."""
    from onnx import helper

    # ReduceSum takes axes as an input from opset 13, ReduceMax from opset 18
    as_input = opset >= (13 if op == "ReduceSum" else 18)
    if as_input:
        return helper.make_node(op, [x, axes], [out], keepdims=keepdims)
    return helper.make_node(op, [x], [out], keepdims=keepdims, axes=[1])
