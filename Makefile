# The two commands a newcomer needs: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT     ?= 8000
DATA_DIR ?= ./data
STORE    ?= json
INSTANCES ?= 1
REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test check lint unit integration bench clean

# The environment is rebuilt whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed  ## start gateway + services in the foreground (Ctrl-C stops all)
	$(if $(TOKENS_FILE),TOKENS_FILE=$(abspath $(TOKENS_FILE))) \
	$(PY) -m shared.launch --port $(PORT) --data-dir $(DATA_DIR) --store $(STORE) \
		--instances $(INSTANCES) --redis-url $(REDIS_URL)

check: $(VENV)/.installed  ## ruff + mypy (strict)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The plotting library only for the benchmark; the stamp follows pyproject.toml like the one above.
$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.bench-installed  ## measure JSON then Redis store; writes docs/benchmarks.md and .png
	$(PY) -m bench

unit: $(VENV)/.installed
	$(VENV)/bin/pytest tests/unit -q

integration: $(VENV)/.installed
	$(VENV)/bin/pytest tests/integration -q

test: check  ## lint, type-check, then every test
	$(VENV)/bin/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
