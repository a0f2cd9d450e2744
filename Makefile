# KAP Companion: `make run` serves the app, `make test` runs every test. Nothing else to install.
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
# pyenv reads .python-version (3.12); elsewhere any python3.12 on PATH will do.
PYTHON ?= $(shell command -v python3.12 2>/dev/null || echo python3)
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint install clean-data messages

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; assert sys.version_info >= (3, 12), "KAP Companion needs Python 3.12+ (found %s)" % sys.version.split()[0]'
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/kap serve --port $(PORT)

# One test process per core (pytest-xdist); `make test PYTEST_ARGS="-n 0 tests/journal"` runs a part in one.
test: install
	$(BIN)/python -m pytest -n auto --dist worksteal $(PYTEST_ARGS)

# After changing interface text: collect the strings into kap/locale/*/django.po, translate the new
# ones there, and run it again to compile django.mo (committed, so serving needs no gettext).
# Needs GNU gettext (Debian: gettext); tests/i18n fails while a string has no translation.
messages: install
	cd kap && ../$(BIN)/django-admin makemessages -l es --no-location --no-wrap --no-obsolete
	cd kap && ../$(BIN)/django-admin compilemessages -l es

lint: install
	$(BIN)/ruff check kap tests
	$(BIN)/python manage.py makemigrations --check --dry-run

# Benchmarks print figures (bench/README.md); they never fail for being slow. Seed first:
# `.venv/bin/kap bench seed` (minutes; SQLite one person + PostgreSQL clinics, never ./data).
.PHONY: bench
bench: install
	$(BIN)/python -m bench.run
