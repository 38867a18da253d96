from __future__ import annotations

import json

import numpy as np
import pytest

from costa.errors import ModelMetadataError
from costa.models.card import ModelCard
from tests.conftest import CARD


def test_metadata_round_trip() -> None:
    props = CARD.to_metadata()
    assert json.loads(props["classes"])[0] == {
        "code": 1,
        "fr": "Bâtiment",
        "en": "building",
        "color": "#ce7079",
    }
    assert ModelCard.from_metadata(props) == CARD


@pytest.mark.parametrize("field", ["classes", "bands", "normalization", "gsd_m", "tile_size"])
def test_missing_field_is_named(field: str) -> None:
    props = CARD.to_metadata()
    del props[field]
    with pytest.raises(ModelMetadataError, match=f"missing field\\(s\\) {field}"):
        ModelCard.from_metadata(props)


def test_relabelled_class_is_refused() -> None:
    props = CARD.to_metadata()
    classes = json.loads(props["classes"])
    classes[3]["fr"] = "Bassin"
    props["classes"] = json.dumps(classes)
    with pytest.raises(ModelMetadataError, match="'classes': entry 3: code 4 is called 'Bassin'"):
        ModelCard.from_metadata(props)


def test_inconsistent_values_are_refused() -> None:
    props = CARD.to_metadata()
    props["normalization"] = json.dumps({"mean": [1, 2, 3], "std": [1, 1, 1]})
    with pytest.raises(ModelMetadataError, match="'normalization'"):
        ModelCard.from_metadata(props)
    props = CARD.to_metadata()
    props["tile_size"] = "500"
    with pytest.raises(ModelMetadataError, match="'tile_size': 500 must be a multiple of the model stride"):
        ModelCard.from_metadata(props)
    props = CARD.to_metadata()
    props["gsd_m"] = "twenty"
    with pytest.raises(ModelMetadataError, match="'gsd_m': value is not JSON"):
        ModelCard.from_metadata(props)


def test_graph_mismatch_is_refused() -> None:
    with pytest.raises(ModelMetadataError, match="graph takes 3 input channels"):
        CARD.check_graph(3, 16)
    with pytest.raises(ModelMetadataError, match="graph outputs 19 channels"):
        CARD.check_graph(4, 19)


def test_normalize_zeroes_invalid_pixels() -> None:
    raw = np.full((4, 2, 2), 170, np.uint8)
    valid = np.array([[True, False], [True, True]])
    x = CARD.normalize(raw, valid)
    assert x.dtype == np.float32
    assert x[0, 0, 0] == pytest.approx(1.0) and x[:, 0, 1].tolist() == [0, 0, 0, 0]
