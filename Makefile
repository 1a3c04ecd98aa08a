# The two commands a newcomer needs: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT     ?= 8000
DATA_DIR ?= ./data
STORE    ?= json
INSTANCES ?= 1
REDIS_URL ?= redis://127.0.0.1:6379/0
UV_VERSION := 0.13.9
COMPOSE    ?= docker compose

.PHONY: help run test check lint unit integration e2e bench lock certs up down test-compose test-k8s clean

help:  ## this list
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

# The environment is rebuilt whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.installed  ## start gateway + services in the foreground (Ctrl-C stops all)
	$(if $(TOKENS_FILE),TOKENS_FILE=$(abspath $(TOKENS_FILE))) \
	$(PY) -m devtools.launch --port $(PORT) --data-dir $(DATA_DIR) --store $(STORE) \
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

unit: $(VENV)/.installed  ## unit tests only: no I/O, fakes around each service and the gateway
	$(VENV)/bin/pytest tests/unit -q

integration: $(VENV)/.installed  ## integration tests only: real Redis, files and loopback servers
	$(VENV)/bin/pytest tests/integration -q

e2e: $(VENV)/.installed  ## end-to-end tests only: the whole system as a user runs it, through the gateway
	$(VENV)/bin/pytest tests/e2e -q

test: check  ## lint, type-check, then every test
	$(VENV)/bin/pytest -q

# requirements.lock pins every runtime dependency, transitive ones included, with hashes, for the
# images (Dockerfile). uv resolves from pyproject.toml, keeping the current pins unless they must move.
lock: $(VENV)/.installed  ## regenerate requirements.lock from pyproject.toml (uv, into .venv)
	@$(VENV)/bin/uv --version 2>/dev/null | grep -q ' $(UV_VERSION)' || $(PY) -m pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
		--python-platform linux --custom-compile-command 'make lock' -o requirements.lock

# A local CA and a certificate for localhost in certs/ (git-ignored), for HTTPS in development.
certs: $(VENV)/.installed  ## make certs/ca.crt and certs/tls.{crt,key} for localhost and HOSTS (FORCE=1: new CA)
	$(PY) deploy/certs.py --out certs $(foreach host,$(HOSTS),--host $(host)) $(if $(FORCE),--force)

up:  ## build and start the whole stack with docker compose (needs .env: cp .env.example .env; make certs)
	$(COMPOSE) up -d --build --wait
	@echo "Bookstore ready at https://$$($(COMPOSE) port nginx 443)/api/books"

down:  ## stop the stack (its Redis volumes stay; docker compose down -v removes them too)
	$(COMPOSE) down

test-compose: $(VENV)/.installed  ## build the images, run the stack and test it end to end through nginx
	$(VENV)/bin/pytest tests/compose -m compose -q

# podman plays the dev overlay (deploy/k8s/overlays/podman adapts what it lacks); no cluster needed.
test-k8s: $(VENV)/.installed  ## build the images, play deploy/k8s with podman and test it through the gateway
	$(VENV)/bin/pytest tests/k8s -m k8s -q

clean:  ## remove .venv and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
