# Two commands: `make demo` and `make test`. Both set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: setup demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# The real Claude Code CLI for the end-to-end tests (the npm package ships the native binary).
$(NPM_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(NPM_STAMP)

setup: $(STAMP) $(NPM_STAMP)

demo: $(STAMP)
	$(BIN)/samoflow demo

test: setup
	$(BIN)/ruff check samoflow tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	SAMOFLOW_CLAUDE_BIN=$(CURDIR)/node_modules/.bin/claude $(BIN)/pytest -q -n 3 --maxschedchunk=1 --durations=15

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

bench: $(STAMP)
	$(BIN)/python -m benchmarks.iteration_overhead

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
