"""training.evaluation: scenario lists, spec parsing, exact scoring with an oracle model."""

from __future__ import annotations

import pytest

from tests.synthetic_data import OracleModel, oracle_corpus, one_thread  # noqa: F401  (one_thread: autouse fixture)
from training.collator import DialogueDataset
from training.evaluation import (
    PRIVACY,
    THREE_MODE_MEAN,
    THREE_MODE_POOLED,
    ScenarioAggregate,
    build_scenarios,
    evaluate_model,
    format_table,
    uses_three_mode_protocol,
)

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
