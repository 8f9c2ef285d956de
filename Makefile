# ltv developer entry points. Two commands matter on a fresh machine:
#   make demo   set up, then run the whole platform on bundled data
#   make test   set up, then run the test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ltv-installed

.PHONY: setup demo test test-fast jars cds bench docs docs-check clean help
help:
	@echo "make demo | make test | make setup | make docs | make bench | make clean"

# The class-data-sharing archive (ltv/runtime/cds.py), a start-up cache only, is checked on every
# setup: built once per JDK and jars (1-2 min, ~200 MB under ~/.cache/ltv/cds), instant when
# present; LTV_CDS=0 skips it. Needs a JRE and Maven (`mvn`, to fetch Delta's jars once), no javac.
setup: $(STAMP)
	@$(BIN)/python -m ltv.runtime.cds --quiet

$(STAMP): pyproject.toml ltv/data/delta-jars-pom.xml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m ltv.runtime.jars
	touch $(STAMP)

jars: setup
	LTV_JARS_FORCE=1 $(BIN)/python -m ltv.runtime.jars

cds: setup
	$(BIN)/python -m ltv.runtime.cds --force

demo: setup
	$(BIN)/ltv demo

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# the three benchmarks at their default sizes, one after the other (never beside the tests);
# results in bench/results/, see bench/README.md
bench: setup
	$(BIN)/python bench/bench_features.py
	$(BIN)/python bench/bench_scoring.py
	$(BIN)/python bench/bench_lookup.py
	$(BIN)/python bench/table.py

# the generated contract pages (docs/tables.md, cli.md, config.md) and bench/RESULTS.md;
# tests/unit/test_docs.py fails when they are stale
docs: setup
	$(BIN)/python docs/generate.py
	$(BIN)/python bench/table.py

docs-check: setup
	$(BIN)/python docs/generate.py --check
	$(BIN)/python bench/table.py --check

clean:
	rm -rf ltv-demo lake spark-warehouse .pytest_cache
