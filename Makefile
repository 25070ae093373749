# Two commands from the README: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTANCE ?= instances/ieee33-hybrid.toml

.PHONY: run test bench clean lock

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Both targets install through constraints.txt (the lock, `make lock`), so the tests run on
# exactly the versions that `make run` installs; the test extra only adds test tools.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/slopt solve $(INSTANCE)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

# the quick benchmarks (minutes); the long sweeps are benchmarks/dbo_functions.py and
# benchmarks/algorithms.py (about 17 min and 1.5 h at 30 seeds on 2 cores). Results go to
# bench-out/ (untracked); `make bench UPDATE=1` rewrites the committed benchmarks/results/.
UPDATE ?= 0
export SLOPT_BENCH_UPDATE = $(UPDATE)
bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/powerflow.py
	$(BIN)/python benchmarks/sizing.py
	$(BIN)/python benchmarks/dbo_mfac_speed.py
	$(BIN)/python benchmarks/dispatch_speed.py
	$(BIN)/python benchmarks/dispatch.py
	$(BIN)/python benchmarks/twin.py
	$(BIN)/python benchmarks/allocation.py
	$(BIN)/python benchmarks/economics.py

# regenerate the lock from a fresh environment (after changing dependencies in pyproject.toml)
lock:
	rm -rf build/lock-venv
	$(PY) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet --upgrade pip
	build/lock-venv/bin/python -m pip install --quiet -e ".[test,simbench]"
	build/lock-venv/bin/python -m pip freeze --exclude-editable | grep -v -i '^slopt' > constraints.txt
	rm -rf build/lock-venv

clean:
	rm -rf $(VENV) build *.egg-info
