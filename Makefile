# synack: the two commands that matter are `make demo` and `make test`.
# Both bootstrap what they need on a fresh machine (a virtualenv; for the
# tests also Debian's tshark and iproute2).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo explore test test-pure test-compiled compiled system-deps bench conformance \
        conformance-synack conformance-passes clean

# The optional mypyc build (setup.py, SYNACK_MYPYC=1) of the engine's hot
# modules, made in a copy of the tree so that the .py files under src/ stay
# the ones that run in the editable install.
COMPILED := build/compiled
COMPILED_STAMP := $(COMPILED)/.built

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP) $(DEMO_STAMP) $(VENV)/.installed-explore

# The demo needs the package alone (and rich): not the test tool-chain.
$(DEMO_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e .
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(VENV)/bin/synack demo

# the explorer in the browser (docs/explore.md): a server on 127.0.0.1, the page
# opened; it needs the package and its `explore` extra (Starlette, uvicorn) only
EXPLORE_STAMP := $(VENV)/.installed-explore
$(EXPLORE_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[explore]'
	touch $(EXPLORE_STAMP)

explore: $(EXPLORE_STAMP)
	$(VENV)/bin/synack explore --open

# tshark decodes our pcaps in the tests; iproute2 for the network-namespace
# tests; bison, flex and a C compiler build the real packetdrill (the Linux
# half of `make conformance` and its test); Debian's chromium for the
# explorer's browser tests, driven with Playwright (never a downloaded browser).
SYSTEM_TOOLS := tshark ip bison flex cc make chromium
SYSTEM_PKGS  := tshark iproute2 bison flex gcc make libc6-dev chromium
system-deps:
	@missing=; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $(SYSTEM_PKGS)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SYSTEM_PKGS) >/dev/null; \
	fi

# The whole suite twice: on the pure package, then on the compiled build.
test: test-pure test-compiled

test-pure: $(STAMP) system-deps
	$(PY) -m pytest

test-compiled: $(COMPILED_STAMP) system-deps
	SYNACK_EXPECT_COMPILED=1 PYTHONPATH=$(COMPILED)/src $(PY) -m pytest -p no:cacheprovider

compiled: $(COMPILED_STAMP)

$(COMPILED_STAMP): $(STAMP) setup.py $(shell find src -name '*.py')
	rm -rf $(COMPILED) && mkdir -p $(COMPILED)
	cp -r src setup.py pyproject.toml $(COMPILED)/
	find $(COMPILED)/src -name '__pycache__' -prune -exec rm -rf {} +
	cd $(COMPILED) && SYNACK_MYPYC=1 $(CURDIR)/$(PY) setup.py -q build_ext --inplace >build.log 2>&1 \
	  || { tail -40 build.log; exit 1; }
	touch $@

# The simulator benchmark, pure and compiled.
bench: $(STAMP) $(COMPILED_STAMP)
	$(PY) bench/sim_bench.py
	PYTHONPATH=$(COMPILED)/src $(PY) bench/sim_bench.py

# The conformance report (docs/conformance.md and .json): every shared
# packetdrill script against the live kernel (the real packetdrill, built into
# build/packetdrill/; root: a network namespace per script) and against synack.
conformance: $(STAMP) system-deps
	$(PY) -m synack.packetdrill.conformance

# synack's half only (no root, seconds), reusing the Linux half in docs/conformance.json.
conformance-synack: $(STAMP)
	$(PY) -m synack.packetdrill.conformance --synack-only

# The ratchet's list of the scripts synack passes (tests/test_packetdrill_ratchet.py).
conformance-passes: $(STAMP)
	$(PY) -m synack.packetdrill.conformance --write-passes tests/packetdrill/synack_passes.txt

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
