# Two entry points for a fresh machine with Python 3.11+ and git:
#   make demo   runs the example contract-signing DAG end to end against the local sandbox (sandbox/)
#   make test   lints, type-checks and runs the whole test suite (Airflow 3.3)
# `make test AIRFLOW=2.11` runs the suite against Airflow 2.11 in a second venv, `make test AIRFLOW=3.1`
# against the oldest supported Airflow 3 (3.1) in a third; both run pytest only (lint and mypy run on 3.3).

PYTHON ?= python3
AIRFLOW ?= 3.3
UV_VERSION := 0.13.9
ifeq ($(AIRFLOW),2.11)
VENV ?= .venv-af2
else ifeq ($(AIRFLOW),3.1)
VENV ?= .venv-af31
else
VENV ?= .venv
endif
CONSTRAINTS := constraints/airflow-$(AIRFLOW).txt
BIN := $(VENV)/bin

.PHONY: install lint typecheck pytest test demo demo-webhooks bench docs screenshots dist clean constraints

# Both distributions of this repository, editable: the provider (.) and the sandbox (sandbox/).
$(VENV)/.installed: pyproject.toml setup.cfg sandbox/pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --python $(BIN)/python -c $(CONSTRAINTS) -e '.[all,postgres]' -e ./sandbox \
		--group dev
	touch $@

install: $(VENV)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

ifeq ($(AIRFLOW),3.3)
test: lint typecheck pytest
else
test: pytest
endif

# PROFILE=production: the sandbox answers as a production integration saw NextSign (docs: as documented).
PROFILE ?= docs
demo: install
	$(BIN)/python scripts/demo.py --profile $(PROFILE)

# Airflow 3: three signed sandbox cases -> webhook receiver -> exactly three asset-triggered runs.
# VIA=watcher: the same through the asset watcher (polling, no inbound HTTP).
VIA ?= webhook
demo-webhooks: install
	$(BIN)/python scripts/webhook_demo.py --via $(VIA) --profile $(PROFILE)

bench: install
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# The documentation site, warnings as errors.
docs: install
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html
	@echo "docs built: docs/_build/html/index.html"

# Re-take docs/_static/connection-form*.png (needs Debian's chromium: apt-get install -y chromium).
screenshots: install
	$(BIN)/python scripts/screenshot_connection_form.py

# The sdists and wheels of both distributions (airflow-provider-nextsign and nextsign-sandbox) as PyPI
# would get them (each wheel built from its sdist, in an isolated environment), checked with twine.
# Nothing is uploaded.
dist: install
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python -m build --outdir dist sandbox
	$(BIN)/twine check --strict dist/*

# Re-pin after changing dependencies in pyproject.toml or sandbox/pyproject.toml.
COMPILE_INPUTS := pyproject.toml sandbox/pyproject.toml
constraints: install
	$(BIN)/uv pip compile $(COMPILE_INPUTS) --python-version 3.11 --extra all --extra postgres --group dev \
		-P apache-airflow==3.3.2 --no-header --annotation-style line -o constraints/airflow-3.3.txt
	$(BIN)/uv pip compile $(COMPILE_INPUTS) --python-version 3.11 --extra all --extra postgres --group dev \
		-P apache-airflow==2.11.2 --no-header --annotation-style line -o constraints/airflow-2.11.txt
	$(BIN)/uv pip compile $(COMPILE_INPUTS) --python-version 3.11 --extra all --extra postgres --group dev \
		-P apache-airflow==3.1.8 --no-header --annotation-style line -o constraints/airflow-3.1.txt

clean:
	rm -rf .venv .venv-af2 .venv-af31 .demo build dist *.egg-info sandbox/build sandbox/*.egg-info
