# The two commands of the README:  make demo   and   make test
PY ?= python3
PYTEST_ARGS ?= -n 2
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint typecheck migrations-check assets clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

src/barq/web/static/vendor/.built: package.json package-lock.json scripts/build-assets.mjs
	npm ci --no-audit --no-fund --loglevel=error
	npm run --silent build
	touch $@

assets: src/barq/web/static/vendor/.built

setup: $(STAMP) assets
	@test -x /usr/bin/chromium || (command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "note: /usr/bin/chromium is missing; browser tests will be skipped (apt-get install chromium)")

## Build the demo province (50,000 subscriptions, SQLite) and serve it on http://127.0.0.1:8000/
demo: setup
	$(BIN)/barq demo $(DEMO_ARGS)

## Run every test tier (unit, integration on SQLite and, with BARQ_TEST_DATABASE_URL, PostgreSQL, web, browser)
test: setup
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench migrations
	$(BIN)/ruff format --check src tests bench migrations

typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) node_modules src/barq/web/static/vendor
