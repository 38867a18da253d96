"""Accuracy of a land-cover map against a truth: confusion matrix, IoU, mIoU, OA.

Pure numpy. Pixels whose truth is 0 (no data) are ignored; predicted 0 on valid truth
counts as an error (a miss of that class).

>>> import numpy as np
>>> m = Metrics.from_arrays(np.array([1, 1, 2, 2]), np.array([1, 2, 2, 2]))
>>> round(m.iou[1], 3), round(m.iou[2], 3), m.overall_accuracy
(0.5, 0.667, 0.75)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from costa.nomenclature import CODES, N_CODES, by_code

__all__ = ["Metrics", "confusion", "evaluate"]


def confusion(pred: np.ndarray, truth: np.ndarray, n: int = N_CODES) -> np.ndarray:
    """``n × n`` matrix, rows = truth code, columns = predicted code (0 = no data)."""
    t, p = truth.ravel().astype(np.int64), pred.ravel().astype(np.int64)
    keep = t > 0
    return np.bincount(t[keep] * n + p[keep], minlength=n * n).reshape(n, n)


@dataclass(frozen=True)
class Metrics:
    """Per-class IoU (classes present in truth or prediction), mIoU and overall accuracy."""

    matrix: np.ndarray
    iou: dict[int, float]
    miou: float
    overall_accuracy: float

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> Metrics:
        """Compute the scores of a confusion matrix from :func:`confusion`."""
        tp = np.diag(matrix).astype(float)
        union = matrix.sum(0) + matrix.sum(1) - tp
        iou = {c: float(tp[c] / union[c]) for c in CODES if c < len(tp) and union[c] > 0}
        total = matrix[1:].sum()
        return cls(
            matrix,
            iou,
            float(np.mean(list(iou.values()))) if iou else 0.0,
            float(tp[1:].sum() / total) if total else 0.0,
        )

    @classmethod
    def from_arrays(cls, pred: np.ndarray, truth: np.ndarray) -> Metrics:
        """Scores of a predicted class raster against a truth raster of the same shape."""
        if pred.shape != truth.shape:
            raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
        return cls.from_matrix(confusion(pred, truth))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (class names in French, IoU per class code)."""
        return {
            "miou": round(self.miou, 4),
            "overall_accuracy": round(self.overall_accuracy, 4),
            "iou": {str(c): {"classe": by_code(c).fr, "iou": round(v, 4)} for c, v in self.iou.items()},
            "confusion": self.matrix.tolist(),
        }


def evaluate(pred: str | Path, truth: str | Path, block: int = 2048) -> Metrics:
    """Scores of a predicted class raster file against a truth raster file (same grid).

    Reads both in blocks, so rasters of any size are evaluated in constant memory.
    """
    import rasterio

    from costa.errors import SourceError
    from costa.tiling.tiles import Box

    with rasterio.open(pred) as p, rasterio.open(truth) as t:
        if p.shape != t.shape or p.transform != t.transform:
            raise SourceError(
                f"{pred} ({p.width}×{p.height}) and {truth} ({t.width}×{t.height}) "
                "are not on the same grid; resample one onto the other first"
            )
        matrix = np.zeros((N_CODES, N_CODES), np.int64)
        for r in range(0, p.height, block):
            for c in range(0, p.width, block):
                w = Box(r, c, block, block).clip(p.height, p.width).window()
                matrix += confusion(p.read(1, window=w), t.read(1, window=w))
    return Metrics.from_matrix(matrix)
