# One-command set-up: every target creates .venv and installs the pinned versions first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup train test test-slow test-compare test-gpu lint format bench bench-serve compare clean mlflow-ui

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

# scikit-learn for scripts/compare_tables.py and its test; kept out of `dev`, see pyproject.toml (once
# installed, scipy comes with it: `pip uninstall scikit-learn scipy` gives the faster start back).
COMPARE := $(VENV)/.compare-installed
$(COMPARE): $(STAMP)
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,compare]"
	touch $(COMPARE)

train: $(STAMP)
	$(BIN)/litmlp train $(ARGS)

# The suite minus tests marked slow (about a minute on 2 cores); CI runs both. `--dist loadfile`: a
# module's tests run on one worker, so its session fixture (a training run) is made once. (xdist_group
# marks stopped grouping under pytest 9.2: pytest-xdist issue #1386.)
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow" $(ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "slow and not compare" $(ARGS)

# litmlp's defaults against scikit-learn on its bundled tables (installs the `compare` extra).
test-compare: $(COMPARE)
	$(BIN)/python -m pytest -m compare $(ARGS)

# On a machine with a CUDA GPU (skipped elsewhere); prints each run's accuracy and time.
test-gpu: $(STAMP)
	$(BIN)/python -m pytest -m gpu -s $(ARGS)

# Training throughput against raw PyTorch; see README "Performance". ARGS="--json bench.json" to keep it.
bench: $(STAMP)
	$(BIN)/python scripts/benchmark.py $(ARGS)

# Load on `litmlp serve` over loopback: requests/s, p50/p99, dynamic batching on and off. See README.
bench-serve: $(STAMP)
	$(BIN)/python scripts/benchmark_serve.py $(ARGS)

# litmlp's defaults against scikit-learn's MLPClassifier on the small tables scikit-learn ships.
compare: $(COMPARE)
	$(BIN)/python scripts/compare_tables.py $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(MLFLOW_VENV) logs .pytest_cache .mypy_cache .ruff_cache

# The MLflow UI for `logger=mlflow` runs, on http://127.0.0.1:$(MLFLOW_PORT). The full `mlflow` (the UI)
# lives in an environment of its own: in .venv its scikit-learn and scipy would slow every `litmlp` start
# (pyproject.toml); it needs no torch, and pins pyarrow below constraints.txt's.
MLFLOW_VENV := .venv-mlflow
MLFLOW_PORT ?= 5000
$(MLFLOW_VENV)/.installed: constraints.txt
	test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet "mlflow==$$(sed -n 's/^mlflow==//p' constraints.txt)"
	touch $@

mlflow-ui: $(MLFLOW_VENV)/.installed
	mkdir -p logs/mlflow
	$(MLFLOW_VENV)/bin/mlflow server --host 127.0.0.1 --port $(MLFLOW_PORT) \
	  --backend-store-uri sqlite:///$(CURDIR)/logs/mlflow/mlflow.db $(ARGS)
