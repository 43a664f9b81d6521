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

test: $(VENV)/.test
	$(PY) -m pytest -n 2 -q

test-slow: $(VENV)/.test
	$(PY) -m pytest -m slow -q -o addopts=""

bench: $(VENV)/.test
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
