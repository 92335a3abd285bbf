# The two set-up commands (README): `make demo` and `make test`. Both work from nothing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The runtime (RapidOCR, Celery, SQLAlchemy, FastAPI ...): all that the demo needs.
CORE   := $(VENV)/.installed-core
# Plus what the tests need: the `dev` tools and the `hunyuan` engine's torch and transformers.
STAMP  := $(VENV)/.installed-test

.PHONY: demo test lint typecheck unit bench services fonts browser schema clean

# A plain install: the demo needs no editable one (whose meta path finder setuptools
# warns about); `make test` replaces it with an editable install of the working tree.
$(CORE): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q .
	touch $@

$(STAMP): $(CORE)
	# CPU build of torch (the pinned file on these machines); GPU hosts install their own.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev,hunyuan]'
	touch $@

fonts:
	./scripts/ensure-fonts.sh

services:
	./scripts/ensure-services.sh

browser:
	./scripts/ensure-browser.sh

demo: $(CORE) fonts
	$(BIN)/adreview demo

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) fonts services browser
	$(BIN)/python -m pytest

test: lint typecheck unit

bench: $(STAMP) fonts services
	$(BIN)/python bench/matching.py
	$(BIN)/python bench/scan.py
	$(BIN)/python bench/workers.py
	$(BIN)/python bench/rescan.py
	$(BIN)/python bench/rules_quality.py

schema: $(STAMP)
	$(BIN)/adreview rules schema > rules/rules.schema.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
