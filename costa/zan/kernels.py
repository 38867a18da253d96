r"""Compiled per-pixel sweeps of the ZAN windows (numba, cached on disk).

The windowed passes (:mod:`costa.zan.windowed`, :mod:`costa.zan.patches`) count pixels per
parcel and class, count masked pixels per id, and look up each pixel's patch and built-patch
states. With numpy each of these is several full-window temporaries (int64 codes for a
``bincount``, a boolean-indexed copy of the ids, two gathers and their masks); here each is one
sweep with no temporary. Each function is compiled at its first call in a process and cached
next to this file (``cache=True``: a later process loads it in milliseconds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

from costa.nomenclature import N_CODES

__all__ = ["class_counts", "masked_counts", "pixel_states"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _compiled(f: _F) -> _F:
    """``numba.njit``, cached on disk, without bounds checks (the loops index in range)."""
    return cast(_F, numba.njit(cache=True, nogil=True, boundscheck=False)(f))


def class_counts(pid: np.ndarray, lab: np.ndarray, k: int) -> np.ndarray:
    """Pixels per (local id, class): ``(k, N_CODES)`` int64, ``np.bincount(pid * N_CODES + lab)``."""
    out: np.ndarray = _class_counts(pid, lab, k, N_CODES)
    return out


@_compiled
def _class_counts(pid: np.ndarray, lab: np.ndarray, k: int, n_codes: int) -> np.ndarray:
    out = np.zeros((k, n_codes), np.int64)
    h, w = lab.shape
    for r in range(h):
        for c in range(w):
            out[pid[r, c], lab[r, c]] += 1
    return out


def masked_counts(ids: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Pixels of ``mask`` per id (int64, ``n`` entries): ``np.bincount(ids[mask], minlength=n)``."""
    out: np.ndarray = _masked_counts(ids, mask, n)
    return out


@_compiled
def _masked_counts(ids: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n, np.int64)
    h, w = ids.shape
    for r in range(h):
        for c in range(w):
            if mask[r, c]:
                out[ids[r, c]] += 1
    return out


def pixel_states(comp: np.ndarray, known: np.ndarray, built: np.ndarray, b_known: np.ndarray) -> np.ndarray:
    """Per pixel, what the window knows of it: 1 artificialised, 0 not, -1 not yet decided.

    ``known`` per patch label and ``b_known`` per built label hold 1, 0 or -1 (unknown); a
    pixel is artificialised for sure when its patch is, or its built patch is big; undecided
    when either is unknown and it is not artificialised for sure.
    """
    out: np.ndarray = _pixel_states(comp, known, built, b_known)
    return out


@_compiled
def _pixel_states(comp: np.ndarray, known: np.ndarray, built: np.ndarray, b_known: np.ndarray) -> np.ndarray:
    h, w = comp.shape
    out = np.empty((h, w), np.int8)
    for r in range(h):
        for c in range(w):
            s = known[comp[r, c]]
            b = built[r, c]
            if b and s != 1:
                fb = b_known[b]
                if fb == 1 or fb < 0:
                    s = fb
            out[r, c] = s
    return out
