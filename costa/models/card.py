"""The model contract: what an ONNX model must say about itself in ``metadata_props``.

Every value is a JSON document stored under one key. costa refuses a model whose
metadata is missing or contradicts its graph, and names the field at fault.

======================  =====================================================  ====================
key                     meaning                                                example
======================  =====================================================  ====================
``costa_format``        version of this contract                               ``1``
``name``                model name                                             ``"costa-demo"``
``classes``             one object per output channel, in channel order        ``[{"code": 1, ...}]``
``bands``               model input channels, in order                         ``["R","G","B","NIR"]``
``normalization``       ``{"mean": [...], "std": [...]}`` in source units      ``{"mean": [0,...]}``
``input_dtype``         dtype of the source pixels the normalisation expects  ``"uint8"``
``gsd_m``               ground sample distance the model was trained at (m)    ``0.2``
``tile_size``           default tile (pixels, multiple of ``stride``)          ``512``
``halo``                default halo (pixels, multiple of ``stride``)          ``64``
``stride``              total downsampling factor of the network               ``32``
``license``/``source``  where the weights come from, under which licence      ``"CC-BY-4.0"``
======================  =====================================================  ====================

A class object is ``{"code", "fr", "en", "color"}`` with a code of the nomenclature (or 0
for a channel that means "no data", as FLAIR's "other"); names and colour must agree with
:mod:`costa.nomenclature`, so a model can never relabel a class silently.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from costa.errors import ModelMetadataError
from costa.nomenclature import NODATA, by_code
from costa.tiling.tiles import geometry_problem

__all__ = ["FORMAT_VERSION", "ModelCard"]

FORMAT_VERSION = 1
_REQUIRED = (
    "costa_format",
    "name",
    "classes",
    "bands",
    "normalization",
    "input_dtype",
    "gsd_m",
    "tile_size",
    "halo",
    "stride",
)


@dataclass(frozen=True)
class ModelCard:
    """What a model expects and produces, read from (or written to) ONNX metadata."""

    name: str
    classes: tuple[int, ...]
    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_dtype: str = "uint8"
    gsd_m: float = 0.2
    tile_size: int = 512
    halo: int = 64
    stride: int = 32
    license: str = "unknown"
    source: str = "unknown"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(
            len(self.mean) == len(self.bands) == len(self.std),
            "normalization",
            f"mean and std need one value per band ({len(self.bands)} bands: "
            f"{','.join(self.bands)}); got {len(self.mean)} and {len(self.std)}",
        )
        _check(all(s > 0 for s in self.std), "normalization", "every std must be > 0")
        problem = geometry_problem(self.tile_size, self.halo, self.stride)
        if problem:
            which, why = problem
            _check(False, "tile_size" if which == "tile" else "halo", why.replace("--halo", "halo"))
        _check(self.gsd_m > 0, "gsd_m", f"{self.gsd_m} must be > 0")
        _check(
            np.dtype(self.input_dtype).kind in "uif",
            "input_dtype",
            f"{self.input_dtype!r} is not a numeric dtype",
        )
        for code in self.classes:
            _check(
                code == NODATA or 1 <= code <= 16,
                "classes",
                f"code {code} is not in the nomenclature (0 = no data, 1–16)",
            )

    @property
    def n_bands(self) -> int:
        """Number of model input channels."""
        return len(self.bands)

    @property
    def lut(self) -> np.ndarray:
        """Output channel index → class code, as a uint8 lookup table."""
        return np.asarray(self.classes, dtype=np.uint8)

    def normalize(self, raw: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Normalise ``(C, H, W)`` source pixels to float32 model input.

        Invalid pixels (``valid`` False) become 0, the normalised mean, so that no-data fill
        values never look like real signal to the network.
        """
        x = raw.astype(np.float32)  # the one copy; the rest is in place
        x -= np.asarray(self.mean, np.float32)[:, None, None]
        x *= (1.0 / np.asarray(self.std, np.float32))[:, None, None]
        if valid is not None and not valid.all():
            x *= valid[None]
        return x

    # --- (de)serialisation -------------------------------------------------------------
    def to_metadata(self) -> dict[str, str]:
        """The ``metadata_props`` to write into an ONNX model (all values JSON)."""
        classes = []
        for code in self.classes:
            if code == NODATA:
                classes.append({"code": 0, "fr": "Pas de donnée", "en": "no data", "color": "#000000"})
            else:
                c = by_code(code)
                classes.append({"code": c.code, "fr": c.fr, "en": c.en, "color": c.color})
        props: dict[str, Any] = {
            "costa_format": FORMAT_VERSION,
            "name": self.name,
            "classes": classes,
            "bands": list(self.bands),
            "normalization": {"mean": list(self.mean), "std": list(self.std)},
            "input_dtype": self.input_dtype,
            "gsd_m": self.gsd_m,
            "tile_size": self.tile_size,
            "halo": self.halo,
            "stride": self.stride,
            "license": self.license,
            "source": self.source,
            **self.extra,
        }
        return {k: json.dumps(v, ensure_ascii=False) for k, v in props.items()}

    @classmethod
    def from_metadata(cls, props: Mapping[str, str]) -> ModelCard:
        """Parse and validate ``metadata_props``.

        Raises:
            ModelMetadataError: a field is missing, not JSON, or inconsistent.

        """
        missing = [k for k in _REQUIRED if k not in props]
        if missing:
            raise ModelMetadataError(
                f"model metadata is missing field(s) {', '.join(missing)}; export the model "
                "with `costa model export` or add them to metadata_props (see costa.models.card)"
            )
        v = {k: _json(props, k) for k in props}
        _check(
            v["costa_format"] == FORMAT_VERSION,
            "costa_format",
            f"version {v['costa_format']!r} is not supported (this costa reads {FORMAT_VERSION})",
        )
        classes = tuple(_parse_class(i, c) for i, c in enumerate(_list(v, "classes")))
        norm = v["normalization"]
        _check(
            isinstance(norm, dict) and {"mean", "std"} <= norm.keys(),
            "normalization",
            'expected {"mean": [...], "std": [...]}',
        )
        known = set(_REQUIRED) | {"license", "source"}
        try:
            return cls(
                name=str(v["name"]),
                classes=classes,
                bands=tuple(str(b) for b in _list(v, "bands")),
                mean=tuple(float(m) for m in norm["mean"]),
                std=tuple(float(s) for s in norm["std"]),
                input_dtype=str(v["input_dtype"]),
                gsd_m=float(v["gsd_m"]),
                tile_size=int(v["tile_size"]),
                halo=int(v["halo"]),
                stride=int(v["stride"]),
                license=str(v.get("license", "unknown")),
                source=str(v.get("source", "unknown")),
                extra={k: val for k, val in v.items() if k not in known},
            )
        except (TypeError, ValueError) as e:
            if isinstance(e, ModelMetadataError):
                raise
            raise ModelMetadataError(f"model metadata has a value of the wrong type: {e}") from e

    def check_graph(self, n_inputs: int | None, n_outputs: int | None) -> None:
        """Check the card against the graph's channel counts (None = dynamic, not checked)."""
        if n_inputs is not None:
            _check(
                n_inputs == self.n_bands,
                "bands",
                f"the graph takes {n_inputs} input channels but metadata lists "
                f"{self.n_bands} bands ({','.join(self.bands)})",
            )
        if n_outputs is not None:
            _check(
                n_outputs == len(self.classes),
                "classes",
                f"the graph outputs {n_outputs} channels but metadata lists {len(self.classes)} classes",
            )


