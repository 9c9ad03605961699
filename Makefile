# Program Builder — every target bootstraps its own virtualenv (.venv) from constraints.txt.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install tooling tooling-lock chromium run test lint typecheck unit integration e2e reliability schemas bench demo docs clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --constraint constraints.txt --editable ".[test]"
	@touch $(STAMP)

install: $(STAMP)

## make tooling: what other teams run on the published contract, for the tests that play them:
## the npm tools pinned in tooling/ (AsyncAPI parser, ajv, json-schema-to-typescript, tsc,
## kafkajs types) and Debian's chromium for the AsyncAPI page (installed when root).
TOOLING_STAMP := tooling/node_modules/.installed
CHROMIUM      ?= $(firstword $(wildcard /usr/bin/chromium /usr/bin/chromium-browser))

$(TOOLING_STAMP): tooling/package.json tooling/package-lock.json
	cd tooling && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

tooling: $(TOOLING_STAMP) chromium

chromium:
ifeq ($(CHROMIUM),)
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium (headless check of the AsyncAPI page)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else \
		echo "chromium is missing and this is not root with apt-get: install Debian's chromium" \
		     "package (or set CHROMIUM=/path/to/chromium); the AsyncAPI page test needs it"; \
	fi
endif

## make tooling-lock: re-resolve tooling/package-lock.json after changing tooling/package.json
tooling-lock:
	cd tooling && npm install --package-lock-only --omit-lockfile-registry-resolved --ignore-scripts --no-audit --no-fund
	node tooling/lockfile.mjs

## make run: the service on the embedded broker + PostgreSQL (Ctrl-C stops everything)
run: install
	$(BIN)/program-builder dev

## make test: lint, type-check, then every test (unit, integration, end-to-end)
test: install tooling lint typecheck
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

## make schemas: regenerate the published contract: JSON Schemas, the AsyncAPI document, the
## TypeScript types, and the copy of the AsyncAPI page's renderer (when its pin changed)
schemas: install $(TOOLING_STAMP)
	$(BIN)/python -m contracts.generate
	node tooling/typescript.mjs contracts/schemas contracts/typescript
	$(BIN)/python tooling/renderer.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis tooling/node_modules
