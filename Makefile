# ltv developer entry points. Two commands matter on a fresh machine:
#   make demo   set up, then run the whole platform on bundled data
#   make test   set up, then run the test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ltv-installed

.PHONY: setup demo test test-fast jars bench clean help
help:
	@echo "make demo | make test | make setup | make bench | make clean"

setup: $(STAMP)

$(STAMP): pyproject.toml ltv/data/delta-jars-pom.xml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,bench]'
	$(BIN)/python -m ltv.jars
	touch $(STAMP)

jars: setup
	LTV_JARS_FORCE=1 $(BIN)/python -m ltv.jars

demo: setup
	$(BIN)/ltv demo

test: setup
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf ltv-demo lake spark-warehouse .pytest_cache
