"""Comparing a model's label map with the labels of the data it meets (evaluation, training, resume).

A model's class ``i`` means ``config.id2label[i]``; a prepared split's label ``j`` means
``features["label"].names[j]``. Where the two lists hold the same names in another order, the data's label ids
are remapped to the model's order (with a log line); where the names differ, nothing is scored: a
`LabelMapError` names both lists.

Example:
    >>> from training.train.labels import label_order_mapping
    >>> label_order_mapping(["joy", "anger"], ["anger", "joy"], data_source="test", model_source="model").tolist()
    [1, 0]
    >>> label_order_mapping(["anger", "joy"], ["anger", "joy"], data_source="test", model_source="model") is None
    True
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

logger = logging.getLogger(__name__)


class LabelMapError(ValueError):
    """The data's labels are not the labels the model was trained on."""


def label_list(id2label: Mapping, num_labels: int) -> list[str] | None:
    """``id2label`` (int or str keys) as a list in class order; None for unnamed labels (``LABEL_0``, ...)."""
    names = [str(id2label.get(i, id2label.get(str(i), f"LABEL_{i}"))) for i in range(num_labels)]
    if not names or all(name == f"LABEL_{i}" for i, name in enumerate(names)):
        return None
    return names


def model_label_names(config) -> list[str] | None:
    """A model config's label names in class order; None when it has no named labels."""
    id2label: Mapping | None = getattr(config, "id2label", None)
    num_labels = getattr(config, "num_labels", None)
    if not id2label or num_labels is None:
        return None
    return label_list(id2label, num_labels)


def label_order_mapping(
    data_labels: Sequence[str], model_labels: Sequence[str], *, data_source: str, model_source: str
) -> np.ndarray | None:
    """Data label id -> model label id, or None when both lists are equal.

    Raises `LabelMapError` naming both lists when they do not hold the same names (once each).
    """
    data_labels, model_labels = [str(n) for n in data_labels], [str(n) for n in model_labels]
    if data_labels == model_labels:
        return None
    if sorted(data_labels) != sorted(model_labels) or len(set(model_labels)) != len(model_labels):
        only_data = sorted(set(data_labels) - set(model_labels))
        only_model = sorted(set(model_labels) - set(data_labels))
        difference = "; ".join(
            part for part in (
                f"only in the data: {only_data}" if only_data else "",
                f"only in the model: {only_model}" if only_model else "",
            ) if part
        ) or "the same names with different counts"
        raise LabelMapError(
            f"the labels of {data_source} {data_labels} are not the labels of {model_source} {model_labels} "
            f"({difference}); a model can only be trained or scored on data with its own label set"
        )
    logger.warning(
        "the labels of %s %s are in another order than those of %s %s: remapping the data's label ids to the model's order",
        data_source, data_labels, model_source, model_labels,
    )
    position = {name: index for index, name in enumerate(model_labels)}
    return np.asarray([position[name] for name in data_labels], dtype=np.int64)


__all__ = ["LabelMapError", "label_list", "label_order_mapping", "model_label_names"]
