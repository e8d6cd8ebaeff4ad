# zrc as a service — developer entry points.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: install test lint bench demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

## install: a .venv with the package, its pinned dependencies and the `zrc` entry point
install: $(STAMP)

## test: every test (unit, golden, fuzz, CLI end-to-end)
test: $(STAMP)
	$(BIN)/python -m pytest -q

## lint: ruff over the code
lint: $(STAMP)
	$(BIN)/ruff check services tests tools bench

## bench: full-size generated case, wall time and peak RSS per task (BENCH_SCALE=0.1 for a quick run)
bench: $(STAMP)
	$(BIN)/python bench/bench.py --scale $${BENCH_SCALE:-1.0}

## demo: generate a small dataset + submission and evaluate it with the zrc CLI
demo: $(STAMP)
	$(BIN)/zrc demo

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info services/*.egg-info
