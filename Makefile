# Fixroute. `make run` starts the product on the embedded default; `make test` runs the tests.
# Both set everything up first on a fresh Debian machine with Python 3.11.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup system-packages mobile-font run lint test test-fast test-integration bench-solomon bench-city bench-urgent bench-urgent-api bench-load clean

# Debian packages: Kivy's offscreen window needs Mesa/EGL; PostgreSQL and Redis for the
# integration tests (started by scripts/services.sh when they are not already running).
system-packages:
	@bash scripts/system-packages.sh

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || PYTHON=python3; \
	  test -x $(PY) || $${PYTHON:-$(PYTHON)} -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $@

# The technician app's font: subsets of Debian's Noto Sans CJK SC (fonts-noto-cjk), regular and
# bold, made by scripts/build-mobile-font.py (about a minute). Built products, not committed;
# rebuilt only when missing or when the script changes. The app refuses to start without them.
MOBILE_FONTS := mobile/fonts/FixrouteSans-Regular.otf mobile/fonts/FixrouteSans-Bold.otf

mobile/fonts/FixrouteSans-%.otf: scripts/build-mobile-font.py | $(VENV)/.installed
	$(PY) scripts/build-mobile-font.py --face $*

mobile-font: $(MOBILE_FONTS)

setup: system-packages $(VENV)/.installed mobile-font

# The embedded default asks for DEBUG (the settings keep it off unless asked): a per-process
# secret, unsigned webhooks accepted, plain HTTP.
run: export DEBUG ?= 1
run: setup
	mkdir -p var/static
	$(PY) server/manage.py migrate --noinput
	$(PY) server/manage.py demo_data
	@echo "Fixroute on http://$(HOST):$(PORT)/  (admin: /admin/, API docs: /api/docs)"
	$(PY) server/manage.py runserver $(HOST):$(PORT)

# The lint gate: style, bugs and formatting (ruff), types (mypy with the Django plugin), and the layering
# contracts (dispatch is pure Python, notifications never imports server, mobile talks HTTP only).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy server dispatch notifications mobile
	$(VENV)/bin/lint-imports

# Unit, UI and integration tests. The unit part runs the database tests on PostgreSQL at
# PG_TEST_URL (pytest-django creates and drops test_<name>) and again on SQLite, the embedded
# default (scripts/test-unit.sh); without PostgreSQL it is SQLite only, with a note, except under
# CI=true, where that is a failure. Integration tests start their own Celery worker against the
# local PostgreSQL and Redis (started here if installed but down); outside CI they skip if missing.
export PG_TEST_URL ?= postgres://postgres@127.0.0.1:5432/fixroute_unit

test: setup
	@bash scripts/services.sh || true
	bash scripts/test-unit.sh $(PYTEST_ARGS)
	bash scripts/test-integration.sh $(PYTEST_ARGS)

test-fast: $(VENV)/.installed mobile-font
	bash scripts/test-unit.sh -m "not slow" $(PYTEST_ARGS)

test-integration: $(VENV)/.installed mobile-font
	bash scripts/test-integration.sh $(PYTEST_ARGS)

bench-solomon: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -e '.[bench]' --config-settings editable_mode=compat
	$(PY) bench/solomon.py --solomon-dir ../shared/data/solomon $(BENCH_ARGS)

bench-city: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -e '.[bench]' --config-settings editable_mode=compat
	$(PY) bench/city.py $(BENCH_ARGS)

bench-urgent: $(VENV)/.installed
	$(PY) bench/urgent.py $(BENCH_ARGS)

# Needs the local PostgreSQL and Redis (scripts/services.sh starts them when installed).
bench-urgent-api: $(VENV)/.installed
	@bash scripts/services.sh || true
	$(PY) bench/urgent_api.py $(BENCH_ARGS)

# 500 calls at 50 at once and 200 taps against gunicorn + Celery on loopback; checks the database.
bench-load: $(VENV)/.installed
	@bash scripts/services.sh || true
	$(PY) bench/load.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var $(MOBILE_FONTS)
