"""ONNX Runtime sessions: load a model safely, choose a provider, run batches.

Only ONNX files are loaded (never pickles). The provider is chosen at run time,
TensorRT → CUDA → CPU, and GPU providers are only asked for where their libraries can
load, so a CPU machine never prints CUDA loading errors. The provider that really runs
is reported (``Model.provider``).
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort

from costa.errors import ModelError, ProviderError, first_line
from costa.inference.footprint import STAMP_KEY, Footprint, estimate, from_live
from costa.models.card import ModelCard

__all__ = ["PROVIDERS", "Model", "ProviderName", "gpu_libraries_loadable", "open_model"]

ProviderName = Literal["auto", "cpu", "cuda", "tensorrt"]
PROVIDERS: dict[str, str] = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_SHORT = {v: k for k, v in PROVIDERS.items()}
_log = logging.getLogger(__name__)


@dataclass
class Model:
    """An ONNX segmentation model ready to run: its card, what its graph takes, provenance.

    :func:`open_model` checks the file with a session opened without graph optimisations (a
    third of the time), which chooses the provider and answers questions about the graph; what
    it answered is kept (``providers``, ``input_type``…) and the session is closed, so its copy
    of the weights (110 MB for a resnet34 U-Net) is not held while tiles run. The sessions that
    run tiles, fully optimised, are built at first use: the fused graph (:meth:`classify`) in the
    usual case, the network as exported (:meth:`run`) for the numpy reference path.
    """

    path: Path
    card: ModelCard
    providers: list[str]
    """ONNX Runtime providers, in order of preference; the first is the one that runs."""
    provider_options: dict[str, dict[str, str]]
    """The options costa set, by provider (those it did not set are ONNX Runtime's defaults)."""
    threads: int
    """Intra-op threads (0: all cores)."""
    input_type: str
    """The graph input's tensor type, e.g. ``tensor(float)``."""
    input_shape: list[Any]
    sha256: str
    fused: bool = True
    """Run normalisation and argmax inside the graph (:meth:`classify`); False: numpy reference."""
    _fused_sessions: dict[tuple[str, bool, bool], ort.InferenceSession] = field(
        default_factory=dict, repr=False, compare=False
    )
    """Optimised sessions by (raw dtype, confidence, masked); ``("", False, False)``: the network as is."""

    @functools.cached_property
    def footprint(self) -> Footprint | None:
        """Memory per tile pixel and fixed, estimated from the graph (None if it cannot tell).

        Read from the metadata a model is written with (:func:`~costa.inference.footprint.stamp`);
        worked out from the graph, which imports ``onnx``, for a model written elsewhere.
        """
        if STAMP_KEY in self.card.extra:
            live = self.card.extra[STAMP_KEY]
            return None if live is None else from_live(float(live), self.path.stat().st_size)
        return estimate(self.path.read_bytes())

    @property
    def provider(self) -> str:
        """Short name of the provider that runs the graph (``cpu``, ``cuda``, ``tensorrt``)."""
        first = self.providers[0]
        return _SHORT.get(first, first)

    @property
    def input_dtype(self) -> np.dtype:
        """Dtype the graph takes (float32, or float16 for fp16 exports)."""
        return np.dtype(np.float16) if "float16" in self.input_type else np.dtype(np.float32)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(N, K, H, W)`` for a normalised float32 batch ``(N, C, H, W)``."""
        sess = self._fused_sessions.get(("", False, False))
        if sess is None:
            sess = self._fused_sessions[("", False, False)] = self._optimised(self._unchanged_bytes())
        inp = sess.get_inputs()[0].name
        (out,) = sess.run(None, {inp: x.astype(self.input_dtype, copy=False)})
        return np.asarray(out)

    def can_classify(self, raw_dtype: np.dtype) -> bool:
        """True if :meth:`classify` can take source pixels of this dtype."""
        return self.fused and np.dtype(raw_dtype).kind in "uif"

    def classify(
        self, raw: np.ndarray, valid: np.ndarray, confidence: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Class codes (and confidence %) ``(N, H, W)`` uint8 for raw pixels ``(N, C, H, W)``.

        The same values as normalising, :meth:`run` and an argmax in numpy, computed by ONNX
        Runtime in a graph edited at first use (:func:`costa.inference.fused.fuse`). ``valid``
        ``(N, H, W)`` marks the pixels to use; the others are fed as the normalised mean. Batches
        run the graph without the mask (:func:`~costa.inference.fused.fuse`, ``masked=False``)
        until the first one with a no-data pixel.
        """
        masked = (raw.dtype.str, confidence, True) in self._fused_sessions or not valid.all()
        sess = self.fused_session(raw.dtype, confidence=confidence, masked=masked)
        out = sess.run(None, {"raw": raw, "valid": valid[:, None]} if masked else {"raw": raw})
        return np.asarray(out[0]), (np.asarray(out[1]) if confidence else None)

    def fused_session(
        self, raw_dtype: np.dtype, *, confidence: bool = False, masked: bool = False
    ) -> ort.InferenceSession:
        """The optimised session of the fused graph for ``raw_dtype`` pixels, built at first use.

        Inputs ``raw`` (and ``valid`` if ``masked``), outputs ``codes`` (and ``confidence``):
        :func:`costa.inference.fused.fuse`. Callers holding pixels in GPU memory bind them to
        this session (ONNX Runtime's IO binding) rather than going through :meth:`classify`.
        """
        raw = np.dtype(raw_dtype)
        dtype = raw.str
        key = (dtype, confidence, masked)
        sess = self._fused_sessions.get(key)
        if sess is None:
            from costa.inference.fused import fuse

            # one form at a time: once a batch has no-data pixels, the masked form serves every
            # later batch and the unmasked one is freed (its weights are a second copy)
            self._fused_sessions.pop((dtype, confidence, False), None)
            fused = fuse(self._unchanged_bytes(), self.card, raw, confidence=confidence, masked=masked)
            sess = self._fused_sessions[key] = self._optimised(fused)
        return sess

    def _unchanged_bytes(self) -> bytes:
        """The model file, as it was when opened (its SHA-256 is in every output's provenance)."""
        data = self.path.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.sha256:
            raise ModelError(f"{self.path} changed on disk since it was opened; open it again")
        return data

    def _optimised(self, model_bytes: bytes) -> ort.InferenceSession:
        """A session for ``model_bytes`` on this model's providers, every graph optimisation on."""
        return ort.InferenceSession(
            model_bytes,
            sess_options=_session_options(self.threads),
            providers=self.providers,
            provider_options=[self.provider_options.get(p, {}) for p in self.providers],
        )


def gpu_libraries_loadable(provider: str) -> bool:
    """True if the NVIDIA driver (and, for TensorRT, libnvinfer) can be loaded here."""
    libs = ["libcuda.so.1"] + (["libnvinfer.so.10"] if provider == "tensorrt" else [])
    try:
        for lib in libs:
            ctypes.CDLL(lib)
    except OSError:
        return False
    preload = getattr(ort, "preload_dlls", None)  # CUDA/cuDNN from pip wheels (torch ships them)
    if preload is not None:
        try:
            preload()
        except Exception as e:  # best effort: the session still reports what loaded
            _log.debug("onnxruntime.preload_dlls failed: %s", e)
    return True


def _providers(request: ProviderName) -> list[tuple[str, dict[str, str]]]:
    available = ort.get_available_providers()
    if request != "auto":
        name = PROVIDERS.get(request)
        if name is None:
            raise ProviderError(f"--provider {request!r} is not one of auto, {', '.join(PROVIDERS)}")
        if name not in available or (request != "cpu" and not gpu_libraries_loadable(request)):
            raise ProviderError(
                f"provider {request!r} cannot run here (onnxruntime offers "
                f"{', '.join(_SHORT.get(p, p) for p in available)}; for GPUs install "
                "onnxruntime-gpu and an NVIDIA driver); use --provider auto or cpu"
            )
        chain = [request] + (["cuda"] if request == "tensorrt" else []) + ["cpu"]
    else:
        chain = [
            p for p in ("tensorrt", "cuda") if PROVIDERS[p] in available and gpu_libraries_loadable(p)
        ] + ["cpu"]
    return [_provider_spec(p) for p in dict.fromkeys(chain)]


def _provider_spec(short: str) -> tuple[str, dict[str, str]]:
    """A provider's name and the options costa sets for it (the rest are ONNX Runtime's defaults)."""
    if short == "tensorrt":
        cache = Path(os.environ.get("COSTA_TRT_CACHE", Path.home() / ".cache" / "costa" / "trt"))
        return PROVIDERS[short], {
            "trt_fp16_enable": "True",
            "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": str(cache),
        }
    if short == "cuda":
        # convolutions in NHWC on Hopper's tensor cores: resnet34 U-Net, 8 × 1024², H200,
        # fp16 423 → 567 Mpx/s, fp32 300 → 356 (benchmarks/results/gpu.json)
        return PROVIDERS[short], {"prefer_nhwc": "1"}
    return PROVIDERS[short], {}


def open_model(path: str | Path, provider: ProviderName = "auto", threads: int | None = None) -> Model:
    """Load an ONNX model, validate its metadata and start a session.

    Args:
        path: ``.onnx`` file with costa metadata (see :mod:`costa.models.card`), or an ``s3://``
            URL (fetched once into a local cache, :func:`costa.io.remote.cached`).
        provider: ``auto`` (TensorRT → CUDA → CPU), or one provider, which must be available.
        threads: CPU threads for ONNX Runtime (default: all cores).

    Raises:
        ModelError: not an ONNX file. ModelMetadataError: metadata missing or inconsistent.
        ProviderError: the requested provider cannot run here.

    Examples:
        >>> import costa
        >>> model = costa.open_model(costa.demo_model_path(), provider="cpu")
        >>> model.card.name, model.card.bands, model.provider
        ('costa-demo', ('R', 'G', 'B', 'NIR'), 'cpu')

    """
    if str(path).startswith("s3://"):
        from costa.io.remote import cached

        path = cached(str(path))
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    data = path.read_bytes()
    opts = _session_options(threads)
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # see Model
    specs = dict(_providers(provider))
    try:
        session = ort.InferenceSession(
            data, sess_options=opts, providers=list(specs), provider_options=list(specs.values())
        )
    except Exception as e:  # ORT raises its own exception types for bad protobufs
        raise ModelError(f"{path} is not a valid ONNX model ({first_line(e, 200)})") from None
    card = ModelCard.from_metadata(session.get_modelmeta().custom_metadata_map)
    inp, out = session.get_inputs()[0], session.get_outputs()[0]
    card.check_graph(_dim(inp.shape, 1), _dim(out.shape, 1))
    return Model(
        path=path,
        card=card,
        providers=session.get_providers(),
        provider_options={p: specs[p] for p in session.get_providers() if specs.get(p)},
        threads=session.get_session_options().intra_op_num_threads,
        input_type=inp.type,
        input_shape=list(inp.shape),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _session_options(threads: int | None) -> ort.SessionOptions:
    """ONNX Runtime's options for costa: quiet, ``threads`` intra-op threads (0: all cores), no spinning."""
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    # idle intra-op threads sleep instead of spinning: spinning took the cores that reading and
    # compressing need (null model 8192²: 9.0 → 7.7 CPU-s, −0.3 s) and did not speed a U-Net up
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads:
        opts.intra_op_num_threads = threads
    return opts


def _dim(shape: list[Any], axis: int) -> int | None:
    return shape[axis] if len(shape) > axis and isinstance(shape[axis], int) else None
