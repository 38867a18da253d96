"""Models: the card every costa ONNX model carries, the bundled zoo, and the torch-side tooling.

* :mod:`costa.models.card` — :class:`ModelCard`, read from and written to ONNX metadata;
* :mod:`costa.models.zoo` — the bundled demo model;
* :mod:`costa.models.export`, :mod:`costa.models.quantize`, :mod:`costa.models.flair` — build,
  export, convert and import models. ``export`` and ``flair`` are the only modules of the
  package that import torch (extra ``train``), lazily; importing this package does not.
"""

from costa.models.card import ModelCard
from costa.models.zoo import demo_model_path

__all__ = ["ModelCard", "demo_model_path"]
