# make train export   -> .venv, MNIST, models/NAME.keras and models/NAME.onnx for mlp, cnn, cnn-bn-aug, inkseg, seqread
# make calibrate      -> models/NAME.int8.onnx behind the accuracy gate, temperatures, timings
# make field          -> a 300-page field set, and every model's pages-read-exactly on it
# make field-real     -> a 450-page realistic field set (desks, notes, grids, inks, 320x240 to 12 MP), scored per level and tag
# make field-close    -> 150 realistic close-ups (one short number, digits a third to two thirds of the frame), scored
# make bench          -> every model and format side by side, with peers: bench/bench.json, bench.png
# make test           -> .venv with the dev extras, then the test suite
# make dist           -> dist/edgedigits-*.whl, the wheel to install on a Raspberry Pi (README, "On a Raspberry Pi")
# Nothing but Python 3.10+ and pip is needed beforehand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODELS := models
# Every registered model: the seed's two and our own digit classifiers (edgedigits/train/models.py), and the
# learned ink segmenter (edgedigits/train/inkseg.py) and the sequence model for touching digits (train/sequence.py).
CLASSIFIERS := mlp cnn cnn-bn-aug
MODEL_NAMES := $(CLASSIFIERS) inkseg seqread
# onnxruntime-gpu where an NVIDIA driver answers, onnxruntime elsewhere (never both).
RUNTIME_EXTRA := $(shell nvidia-smi >/dev/null 2>&1 && echo gpu || echo cpu)
INSTALLED := $(VENV)/.installed-$(RUNTIME_EXTRA)

.PHONY: all install train export calibrate field field-real field-close bench test dist clean

all: export

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	rm -f $(VENV)/.installed-*
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[train,serve,scale,dev,$(RUNTIME_EXTRA)]"
	touch $@

# `make train` always trains; `make export` trains only the models it lacks.
train: $(INSTALLED)
	$(BIN)/edgedigits train --model all --out $(MODELS)

$(MODELS)/%.keras: | $(INSTALLED)
	$(BIN)/edgedigits train --model $* --out $(MODELS)

$(MODELS)/%.onnx: $(MODELS)/%.keras | $(INSTALLED)
	$(BIN)/edgedigits export --model $* --out $(MODELS)

export: $(MODEL_NAMES:%=$(MODELS)/%.onnx)

# cnn-bn-aug's last epochs read generated photos with the ink segmenter (edgedigits/train/pagecrops.py).
$(MODELS)/cnn-bn-aug.keras: | $(MODELS)/inkseg.keras

# The .keras files are results, not intermediates: make must never delete them.
.SECONDARY: $(MODEL_NAMES:%=$(MODELS)/%.keras)

# INT8 behind the accuracy gate, temperatures, timings (exports first if needed).
calibrate: export
	$(BIN)/edgedigits calibrate --model all --out $(MODELS)

# Every model and format side by side, with peers (writes bench/bench.json and bench/bench.png).
bench: $(INSTALLED)
	$(BIN)/edgedigits bench --models $(MODELS)

# Photographed pages with ground truth (synthetic, see edgedigits/fieldset.py), and every model scored on them.
FIELDSET := fieldset
$(FIELDSET)/truth.jsonl: | $(INSTALLED)
	$(BIN)/python scripts/make_pages.py --count 300 --seed 1 --out $(FIELDSET)

field: $(FIELDSET)/truth.jsonl
	for model in $(sort $(wildcard $(CLASSIFIERS:%=$(MODELS)/%.onnx) $(CLASSIFIERS:%=$(MODELS)/%.int8.onnx))); do $(BIN)/edgedigits eval $$model --pages $(FIELDSET) || exit 1; done

# Realistic photos (edgedigits/fieldset_realistic.py). Seed 11 was looked at while tuning segmentation; 12 measures.
REALSET := fieldset-real
$(REALSET)/truth.jsonl: | $(INSTALLED)
	$(BIN)/python scripts/make_pages.py --kind realistic --count 450 --seed 12 --out $(REALSET)

field-real: $(REALSET)/truth.jsonl
	for model in $(sort $(wildcard $(CLASSIFIERS:%=$(MODELS)/%.onnx) $(CLASSIFIERS:%=$(MODELS)/%.int8.onnx))); do $(BIN)/edgedigits eval $$model --pages $(REALSET) || exit 1; done

CLOSESET := fieldset-close
$(CLOSESET)/truth.jsonl: | $(INSTALLED)
	$(BIN)/python scripts/make_pages.py --kind close-up --count 150 --seed 12 --out $(CLOSESET)

field-close: $(CLOSESET)/truth.jsonl
	$(BIN)/edgedigits eval $(MODELS)/cnn-bn-aug.int8.onnx --pages $(CLOSESET)

# A wheel to carry to a Raspberry Pi (the package is not published): dist/edgedigits-VERSION-py3-none-any.whl
dist: $(INSTALLED)
	rm -rf dist
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir dist .

test: $(INSTALLED)
	$(BIN)/python -m pytest

clean:
	rm -rf $(MODELS) $(VENV) $(FIELDSET) $(REALSET) $(CLOSESET) bench build dist *.egg-info src/*.egg-info .pytest_cache
