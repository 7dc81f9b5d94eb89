# sluice — two commands on a fresh machine:
#   make run    venv + install, local Apache Kafka, topics, worker, sample events, where each went
#   make test   the whole test suite against a real Apache Kafka (started by the tests)

PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed

.PHONY: run test test-quick lint typecheck bench broker clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[worker,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/sluice dev demo

test: $(STAMP)
	BIN=$(BIN) bash tests/run-all.sh

test-quick: $(STAMP)
	$(BIN)/pytest -q -m "not reliability and not slow"

lint: $(STAMP)
	$(BIN)/ruff check streams tests
	$(BIN)/ruff format --check streams tests

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/sluice bench --json

broker: $(STAMP)
	$(BIN)/sluice dev broker

clean:
	rm -rf $(VENV) .sluice .pytest_cache .mypy_cache .ruff_cache
