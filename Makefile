# The two commands of the README: `make demo` and `make test`. Both install first.
PYTHON ?= python3
VENV := .venv
NDTMS := $(VENV)/bin/ndtms
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench down clean

install: $(STAMP)
	@$(NDTMS) fetch

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(NDTMS) demo

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	cd clients/python && ../../$(VENV)/bin/mypy tests
	$(VENV)/bin/pytest

bench: install
	$(VENV)/bin/python -m benchmarks.floor
	$(VENV)/bin/python -m benchmarks.pipeline
	$(VENV)/bin/python -m benchmarks.validator --updates 60000
	$(VENV)/bin/python -m benchmarks.linker --updates 60000
	$(VENV)/bin/python -m benchmarks.journey --updates 60000
	$(VENV)/bin/python -m benchmarks.recovery
	$(VENV)/bin/python -m benchmarks.ingest
	$(VENV)/bin/python -m benchmarks.matching
	$(VENV)/bin/python -m benchmarks.measures
	$(VENV)/bin/python -m benchmarks.continuity
	$(VENV)/bin/python -m benchmarks.startup

down:
	$(NDTMS) down

clean: down
	rm -rf state
