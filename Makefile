# Calmwatch: `make run` sets up and runs the service, `make test` sets up and runs the tests.
# Both install into .venv in this checkout. `make run` installs only what serving needs (ONNX Runtime, no torch);
# `make test` / `make check` add the dev and train extras (pytest, ruff, mypy, Playwright; torch for training).
VENV   := .venv
PY     := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev run demo test test-fast check bench clean-venv

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	touch $(RUN_STAMP)

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	@# torch first and pinned: 2.13.0 is a CPU build; an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,train]'
	touch $(RUN_STAMP) $(DEV_STAMP)

install: $(RUN_STAMP)
install-dev: $(DEV_STAMP)

run: install
	$(VENV)/bin/calmwatch serve

demo: install
	$(VENV)/bin/calmwatch demo

test: install-dev
	bash scripts/ensure-chromium
	$(PY) -m pytest -q

# Skips the browser tests, the tests that load the real weights, and the slow fault/load/packaging tests.
test-fast: install-dev
	$(PY) -m pytest -q -m "not browser and not model and not slow"

check: install-dev
	$(VENV)/bin/ruff check monitor tests bench models
	$(VENV)/bin/ruff format --check monitor tests bench models
	$(VENV)/bin/mypy monitor tests bench models

# Benchmarks (minutes, not tests): raw torch/ONNX fp32/int8 and the service's scorer side by side on real support
# turns, then end-to-end load on /v1/stream (see docs/performance.md).
CONVERSATIONS := $(wildcard ../shared/data/support-conversations/conversations.json)
bench: install-dev
	$(PY) bench/bench_model.py $(if $(CONVERSATIONS),--conversations $(CONVERSATIONS))
	$(PY) -m bench.stream_load --rates 25 50 100 200 --seconds 20 --scorer model \
	  $(if $(CONVERSATIONS),--conversations $(CONVERSATIONS))

clean-venv:
	rm -rf $(VENV)
