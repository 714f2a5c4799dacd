"""`transformers.Trainer` for dialogue-level emotion recognition with multi-term losses.

`ERCTrainer` logs every term of the model's ``loss_terms`` (averaged over the logging window and over
processes), returns only ``(loss, logits, labels)`` from `prediction_step` and scores with
`training.metrics`. `default_training_arguments` holds the settings the package relies on (best checkpoint by
validation weighted-F1, ``remove_unused_columns=False``, ``label_names=["labels"]``).

Example:
    >>> from training.trainer import default_training_arguments
    >>> defaults = default_training_arguments()
    >>> defaults["metric_for_best_model"], defaults["remove_unused_columns"]
    ('weighted_f1', False)
"""

from __future__ import annotations

from typing import Any

import torch
from accelerate.utils import gather_object
from transformers import EarlyStoppingCallback, Trainer

from .metrics import compute_metrics_for_trainer

LOSS_TERM_PREFIX = "loss_"


def default_training_arguments() -> dict[str, Any]:
    """TrainingArguments values the package sets unless a config or the command line overrides them."""
    return {
        "eval_strategy": "epoch",
        "save_strategy": "epoch",
        "logging_strategy": "steps",
        "logging_steps": 10,
        "save_total_limit": 2,
        "load_best_model_at_end": True,
        "metric_for_best_model": "weighted_f1",
        "greater_is_better": True,
        "remove_unused_columns": False,
        "label_names": ["labels"],
        "report_to": "none",
        "dataloader_num_workers": 0,
        "dataloader_pin_memory": torch.cuda.is_available(),
    }


class ERCTrainer(Trainer):
    """Trainer for models returning ``loss``, ``logits`` (B, U, C) and ``loss_terms`` (dict of detached scalars).

    Uses `training.metrics.compute_metrics_for_trainer` unless ``compute_metrics`` is given. The model's loss is
    a per-batch mean, so the Trainer must not pass ``num_items_in_batch`` to it nor rescale it.
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("compute_metrics", compute_metrics_for_trainer)
        super().__init__(*args, **kwargs)
        # The models' forward takes **kwargs (input contract), which Trainer would read as "the model normalises
        # its loss by num_items_in_batch itself"; it does not, so gradient accumulation must rescale the loss.
        self.model_accepts_loss_kwargs = False
        self._term_sums: dict[str, torch.Tensor] = {}
        self._term_counts: dict[str, int] = {}

    def compute_loss(self, model, inputs, return_outputs: bool = False, num_items_in_batch=None):
        outputs = model(**inputs)
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs[0]
        if loss is None:
            raise ValueError(f"the model returned no loss; its inputs were {sorted(inputs)} (labels are required)")
        terms = outputs.get("loss_terms") if isinstance(outputs, dict) else None
        if terms and model.training:
            for name, value in terms.items():
                value = value.detach().float().mean()
                self._term_sums[name] = self._term_sums.get(name, 0.0) + value
                self._term_counts[name] = self._term_counts.get(name, 0) + 1
        return (loss, outputs) if return_outputs else loss

    def _pop_loss_terms(self) -> dict[str, float]:
        """Mean of each loss term since the last training log, averaged over processes."""
        names = sorted(self._term_sums)
        if self.args.world_size > 1:
            names = sorted({name for part in gather_object([names]) for name in part})
        if not names:
            return {}
        device = self.args.device
        sums = torch.stack([torch.as_tensor(self._term_sums.get(n, 0.0), device=device, dtype=torch.float32) for n in names])
        counts = torch.tensor([float(self._term_counts.get(n, 0)) for n in names], device=device)
        if self.args.world_size > 1:
            sums, counts = self.accelerator.reduce(sums, "sum"), self.accelerator.reduce(counts, "sum")
        self._term_sums, self._term_counts = {}, {}
        means = (sums / counts.clamp_min(1.0)).tolist()
        return {f"{LOSS_TERM_PREFIX}{name}": round(mean, 6) for name, mean, count in zip(names, means, counts.tolist()) if count}

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs:  # a training log (evaluation logs use "eval_loss")
            logs.update(self._pop_loss_terms())
        super().log(logs, start_time)

    def prediction_step(self, model, inputs, prediction_loss_only: bool, ignore_keys=None):
        """``(loss, logits (B, U, C), labels (B, U))``; the Trainer pads U across batches and processes with -100."""
        inputs = self._prepare_inputs(inputs)
        labels = inputs.get("labels")
        with torch.no_grad():
            outputs = model(**inputs)
        loss = outputs.get("loss")
        loss = loss.detach().mean() if loss is not None else None
        if prediction_loss_only:
            return loss, None, None
        return loss, outputs["logits"].detach(), labels


def early_stopping(patience: int | None, threshold: float = 0.0) -> list[EarlyStoppingCallback]:
    """An early-stopping callback list (empty when ``patience`` is None or 0)."""
    if not patience:
        return []
    return [EarlyStoppingCallback(early_stopping_patience=patience, early_stopping_threshold=threshold)]


__all__ = ["ERCTrainer", "default_training_arguments", "early_stopping"]
