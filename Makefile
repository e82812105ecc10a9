# The two commands of the README's quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test lint typecheck imports unit bench clean

setup: $(STAMP)

# ci/system-deps.sh setup: python3-venv (Debian ships ensurepip apart from python3).
$(STAMP): pyproject.toml
	ci/system-deps.sh setup
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Daemon + emulated printer: a receipt spooled, printed, paper out mid-receipt, refilled,
# and the interrupted receipt reprinted with its marker.
demo: setup
	$(PY) demo/demo.py

# receiptd vs a private CUPS raw queue vs direct write, side by side (minutes). Not part of
# `make test`. Installs what it needs: Debian's CUPS (ci/system-deps.sh bench) and the bench
# extra. Results: bench/results/, BENCHMARKS.md. BENCH_ARGS=--quick: small N, a minute or two.
bench: setup
	ci/system-deps.sh bench
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/run.py $(BENCH_ARGS)

lint: setup
	$(VENV)/bin/ruff check $(wildcard receiptd tests demo bench hwtests monitoring)

typecheck: setup
	$(VENV)/bin/mypy

# The layers of pyproject.toml's [tool.importlinter]: arrows only point down, no circles.
imports: setup
	$(VENV)/bin/lint-imports

unit: setup
	$(VENV)/bin/pytest -q

# CI runs this (.ci/run) with CI=true in the environment, which make hands to every step as
# it is: under CI=true a skipped test fails the run (tests/strict_skips.py).
test: setup
	ci/system-deps.sh test
	$(MAKE) --no-print-directory lint typecheck imports unit
	ci/check-systemd.sh
	ci/boot-test.sh
	ci/check-monitoring.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
