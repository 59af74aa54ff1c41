# Two commands do everything on a fresh machine:
#   make report   set up .venv, then run the compression suite and print the comparison table
#   make test     set up .venv, then run the plugin's tests and the suite against committed baselines
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: report test lint clean-cache

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/pytest suites/ --compress-report

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check pytest_compress tests suites
	$(BIN)/ruff format --check pytest_compress tests suites

clean-cache:
	rm -rf .compress-cache
