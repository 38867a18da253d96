"""The demo: a deterministic synthetic territory and the end-to-end run over it.

* :mod:`costa.demo.synthetic` — scenes planned and painted in numpy (no file written);
* :mod:`costa.demo.territory` — a territory on disk: dalles, mosaics, truth, parcels, communes;
* :mod:`costa.demo.run` — ``costa demo``: predict, evaluate, ZAN, report.
"""

from costa.demo.synthetic import Parcel, Scene, make_scene
from costa.demo.territory import Territory, make_territory

__all__ = ["Parcel", "Scene", "Territory", "make_scene", "make_territory"]
