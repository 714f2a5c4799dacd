"""training.evaluation.metrics: argument order, padding, the evaluate module loaded by path, the Trainer hook."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score
from transformers import EvalPrediction

from training.evaluation.metrics import compute_erc_metrics, compute_metrics_for_trainer

# Asymmetric: swapping y_true and y_pred changes the supports that weight the per-class F1.
Y_TRUE = [0, 0, 0, 0, 1, 1]
Y_PRED = [0, 0, 0, 0, 0, 1]


def test_weighted_f1_uses_y_true_supports_regression():
    # class 0: P 4/5, R 1 -> F1 8/9 (support 4); class 1: P 1, R 1/2 -> F1 2/3 (support 2)
    expected = (4 * 8 / 9 + 2 * 2 / 3) / 6
    swapped = (5 * 8 / 9 + 1 * 2 / 3) / 6
    scores = compute_erc_metrics(Y_TRUE, Y_PRED)
    assert scores["weighted_f1"] == pytest.approx(expected)
    assert compute_erc_metrics(Y_PRED, Y_TRUE)["weighted_f1"] == pytest.approx(swapped)
    assert abs(expected - swapped) > 0.03
    assert scores["weighted_f1"] == pytest.approx(f1_score(Y_TRUE, Y_PRED, average="weighted"))


def test_all_metrics_on_known_example():
    scores = compute_erc_metrics(Y_TRUE, Y_PRED)
    assert scores["n"] == 6
    assert scores["accuracy"] == pytest.approx(5 / 6)
    assert scores["uar"] == pytest.approx((1.0 + 0.5) / 2)
    assert scores["macro_f1"] == pytest.approx((8 / 9 + 2 / 3) / 2)


def test_padding_is_ignored_whatever_is_predicted_there():
    padded_true = [[0, 0, 0, -100], [0, 1, 1, -100]]
    padded_pred = [[0, 0, 0, 1], [0, 0, 1, 3]]
    assert compute_erc_metrics(padded_true, padded_pred) == compute_erc_metrics(Y_TRUE, Y_PRED)


def test_invalid_inputs_are_named():
    with pytest.raises(ValueError, match="y_pred holds class id 5"):
        compute_erc_metrics([0, 1], [0, 5], num_labels=3)
    with pytest.raises(ValueError, match="y_true has 2 values but y_pred has 3"):
        compute_erc_metrics([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="only -100"):
        compute_erc_metrics([0, -1], [0, 1])
    assert compute_erc_metrics([-100], [2])["n"] == 0


def test_trainer_hook_flattens_padded_dialogue_logits():
    labels = np.array([[2, 0, -100], [1, -100, -100]])
    logits = np.full((2, 3, 3), -100.0)  # the Trainer pads logits with -100 too
    logits[0, 0] = [0.0, 0.0, 5.0]  # right: 2
    logits[0, 1] = [0.0, 5.0, 0.0]  # wrong: true 0
    logits[1, 0] = [0.0, 5.0, 0.0]  # right: 1
    scores = compute_metrics_for_trainer(EvalPrediction(predictions=(logits,), label_ids=labels))
    assert scores["n"] == 3
    assert scores["accuracy"] == pytest.approx(2 / 3)  # utterance (0, 1) predicted 1, true 0


def test_evaluate_module_loads_by_path_offline():
    evaluate = pytest.importorskip("evaluate")
    import training

    metric = evaluate.load(training.ERC_METRIC_PATH)
    result = metric.compute(references=Y_TRUE + [-100], predictions=Y_PRED + [2])
    assert result == compute_erc_metrics(Y_TRUE, Y_PRED)
