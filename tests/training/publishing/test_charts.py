"""Pictures chosen for the reader (issue 28): a per-class chart for a single-modality model, a conversation picture
without weight bars for one modality, every synthetic model's picture saying so, and each under 1200 px wide."""

from __future__ import annotations

import pytest

from training.publishing import charts

pytest.importorskip("matplotlib")

LABELS = ["neutral", "joy", "anger"]
CONFUSION = [[5, 1, 0], [2, 3, 0], [0, 1, 4]]
SYNTHETIC = "synthetic features — not for real input"


def _width(path) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return image.size[0]


def test_per_class_f1_is_computed_from_the_confusion_matrix():
    assert [round(value, 4) for value in charts.per_class_f1(CONFUSION)] == [0.7692, 0.6, 0.8889]
    assert charts.per_class_f1([[0, 0], [0, 3]]) == [0.0, 1.0]  # a class never seen nor predicted: 0, no error


def test_single_modality_evaluation_gets_the_per_class_chart(tmp_path):
    evaluation = {"labels": LABELS, "scenarios": {"text": {"weighted_f1": 0.7, "macro_f1": 0.6, "n": 16,
                                                           "confusion_matrix": CONFUSION}}}
    figure = charts.plot_evaluation(evaluation)
    bars, matrix = figure.axes
    assert [round(float(bar.get_width()), 1) for bar in bars.patches] == [76.9, 60.0, 88.9]
    assert [t.get_text() for t in bars.get_yticklabels()] == ["neutral (n=6)", "joy (n=5)", "anger (n=5)"]
    assert sorted(int(t.get_text()) for t in matrix.texts) == sorted(sum(CONFUSION, []))
    assert "text only" in figure._suptitle.get_text()
    path = charts.plot_evaluation(evaluation, tmp_path / "evaluation.png")
    assert _width(path) <= 1200


def test_several_modalities_or_no_confusion_matrix_keep_the_scenario_chart():
    multimodal = {"scenarios": {"text": {"weighted_f1": 0.5}, "audio": {"weighted_f1": 0.4}, "text+audio": {"weighted_f1": 0.7}}}
    assert len(charts.plot_evaluation(multimodal).axes) == 1
    no_matrix = {"scenarios": {"text": {"weighted_f1": 0.5}}}
    assert len(charts.plot_evaluation(no_matrix).axes) == 1
    with pytest.raises(ValueError, match="3x3 confusion matrix"):
        charts.plot_per_class([[1, 2], [3, 4]], LABELS)


def test_single_modality_conversation_has_no_weight_bars():
    predictions = [{"label": "joy", "score": 0.8, "modality_weights": {"text": 1.0}, "imputed": []},
                   {"label": "anger", "score": 0.4, "modality_weights": {"text": 1.0}, "imputed": []}]
    figure = charts.plot_conversation(predictions, turns=[{"speaker": "A", "text": "Yay"}, {"speaker": "B", "text": "No"}],
                                      gold=["joy", "sadness"])
    axis = figure.axes[0]
    assert [round(bar.get_width(), 2) for bar in axis.patches] == [0.8, 0.4]  # the scores, not "t 1.00" twice
    texts = [t.get_text() for t in axis.texts]
    assert not any(text.startswith("t 1.00") for text in texts)
    assert axis.get_legend() is None and "text only" in axis.get_title()


def test_every_picture_of_a_synthetic_model_says_so(tmp_path):
    evaluation = {"labels": LABELS, "scenarios": {"text": {"weighted_f1": 0.7, "confusion_matrix": CONFUSION}}}
    per_class = charts.plot_evaluation(evaluation, trained_on=SYNTHETIC)
    assert per_class._suptitle.get_text().startswith(charts.SYNTHETIC_TITLE_PREFIX)
    scenarios = charts.plot_scenario_scores({"scenarios": {"text": {"weighted_f1": 0.5}, "audio": {"weighted_f1": 0.4}}},
                                            trained_on=SYNTHETIC)
    assert scenarios.axes[0].get_title().startswith("SYNTHETIC")
    predictions = [{"label": "joy", "score": 0.6, "modality_weights": {"text": 0.5, "audio": 0.5}, "imputed": ["audio"]}]
    conversation = charts.plot_conversation(predictions, trained_on=SYNTHETIC)
    assert conversation.axes[0].get_title().startswith("SYNTHETIC")
    real = charts.plot_conversation(predictions, trained_on="MELD text annotations")
    assert "SYNTHETIC" not in real.axes[0].get_title()
    path = charts.plot_conversation(predictions * 6, tmp_path / "conversation.png", trained_on=SYNTHETIC,
                                    turns=[{"speaker": "Somebody", "text": "a long sentence " * 8}] * 6)
    assert _width(path) <= 1200


def test_a_scenario_chart_of_every_subset_fits_the_page(tmp_path):
    names = ["text", "audio", "face", "body", "text+audio", "text+face", "text+body", "audio+face", "audio+body",
             "face+body", "text+audio+face", "text+audio+body", "text+face+body", "audio+face+body",
             "text+audio+face+body", "privacy"]
    path = charts.plot_scenario_scores({"scenarios": {name: {"weighted_f1": 0.5} for name in names}}, tmp_path / "s.png")
    assert _width(path) <= 1200
