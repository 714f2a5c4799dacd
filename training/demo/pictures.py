"""The demo's pictures of its exported model, chosen for what the model is.

- a single-modality model (the default MELD text demo): ``per_class.png``, F1 per emotion and the confusion matrix
  on the test split (`training.publishing.charts.plot_per_class`); one bar per scenario would say nothing;
- every model: the conversation timeline is drawn by `training.demo.run` with the model's ``trained_on``, and the
  exported scenario chart of a model trained on synthetic features is redrawn with a title that says so
  (`redraw_synthetic_evaluation`): every picture of such a model says it.

Example:
    >>> from training.demo.pictures import confusion_from_predictions
    >>> confusion_from_predictions([0, 1, 1, -100], [0, 1, 0, 2], num_labels=2)
    [[1, 0], [1, 1]]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# The per-emotion picture of a single-modality demo model, beside conversation.png.
PER_CLASS_PICTURE = "per_class.png"
IGNORE_INDEX = -100


def model_trained_on(model_dir: Path) -> str | None:
    """``trained_on`` of the exported model's config.json (None when absent or unreadable)."""
    try:
        return json.loads((Path(model_dir) / "config.json").read_text()).get("trained_on")
    except (OSError, ValueError):
        return None


def confusion_from_predictions(y_true: Sequence[int], y_pred: Sequence[int], num_labels: int) -> list[list[int]]:
    """Confusion matrix (rows: gold, columns: predicted) of the labelled positions (``y_true`` != -100)."""
    matrix = [[0] * num_labels for _ in range(num_labels)]
    for gold, predicted in zip(y_true, y_pred):
        if int(gold) != IGNORE_INDEX:
            matrix[int(gold)][int(predicted)] += 1
    return matrix


def confusion_on_test(model_dir: Path, data_dir: Path, batch_size: int = 8) -> tuple[list[list[int]], list[str]]:
    """The exported model's confusion matrix on the prepared test split, and its label names (the model's order)."""
    import torch

    from modeling_emoje.model_folder import load_model

    from ..evaluation.evaluate import with_model_labels
    from ..train.collator import DialogueCollator, DialogueDataset
    from ..train.data import load_prepared_data

    model = load_model(model_dir).eval()
    dataset = with_model_labels(model, DialogueDataset(load_prepared_data(data_dir)["test"], name="test"))
    collator = DialogueCollator(keep_modalities=list(model.config.modality_dims))
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collator)
    y_true: list[int] = []
    y_pred: list[int] = []
    with torch.no_grad():
        for batch in loader:
            labels = batch.pop("labels")
            logits = model(**batch).logits
            y_true += labels.reshape(-1).tolist()
            y_pred += logits.argmax(-1).reshape(-1).tolist()
    labels = [model.config.id2label[index] for index in range(model.config.num_labels)]
    return confusion_from_predictions(y_true, y_pred, len(labels)), labels


def redraw_synthetic_evaluation(model_dir: Path, evaluation: Mapping[str, Any], picture_name: str) -> Path | None:
    """Redraw the exported model's scenario chart ``picture_name`` with a title that says the model was trained on
    synthetic features (when its config says so); returns the picture, None when nothing was redrawn."""
    from ..publishing.charts import PlottingUnavailable, plot_evaluation

    from types import SimpleNamespace

    from modeling_emoje.configuration_emoje import is_trained_on_synthetic

    trained_on = model_trained_on(model_dir)
    picture = Path(model_dir) / picture_name
    synthetic = is_trained_on_synthetic(SimpleNamespace(trained_on=trained_on))
    if not synthetic or not picture.is_file() or not evaluation.get("scenarios"):
        return None
    try:
        return plot_evaluation(evaluation, picture, trained_on=trained_on)
    except PlottingUnavailable:
        return None


def draw_per_class(
    model_dir: Path, data_dir: Path, picture: Path, evaluation: Mapping[str, Any] | None = None
) -> str | None:
    """For a single-modality exported model, draw F1 per emotion and the confusion matrix on test at ``picture``;
    returns the line that says where (or why not), None for a model of several modalities (its scenario chart is
    the picture that says the most)."""
    from ..publishing.charts import PlottingUnavailable, plot_evaluation, single_scenario

    evaluation = dict(evaluation or {})
    scenario = single_scenario(evaluation) if evaluation.get("scenarios") else None
    if scenario is None:
        return None
    scores = dict(evaluation["scenarios"][scenario])
    labels = evaluation.get("labels")
    if "confusion_matrix" not in scores or not labels:  # an evaluation recorded without one: predict the test split
        scores["confusion_matrix"], labels = confusion_on_test(model_dir, data_dir)
    try:
        plot_evaluation({"labels": labels, "scenarios": {scenario: scores}}, picture, trained_on=model_trained_on(model_dir))
    except PlottingUnavailable as error:
        return f"      (no per-class picture: {error})"
    return f"      per-class picture: {picture}"


__all__ = [
    "PER_CLASS_PICTURE",
    "confusion_from_predictions",
    "confusion_on_test",
    "draw_per_class",
    "model_trained_on",
    "redraw_synthetic_evaluation",
]
