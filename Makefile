# Set-up and everyday commands. Every target installs what it needs first, so
# `make dev` and `make test` work on a fresh clone with Python 3.11+ and npm.

PYTHON ?= python3
PORT ?= 8787
# wrangler.toml environment for `make dev` and `make bundle`: staging or
# production; empty means the top level.
WORKER_ENV ?=
VENV := .venv
PY := $(VENV)/bin/python
NODE := node_modules/.bin/node
CORE_SOURCES := $(shell find shared_routing -name '*.py' -o -name '*.toml')

.PHONY: vendor dev test test-python test-pyodide bench bundle lint install clean

dev: install build/python_modules.built .dev.vars
	$(NODE) emulator/host.mjs --port $(PORT) $(if $(WORKER_ENV),--env $(WORKER_ENV))

test: install build/python_modules.built build/pyodide-site/.built build/prometheus/.installed
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-pyodide

test-python: install build/python_modules.built
	$(PY) -m pytest

test-pyodide: install build/pyodide-site/.built
	$(NODE) emulator/pyodide-pytest.mjs tests/core

bench: install build/python_modules.built build/pyodide-site/.built
	$(PY) bench/routing.py

bundle: install build/python_modules.built
	rm -rf build/bundle
	WRANGLER_SEND_METRICS=false $(NODE) node_modules/wrangler/bin/wrangler.js \
		deploy --dry-run --outdir build/bundle --env="$(WORKER_ENV)"

lint: install
	$(PY) -m ruff check shared_routing worker tests bench
	$(PY) -m ruff format --check shared_routing worker tests bench
	$(PY) -m mypy

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11 or newer is required")'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

# The npm package `node` brings Node 22, which wrangler 4 and miniflare need;
# the machine's own Node only runs npm.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# What wrangler uploads beside worker/: the project and its pure-Python
# dependencies, installed the way `pywrangler sync` would vendor them.
# The stamp lives in build/ because wrangler uploads every file under
# python_modules/.
vendor: build/python_modules.built

build/python_modules.built: $(VENV)/.installed $(CORE_SOURCES)
	mkdir -p build
	rm -rf python_modules build/lib
	$(PY) -m pip install --quiet --no-compile --target python_modules .
	rm -rf python_modules/bin python_modules/*.dist-info build/lib
	touch $@

# Pure-Python wheels that let the core's tests run under Pyodide, offline.
build/pyodide-site/.built: $(VENV)/.installed Makefile
	rm -rf build/pyodide-site
	$(PY) -m pip install --quiet --no-compile --target build/pyodide-site \
		--only-binary=:all: --implementation py --python-version 3.14 --platform any \
		pytest hypothesis wcmatch prometheus-client
	touch $@

# Prometheus and promtool (Debian package, about 96 MB installed) for
# tests/e2e/test_prometheus.py. Installed only when missing and we are root;
# otherwise that test skips and says why. Without systemd the package's
# service is not started.
build/prometheus/.installed:
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && \
		apt-get install -y -q --no-install-recommends prometheus </dev/null; \
	else \
		echo "prometheus is missing and installing it needs root: its e2e test will skip"; \
	fi
	@if command -v prometheus >/dev/null; then mkdir -p $(@D) && touch $@; fi

.dev.vars:
	cp .dev.vars.example .dev.vars
	@echo "Created .dev.vars from .dev.vars.example: edit the secrets in $(CURDIR)/.dev.vars"

clean:
	rm -rf $(VENV) node_modules python_modules build .emulator
