# Two commands on a fresh machine:  `make serve` starts the service, `make test` runs every test.
PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium

.PHONY: serve test lint docs bench clean chromium

# What is installed, one stamp per part, each redone when pyproject.toml changes: the runtime (the
# package and its dependencies, all `make serve` needs; the stamp is its command), then on top of
# it the test extra (torch, xgboost, onnxruntime, Playwright…: only for the tests and the
# benchmarks), the lint extra (ruff, mypy, stubs) and the docs extra (MkDocs, Material).
$(BIN)/model-service: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test-extra: $(BIN)/model-service pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.lint-extra: $(BIN)/model-service pyproject.toml
	$(BIN)/pip install --quiet -e '.[lint]'
	touch $@

$(VENV)/.docs-extra: $(BIN)/model-service pyproject.toml
	$(BIN)/pip install --quiet -e '.[docs]'
	touch $@

serve: $(BIN)/model-service
	$(BIN)/model-service serve

# One worker per core (pytest-xdist); a worker with nothing left takes tests queued for another.
# PYTEST_ARGS='-n 0' runs everything in one process.
test: $(VENV)/.test-extra chromium
	$(BIN)/python -m pytest -n auto --dist worksteal $(PYTEST_ARGS)

# ruff over the code, the tests and the benchmarks; mypy over the package (pyproject.toml says
# which rules and which strictness). Both run, whatever the first finds; either failing fails.
lint: $(VENV)/.lint-extra
	status=0; \
	$(BIN)/ruff check src tests bench || status=1; \
	$(BIN)/mypy || status=1; \
	exit $$status

# The web UI's browser tests (tests/ui) drive Debian's Chromium; never `playwright install`.
# Installed here when missing and possible (root, or sudo without a password); otherwise the
# browser tests skip, and fail under CI=true.
chromium:
	@if [ -x "$(CHROMIUM)" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "make: no Chromium at $(CHROMIUM) and no apt-get: install Chromium there (the browser tests skip without it)"; \
	elif [ "$$(id -u)" = 0 ]; then \
		echo "make: installing Chromium for the browser tests (apt-get install chromium)"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
		|| { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } \
		|| echo "make: could not install Chromium: the browser tests will skip (and fail under CI=true)"; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		echo "make: installing Chromium for the browser tests (sudo apt-get install chromium)"; \
		sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
		|| { sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } \
		|| echo "make: could not install Chromium: the browser tests will skip (and fail under CI=true)"; \
	else \
		echo "make: no Chromium at $(CHROMIUM): run 'sudo apt-get install chromium' (the browser tests skip without it, and fail under CI=true)"; \
	fi

# The documentation site (docs/, mkdocs.yml) into site/; --strict: a broken link, a page missing
# from the nav or any other warning fails the build. (NO_MKDOCS_2_WARNING: Material's end-of-life
# notice, printed on every build, is not about these pages.)
docs: $(VENV)/.docs-extra
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(VENV)/.test-extra
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) data .pytest_cache site
