# The two commands of the README's quick start: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test lint typecheck unit bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Daemon + emulated printer: a receipt spooled, printed, paper out mid-receipt, refilled,
# and the interrupted receipt reprinted with its marker.
demo: setup
	$(PY) demo/demo.py

# receiptd vs a private CUPS raw queue vs direct write, side by side (minutes; installs
# Debian's CUPS if missing). Not part of `make test`. Results: bench/results/, BENCHMARKS.md.
bench: setup
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/run.py $(BENCH_ARGS)

lint: setup
	$(VENV)/bin/ruff check $(wildcard receiptd tests demo bench hwtests monitoring)

typecheck: setup
	$(VENV)/bin/mypy

unit: setup
	$(VENV)/bin/pytest -q

test: setup
	ci/system-deps.sh
	$(MAKE) --no-print-directory lint typecheck unit
	ci/check-systemd.sh
	ci/boot-test.sh
	ci/check-monitoring.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
