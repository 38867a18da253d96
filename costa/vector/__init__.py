"""Vector outputs: the land-cover raster as a clean polygon coverage (:mod:`costa.vector.polygons`)."""

from costa.vector.polygons import LAYER, VectorizeReport, vectorize

__all__ = ["LAYER", "VectorizeReport", "vectorize"]
