"""Pre- and post-processing moved inside the ONNX graph, so ONNX Runtime does them in its threads.

The reference path normalises each chunk in numpy, runs the network for ``(N, K, H, W)``
float logits, then takes the argmax, looks class codes up and (optionally) computes the
confidence in numpy, one thread, after every call. :func:`fuse` edits the model's graph at
load time (no torch, nor even the ``onnx`` package: :mod:`costa.inference.onnxproto`) into one
that takes the raw source pixels and a validity mask and returns the class codes directly::

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

import numpy as np

from costa.inference import onnxproto as pb
from costa.models.card import ModelCard

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
    graph = pb.read_model(model_bytes)
    (image,) = [i for i in graph.inputs if i.name not in graph.initializers]
    logits = graph.outputs[0].name
    taken = set(graph.names)
    names: dict[str, str] = {}
    constants: list[bytes] = []

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
        constants.append(pb.make_tensor(name(base), value))
        return names[base]

    node = pb.make_node
    dims = list(image.dims)
    mean = const("mean", np.asarray(card.mean, np.float32)[None, :, None, None])
    inv_std = const("inv_std", (1.0 / np.asarray(card.std, np.float32))[None, :, None, None])
    pre = [
        node("Cast", [RAW], [name("raw_f")], to=pb.FLOAT),
        node("Sub", [names["raw_f"], mean], [name("centred")]),
        node("Mul", [names["centred"], inv_std], [name("scaled")]),
    ]
    x = names["scaled"]
    if masked:
        pre.append(node("Cast", [VALID], [name("valid_f")], to=pb.FLOAT))
        pre.append(node("Mul", [x, names["valid_f"]], [name("masked")]))
        x = names["masked"]
    if image.elem_type == pb.FLOAT:  # an Identity ORT removes: the network's input name stays
        pre.append(node("Identity", [x], [image.name]))
    else:  # fp16 graphs: normalise in float32 as the reference does, then cast
        pre.append(node("Cast", [x], [image.name], to=image.elem_type))
    post = [
        node("ArgMax", [logits], [name("index")], axis=1, keepdims=0),
        *_lookup(card.lut, names["index"], const=const, name=name),
    ]
    batch_dims = [dims[0], dims[2], dims[3]]
    outputs = [pb.make_value_info(CODES, pb.UINT8, batch_dims)]
    if confidence:
        lg = logits
        if image.elem_type != pb.FLOAT:
            post.append(node("Cast", [logits], [name("logits_f")], to=pb.FLOAT))
            lg = names["logits_f"]
        post += [
            _reduce("ReduceMax", lg, name("top"), graph.opset, keepdims=1, axes=const("axes", np.array([1]))),
            node("Sub", [lg, names["top"]], [name("shifted")]),
            node("Exp", [names["shifted"]], [name("exp")]),
            _reduce("ReduceSum", names["exp"], name("sum"), graph.opset, keepdims=0, axes=names["axes"]),
            node("Div", [const("hundred", np.array(100.0, np.float32)), names["sum"]], [name("pct")]),
            node("Round", [names["pct"]], [name("rounded")]),
            node("Cast", [names["rounded"]], [CONFIDENCE], to=pb.UINT8),
        ]
        outputs.append(pb.make_value_info(CONFIDENCE, pb.UINT8, batch_dims))
    inputs = [pb.make_value_info(RAW, pb.tensor_type(np.dtype(raw_dtype)), dims)]
    if masked:
        inputs.append(pb.make_value_info(VALID, pb.BOOL, [dims[0], 1, dims[2], dims[3]]))
    return pb.replace_graph(
        graph,
        first_nodes=pre,
        last_nodes=post,
        initializers=constants,
        inputs=inputs,
        outputs=outputs,
        drop_inputs={image.name},
    )


def _lookup(
    lut: np.ndarray, index: str, *, const: Callable[[str, np.ndarray], str], name: Callable[[str], str]
) -> list[bytes]:
    """Nodes turning ``index`` (int64 class indices) into ``codes`` (uint8 class codes).

    Codes in class order (``lut`` = first, first + 1, …, the usual case) take a cast and an add:
    ONNX Runtime's Gather of int64 indices cost 14 % of a 1×1 convolution's whole graph.
    """
    first = int(lut[0])
    if not np.array_equal(lut, np.arange(first, first + len(lut))):
        return [pb.make_node("Gather", [const("lut", np.asarray(lut)), index], [CODES], axis=0)]
    if not first:
        return [pb.make_node("Cast", [index], [CODES], to=pb.UINT8)]
    small = name("index_u8")
    return [
        pb.make_node("Cast", [index], [small], to=pb.UINT8),
        pb.make_node("Add", [small, const("first", np.array(first, np.uint8))], [CODES]),
    ]


def _reduce(op: str, x: str, out: str, opset: int, *, keepdims: int, axes: str) -> bytes:
    """A reduction over the class axis, in the form the graph's opset expects."""
    # ReduceSum takes axes as an input from opset 13, ReduceMax from opset 18
    as_input = opset >= (13 if op == "ReduceSum" else 18)
    if as_input:
        return pb.make_node(op, [x, axes], [out], keepdims=keepdims)
    return pb.make_node(op, [x], [out], keepdims=keepdims, axes=[1])
