from __future__ import annotations

import numpy as np

from costa.zan.rules import RULESETS, artificialised, class_counts, parcel_status, urban_usage

PX = 0.04  # m² per 20 cm pixel


def test_thresholds_remove_small_patches_but_keep_50m2_buildings() -> None:
    labels = np.full((400, 400), 14, np.uint8)  # a field (160 m × ... 6400 m²)
    labels[10:30, 10:30] = 2  # 16 m² of asphalt: too small, not artif
    labels[100:140, 100:140] = 1  # 64 m² building: always artif
    labels[300:310, 300:310] = 1  # 4 m² shed: below 50 m², dropped
    urban = np.zeros_like(labels, bool)
    pixel = artificialised(labels, urban, RULESETS["cosia-2023-pixel"], PX)
    thresh = artificialised(labels, urban, RULESETS["cosia-2023"], PX)
    assert pixel.sum() == 400 + 1600 + 100
    assert thresh.sum() == 1600 and thresh[100:140, 100:140].all()


def test_small_green_hole_in_a_town_counts_as_artificialised() -> None:
    labels = np.full((400, 400), 2, np.uint8)  # sealed town square, 6400 m²
    labels[50:80, 50:80] = 10  # 36 m² tree in the middle
    t = artificialised(labels, np.zeros_like(labels, bool), RULESETS["cosia-2023"], PX)
    assert t.all()


def test_parcel_usage_and_status() -> None:
    ids = np.zeros((100, 300), np.int32)
    ids[:, :100], ids[:, 100:200], ids[:, 200:] = 1, 2, 3
    labels = np.full((100, 300), 13, np.uint8)  # lawn everywhere
    labels[20:60, 20:60] = 1  # parcel 1: a 64 m² house → urban usage
    labels[:, 200:] = 14  # parcel 3: crops
    labels[0:30, 200:230] = 2  # parcel 3: 36 m² of yard
    counts = class_counts(ids, labels, 3)
    assert counts[1, 1] == 1600 and counts[1:, 1:].sum() == 30000
    urban = urban_usage(counts, PX)
    assert urban.tolist() == [False, True, False, False]
    artif = artificialised(labels, urban[ids], RULESETS["cosia-2023-pixel"], PX)
    artif_m2 = np.bincount(ids.ravel(), weights=artif.ravel(), minlength=4)[1:] * PX
    surface = counts[1:, 1:].sum(1) * PX
    assert artif_m2.tolist() == [400.0, 0.0, 36.0]  # lawn of parcel 1 counts; not of parcel 2
    assert parcel_status(artif_m2, surface).tolist() == [
        "artificialisée",
        "non artificialisée",
        "non artificialisée",
    ]
    assert parcel_status(np.array([60.0]), np.array([400.0])).tolist() == ["partiellement artificialisée"]
