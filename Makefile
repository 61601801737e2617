# Two commands matter: `make run` and `make test`. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Tests use their own Redis database so a running `make run` is not disturbed.
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test install services env migrate seed lint format lock bench clean browser oracle

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	@touch $(STAMP)

install: $(STAMP)

services:
	@scripts/services.sh

env: install
	@$(BIN)/python scripts/ensure_env.py

migrate: env services
	@$(BIN)/python scripts/createdb.py
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "A2P Texting on http://localhost:$${PORT:-8000}  (login demo / demo; Ctrl-C stops web, workers and beat)"
	@# Everything derived from the web port is fixed here, before the processes start.
	@# scripts/supervise.py runs the Procfile: it restarts a process that dies (the
	@# others keep running) and passes the environment on as it is (.env never wins).
	export PORT=$${PORT:-8000}; \
	export PUBLIC_BASE_URL=$${PUBLIC_BASE_URL:-http://127.0.0.1:$$PORT}; \
	export SHORT_LINK_DOMAIN=$${SHORT_LINK_DOMAIN:-127.0.0.1:$$PORT}; \
	export WEB_PORT=$$PORT; \
	exec $(BIN)/python scripts/supervise.py -f Procfile

# Headless Chromium for the browser tests (Debian's package; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# Twilio's segment calculator, the oracle tests/providers/test_segments_oracle.py runs
# (npm ci from the committed lock; skipped once installed).
ORACLE := tools/segment-oracle
$(ORACLE)/node_modules/.installed: $(ORACLE)/package.json $(ORACLE)/package-lock.json
	cd $(ORACLE) && npm ci --no-audit --no-fund --silent
	@touch $@

oracle: $(ORACLE)/node_modules/.installed

test: env services browser oracle
	REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Regenerate the lock from pyproject's pins in a throwaway venv.
lock:
	rm -rf /tmp/a2p-lock && $(PYTHON) -m venv /tmp/a2p-lock
	/tmp/a2p-lock/bin/pip install --quiet --upgrade pip
	/tmp/a2p-lock/bin/pip install --quiet ".[dev]"
	/tmp/a2p-lock/bin/pip freeze --exclude a2p-texting > requirements.lock

# Benchmarks (issue 3): figures, ratios and PASS/FAIL per target; writes bench-results.json.
# Own database (a2p_bench), Redis db 7 and port 8090 unless DATABASE_URL / REDIS_URL /
# BENCH_PORT are set. BENCH_ARGS="dispatch --quick" runs one bench, shortened; --strict
# exits 1 when a target is missed. See docs/benchmarks.md.
BENCH_ARGS ?= all
bench: env services
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