def _check(ok: bool, key: str, why: str) -> None:
    if not ok:
        raise ModelMetadataError(f"model metadata field '{key}': {why}")


def _json(props: Mapping[str, str], key: str) -> Any:
    try:
        return json.loads(props[key])
    except json.JSONDecodeError:
        raise ModelMetadataError(
            f"model metadata field '{key}': value is not JSON ({props[key][:40]!r})"
        ) from None


def _list(v: Mapping[str, Any], key: str) -> list[Any]:
    _check(isinstance(v[key], list) and len(v[key]) > 0, key, "expected a non-empty list")
    return list(v[key])


def _parse_class(i: int, c: Any) -> int:
    _check(isinstance(c, dict) and "code" in c, "classes", f"entry {i} has no 'code'")
    code = int(c["code"])
    if code == NODATA:
        return code
    _check(1 <= code <= 16, "classes", f"entry {i}: code {code} is not in the nomenclature (1–16)")
    ref = by_code(code)
    for attr in ("fr", "en", "color"):
        if attr in c:
            _check(
                str(c[attr]).lower() == getattr(ref, attr).lower(),
                "classes",
                f"entry {i}: code {code} is called {c[attr]!r} but the nomenclature "
                f"says {getattr(ref, attr)!r} ({attr})",
            )
    return code
