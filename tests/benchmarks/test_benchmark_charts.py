"""benchmarks.charts: the robustness / real-features heat maps and the fine-tuning bars, drawn from stored results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import charts

pytest.importorskip("matplotlib")
RESULTS = Path(charts.__file__).parent / "results"


def _width(path) -> int:
    from PIL import Image

    with Image.open(path) as image:
        return image.size[0]


def _result(models: dict[str, dict[str, float]], probe: dict[str, float] | None = None) -> dict:
    return {
        "benchmark": "robustness", "seeds": [0, 1, 2], "training": {"num_train_epochs": 30, "per_device_train_batch_size": 16},
        "models": {name: {"summary": {"weighted_f1_mean": scores}} for name, scores in models.items()},
        "references": {"linear_probe": {"weighted_f1": probe}} if probe else {},
    }


def test_heat_map_has_a_cell_per_model_and_scenario_and_the_reference_once():
    result = _result({"emoje": {"text": 0.6, "audio": 0.5, "text+audio": 0.8}, "cmarr": {"text": 0.55, "audio": 0.52, "text+audio": 0.75}},
                     probe={"text": 0.5, "audio": 0.45, "text+audio": 0.7})
    figure = charts.plot_result(result)
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert [value for value in texts if value[:1].isdigit() and "." in value] == ["60.0", "55.0", "50.0", "50.0", "52.0", "45.0", "80.0", "75.0", "70.0"]
    bold = [t.get_text() for t in figure.axes[0].texts if t.get_fontweight() == "bold"]
    assert bold == ["60.0", "52.0", "80.0"]  # the best compared model per row; the reference is never "best"
    assert sum("linear probe" in text for text in texts) == 1 and texts.count("reference") == 1
    title = figure._suptitle.get_text()
    assert "synthetic" in title and "3 seeds" in title and "30 epochs" in title and "batch 16" in title


def test_finetune_charts_share_legend_order_and_say_their_schedule():
    legends, titles = [], []
    for name in ("finetune.json", "finetune_260.json"):
        figure = charts.plot_result(json.loads((RESULTS / name).read_text()))
        legends.append([t.get_text() for t in figure.axes[0].get_legend().get_texts()])
        titles.append(figure.axes[0].get_title(loc="left"))
    assert legends[0] == legends[1] == ["frozen features", "frozen, windows 16+4", "fine-tuned MiniLM"]
    assert "260 steps" in titles[1] and "520 steps" in titles[0] and "MELD" in titles[0]


@pytest.mark.parametrize("name", ["robustness", "real_features", "finetune", "finetune_260"])
def test_stored_results_redraw_within_a_1200_px_page(name, tmp_path):
    path = charts.main([str(RESULTS / f"{name}.json"), "--output", str(tmp_path / f"{name}.png")])
    assert 600 <= _width(path) <= 1200
