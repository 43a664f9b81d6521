# Ember: `make demo` and `make test` are all a newcomer needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATA ?= $(if $(EMBER_DATA),$(EMBER_DATA),../shared/data)

.PHONY: demo test test-slow fuzz bench install clean

$(VENV)/.base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null 2>&1 || true
	$(PY) -m pip install -q -e '.[extras]'
	touch $@

$(VENV)/.test: $(VENV)/.base
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.base

demo: $(VENV)/.base
	$(PY) examples/demo.py --data $(DATA)

# Two test processes on two cores: one BLAS/torch thread each avoids oversubscription.
TEST_ENV := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

test: $(VENV)/.test
	$(TEST_ENV) $(PY) -m pytest -n 2 -q

test-slow: $(VENV)/.test
	$(TEST_ENV) $(PY) -m pytest -m slow -q -o addopts=""

# Differential fuzzing against torch, the long randomized campaign
# (FUZZ_EXAMPLES=N for more or fewer programs; the default suite runs a short fixed-seed one).
fuzz: $(VENV)/.test
	EMBER_FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),3000) $(PY) -m pytest -m slow -q -o addopts="" tests/test_fuzz.py

bench: $(VENV)/.test
	$(PY) bench/run.py
	$(PY) bench/kernels.py
	$(PY) bench/memory.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
