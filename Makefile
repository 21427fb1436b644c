# Two entry points: `make run` (the app on a demo lakehouse) and `make test` (everything CI checks).
# Both install from the committed lock of exact, hashed versions for Python 3.11 on Linux x86_64
# (requirements.lock: runtime; requirements-dev.lock: runtime + dev), then mlgov itself with --no-deps;
# pyproject.toml keeps the ranges for people who import mlgov. `make lock` refreshes the lock on
# purpose: uv re-resolves both files from pyproject.toml, keeping every pin that still fits (so a new
# dependency is one command); `make lock UPGRADE=1` moves every pin to the newest release allowed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MLGOV_HOME ?= .mlgov
export MLGOV_HOME
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
UV_VERSION := 0.13.9
UV := .uv/bin/uv
LOCK_FLAGS = --python-version 3.11 --python-platform x86_64-unknown-linux-gnu --generate-hashes \
	--custom-compile-command 'make lock' --quiet $(if $(UPGRADE),--upgrade)

.PHONY: run test lint install lock browser postgres java clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# pip check fails when pyproject.toml asks for something the lock lacks: run `make lock`.
$(VENV)/.installed: $(DEV_LOCK) pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check || { echo "the lock does not match pyproject.toml: run make lock" >&2; exit 1; }
	touch $@

install: $(VENV)/.installed

# uv is needed only here, in its own throwaway venv; `make run` and `make test` need just python3.
$(UV):
	$(PYTHON) -m venv .uv
	.uv/bin/python -m pip install --quiet uv==$(UV_VERSION)

lock: | $(UV)
	$(UV) pip compile pyproject.toml --extra dev $(LOCK_FLAGS) -o $(DEV_LOCK)
	$(UV) pip compile pyproject.toml -c $(DEV_LOCK) $(LOCK_FLAGS) -o $(LOCK)

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

# The tracking-server tests start a throwaway cluster of Debian's PostgreSQL on 127.0.0.1 (no service needed).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	  else echo "make postgres: PostgreSQL is missing; as root run: apt-get update && apt-get install -y postgresql" >&2; exit 1; fi; \
	  $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; }

# The Spark-read tests run pyspark, which needs a Java runtime (17 or newer).
java:
	@command -v java >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null 2>&1; then sudo=sudo; \
	  else echo "make java: Java is missing; as root run: apt-get update && apt-get install -y default-jre-headless" >&2; exit 1; fi; \
	  $$sudo apt-get update && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y default-jre-headless; }

test: lint browser postgres java
	$(BIN)/python -m pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) .uv .mlgov .mlgov-seals .pytest_cache .mypy_cache .ruff_cache .hypothesis
