# Everything runs from a local virtual environment built from pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test lint typecheck pytest test-browser chromium demo bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check bulk_ident tests bench samples
	$(BIN)/ruff format --check bulk_ident tests bench samples

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest -q --cov --cov-report=term:skip-covered

test: lint typecheck pytest

# The page's browser tests alone (tests/browser/); `make test` runs them too when chromium is here,
# and reports them skipped ("no chromium: apt-get install chromium") when it is not.
test-browser: $(STAMP)
	$(BIN)/pytest -q -ra -m browser

# Debian's chromium for those tests (needs root); Playwright's own browser download is never used.
chromium:
	command -v chromium >/dev/null 2>&1 || \
		(apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium)

demo: $(STAMP)
	$(BIN)/python samples/demo.py

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
