# CineMatch: `make run` starts the app, `make test` runs every test. Both set themselves up.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
SHARED := ../shared/data/movielens
DATA_1M ?= $(SHARED)/ml-1m
DATA_LATEST ?= $(SHARED)/ml-latest-small
LINKS ?= $(SHARED)/links/links.csv
API_PORT ?= 8000
UI_PORT ?= 8501

.PHONY: run test setup browser axe postgres nginx java wrk migrate train retrain evaluate bench docs lock lint clean

$(VENV)/bin/python:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (CineMatch needs Python 3.11)"; exit 2; }
	$(PYTHON) -m venv $(VENV)

## The project itself, editable, with its test extras at the compiled pins (constraints.txt).
$(VENV)/.installed: $(VENV)/bin/python pyproject.toml constraints.txt
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]" -c constraints.txt
	touch $@

setup: $(VENV)/.installed

## Debian's Chromium for the browser test (Playwright's own download cannot work offline).
browser:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "error: chromium is missing; run: sudo apt-get install chromium"; exit 2; fi; }

## axe-core from npm (pinned in tests/e2e/axe/package-lock.json): the browser test's
## accessibility audit injects it into every page.
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js
axe: $(AXE)
$(AXE): tests/e2e/axe/package.json tests/e2e/axe/package-lock.json
	@command -v npm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	  else echo "error: npm is missing; run: sudo apt-get install npm"; exit 2; fi; }
	npm ci --prefix tests/e2e/axe --no-audit --no-fund --silent
	touch $@

## Debian's PostgreSQL server: the db, api and reliability suites also run on a throwaway cluster.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "error: PostgreSQL is missing; run: sudo apt-get install postgresql"; exit 2; fi; }

## Debian's nginx: the replica test puts three API processes behind it, on loopback.
nginx:
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; \
	  else echo "error: nginx is missing; run: sudo apt-get install nginx"; exit 2; fi; }

## Debian's Java 17 runtime: the Spark trainer's tests run a standalone Spark cluster on loopback.
java:
	@command -v java >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null; \
	  else echo "error: Java is missing; run: sudo apt-get install openjdk-17-jre-headless"; exit 2; fi; }

## Debian's wrk: bench/api_latency.py's load generator in C, beside its Python client.
wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "error: wrk is missing; run: sudo apt-get install wrk"; exit 2; fi; }

## Apply pending schema migrations to DATABASE_URL (default: the SQLite file make run uses).
migrate: setup
	$(PY) -m db.migrate

run: setup
	@API_PORT=$(API_PORT) UI_PORT=$(UI_PORT) PY=$(PY) scripts/run_app.sh

## The suite on TEST_WORKERS parallel pytest-xdist processes, a test file at a time each (its
## module fixtures stay in one process); the slowest files go first (tests/conftest.py). More
## workers than the 2 cores pay off: many tests wait on servers, browsers and JVMs.
## TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 3

test: setup browser axe postgres nginx java wrk
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

## `make train` rebuilds the shipped model from the MovieLens copies beside the repository;
## `make train DATA=path/to/ml-32m` (or ml-25m, any release folder) trains the same format from
## one full release instead. OUT, TEST_FRACTION (0 skips the held-out metrics) and TRAIN_ARGS
## (extra `python -m ml.training.train` flags) may be set too.
OUT ?= models
TEST_FRACTION ?= 0.1
TRAIN_ARGS ?=
## The shipped sources' iALS rating confidence, chosen on validation carved from their
## training part (the default was tuned on ml-1m alone); the blend weights are the defaults
## (bench/ranking.py).
SHIPPED_RANKING ?= --rating-confidence 1.5
ifdef DATA
TRAIN_SOURCES := --data $(DATA)
else
TRAIN_SOURCES := --data $(DATA_1M) --data $(DATA_LATEST) --links $(LINKS) $(SHIPPED_RANKING)
endif

train: setup
	$(PY) -m ml.training.train $(TRAIN_SOURCES) --out $(OUT) --test-fraction $(TEST_FRACTION) $(TRAIN_ARGS)

## `make retrain` trains a candidate on the MovieLens sources (as `make train`: DATA, TRAIN_ARGS,
## TEST_FRACTION) plus the service's own ratings into a NEW version folder of the model store,
## then runs the gate (`python -m ml.training.promote`), which serves it only if no figure is worse.
## MODEL_STORE: the store (default data/model-store; serve CINEMATCH_MODEL_DIR=MODEL_STORE/current);
## DATABASE_URL: the service's database (default the SQLite file `make run` uses);
## APP_MIN_RATINGS: app users with fewer ratings are left out (default 5, ml/rules.py);
## TOLERANCE: relative slack per gate figure (default 0.02); KEEP: versions kept (default 5).
## An empty store first takes the model at OUT (the shipped models/) as the one served, so
## the first retrain is gated against it. Exit status: 0 promoted, 1 refused, 2 an error.
MODEL_STORE ?= data/model-store
DATABASE_URL ?= sqlite:///data/cinematch.db
APP_MIN_RATINGS ?= 5
TOLERANCE ?= 0.02
KEEP ?= 5

retrain: setup
	@[ -e $(MODEL_STORE)/current ] || $(PY) -m ml.training.promote $(OUT) --store $(MODEL_STORE)
	@candidate=$$($(PY) -m ml.training.train $(TRAIN_SOURCES) --store $(MODEL_STORE) \
	    --app-ratings '$(DATABASE_URL)' --app-min-ratings $(APP_MIN_RATINGS) \
	    --test-fraction $(TEST_FRACTION) $(TRAIN_ARGS)) && \
	  $(PY) -m ml.training.promote "$$candidate" --tolerance $(TOLERANCE) --keep $(KEEP)

evaluate: setup
	$(PY) -m ml.training.evaluate --ml100k-folds $(SHARED)/ml-100k --quiet
	$(PY) -m ml.training.evaluate --data $(DATA_1M) --test-fraction 0.1 --seed 42 --quiet

bench: setup wrk
	$(PY) -m pip install --quiet -e ".[bench]" -c constraints.txt
	$(PY) bench/run_all.py

## docs/results.md from bench/results/*.json, docs/configuration.md from the settings classes.
docs: setup
	$(PY) scripts/docs.py

## Recompile constraints.txt after changing pyproject.toml's extras or a pin (scripts/lock.py).
lock: setup
	$(PY) scripts/lock.py

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
