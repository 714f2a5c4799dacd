"""training.evaluation (scenarios, evaluate) and emoje-evaluate: scenario lists, spec parsing, exact scoring with an oracle model."""

from __future__ import annotations

import pytest

from tests.synthetic_data import OracleModel, oracle_corpus, one_thread  # noqa: F401  (one_thread: autouse fixture)
from training.evaluation.evaluate import evaluate_model, format_table
from training.evaluation.scenarios import (
    PRIVACY,
    THREE_MODE_MEAN,
    THREE_MODE_POOLED,
    ScenarioAggregate,
    build_scenarios,
    uses_three_mode_protocol,
)
from training.train.collator import DialogueDataset

ALL_FOUR = [
    "text", "audio", "face", "body",
    "text+audio", "text+face", "text+body", "audio+face", "audio+body", "face+body",
    "text+audio+face", "text+audio+body", "text+face+body", "audio+face+body",
    "text+audio+face+body", PRIVACY,
]


def names(scenarios):
    return [s.name for s in scenarios]


def test_all_scenarios_of_four_modalities():
    scenarios = build_scenarios(["body", "text", "face", "audio"])
    assert names(scenarios) == ALL_FOUR
    privacy = scenarios[-1]
    assert privacy.keep == {"text", "audio", "body"}


def test_only_modalities_the_data_has():
    assert names(build_scenarios(["text"])) == ["text"]
    assert names(build_scenarios(["text", "audio"])) == ["text", "audio", "text+audio"]  # no face -> no privacy
    with_face = build_scenarios(["text", "face"])
    assert names(with_face) == ["text", "face", "text+face", PRIVACY]
    assert with_face[-1].keep == {"text"}


def test_three_mode_protocol_adds_cmarr_conditions_and_aggregates():
    scenarios = build_scenarios(["text", "audio", "face", "body"], three_mode=True)
    assert names(scenarios) == ALL_FOUR + [THREE_MODE_MEAN, THREE_MODE_POOLED]
    mean = scenarios[-2]
    assert isinstance(mean, ScenarioAggregate) and mean.kind == "mean"
    assert mean.members == ("audio", "text", "face+body", "text+audio", "audio+face+body", "text+face+body")
    # visual = whichever of face/body exists
    only_face = build_scenarios(["text", "audio", "face"], three_mode=True)
    assert only_face[-1].members == ("audio", "text", "face", "text+audio", "audio+face", "text+face")
    assert uses_three_mode_protocol("emoje", "iemocap/mer4/fold1") and uses_three_mode_protocol("cmarr", None)
    assert uses_three_mode_protocol("emoje", "msp-improv/loso/fold2")
    assert not uses_three_mode_protocol("emoje", "meld/emotion") and not uses_three_mode_protocol("emoje", "iemocap/erc6")


def test_scenario_specs():
    available = ["text", "audio", "face", "body"]
    assert names(build_scenarios(available, "t,a")) == ["text+audio"]
    assert names(build_scenarios(available, "full")) == ["text+audio+face+body"]
    assert build_scenarios(available, "privacy")[0].keep == {"text", "audio", "body"}
    assert names(build_scenarios(available, "t;a+f;privacy")) == ["text", "audio+face", PRIVACY]
    with pytest.raises(ValueError, match="never has"):
        build_scenarios(["text"], "t,a")
    with pytest.raises(ValueError, match="unknown modalities"):
        build_scenarios(available, "t,x")


def test_oracle_scores_are_exact():
    split = oracle_corpus(num_dialogues=7)
    dataset = DialogueDataset(split)
    mask = split["modality_mask"]
    with_text = sum(m[0] for m in mask)
    with_audio = sum(m[1] for m in mask)
    results = evaluate_model(OracleModel(), dataset, ["all"], batch_size=3)["scenarios"]
    assert list(results) == ["text", "audio", "text+audio"]
    assert results["text"]["accuracy"] == 1.0 and results["text"]["n"] == with_text
    assert results["text"]["n_skipped"] == split.num_rows - with_text
    assert results["audio"]["accuracy"] == 0.0 and results["audio"]["n"] == with_audio
    # text+audio: the oracle reads text first, so only utterances without text are wrong
    assert results["text+audio"]["n"] == split.num_rows and "n_skipped" not in results["text+audio"]
    assert results["text+audio"]["accuracy"] == pytest.approx(with_text / split.num_rows)
    assert "text+audio" in format_table({"scenarios": results})


