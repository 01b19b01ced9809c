# `make run` serves the API on SQLite; `make test` runs the suite on SQLite and PostgreSQL.
# Both create the virtual environment and install the project on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint format openapi bench-ingest bench-indices bench-export bench-documents bench-workbook bench-compliance bench-paper bench-region bench-replica clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

run: $(BIN)/.installed
	$(BIN)/skm serve --host $(HOST) --port $(PORT)

test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

openapi: $(BIN)/.installed
	$(BIN)/python -m app.openapi > openapi/openapi.json

bench-ingest: $(BIN)/.installed
	$(BIN)/python -m bench.ingest $(BENCH_ARGS)

bench-paper: $(BIN)/.installed
	$(BIN)/python -m bench.paper_import $(BENCH_ARGS)

bench-indices: $(BIN)/.installed
	$(BIN)/python -m bench.indices $(BENCH_ARGS)

bench-region: $(BIN)/.installed
	$(BIN)/python -m bench.region $(BENCH_ARGS)

bench-replica: $(BIN)/.installed
	$(BIN)/python -m bench.replica $(BENCH_ARGS)

bench-export: $(BIN)/.installed
	$(BIN)/python -m bench.export $(BENCH_ARGS)

bench-documents: $(BIN)/.installed
	$(BIN)/python -m bench.documents $(BENCH_ARGS)

bench-workbook: $(BIN)/.installed
	$(BIN)/python -m bench.workbook $(BENCH_ARGS)

bench-compliance: $(BIN)/.installed
	$(BIN)/python -m bench.compliance $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
