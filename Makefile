# leadml — `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_DIR := data/generated/demo
DEMO_LEADS ?= 50000
PYTEST_ARGS ?=
NOTEBOOK_PORT ?= 8888

.DEFAULT_GOAL := help
.PHONY: help install demo test browser test-fast fuzz lint format bench mlflow-ui serve notebook notebook-clean clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv (if missing) and install leadml with dev tools

demo: $(STAMP) ## Generate the synthetic funnel, validate, summarise, train, and write the ranked list
	$(BIN)/leadml demo-data --leads $(DEMO_LEADS) --seed 7 --out $(DEMO_DIR)
	$(BIN)/leadml validate $(DEMO_DIR)
	$(BIN)/leadml summary $(DEMO_DIR)
	$(BIN)/leadml train --data $(DEMO_DIR) --metrics-out reports/demo-metrics.json
	$(BIN)/leadml store upgrade
	$(BIN)/leadml score --data $(DEMO_DIR) --as-of latest --out reports/ranked.csv
	@echo "Ranked list: reports/ranked.csv."
	@echo "Sales page and API: create a key with '$(BIN)/leadml keys new me' (it prints the"
	@echo "LEADML_API_KEYS line to export), run 'make serve', open http://127.0.0.1:8000/ and sign in."

test: $(STAMP) browser ## Run the whole test suite (what CI runs; executes both notebooks)
	$(BIN)/python notebooks/lint.py
	$(BIN)/python -m pytest -n 2 --dist worksteal $(PYTEST_ARGS)

# The sales page's browser test drives Debian's Chromium (no pip package ships a usable one).
# Installed here when missing and root + apt are available; otherwise the test says why it
# did not run (and fails under CI=true).
browser: ## Install Debian's chromium for the browser test, when missing and possible
	@if command -v chromium >/dev/null 2>&1 || [ -x "$${LEADML_CHROMIUM:-/usr/bin/chromium}" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing Debian's chromium for the browser test ..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
		echo "chromium is missing and cannot be installed here (needs root and apt): the browser test will report that it did not run"; \
	fi

test-fast: $(STAMP) ## Run the tests except the slow end-to-end ones
	$(BIN)/python -m pytest -n 2 -m "not slow" $(PYTEST_ARGS)

FUZZ_EXAMPLES ?= 500
FUZZ_SERVER_EXAMPLES ?= 100
fuzz: $(STAMP) ## Schemathesis over the API in-process and over HTTP against leadml serve (slow)
	LEADML_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) LEADML_FUZZ_SERVER_EXAMPLES=$(FUZZ_SERVER_EXAMPLES) \
		$(BIN)/python -m pytest -n 0 -s tests/serve/test_fuzz.py

lint: $(STAMP) ## ruff (lint + format check), mypy, and notebooks committed without outputs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python notebooks/lint.py

format: $(STAMP) ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

notebook: $(STAMP) ## Start JupyterLab on the project's venv, in notebooks/ (http://127.0.0.1:8888)
	$(BIN)/jupyter lab --notebook-dir=notebooks --port $(NOTEBOOK_PORT) $(if $(filter 0,$(shell id -u)),--allow-root)

notebook-clean: ## Strip outputs and execution counts from the notebooks (before committing)
	$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON)) notebooks/lint.py --fix

mlflow-ui: $(STAMP) ## Open the MLflow UI on the project's tracking store (http://127.0.0.1:5000)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --port 5000

serve: $(STAMP) ## Serve the champion model on http://127.0.0.1:8000 (keys: see README "Serve the model")
	$(BIN)/leadml serve $(SERVE_ARGS)

bench: $(STAMP) ## Run the benchmarks under bench/ (prints figures; slow)
	$(BIN)/python bench/bench_synth.py
	$(BIN)/python bench/bench_features.py
	$(BIN)/python bench/bench_explain.py
	$(BIN)/python bench/bench_score.py
	$(BIN)/python bench/bench_train.py
	$(BIN)/python bench/bench_serve.py
	$(BIN)/python bench/bench_ranked_api.py

clean: ## Remove generated data, runs and the venv
	rm -rf $(VENV) data/generated mlruns mlflow.db mlartifacts reports scores.db scores.db-wal scores.db-shm
