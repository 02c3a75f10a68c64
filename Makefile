# Calmwatch: `make run` sets up and runs the service, `make test` sets up and runs the tests.
# Both install into .venv in this checkout; nothing is downloaded at run time (HF_HUB_OFFLINE=1).
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install run demo test test-fast check bench clean-venv

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# torch first and pinned: 2.13.0 is a CPU build; an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,train]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/calmwatch serve

demo: install
	$(VENV)/bin/calmwatch demo

test: install
	bash scripts/ensure-chromium
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not browser and not model"

check: install
	$(VENV)/bin/ruff check monitor tests bench
	$(VENV)/bin/ruff format --check monitor tests bench
	$(VENV)/bin/mypy monitor tests bench

# Benchmarks (minutes, not tests): the model's raw/batched/naive throughput, then end-to-end load on /v1/stream.
bench: install
	$(PY) bench/bench_model.py --max-wait-ms 0 5
	$(PY) -m bench.stream_load --rates 10 25 40 50 200 --seconds 20 --scorer model \
	  $(if $(wildcard ../shared/data/support-conversations/conversations.json),--conversations ../shared/data/support-conversations/conversations.json)

clean-venv:
	rm -rf $(VENV)
