# TickerML developer entry points. Works on a fresh Debian machine with only python3:
# the first target that needs it creates .venv and installs the project into it.
#
#   make demo       run the offline demo (simulated exchanges, no internet)
#   make test       ruff, mypy, import contracts, then every test (slow ones too)
#   make test-fast  the same checks, then the tests not marked slow
#   make lint       ruff, mypy and the import contracts only
#   make docs       regenerate docs/configuration.md and docs/cli.md
#   make bench      run the benchmarks (python -m bench)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Rebuilt whenever pyproject.toml changes (new dependency, new entry point).
STAMP  := $(VENV)/.installed
# apt-get needs root: sudo when there is one and we are not root already.
SUDO   := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

.PHONY: all venv demo test test-fast lint docs docs-check bench clean

all: test

venv: $(STAMP)

# torch first, pinned: 2.13.0 is the CPU build this machine keeps on disk. Installing
# the project first would let ray pull a multi-GB CUDA torch from the index.
$(STAMP): pyproject.toml
	@# The MQTT broker comes from Debian's packages (the demo and the sync tests run it).
	command -v mosquitto >/dev/null 2>&1 || test -x /usr/sbin/mosquitto || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq mosquitto mosquitto-clients; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[all,test]'
	touch $@

demo: $(STAMP)
	$(BIN)/tickerml demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

test: lint
	$(BIN)/pytest

test-fast: lint
	$(BIN)/pytest -m "not slow"

docs: $(STAMP)
	$(BIN)/python -m shared.config.docs
	$(BIN)/python -m shared.cli_docs

docs-check: $(STAMP)
	$(BIN)/python -m shared.config.docs --check
	$(BIN)/python -m shared.cli_docs --check

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build *.egg-info
