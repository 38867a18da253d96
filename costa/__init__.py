"""costa: land-cover segmentation of very large orthophotos with ONNX U-Nets.

The public API, for scripts and notebooks:

* :func:`predict` — a raster file to a COG, or a file / DataArray / numpy array to labels
  (windows by pixel slices or map bounds); :func:`open_model` to load a model once;
  :func:`evaluate` — IoU, mIoU and accuracy against a truth;
* :func:`run_job` — a resumable job over many dalles (here or on Dask), :func:`job_status`;
* :mod:`costa.zan` — :func:`costa.zan.compute` and :func:`costa.zan.query` for ZAN tables,
  :func:`costa.zan.sparte.export` for the same figures in sparte's terms;
* :mod:`costa.vector` — :func:`costa.vector.vectorize`, land-cover polygons as a clean coverage;
* :mod:`costa.demo` — :func:`costa.demo.make_territory`, the demo territory;
* :mod:`costa.plot` — class maps, confusion matrices and ZAN charts.

>>> import costa
>>> len(costa.CLASSES)
16
"""

import importlib
from typing import TYPE_CHECKING

from costa.__about__ import __version__
from costa.errors import (
    CostaError,
    MissingDependencyError,
    ModelError,
    ModelMetadataError,
    OptionError,
    OutputError,
    ProviderError,
    SourceError,
    SourceReadError,
)
from costa.nomenclature import CLASSES, LandCoverClass

if TYPE_CHECKING:
    from costa import demo, plot, vector, zan
    from costa.api import evaluate, predict
    from costa.evaluation import Metrics
    from costa.inference.engine import PredictReport, predict_array
    from costa.inference.options import PredictOptions
    from costa.inference.runtime import Model, open_model
    from costa.jobs import Job, RunReport, run_job
    from costa.jobs import status as job_status
    from costa.models.card import ModelCard
    from costa.models.zoo import demo_model_path

__all__ = [
    "CLASSES",
    "CostaError",
    "Job",
    "LandCoverClass",
    "Metrics",
    "MissingDependencyError",
    "Model",
    "ModelCard",
    "ModelError",
    "ModelMetadataError",
    "OptionError",
    "OutputError",
    "PredictOptions",
    "PredictReport",
    "ProviderError",
    "RunReport",
    "SourceError",
    "SourceReadError",
    "__version__",
    "demo",
    "demo_model_path",
    "evaluate",
    "job_status",
    "open_model",
    "plot",
    "predict",
    "predict_array",
    "run_job",
    "vector",
    "zan",
]


_SUBPACKAGES = {"demo", "plot", "vector", "zan"}
_LAZY = {  # name → (module, attribute there)
    "Job": ("costa.jobs", "Job"),
    "Metrics": ("costa.evaluation", "Metrics"),
    "Model": ("costa.inference.runtime", "Model"),
    "ModelCard": ("costa.models.card", "ModelCard"),
    "PredictOptions": ("costa.inference.options", "PredictOptions"),
    "PredictReport": ("costa.inference.engine", "PredictReport"),
    "RunReport": ("costa.jobs", "RunReport"),
    "demo_model_path": ("costa.models.zoo", "demo_model_path"),
    "evaluate": ("costa.api", "evaluate"),
    "job_status": ("costa.jobs", "status"),
    "open_model": ("costa.inference.runtime", "open_model"),
    "predict": ("costa.api", "predict"),
    "predict_array": ("costa.inference.engine", "predict_array"),
    "run_job": ("costa.jobs", "run_job"),
}


def __getattr__(name: str) -> object:
    """The API, imported at first use (PEP 562).

    ``import costa`` costs the errors and the nomenclature only: ``costa --help`` and
    ``costa zan query`` answer without numpy, GDAL or ONNX Runtime, and ``costa predict``
    without geopandas, scipy or Dask. ``costa.synthetic`` (moved to :mod:`costa.demo`) keeps
    working for one release.
    """
    if name in _SUBPACKAGES:
        return importlib.import_module(f"costa.{name}")
    if name in _LAZY:
        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value  # later lookups skip this function
        return value
    if name == "synthetic":
        import warnings

        warnings.warn(
            "costa.synthetic moved: use costa.demo (make_territory, make_scene)",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.import_module("costa.demo")
    raise AttributeError(f"module 'costa' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names (``dir(costa)`` and tab completion see the lazy ones too)."""
    return sorted({*globals(), *__all__})
