# Two entry points: `make run` (the app on a demo lakehouse) and `make test` (everything CI checks).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MLGOV_HOME ?= .mlgov
export MLGOV_HOME

.PHONY: run test lint install browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(BIN)/mlgov init --admin admin
	@if [ ! -d "$(MLGOV_HOME)/lakehouse/scoring" ]; then $(BIN)/mlgov demo; fi
	$(BIN)/mlgov app --address 127.0.0.1 --port 8501

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# The e2e tests drive Debian's chromium (Playwright cannot download its own browser here).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	  else echo "make browser: /usr/bin/chromium is missing; as root run: apt-get update && apt-get install -y chromium" >&2; exit 1; fi; \
	  $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; }

test: lint browser
	$(BIN)/python -m pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) .mlgov .mlgov-seals .pytest_cache .mypy_cache .ruff_cache .hypothesis
