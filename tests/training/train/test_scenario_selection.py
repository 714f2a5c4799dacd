"""Checkpoint selection on the scenarios a deployment meets (issue 24): the scenario list, the per-evaluation
metrics of `ERCTrainer`, and what emoje-train's export says about it."""

from __future__ import annotations

import json

import pytest

from tests.synthetic_data import one_thread, train_args, write_corpus  # noqa: F401 - one_thread: autouse fixture
from training.evaluation.scenarios import SCENARIO_MEAN_METRIC, selection_scenarios
from training.train.options import parse_arguments
from training.train.run import run
from training.train.trainer import checkpoint_selection, default_training_arguments


def names(available, spec=None):
    return [s.name for s in selection_scenarios(available, spec)]


def test_selection_specs():
    four = ["text", "audio", "face", "body"]
    assert len(names(four)) == 15 and names(four)[-1] == "text+audio+face+body"  # all subsets, no duplicate privacy
    assert len(names(four, "missing")) == 14 and "text+audio+face+body" not in names(four, "missing")
    assert names(four, "full") == ["text+audio+face+body"]
    assert names(four, "audio,privacy") == ["audio", "privacy"]
    assert names(four, "t+a; face") == ["text+audio", "face"]
    assert names(["text"], "missing") == names(["text"], "all") == ["text"]  # one modality: its full data
    with pytest.raises(ValueError, match="keeps"):
        selection_scenarios(["text", "audio"], "face")
    with pytest.raises(ValueError, match="no scenario"):
        selection_scenarios(["text", "audio"], ",")


def test_the_default_is_the_mean_over_all_scenarios_and_the_cli_spells_it_select_scenarios():
    assert default_training_arguments()["metric_for_best_model"] == SCENARIO_MEAN_METRIC
    _, args, _ = parse_arguments(["--select_scenarios", "audio,privacy"])
    assert args.selection_scenarios == "audio,privacy" and args.metric_for_best_model == SCENARIO_MEAN_METRIC
    _, args, _ = parse_arguments([])
    assert args.selection_scenarios == "all"
    record = checkpoint_selection(args, ["text", "audio"], 0.51234567)
    assert record == {"metric": SCENARIO_MEAN_METRIC, "selection_scenarios": "all",
                      "scenarios": ["text", "audio", "text+audio"], "best_validation_value": 0.512346}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("data") / "tiny", num_dialogues=(8, 3, 4))


def test_every_evaluation_scores_the_selection_scenarios_and_the_best_checkpoint_follows_their_mean(corpus, tmp_path):
    summary = run(train_args(corpus, tmp_path / "run", "--select_scenarios", "text,audio,full", "--eval_scenarios", "full"))
    state = json.loads(sorted((tmp_path / "run").glob("checkpoint-*"))[-1].joinpath("trainer_state.json").read_text())
    evaluations = [entry for entry in state["log_history"] if "eval_weighted_f1" in entry]
    assert len(evaluations) == 3
    full = "text+audio+face+body"
    for entry in evaluations:
        parts = [entry["eval_text_weighted_f1"], entry["eval_audio_weighted_f1"], entry[f"eval_{full}_weighted_f1"]]
        assert entry[f"eval_{full}_weighted_f1"] == entry["eval_weighted_f1"]  # the full data is not scored twice
        assert entry[f"eval_{SCENARIO_MEAN_METRIC}"] == pytest.approx(sum(parts) / 3)
    assert state["best_metric"] == pytest.approx(max(e[f"eval_{SCENARIO_MEAN_METRIC}"] for e in evaluations))
    selection = json.loads((tmp_path / "run" / "model" / "evaluation.json").read_text())["selection"]
    assert selection["scenarios"] == ["text", "audio", full] and selection["metric"] == SCENARIO_MEAN_METRIC
    assert selection["best_validation_value"] == pytest.approx(state["best_metric"], abs=1e-6)
    card = (tmp_path / "run" / "model" / "README.md").read_text()
    assert "chosen on the mean validation weighted-F1 over the scenarios `text`, `audio`" in card
    assert summary["evaluation"]["selection"] == selection


def test_full_data_selection_evaluates_nothing_more(corpus, tmp_path):
    run(train_args(corpus, tmp_path / "run", "--select_scenarios", "full", "--eval_scenarios", "full", max_steps=2))
    state = json.loads((tmp_path / "run" / "checkpoint-2" / "trainer_state.json").read_text())
    entry = next(e for e in state["log_history"] if "eval_weighted_f1" in e)
    assert entry[f"eval_{SCENARIO_MEAN_METRIC}"] == entry["eval_weighted_f1"]
    scored = [key for key in entry if key.endswith("_weighted_f1") and key != "eval_weighted_f1"]
    assert sorted(scored) == sorted(["eval_text+audio+face+body_weighted_f1", f"eval_{SCENARIO_MEAN_METRIC}"])
