# synack: the two commands that matter are `make demo` and `make test`.
# Both bootstrap what they need on a fresh machine (a virtualenv; for the
# tests also Debian's tshark and iproute2).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test system-deps bench conformance clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/synack demo

# tshark decodes our pcaps in the tests; iproute2 for the network-namespace tests.
system-deps:
	@if ! command -v tshark >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1; then \
	  echo "installing Debian packages: tshark iproute2"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq tshark iproute2 >/dev/null; \
	fi

test: $(STAMP) system-deps
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) bench/sim_bench.py

conformance: $(STAMP)
	$(VENV)/bin/synack packetdrill --all

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
