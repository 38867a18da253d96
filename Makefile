# The README's two commands: `make demo` and `make test`. Both create/update .venv first.
# `make demo` installs costa's runtime only (no torch, no test or docs tooling);
# `make test` adds the [dev] extra on top (torch for model export, pytest, docs...).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP     := $(VENV)/.installed-dev

.PHONY: demo test install lint bench bench-peers clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --no-compile -e .  # bytecode only for what runs: -160 MB
	touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@ $(RUNTIME_STAMP)

install: $(DEV_STAMP)

demo: $(RUNTIME_STAMP)
	$(VENV)/bin/costa demo --out out/demo

test: $(DEV_STAMP)
	$(VENV)/bin/ruff check costa tests benchmarks docs conftest.py
	$(PY) -m mypy
	$(PY) -m pytest
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site

bench: $(DEV_STAMP)
	$(PY) -m benchmarks run --quick

bench-peers: $(DEV_STAMP)
	$(PY) -m benchmarks peers

clean:
	rm -rf $(VENV) out site .pytest_cache .mypy_cache .ruff_cache
