# Every target sets up .venv itself on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU wheel pin; on a GPU machine run e.g. `make test CONSTRAINTS=` to get the CUDA build of torch.
CONSTRAINTS ?= constraints-cpu.txt
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
DEMO_DIR ?= demo

.PHONY: setup demo test test-all lint format bench clean

$(BIN)/soundsentry: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip $(PIP_C)
	$(BIN)/pip install -q $(PIP_C) -e '.[dev]'
	touch $@

setup: $(BIN)/soundsentry

demo: setup
	$(BIN)/soundsentry demo --out $(DEMO_DIR)

test: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/python -m pytest -n 2 -q

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: setup
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