def test_aggregates_and_accelerator_path_agree():
    from accelerate import Accelerator

    split = oracle_corpus(num_dialogues=5, seed=1)
    scenarios = build_scenarios(["text", "audio"], "t;a")
    scenarios.append(ScenarioAggregate("mean", "mean", ("text", "audio")))
    scenarios.append(ScenarioAggregate("pooled", "pooled", ("text", "audio")))
    plain = evaluate_model(OracleModel(), split, scenarios, batch_size=2)["scenarios"]
    accelerated = evaluate_model(OracleModel(), split, scenarios, batch_size=2, accelerator=Accelerator(cpu=True))["scenarios"]
    assert plain == accelerated
    n_text, n_audio = plain["text"]["n"], plain["audio"]["n"]
    assert plain["mean"]["accuracy"] == pytest.approx(0.5) and plain["mean"]["n"] == n_text + n_audio
    assert plain["pooled"]["accuracy"] == pytest.approx(n_text / (n_text + n_audio))


# ------------------------------------------------------------ emoje-evaluate: model and data that do not match


def _saved_model(directory, dims: dict[str, int], labels: list[str]):
    from tests.synthetic_data import save_tiny_model

    return save_tiny_model(directory, dims, labels)


@pytest.fixture(scope="module")
def mismatched(tmp_path_factory):
    """Two prepared corpora (text only; text + audio) and three models: audio+face, text+audio with the corpora's
    labels, text+audio with other labels."""
    from datasets import load_from_disk

    from tests.synthetic_data import write_corpus

    root = tmp_path_factory.mktemp("mismatched")
    text_only = write_corpus(root / "text_only", num_dialogues=(2, 2, 3), dims={"text": 8})
    text_audio = write_corpus(root / "text_audio", num_dialogues=(2, 2, 3), dims={"text": 8, "audio": 4})
    labels = load_from_disk(str(text_only))["test"].features["label"].names
    return {
        "text_only": text_only,
        "text_audio": text_audio,
        "labels": labels,
        "audio_face": _saved_model(root / "audio_face", {"audio": 4, "face": 6}, labels),
        "other_labels": _saved_model(root / "other_labels", {"text": 8, "audio": 4}, ["calm", "happy", "sad", "angry"]),
    }


def _evaluate_error(capsys, *argv) -> str:
    from training.cli.evaluate import main

    assert main([*map(str, argv), "--no-progress"]) == 2
    return next(line for line in capsys.readouterr().err.splitlines() if line.startswith("emoje-evaluate: error:"))


def test_no_shared_modality_names_the_model_and_the_data_modalities(mismatched, capsys):
    model, data = mismatched["audio_face"], mismatched["text_only"]
    assert _evaluate_error(capsys, "--model", model, "--data", data) == (
        f"emoje-evaluate: error: nothing to evaluate: the model {model} reads audio, face, but split 'test' of {data} "
        "has features only for text; evaluate the model on data with features for audio or face, or evaluate a model "
        "trained on text"
    )


def test_a_scenario_the_model_or_data_lacks_says_which_side(mismatched, capsys):
    model, data = mismatched["audio_face"], mismatched["text_audio"]
    assert _evaluate_error(capsys, "--model", model, "--data", data, "--scenarios", "t,f") == (
        f"emoje-evaluate: error: scenario 't,f' keeps text, face, but the model {model} does not read text (it reads "
        f"audio, face) and split 'test' of {data} has no features for face (it has text, audio); the scenarios here "
        "can keep audio"
    )


def test_other_labels_name_both_lists_before_the_modalities(mismatched, capsys):
    model, data = mismatched["other_labels"], mismatched["text_only"]
    # the data has no audio either: the labels are named first
    error = _evaluate_error(capsys, "--model", model, "--data", data, "--scenarios", "a")
    assert error.startswith(
        f"emoje-evaluate: error: the labels of split 'test' of {data} {mismatched['labels']} are not the labels of the "
        f"model {model} ['calm', 'happy', 'sad', 'angry']"
    )


def test_a_partial_match_evaluates_what_both_have_and_says_so(mismatched, tmp_path, caplog):
    import json
    import logging

    from training.cli.evaluate import main

    model, data, output = mismatched["audio_face"], mismatched["text_audio"], tmp_path / "results.json"
    with caplog.at_level(logging.INFO, logger="training.evaluation"):
        assert main(["--model", str(model), "--data", str(data), "--output", str(output), "--no-progress"]) == 0
    assert list(json.loads(output.read_text())["scenarios"]) == ["audio"]
    assert (f"the model {model} reads audio, face, while split 'test' of {data} has features for text, audio: "
            "scenarios use audio only (the data has no features for face)") in caplog.text
