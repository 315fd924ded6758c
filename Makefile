# Works on a fresh clone with only Python >= 3.11, git and make:
#   make demo    build .venv if missing, install jaxsparse, run the demo
#   make test    build .venv if missing, install jaxsparse[test], run the whole test suite
# Installs are stamped: a re-run skips pip unless pyproject.toml changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench clean-venv

demo: $(VENV)/.stamp-install
	$(BIN)/python -m jaxsparse demo

# Two pytest workers: the suite is thousands of small compiles, which use one core each.
test: $(VENV)/.stamp-test
	$(BIN)/python -m pytest -q -n 2

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check jaxsparse tests benchmarks examples

# Benchmarks at a moderate size (a few minutes on 2 cores): tables on stdout, JSON (and,
# where matplotlib is installed, `pip install -e '.[plot]'`, figures) in $(BENCH_OUT).
BENCH_OUT ?= /tmp/jaxsparse-bench
bench: $(VENV)/.stamp-install
	$(BIN)/python benchmarks/bench_spmv.py --scale 0.1 --json $(BENCH_OUT)/spmv.json --plot $(BENCH_OUT)
	$(BIN)/python benchmarks/bench_sddmm.py --json $(BENCH_OUT)/sddmm.json --plot $(BENCH_OUT)
	$(BIN)/python benchmarks/bench_cg.py --repeats 3 --json $(BENCH_OUT)/cg.json --plot $(BENCH_OUT)
	$(BIN)/python benchmarks/bench_dropin.py --json $(BENCH_OUT)/dropin.json

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The package alone (what `demo` needs).
# setup.py compiles the native kernels (jaxsparse/ops/native/csrc) into the package.
NATIVE := setup.py $(wildcard jaxsparse/ops/native/csrc/*)

$(VENV)/.stamp-install: pyproject.toml $(NATIVE) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The package with its test extras; it also satisfies `demo`.
$(VENV)/.stamp-test: pyproject.toml $(NATIVE) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.stamp-install

clean-venv:
	rm -rf $(VENV)
