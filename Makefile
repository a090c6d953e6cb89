# The two commands of the README. Each does all set-up on a fresh machine (a virtual
# environment in .venv with torch and this package), then runs.
#   make demo   bundled Mask2Lesion in an Albumentations pipeline -> outputs/demo.png
#   make test   the default test suite (slow / GPU tests are opt-in: make test-slow, make test-gpu)
VENV ?= .venv
PYTHON ?= python3
TORCH ?= torch==2.14.1 torchvision==0.29.1
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-gpu setup benchmark

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gan-augment demo

test: $(STAMP)
	$(PY) -m pytest

test-slow: $(STAMP)
	$(PY) -m pytest -m slow

test-gpu: $(STAMP)
	$(PY) -m pytest -m gpu

benchmark: $(STAMP)
	$(PY) benchmarks/run_all.py
