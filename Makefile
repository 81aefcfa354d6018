# Two commands: `make demo` and `make test`. Both set everything up first.
.PHONY: setup demo test durations lint screenshots bench clean

VENV := .venv
BIN := $(VENV)/bin
# pytest-xdist workers: the suite mostly waits on etcd and sshd, so five share two cores well
# (a fresh clone here: 302 s of tests with five, 341 s with four).
WORKERS ?= 5
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
	$(BIN)/pytest -q -p no:cacheprovider -n $(WORKERS) --dist loadfile --durations=15

# Records each test file's seconds in tests/durations.json: xdist hands the longest out first.
durations: setup
	$(BIN)/pytest -q -p no:cacheprovider -n $(WORKERS) --dist loadfile --store-durations

screenshots: setup
	$(BIN)/python scripts/screenshots.py

bench: setup
	$(BIN)/python bench/poll.py

clean:
	rm -rf $(VENV) .lab build dist
