# The README's two commands: `make demo` and `make test`. Both create/update .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test install lint bench bench-peers clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/costa demo --out out/demo

test: $(STAMP)
	$(VENV)/bin/ruff check costa tests benchmarks docs conftest.py
	$(PY) -m mypy
	$(PY) -m pytest
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site

bench: $(STAMP)
	$(PY) -m benchmarks run --quick

bench-peers: $(STAMP)
	$(PY) -m benchmarks peers

clean:
	rm -rf $(VENV) out site .pytest_cache .mypy_cache .ruff_cache
