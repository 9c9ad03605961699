# Program Builder — every target bootstraps its own virtualenv (.venv) from constraints.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test lint typecheck unit integration e2e reliability schemas bench demo docs clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt --editable ".[test]"
	@touch $(STAMP)

install: $(STAMP)

## make run: the service on the embedded broker + PostgreSQL (Ctrl-C stops everything)
run: install
	$(BIN)/program-builder dev

## make test: lint, type-check, then every test (unit, integration, end-to-end)
test: install lint typecheck
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration

e2e: install
	$(BIN)/pytest tests/e2e

## make reliability: kills, outages, fuzzing, tenants, retention (RELIABILITY_SCALE=10 for longer)
reliability: install
	$(BIN)/pytest tests/reliability -s

## make bench: the end-to-end benchmark on the embedded stack (prints a table, writes JSON + PNG)
bench: install
	$(BIN)/python -m bench

## make demo: a coaching session through Kafka against `make run` (or its own embedded stack)
demo: install
	$(BIN)/program-builder demo

## make docs: the AsyncAPI page on http://127.0.0.1:8000
docs: install
	$(BIN)/program-builder docs

## make schemas: regenerate the published JSON Schemas and AsyncAPI document
schemas: install
	$(BIN)/python -m contracts.generate
	$(BIN)/program-builder asyncapi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
