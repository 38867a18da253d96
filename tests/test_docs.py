"""The public API is documented: every function has a runnable example and a place in docs/api.md."""

from __future__ import annotations

import doctest
import inspect
from pathlib import Path

import numpy as np
import pytest

import costa

API_PAGE = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
PUBLIC_FUNCTIONS = [
    costa.predict,
    costa.evaluate,
    costa.open_model,
    costa.demo_model_path,
    costa.predict_array,
    costa.run_job,
    costa.job_status,
    costa.zan.compute,
    costa.zan.query,
    costa.demo.make_territory,
    costa.plot.landcover,
    costa.plot.confusion,
    costa.plot.zan,
]


@pytest.mark.parametrize("func", PUBLIC_FUNCTIONS, ids=lambda f: f"{f.__module__}.{f.__name__}")
def test_public_function_has_an_example_and_a_reference_entry(func: object) -> None:
    doc = inspect.getdoc(func) or ""
    assert doctest.DocTestParser().get_examples(doc), f"{func} has no >>> example"
    assert f"::: {func.__module__}.{func.__name__}" in API_PAGE or f"::: {func.__module__}\n" in API_PAGE  # type: ignore[attr-defined]


def test_every_public_class_and_error_is_in_the_reference() -> None:
    for name in costa.__all__:
        obj = getattr(costa, name)
        if inspect.isclass(obj):
            assert f"::: {obj.__module__}.{name}" in API_PAGE or f"::: {obj.__module__}\n" in API_PAGE, name


def test_predict_array_docstring_example() -> None:
    """costa.inference.engine.predict_array's example (skipped there: it needs the demo model), run here."""
    model = costa.open_model(costa.demo_model_path())
    assert costa.predict_array(np.zeros((4, 300, 300), np.uint8), model).shape == (300, 300)
