"""Training, missing-modality evaluation, prediction and publishing for emoje models, one sub-package per job.

- `training.train`: training proper (`run.run` is emoje-train's run; `collator`, `trainer`, options, checkpoints).
- `training.evaluation`: scenarios, metrics (`compute_erc_metrics`), `evaluate_model`.
- `training.inference`: emoje-predict's library (inputs, the pipeline over many conversations, JSONL output).
- `training.publishing`: export and Hub upload (`export`), pictures (`charts`).
- `training.demo`: the emoje-demo run.
- `training.cli`: the console scripts (emoje-train, emoje-evaluate, emoje-predict, emoje-demo), thin, and their one
  error boundary.

Sub-packages are imported lazily (``import training`` stays cheap, e.g. inside the `evaluate` metric module).

Example:
    >>> import evaluate, training
    >>> evaluate.load(training.ERC_METRIC_PATH).compute(references=[1, 0], predictions=[1, 0])["accuracy"]
    1.0
"""

from __future__ import annotations

import importlib
from pathlib import Path

# `evaluate.load(ERC_METRIC_PATH)` gives the metrics as an `evaluate` module, offline.
ERC_METRIC_PATH = str(Path(__file__).parent / "evaluation" / "erc_metric")
CONFIGS_DIR = Path(__file__).with_name("configs")

# name -> the module that owns it, imported on first use.
_LAZY = {
    "compute_erc_metrics": "training.evaluation.metrics",
    "DialogueCollator": "training.train.collator",
    "DialogueDataset": "training.train.collator",
    "ERCTrainer": "training.train.trainer",
    "build_scenarios": "training.evaluation.scenarios",
    "evaluate_model": "training.evaluation.evaluate",
    "export_model": "training.publishing.export",
    "push_to_hub": "training.publishing.export",
    "load_model": "modeling_emoje.model_folder",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'training' has no attribute {name!r}")


__all__ = ["CONFIGS_DIR", "ERC_METRIC_PATH", *_LAZY]
