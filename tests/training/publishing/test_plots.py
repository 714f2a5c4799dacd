"""training.publishing.charts (scenario chart, conversation timeline), the evaluation progress bar and emoje-evaluate --plot."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.synthetic_data import OracleModel, oracle_corpus, one_thread  # noqa: F401  (one_thread: autouse fixture)
from training.cli.evaluate import main as evaluate_main
from training.evaluation.evaluate import evaluate_model
from training.publishing import charts as plots

pytest.importorskip("matplotlib")

EVALUATION = {"scenarios": {
    "text+audio": {"weighted_f1": 0.7}, "audio": {"weighted_f1": 0.4}, "text": {"weighted_f1": 0.5},
    "privacy": {"weighted_f1": 0.65}, "three_mode_mean": {"weighted_f1": 0.55},
}}


def test_scenario_chart_groups_by_modality_count_with_the_full_score_as_reference(tmp_path):
    figure = plots.plot_scenario_scores(EVALUATION)
    axis = figure.axes[0]
    assert [t.get_text() for t in axis.get_xticklabels()] == ["text", "audio", "text+audio", "privacy"]  # no aggregate
    assert [round(bar.get_height(), 6) for bar in axis.patches] == [50.0, 40.0, 70.0, 65.0]
    reference = [line for line in axis.lines if line.get_linestyle() == "--"]
    assert len(reference) == 1 and reference[0].get_ydata()[0] == pytest.approx(70.0)
    headers = {text.get_text() for text in axis.texts}
    assert {"1 modality", "2\nmodalities", "privacy\n(no face)"} <= headers
    path = plots.plot_scenario_scores(EVALUATION, tmp_path / "chart.png")
    assert path == tmp_path / "chart.png" and path.read_bytes()[:4] == b"\x89PNG"


def test_scenario_chart_compares_models():
    figure = plots.plot_scenario_scores({"A": {"text": 0.5, "text+audio": 0.8}, "B": {"text": 0.4, "text+audio": 0.6}})
    legend = figure.axes[0].get_legend()
    assert [text.get_text() for text in legend.get_texts()] == ["A", "B", "A full: 80.0", "B full: 60.0"]
    figure.canvas.draw()  # few scenarios, several models: the legend sits under the plot, not beside it
    assert legend.get_window_extent().y1 < figure.axes[0].get_window_extent().y0
    with pytest.raises(ValueError, match="no scenario"):
        plots.plot_scenario_scores({"A": {}})


def test_conversation_timeline_stacks_weights_and_marks_imputed_modes_and_gold():
    predictions = [
        {"label": "joy", "score": 0.8, "modality_weights": {"text": 0.6, "audio": 0.4}, "imputed": ["audio"]},
        {"label": "anger", "score": 0.5, "modality_weights": {"text": 1.0}, "imputed": []},
    ]
    figure = plots.plot_conversation(predictions, turns=[{"speaker": "Ann", "text": "Hi!"}, {"speaker": "Ben", "text": "No."}],
                                     gold=["joy", "sadness"])
    bars = figure.axes[0].patches
    assert [round(bar.get_width(), 2) for bar in bars] == [0.6, 0.4, 1.0]
    assert [bool(bar.get_hatch()) for bar in bars] == [False, True, False]
    texts = " | ".join(text.get_text() for text in figure.axes[0].texts)
    assert "Ann: Hi!" in texts and "joy (0.80)   gold joy ✓" in texts and "gold sadness ✗" in texts
    with pytest.raises(ValueError, match="2 predictions but 1 turns"):
        plots.plot_conversation(predictions, turns=[{}])


def test_without_matplotlib_a_clear_error_and_emoje_evaluate_plot_is_refused(monkeypatch, tmp_path, capsys):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    assert not plots.matplotlib_available()
    with pytest.raises(plots.PlottingUnavailable, match="pip install"):
        plots.plot_scenario_scores(EVALUATION)
    code = evaluate_main(["--model", str(tmp_path / "m"), "--data", str(tmp_path / "d"), "--plot", str(tmp_path / "c.png")])
    assert code == 2 and "--plot needs matplotlib" in capsys.readouterr().err


def test_remote_code_never_imports_matplotlib():
    import modeling_emoje

    for source in Path(modeling_emoje.__file__).parent.glob("*.py"):
        text = source.read_text()
        assert "import matplotlib" not in text and "from matplotlib" not in text, source.name


@pytest.mark.parametrize("progress", [True, False])
def test_scenario_evaluation_progress_bar(progress, capsys):
    evaluate_model(OracleModel(), oracle_corpus(), ["t", "a", "t,a"], batch_size=2, progress=progress)
    err = capsys.readouterr().err
    assert ("scenarios:" in err and "/3 [" in err) is progress
