"""training.demo.pictures: the demo's per-class picture of a single-modality model (none for a multimodal one)."""

from __future__ import annotations

import json

import pytest

from training.demo.pictures import confusion_from_predictions, draw_per_class, model_trained_on

pytest.importorskip("matplotlib")


def test_confusion_counts_labelled_positions_only():
    assert confusion_from_predictions([0, 1, 1, -100, 2], [0, 1, 0, 1, 2], num_labels=3) == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]


def test_per_class_picture_for_one_modality_and_none_for_several(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({"trained_on": "MELD text"}))
    evaluation = {"labels": ["neutral", "joy"], "scenarios": {"text": {"weighted_f1": 0.6, "confusion_matrix": [[3, 1], [1, 2]]}}}
    line = draw_per_class(tmp_path / "model", tmp_path / "data", tmp_path / "per_class.png", evaluation)
    assert line.endswith(str(tmp_path / "per_class.png")) and (tmp_path / "per_class.png").read_bytes()[:4] == b"\x89PNG"
    multimodal = {"scenarios": {"text": {}, "audio": {}, "text+audio": {}}}
    assert draw_per_class(tmp_path / "model", tmp_path / "data", tmp_path / "other.png", multimodal) is None
    assert not (tmp_path / "other.png").exists()
    assert model_trained_on(tmp_path / "model") == "MELD text" and model_trained_on(tmp_path / "none") is None
