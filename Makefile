# make train export   -> .venv, MNIST, models/mlp.keras cnn.keras, models/mlp.onnx cnn.onnx
# make calibrate      -> models/mlp.int8.onnx cnn.int8.onnx behind the accuracy gate, temperatures
# make test           -> .venv with the dev extras, then the test suite
# Nothing but Python 3.10+ and pip is needed beforehand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODELS := models
SEED_MODELS := mlp cnn
# onnxruntime-gpu where an NVIDIA driver answers, onnxruntime elsewhere (never both).
RUNTIME_EXTRA := $(shell nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
INSTALLED := $(VENV)/.installed-$(RUNTIME_EXTRA)

.PHONY: all install train export calibrate test clean

all: export

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	rm -f $(VENV)/.installed-*
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[train,dev,$(RUNTIME_EXTRA)]"
	touch $@

# `make train` always trains; `make export` trains only the models it lacks.
train: $(INSTALLED)
	$(BIN)/edgedigits train --model all --out $(MODELS)

$(MODELS)/%.keras: | $(INSTALLED)
	$(BIN)/edgedigits train --model $* --out $(MODELS)

$(MODELS)/%.onnx: $(MODELS)/%.keras | $(INSTALLED)
	$(BIN)/edgedigits export --model $* --out $(MODELS)

export: $(SEED_MODELS:%=$(MODELS)/%.onnx)

# The .keras files are results, not intermediates: make must never delete them.
.SECONDARY: $(SEED_MODELS:%=$(MODELS)/%.keras)

# INT8 behind the accuracy gate, temperatures, timings (exports first if needed).
calibrate: export
	$(BIN)/edgedigits calibrate --model all --out $(MODELS)

test: $(INSTALLED)
	$(BIN)/python -m pytest

clean:
	rm -rf $(MODELS) $(VENV) build *.egg-info src/*.egg-info .pytest_cache
