# The two entry points for a fresh Debian machine are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum requirements/lock.txt | cut -c1-12)

NODE_STAMP := frontend/node_modules/.installed-$(shell sha1sum frontend/package-lock.json | cut -c1-12)
# The viewer's build (Vite manifest + hashed assets in frontend/dist/, served by
# Django): rebuilt when a source, the build config or the dependencies change.
VIEWER_BUILD := frontend/dist/.vite/manifest.json
VIEWER_SOURCES := $(shell find frontend/src -type f) frontend/vite.config.ts frontend/tsconfig.json frontend/package.json

.PHONY: demo test setup services venv node lint lock bench-tools clean

demo: setup ## install everything, seed demo data, run the platform on 127.0.0.1:8000
	bash deploy/local/run_demo.sh

test: setup ## run the whole test suite against real PostgreSQL, Redis, Orthanc and Celery
	bash tests/run.sh

setup: services venv node

services:
	bash deploy/local/ensure_services.sh

venv: $(STAMP)

$(STAMP): requirements/lock.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/lock.txt
	rm -f $(VENV)/.installed-*; touch $@

node: $(NODE_STAMP) $(VIEWER_BUILD)

$(NODE_STAMP): frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error
	rm -f frontend/node_modules/.installed-*; touch $@

$(VIEWER_BUILD): $(NODE_STAMP) $(VIEWER_SOURCES)
	cd frontend && npm run build --silent

bench-tools: services ## wrk for bench/load (Debian's package; needs root, as `services` does)
	command -v wrk >/dev/null || { apt-get update -qq \
	  && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }

lint: venv
	$(VENV)/bin/ruff check .

lock: ## re-resolve requirements/base.in into the pinned lock file
	$(PY) -m pip install -q -r requirements/base.in
	$(PY) -m pip freeze --exclude-editable > requirements/lock.txt

clean:
	rm -rf var/ .pytest_cache test-artifacts/
