"""Training, missing-modality evaluation and publishing for emoje models.

Submodules are imported lazily (``import training`` stays cheap, e.g. inside the `evaluate` metric module):

- `training.metrics`: `compute_erc_metrics(y_true, y_pred)` (weighted-F1, macro-F1, accuracy, UAR).
- `training.collator`: `DialogueDataset` (utterance rows -> dialogues) and `DialogueCollator` (-> model inputs).
- `training.trainer`: `ERCTrainer`, a `transformers.Trainer` logging each loss term.
- `training.evaluation`: scenarios, `evaluate_model`, the `emoje-evaluate` command.
- `training.train`: the `emoje-train` command; `training.hub`: export and Hub upload; `training.demo`: `emoje-demo`.

Example:
    >>> import evaluate, training
    >>> evaluate.load(training.ERC_METRIC_PATH).compute(references=[1, 0], predictions=[1, 0])["accuracy"]
    1.0
"""

from __future__ import annotations

import importlib
from pathlib import Path

# `evaluate.load(ERC_METRIC_PATH)` gives the metrics as an `evaluate` module, offline.
ERC_METRIC_PATH = str(Path(__file__).with_name("erc_metric"))
CONFIGS_DIR = Path(__file__).with_name("configs")

_LAZY = {
    "compute_erc_metrics": "metrics",
    "DialogueCollator": "collator",
    "DialogueDataset": "collator",
    "ERCTrainer": "trainer",
    "build_scenarios": "evaluation",
    "evaluate_model": "evaluation",
    "export_model": "hub",
    "push_to_hub": "hub",
    "load_model": "registry",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'training' has no attribute {name!r}")


__all__ = ["CONFIGS_DIR", "ERC_METRIC_PATH", *_LAZY]
