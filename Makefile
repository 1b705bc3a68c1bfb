# Entry points for a fresh Debian 12 machine (see README.md):
#   make demo       install migrate and inspect the bundled sample host
#   make test       install everything the tests need (apt-get: root) and run them all
#   make test-fast  the fast lane: no real tool, no end-to-end run, nothing slow; no root
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: demo test test-fast install install-test perf clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: apt-get install python3-venv" >&2; exit 1; }
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

install-test: $(BIN)/python
	./tools/install-test-deps.sh
	$(BIN)/python -m pip install -q -e '.[test]'

demo: install
	mkdir -p demo
	$(BIN)/migrate inspect --root sample_configs/netsight -o demo/inventory.yaml || [ $$? -eq 1 ]
	$(BIN)/migrate plan demo/inventory.yaml --hostname lists.netsight.example \
		--ipv6 2001:db8:50::25 --smarthost smtp.upstream.example -o demo/plan || [ $$? -eq 1 ]
	@echo "The inventory is in demo/inventory.yaml; the plan in demo/plan (open demo/plan/report.html:"
	@echo "the sample's planted problems are its findings; a blocker must be settled before the cutover)"

# Both run the tests in JOBS pytest-xdist workers: with --dist loadgroup one worker takes the
# end-to-end tests, one after the other, and the other everything else (tests/conftest.py).
# `make test JOBS=0`: all in one process, in order (to tell a test that fails only beside others).
JOBS   ?= 2
XDIST   = -n $(JOBS) --dist loadgroup

# pytest exits 5 when it collects no tests: that is a failure too (any non-zero fails make).
test: install-test
	MIGRATE_REQUIRE_TOOLS=1 $(BIN)/python -m pytest $(XDIST)

# The tests marked realtool, e2e, slow (tests/conftest.py, pyproject.toml) or perf are left
# out: what remains needs the venv with '.[test]' only (no apt-get, no root), in about a minute.
test-fast: $(VENV)/.test-deps
	$(BIN)/python -m pytest $(XDIST) -m "not e2e and not realtool and not slow and not perf"

$(VENV)/.test-deps: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

perf: install-test
	$(BIN)/python -m pytest -m perf -s tests/perf/bench_*.py

clean:
	rm -rf $(VENV) .cache demo build *.egg-info .pytest_cache .hypothesis
