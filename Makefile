# Two commands on a fresh machine:  `make serve` starts the service, `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: serve test bench clean

$(BIN)/model-service: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

serve: $(BIN)/model-service
	$(BIN)/model-service serve

# One worker per core (pytest-xdist); a worker with nothing left takes tests queued for another.
# PYTEST_ARGS='-n 0' runs everything in one process.
test: $(BIN)/model-service
	$(BIN)/python -m pytest -n auto --dist worksteal $(PYTEST_ARGS)

bench: $(BIN)/model-service
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) data .pytest_cache
