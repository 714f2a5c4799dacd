"""benchmarks/real_features.py: issue 24's margins (worst scenario first), targets, the tuned probe and the recipe."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import real_features

SCENARIOS = ["audio", "face", "audio+face"]


def entry(per_seed: dict[int, dict[str, float]]) -> dict:
    return {"scenarios": {str(s): v for s, v in per_seed.items()}, "summary": real_features.summarize(per_seed)}


def test_margins_are_paired_by_seed_and_sorted_worst_first():
    models = {
        "linear_probe": entry({0: {"audio": 0.30, "face": 0.40, "audio+face": 0.50}}),
        "emoje": entry({0: {"audio": 0.31, "face": 0.45, "audio+face": 0.60}, 1: {"audio": 0.33, "face": 0.47, "audio+face": 0.58}}),
        "emoje_specialists": entry({0: {"audio": 0.35, "face": 0.44, "audio+face": 0.50}, 1: {"audio": 0.35, "face": 0.44, "audio+face": 0.52}}),
        "emoje_no_joint": entry({0: {"audio": 0.30, "face": 0.44, "audio+face": 0.58}, 1: {"audio": 0.32, "face": 0.46, "audio+face": 0.57}}),
    }
    rows = real_features.scenario_margins(models, SCENARIOS)
    assert [r["scenario"] for r in rows] == ["audio", "face", "audio+face"]  # audio trails the specialists by 3
    audio = rows[0]
    assert audio["vs_probe"] == pytest.approx(0.02) and audio["vs_specialists"] == pytest.approx(-0.03)
    assert audio["vs_specialists_se"] == pytest.approx(np.std([-0.04, -0.02], ddof=1) / np.sqrt(2), abs=1e-4)
    checks = real_features.target_checks(models, SCENARIOS)
    assert not checks["emoje_vs_emoje_specialists_audio"]["met"] and checks["emoje_vs_linear_probe_audio"]["met"]
    assert checks["joint_embedding_gain_scenario_mean"]["value"] == pytest.approx(0.0117, abs=1e-4)
    assert not checks["joint_embedding_gain_scenario_mean"]["met"]


def test_the_shipped_recipe_carries_the_issue_24_choices():
    models, training = real_features.recipe_settings(real_features.DEFAULT_CONFIG)
    assert models["emoje"]["dialogue_normalization"] == "standard"
    assert training["schedule"].startswith("auto,steps=1800,batch_utterances=16")
    assert training["metric_for_best_model"] == "scenario_mean_weighted_f1" and training["selection_scenarios"] == "all"
    assert real_features.parse_args(["--protocol", "grouped"]).output.endswith("real_features_grouped.json")


def test_the_probe_picks_c_on_validation_from_the_grid():
    from dataset_scripts.synthetic import make_controlled_corpus
    from training.evaluation.scenarios import modality_scenarios
    from training.train.collator import DialogueDataset

    corpus = make_controlled_corpus(num_dialogues=(20, 6, 6), seed=0, dims={"audio": 4, "face": 5})
    splits = [DialogueDataset(corpus[name], name=name) for name in ("train", "validation", "test")]
    scenarios = modality_scenarios(splits[0].available_modalities)
    tuned = real_features.tuned_linear_probe(*splits, scenarios[:1], grid=(0.01, 1.0))
    result = tuned[scenarios[0].name]
    assert result["C"] in (0.01, 1.0) and set(result["validation_by_C"]) == {"0.01", "1.0"}
    assert result["validation"] == max(result["validation_by_C"].values())
