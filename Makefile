# Two commands on a fresh machine:  `make serve` starts the service, `make test` runs every test.
PYTHON   ?= python3
VENV     ?= .venv
BIN      := $(VENV)/bin
CHROMIUM ?= /usr/bin/chromium

.PHONY: serve test bench clean chromium docs

$(BIN)/model-service: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

serve: $(BIN)/model-service
	$(BIN)/model-service serve

# One worker per core (pytest-xdist); a worker with nothing left takes tests queued for another.
# PYTEST_ARGS='-n 0' runs everything in one process.
test: $(BIN)/model-service chromium
	$(BIN)/python -m pytest -n auto --dist worksteal $(PYTEST_ARGS)

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
$(BIN)/mkdocs: $(BIN)/model-service pyproject.toml
	$(BIN)/pip install --quiet -e '.[docs]'
	touch $@

docs: $(BIN)/mkdocs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(BIN)/model-service
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) data .pytest_cache
