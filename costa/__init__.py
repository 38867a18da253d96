"""costa: land-cover segmentation of very large orthophotos with ONNX U-Nets.

>>> import costa
>>> len(costa.CLASSES)
16
"""

from costa.__about__ import __version__
from costa.engine import PredictOptions, PredictReport, predict, predict_array
from costa.errors import (
    CostaError,
    ModelError,
    ModelMetadataError,
    OptionError,
    OutputError,
    ProviderError,
    SourceError,
    SourceReadError,
)
from costa.model_card import ModelCard
from costa.nomenclature import CLASSES, LandCoverClass
from costa.runtime import Model, open_model

__all__ = [
    "CLASSES",
    "CostaError",
    "LandCoverClass",
    "Model",
    "ModelCard",
    "ModelError",
    "ModelMetadataError",
    "OptionError",
    "OutputError",
    "PredictOptions",
    "PredictReport",
    "ProviderError",
    "SourceError",
    "SourceReadError",
    "__version__",
    "open_model",
    "predict",
    "predict_array",
]
