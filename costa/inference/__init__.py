"""The model step: ONNX Runtime sessions, graph fusion, and the tile loop around them.

* :mod:`costa.inference.options` — :class:`PredictOptions`, resolved once per model;
* :mod:`costa.inference.runtime` — sessions and providers (TensorRT → CUDA → CPU);
* :mod:`costa.inference.fused` — normalisation and argmax moved into the graph;
* :mod:`costa.inference.engine` — source → chunks → tiles → model → class codes → sink.

No torch here: inference needs only ``onnxruntime`` and ``onnx``.
"""

from costa.inference.engine import PredictReport, predict, predict_array, run_chunks
from costa.inference.options import PredictOptions, Resolved, resolve
from costa.inference.runtime import Model, open_model

__all__ = [
    "Model",
    "PredictOptions",
    "PredictReport",
    "Resolved",
    "open_model",
    "predict",
    "predict_array",
    "resolve",
    "run_chunks",
]
