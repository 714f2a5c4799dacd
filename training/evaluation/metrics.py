"""Emotion-recognition-in-conversation metrics: weighted-F1, macro-F1, accuracy (WAR) and UAR.

The argument order is ``(y_true, y_pred)``, as in scikit-learn. Swapping the two silently changes the
weighted-F1 (the weights are the supports of ``y_true``), a known way published numbers were inflated.

Example:
    >>> from training.evaluation.metrics import compute_erc_metrics
    >>> scores = compute_erc_metrics([0, 0, 0, 0, 1, 1, -100], [0, 0, 0, 0, 0, 1, 2])
    >>> round(scores["weighted_f1"], 4), scores["n"]
    (0.8148, 6)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, recall_score

IGNORE_INDEX = -100
METRIC_NAMES: tuple[str, ...] = ("weighted_f1", "macro_f1", "accuracy", "uar")


def _as_labels(values: Sequence[int] | np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind not in "iub":
        if array.size and not np.all(np.mod(array, 1) == 0):
            raise ValueError(f"{name} must hold integer class ids, got dtype {array.dtype}")
        array = array.astype(np.int64)
    return array.reshape(-1).astype(np.int64)


def confusion_counts(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_labels: int) -> list[list[int]]:
    """``counts[gold][predicted]`` over the scored positions (-100 in ``y_true`` is ignored), a plain list for JSON.

    Example:
        >>> confusion_counts([0, 1, 1, -100], [0, 0, 1, 1], num_labels=2)
        [[1, 0], [1, 1]]
    """
    true, pred = np.asarray(y_true).reshape(-1), np.asarray(y_pred).reshape(-1)
    keep = true != IGNORE_INDEX
    counts = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(counts, (true[keep], pred[keep]), 1)
    return counts.tolist()


def compute_erc_metrics(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, num_labels: int | None = None
) -> dict[str, float | int]:
    """Scores of predicted against reference class ids; positions where ``y_true`` is -100 are ignored.

    Args:
        y_true: reference class ids (any shape; -100 marks padding).
        y_pred: predicted class ids, same shape as ``y_true``.
        num_labels: if given, every id must lie in ``[0, num_labels)``.

    Returns:
        ``weighted_f1`` (F1 per class weighted by the support in ``y_true``), ``macro_f1`` (unweighted mean
        over the classes seen in either), ``accuracy`` (= WAR), ``uar`` (mean recall over the classes present
        in ``y_true``) and ``n`` (number of scored utterances). With nothing to score every metric is 0.0.
    """
    true, pred = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} values but y_pred has {pred.size}")
    keep = true != IGNORE_INDEX
    true, pred = true[keep], pred[keep]
    if num_labels is not None:
        for name, values in (("y_true", true), ("y_pred", pred)):
            bad = values[(values < 0) | (values >= num_labels)]
            if bad.size:
                raise ValueError(f"{name} holds class id {int(bad[0])}, outside [0, {num_labels}) (use -100 for padding)")
    elif true.size and true.min() < 0:
        raise ValueError(f"y_true holds negative class id {int(true.min())}; only -100 (padding) may be negative")
    if true.size == 0:
        return {**dict.fromkeys(METRIC_NAMES, 0.0), "n": 0}
    return {
        "weighted_f1": float(f1_score(true, pred, average="weighted", zero_division=0)),
        "macro_f1": float(f1_score(true, pred, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(true, pred)),
        "uar": float(recall_score(true, pred, labels=np.unique(true), average="macro", zero_division=0)),
        "n": int(true.size),
    }


def logits_to_predictions(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten ``(..., C)`` logits and ``(...)`` labels into ``(y_true, y_pred)`` over the labelled positions."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    if logits.shape[:-1] != labels.shape:
        raise ValueError(f"logits {logits.shape} and labels {labels.shape} disagree on the utterance axes")
    y_true = labels.reshape(-1)
    y_pred = logits.reshape(-1, logits.shape[-1]).argmax(-1)
    keep = y_true != IGNORE_INDEX
    return y_true[keep], y_pred[keep]


def compute_metrics_for_trainer(eval_prediction) -> dict[str, float | int]:
    """``compute_metrics`` for [`transformers.Trainer`]: ``(B, U, C)`` logits and ``(B, U)`` labels, -100 padded.

    Batches of different utterance counts arrive concatenated and padded with -100 by the Trainer; the
    padding positions carry label -100 and are dropped before scoring.
    """
    logits = eval_prediction.predictions
    if isinstance(logits, (tuple, list)):
        logits = logits[0]
    y_true, y_pred = logits_to_predictions(logits, eval_prediction.label_ids)
    return compute_erc_metrics(y_true, y_pred)


__all__ = [
    "confusion_counts","IGNORE_INDEX", "METRIC_NAMES", "compute_erc_metrics", "compute_metrics_for_trainer", "logits_to_predictions"]
