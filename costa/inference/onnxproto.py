"""The few ONNX protobuf messages costa edits, read and written without the ``onnx`` package.

Importing ``onnx`` costs 0.6–2.4 s (its ``ml_dtypes`` extension alone 0.6 s), more than the rest
of ``costa predict``'s start. Fusing pre- and post-processing into a graph
(:mod:`costa.inference.fused`) only needs to read the names and input shapes of a model and to
add nodes, constants, inputs and outputs, so this module speaks the protobuf wire format
directly: a message is a sequence of fields, each a key (field number, wire type) and a value;
repeated fields keep the order in which they appear, wherever they appear. A graph is edited by
copying its fields as bytes, leaving out those replaced and appending new ones: the network's
weights are never decoded.

Field numbers are those of ``onnx/onnx.proto`` (IR version 3 and later).

>>> node = make_node("Relu", ["x"], ["y"])
>>> [(f, v) for f, _, v in fields(node)]
[(1, b'x'), (2, b'y'), (4, b'Relu')]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = [
    "BOOL",
    "FLOAT",
    "UINT8",
    "Dim",
    "Graph",
    "ValueInfo",
    "dtype_of",
    "fields",
    "make_node",
    "make_tensor",
    "make_value_info",
    "read_model",
    "replace_graph",
    "set_metadata",
    "tensor_type",
]

Dim = int | str | None
"""A tensor dimension: a size, a symbol (``"n"``) or unknown."""

FLOAT, UINT8, INT64, BOOL, FLOAT16 = 1, 2, 7, 9, 10
_TYPES: dict[str, int] = {
    "float32": FLOAT,
    "uint8": UINT8,
    "int8": 3,
    "uint16": 4,
    "int16": 5,
    "int32": 6,
    "int64": INT64,
    "bool": BOOL,
    "float16": FLOAT16,
    "float64": 11,
    "uint32": 12,
    "uint64": 13,
}
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5

# ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto, ValueInfoProto field numbers
_MODEL_GRAPH, _MODEL_OPSET = 7, 8
_GRAPH_NODE, _GRAPH_INIT, _GRAPH_INPUT, _GRAPH_OUTPUT = 1, 5, 11, 12
_ATTR_INT, _ATTR_INTS = 2, 7


def tensor_type(dtype: np.dtype) -> int:
    """The ONNX element type of a numpy dtype.

    >>> tensor_type(np.dtype("uint8")), tensor_type(np.dtype("float32"))
    (2, 1)
    """
    return _TYPES[np.dtype(dtype).name]


def dtype_of(elem_type: int) -> np.dtype:
    """The numpy dtype of an ONNX element type."""
    return np.dtype(next(name for name, code in _TYPES.items() if code == elem_type))


# --- wire format -----------------------------------------------------------------------------
def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 values are written as their two's complement
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return n, i


def fields(buf: bytes) -> Iterator[tuple[int, bytes, int | bytes]]:
    """Each field of a message: (number, its bytes as written, its value: an int or the payload)."""
    i = 0
    while i < len(buf):
        start = i
        key, i = _read_varint(buf, i)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == _VARINT:
            value, i = _read_varint(buf, i)
        elif wire == _LEN:
            size, i = _read_varint(buf, i)
            value, i = buf[i : i + size], i + size
        elif wire in (_I64, _I32):
            step = 8 if wire == _I64 else 4
            value, i = int.from_bytes(buf[i : i + step], "little"), i + step
        else:
            raise ValueError(f"protobuf wire type {wire} is not supported")
        yield number, buf[start:i], value


def _len(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(payload)) + payload


def _int(number: int, value: int) -> bytes:
    return _varint(number << 3 | _VARINT) + _varint(value)


def _str(number: int, text: str) -> bytes:
    return _len(number, text.encode())


# --- messages costa writes -------------------------------------------------------------------
def make_node(op: str, inputs: list[str], outputs: list[str], **attrs: int | list[int]) -> bytes:
    """A NodeProto of the default domain; attributes are ints or lists of ints."""
    out = b"".join(_str(1, x) for x in inputs) + b"".join(_str(2, x) for x in outputs) + _str(4, op)
    for name, value in attrs.items():
        if isinstance(value, list):
            attr = _str(1, name) + b"".join(_int(8, v) for v in value) + _int(20, _ATTR_INTS)
        else:
            attr = _str(1, name) + _int(3, value) + _int(20, _ATTR_INT)
        out += _len(5, attr)
    return out


def make_tensor(name: str, value: np.ndarray) -> bytes:
    """A TensorProto holding ``value`` (little-endian raw data)."""
    value = np.asarray(value)
    raw = value.astype(value.dtype.newbyteorder("<"), copy=False).tobytes()
    dims = b"".join(_int(1, d) for d in value.shape)
    return dims + _int(2, tensor_type(value.dtype)) + _str(8, name) + _len(9, raw)


def make_value_info(name: str, elem_type: int, dims: list[Dim]) -> bytes:
    """A ValueInfoProto of a tensor: element type and dimensions (size, symbol or unknown)."""
    shape = b""
    for d in dims:
        dim = _int(1, d) if isinstance(d, int) else _str(2, d) if d else b""
        shape += _len(1, dim)
    tensor = _int(1, elem_type) + _len(2, shape)
    return _str(1, name) + _len(2, _len(1, tensor))


# --- what costa reads ------------------------------------------------------------------------
@dataclass(frozen=True)
class ValueInfo:
    """A graph input or output: its name, element type (0 if not a tensor) and dimensions."""

    name: str
    elem_type: int
    dims: tuple[Dim, ...]


@dataclass(frozen=True)
class Graph:
    """What fusing needs to know of a model, and the bytes it edits."""

    opset: int
    """Version of the default (``ai.onnx``) operator set."""
    inputs: tuple[ValueInfo, ...]
    outputs: tuple[ValueInfo, ...]
    initializers: frozenset[str]
    names: frozenset[str]
    """Every tensor name the graph uses (node inputs and outputs, initializers)."""
    model_fields: tuple[tuple[int, bytes], ...]
    graph_fields: tuple[tuple[int, bytes], ...]


def _value_info(payload: bytes) -> ValueInfo:
    name, elem, dims = "", 0, []
    for number, _, value in fields(payload):
        if number == 1 and isinstance(value, bytes):
            name = value.decode()
        elif number == 2 and isinstance(value, bytes):
            for n2, _, tensor in fields(value):
                if n2 != 1 or not isinstance(tensor, bytes):
                    continue
                for n3, _, v3 in fields(tensor):
                    if n3 == 1 and isinstance(v3, int):
                        elem = v3
                    elif n3 == 2 and isinstance(v3, bytes):
                        dims = [_dim(d) for n4, _, d in fields(v3) if n4 == 1 and isinstance(d, bytes)]
    return ValueInfo(name, elem, tuple(dims))


def _dim(payload: bytes) -> Dim:
    for number, _, value in fields(payload):
        if number == 1 and isinstance(value, int):
            return value
        if number == 2 and isinstance(value, bytes):
            return value.decode() or None
    return None


def _strings(payload: bytes, *numbers: int) -> list[str]:
    return [v.decode() for n, _, v in fields(payload) if n in numbers and isinstance(v, bytes)]


def read_model(model: bytes) -> Graph:
    """The graph of a serialised ModelProto: inputs, outputs, names in use, opset."""
    model_fields, graph_payload, opset = [], b"", 0
    for number, raw, value in fields(model):
        if number == _MODEL_GRAPH and isinstance(value, bytes):
            graph_payload = value
            continue
        if number == _MODEL_OPSET and isinstance(value, bytes):
            found = {n: v for n, _, v in fields(value)}
            domain = found.get(1, b"")
            if domain in (b"", b"ai.onnx") and isinstance(found.get(2), int):
                opset = int(found[2])
        model_fields.append((number, raw))
    graph_fields, inputs, outputs, inits, names = [], [], [], set(), set()
    for number, raw, value in fields(graph_payload):
        graph_fields.append((number, raw))
        if not isinstance(value, bytes):
            continue
        if number == _GRAPH_NODE:
            names.update(_strings(value, 1, 2))
        elif number == _GRAPH_INIT:
            inits.update(_strings(value, 8))
        elif number == _GRAPH_INPUT:
            inputs.append(_value_info(value))
        elif number == _GRAPH_OUTPUT:
            outputs.append(_value_info(value))
    return Graph(
        opset=opset or 13,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        initializers=frozenset(inits),
        names=frozenset(names | inits),
        model_fields=tuple(model_fields),
        graph_fields=tuple(graph_fields),
    )


def replace_graph(
    graph: Graph,
    *,
    first_nodes: list[bytes],
    last_nodes: list[bytes],
    initializers: list[bytes],
    inputs: list[bytes],
    outputs: list[bytes],
    drop_inputs: set[str],
) -> bytes:
    """The model with nodes before and after the network's, new constants, inputs and outputs.

    The graph's outputs are replaced by ``outputs``; its inputs named in ``drop_inputs`` are
    removed and ``inputs`` come first. Every other field is copied as written.
    """
    kept = []
    for number, raw in graph.graph_fields:
        if number == _GRAPH_OUTPUT:
            continue
        if number == _GRAPH_INPUT:
            (_, _, payload) = next(fields(raw))
            if isinstance(payload, bytes) and _value_info(payload).name in drop_inputs:
                continue
        kept.append((number, raw))
    new_inputs = [_len(_GRAPH_INPUT, i) for i in inputs]
    old_inputs = [raw for n, raw in kept if n == _GRAPH_INPUT]
    body = b"".join(
        [
            *(_len(_GRAPH_NODE, n) for n in first_nodes),
            *(raw for n, raw in kept if n != _GRAPH_INPUT),
            *(_len(_GRAPH_NODE, n) for n in last_nodes),
            *(_len(_GRAPH_INIT, t) for t in initializers),
            *new_inputs,
            *old_inputs,
            *(_len(_GRAPH_OUTPUT, o) for o in outputs),
        ]
    )
    head = b"".join(raw for number, raw in graph.model_fields)
    return head + _len(_MODEL_GRAPH, body)


_MODEL_METADATA = 14


def set_metadata(model: bytes, key: str, value: str) -> bytes:
    """The model with ``metadata_props[key] = value`` (an entry of that key replaced, else added).

    >>> m = set_metadata(set_metadata(b"", "a", "1"), "a", "2")
    >>> [(n, [v for _, _, v in fields(e)]) for n, _, e in fields(m)]
    [(14, [b'a', b'2'])]
    """
    kept = []
    for number, raw, payload in fields(model):
        if number == _MODEL_METADATA and isinstance(payload, bytes) and _strings(payload, 1) == [key]:
            continue
        kept.append(raw)
    return b"".join(kept) + _len(_MODEL_METADATA, _str(1, key) + _str(2, value))
