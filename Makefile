# Every target runs inside a local virtualenv that `make install` creates; a fresh clone needs
# nothing else. PYTHON picks the interpreter the venv is made from (Python 3.11).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test lint bench-signal clean demo reproduce-table1 mlflow-ui slurm-up slurm-down browser-up

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt requirements-vlmeval.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]' -r requirements-vlmeval.txt
	$(PY) -m pip install --quiet -c constraints.txt --no-deps ms-vlmeval==0.0.20
	touch $(STAMP)

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check dyco_repro tests hydra_plugins
	$(VENV)/bin/ruff format --check dyco_repro tests hydra_plugins

# The Table 1 matrix (4 algorithms x 2 sizes x baseline/DyCo-RL + zero-shot) on the tiny world:
# CPU, offline, local MLflow store under outputs/; prints the table at the end.
demo: install
	$(PY) -m dyco_repro.sweep -m matrix=table1 profile=tiny

# The paper's matrix on a SLURM cluster (profile=paper): checkpoints, ThinkLite-VL data and
# LMUData come from config (see README, Cluster guide); set DYCO_SLURM_PARTITION/_ACCOUNT.
reproduce-table1: install
	$(PY) -m dyco_repro.sweep -m matrix=table1 launcher=slurm $(ARGS)

MLFLOW_PORT ?= 5000
mlflow-ui: install
	@echo "MLflow UI: http://127.0.0.1:$(MLFLOW_PORT)/#/experiments?workflowType=machine_learning (the Model training view)"
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(CURDIR)/outputs/mlflow.db --port $(MLFLOW_PORT)

bench-signal: install
	$(PY) -m dyco_repro.bench signal

# A one-node SLURM cluster on this machine for the SLURM tests (root, Debian; see scripts/slurm/).
slurm-up:
	bash scripts/slurm/up.sh

slurm-down:
	bash scripts/slurm/down.sh

# Headless Chromium (Debian's chromium) for the viewer's browser tests (root, apt; see scripts/browser/).
browser-up:
	bash scripts/browser/up.sh

clean:
	rm -rf $(VENV) .cache .pytest_cache
