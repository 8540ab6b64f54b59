# scratchml — `make setup`, `make demo`, `make test`, `make bench`, `make dist`, `make wheel-check`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export SCRATCHML_DATA ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),$(HOME)/.cache/scratchml)

.PHONY: setup demo test bench dist wheel-check clean

setup: $(STAMP)

# Re-install only when the dependencies change: a no-op `make setup` takes milliseconds.
# pyproject.toml gives the ranges, constraints.txt the exact versions installed here.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[all,dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/scratchml mnist train

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q tests

# The benchmarks that finish in minutes (each prints a JSON line last); the others are in benchmarks/.
bench: setup
	$(BIN)/python benchmarks/bpe_vs_hf.py
	$(BIN)/python benchmarks/mnist_step_profile.py
	$(BIN)/python benchmarks/transformer_vs_torch.py --steps 10

# The wheel, with the shipped model (models/*/ becomes scratchml/models/*/), built from a clean tree:
# setuptools keeps build/ between runs, and a module deleted since would still go in.
dist: setup
	rm -rf build dist
	$(BIN)/python -m pip wheel -q --no-deps -w dist .

# The wheel, installed in a new virtual environment and run from outside the checkout, translates.
wheel-check: dist
	set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(PY) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/pip" install -q -c constraints.txt "$$(ls $(CURDIR)/dist/*.whl)[nmt]"; \
	cd "$$tmp" && env -u SCRATCHML_MODELS "$$tmp/venv/bin/scratchml" translate "Thank you very much."

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
