# Two commands: `make demo` and `make test`. Both set everything up first.
.PHONY: setup demo test lint screenshots bench clean

VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= $(CURDIR)/.lab/demo

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh "$(DEMO_DIR)"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q -p no:cacheprovider -n 4 --dist loadfile --durations=15

screenshots: setup
	$(BIN)/python scripts/screenshots.py

bench: setup
	$(BIN)/python bench/poll.py

clean:
	rm -rf $(VENV) .lab build dist
