# Two commands from the README: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTANCE ?= instances/ieee33-hybrid.toml

.PHONY: run test bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/slopt solve $(INSTANCE)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

# the quick benchmarks (minutes); the long sweeps are benchmarks/dbo_functions.py and
# benchmarks/algorithms.py (about 17 min and 1.5 h at 30 seeds on 2 cores)
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/powerflow.py
	$(BIN)/python benchmarks/sizing.py
	$(BIN)/python benchmarks/dbo_mfac_speed.py
	$(BIN)/python benchmarks/dispatch_speed.py
	$(BIN)/python benchmarks/dispatch.py
	$(BIN)/python benchmarks/twin.py
	$(BIN)/python benchmarks/allocation.py

clean:
	rm -rf $(VENV) build *.egg-info
