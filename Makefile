# Every target runs inside a local virtualenv that `make install` creates; a fresh clone needs
# nothing else. PYTHON picks the interpreter the venv is made from (Python 3.11).
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install test lint bench-signal clean slurm-up slurm-down

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
	$(VENV)/bin/ruff check dyco_repro tests
	$(VENV)/bin/ruff format --check dyco_repro tests

bench-signal: install
	$(PY) -m dyco_repro.bench signal

# A one-node SLURM cluster on this machine for the SLURM tests (root, Debian; see scripts/slurm/).
slurm-up:
	bash scripts/slurm/up.sh

slurm-down:
	bash scripts/slurm/down.sh

clean:
	rm -rf $(VENV) .cache .pytest_cache
