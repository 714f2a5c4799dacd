"""Smoke tests of the quality, robustness and speed benchmarks at tiny size: each run writes its JSON with the expected fields.

They check the plumbing (corpus -> training -> every scenario -> targets; measurements -> ratios -> machine
record), not the numbers, which only mean something at full size (benchmarks/README.md).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import quality, real_features, robustness, speed
from dataset_scripts.synthetic import CONTROLLED_LABELS as LABELS
from dataset_scripts.synthetic import make_controlled_corpus as make_synthetic_corpus
from modeling_emoje import MODALITIES
from training.evaluation.scenarios import PRIVACY
from training.train.collator import DialogueDataset
from tests.synthetic_data import one_thread  # noqa: F401 (autouse: one torch thread on the shared cores)

TINY_DIMS = {"text": 8, "audio": 4, "face": 6, "body": 5}



def test_synthetic_corpus_is_seeded_and_follows_the_schema():
    first = make_synthetic_corpus(num_dialogues=(4, 2, 3), seed=3, dims=TINY_DIMS, missing_rate=0.3)
    again = make_synthetic_corpus(num_dialogues=(4, 2, 3), seed=3, dims=TINY_DIMS, missing_rate=0.3)
    other = make_synthetic_corpus(num_dialogues=(4, 2, 3), seed=4, dims=TINY_DIMS, missing_rate=0.3)
    assert first["train"]["text_features"] == again["train"]["text_features"]
    assert first["train"]["text_features"] != other["train"]["text_features"]
    assert first["train"].features["label"].names == list(LABELS)
    for split in ("train", "validation", "test"):
        rows = first[split]
        for row in rows:
            for index, name in enumerate(MODALITIES):
                frames = row[f"{name}_features"]
                assert row["modality_mask"][index] == bool(frames), (split, row["source_id"], name)
                assert all(len(frame) == TINY_DIMS[name] for frame in frames)
            assert any(row["modality_mask"])
    # The test split is complete by default (each scenario withholds exactly what it names).
    assert all(all(mask) for mask in first["test"]["modality_mask"])
    # Dialogues have several speakers and utterances in order.
    dialogues = DialogueDataset(first["train"])
    assert len(dialogues) == 4 and max(len(set(dialogues[i]["speaker_ids"])) for i in range(4)) >= 2


def test_synthetic_corpus_gives_each_modality_partial_evidence():
    # A nearest-class-mean probe per modality: every modality beats chance, none is as good as all together.
    corpus = make_synthetic_corpus(
        num_dialogues=(60, 2, 30), seed=0, dims={"text": 16, "audio": 16, "face": 16, "body": 16}, missing_rate=0.0
    )

    def pooled(split):
        rows = corpus[split]
        labels = np.asarray(rows["label"])
        return {m: np.stack([np.mean(f, 0) for f in rows[f"{m}_features"]]) for m in MODALITIES}, labels

    train, y_train = pooled("train")
    test, y_test = pooled("test")

    def accuracy(names):
        x_train = np.concatenate([train[m] for m in names], 1)
        x_test = np.concatenate([test[m] for m in names], 1)
        means = np.stack([x_train[y_train == c].mean(0) for c in range(len(LABELS))])
        predictions = np.argmin(((x_test[:, None] - means[None]) ** 2).sum(-1), 1)
        return float(np.mean(predictions == y_test))

    chance = float(np.max(np.bincount(y_test)) / len(y_test))
    singles = {m: accuracy([m]) for m in MODALITIES}
    everything = accuracy(list(MODALITIES))
    assert everything > max(singles.values()) + 0.05, (singles, everything)
    assert min(singles.values()) > chance, (singles, chance)


def test_robustness_tiny_run_writes_every_scenario_and_the_targets(tmp_path):
    output = tmp_path / "robustness.json"
    robustness.main(
        ["--tiny", "--seeds", "0", "--models", "concat_zeros,emoje,emoje_no_joint", "--output", str(output),
         "--work-dir", str(tmp_path / "work")]
    )
    result = json.loads(output.read_text())
    assert result["benchmark"] == "robustness" and "robustness" in result["command"]
    assert {"cpu_model", "cpus_usable", "torch", "torch_threads", "load_average"} <= set(result["machine"])
    assert len(result["scenarios"]) == 16 and PRIVACY in result["scenarios"]
    assert result["full_scenario"] == "text+audio+face+body"
    for name in ("concat_zeros", "emoje", "emoje_no_joint"):
        model = result["models"][name]
        scores = model["scenarios"]["0"]
        assert set(scores) == set(result["scenarios"])
        assert all(0.0 <= s["weighted_f1"] <= 1.0 and s["n"] == scores["text"]["n"] > 0 for s in scores.values())
        summary = model["summary"]
        assert len(summary["missing_scenarios"]) == 14
        assert summary["full_weighted_f1"] == round(scores["text+audio+face+body"]["weighted_f1"], 4)
        expected_missing = np.mean([scores[s]["weighted_f1"] for s in summary["missing_scenarios"]])
        assert summary["missing_mean_weighted_f1"] == pytest.approx(expected_missing, abs=1e-4)
    gain = result["targets"]["joint_embedding_gain_on_missing"]
    assert gain["value"] == pytest.approx(
        result["models"]["emoje"]["summary"]["missing_mean_weighted_f1"]
        - result["models"]["emoje_no_joint"]["summary"]["missing_mean_weighted_f1"],
        abs=1e-4,
    )
    assert isinstance(gain["met"], bool) and "privacy_drop_emoje" in result["targets"]
    probe = result["references"]["linear_probe"]
    assert set(probe["weighted_f1"]) == set(result["scenarios"])
    assert probe["privacy_drop"] == pytest.approx(probe["weighted_f1"]["text+audio+face+body"] - probe["weighted_f1"][PRIVACY], abs=1e-4)


def test_robustness_records_joint_embedding_diagnostics_and_jobs_give_the_same_scores(tmp_path):
    """``--jobs 2`` trains (model, seed) runs in worker processes: the same scores as one process; each AM^2-EmoJE run
    records the leave-one-out diagnostics of its joint embedding."""
    common = ["--tiny", "--seeds", "0", "--models", "emoje", "--work-dir", str(tmp_path / "work")]
    serial = robustness.main([*common, "--output", str(tmp_path / "one.json")])
    parallel = robustness.main([*common, "--jobs", "2", "--output", str(tmp_path / "two.json")])
    assert parallel["models"]["emoje"]["scenarios"] == serial["models"]["emoje"]["scenarios"]
    diagnostics = serial["models"]["emoje"]["runs"]["0"]["joint_embedding_diagnostics"]
    assert set(diagnostics) == {"text", "audio", "face", "body"}
    for entry in diagnostics.values():
        assert entry["n"] > 0 and -1.0 <= entry["cosine_real_vs_imputed"] <= 1.0
        assert 0.0 <= entry["descriptor_accuracy_imputed"] <= 1.0 and 0.0 <= entry["imputed_weight"] <= 1.0


def test_real_features_tiny_run_scores_every_model_against_the_linear_probe(tmp_path, ravdess_dir):
    output = tmp_path / "real.json"
    result = real_features.main(
        ["--tiny", "--seeds", "0", "--models", "linear_probe,concat_zeros,emoje", "--parquet",
         str(ravdess_dir / "ravdess_features.parquet"), "--output", str(output), "--work-dir", str(tmp_path / "work")]
    )
    assert json.loads(output.read_text())["benchmark"] == "real_features"
    chart = output.with_suffix(".png")
    assert chart.is_file() and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # drawn beside the JSON
    assert result["corpus"]["utterances"] == {"train": 960, "validation": 240, "test": 240}
    assert result["scenarios"] == ["audio", "face", "audio+face"]
    probe = result["models"]["linear_probe"]["summary"]["weighted_f1_mean"]
    assert probe["face"] > 0.3 and probe["audio+face"] > probe["audio"]  # real evidence, standardized features
    emoje = result["models"]["emoje"]["summary"]
    assert emoje["scenario_mean"] == pytest.approx(np.mean(list(emoje["weighted_f1_mean"].values())), abs=1e-4)
    checks = result["targets"]
    assert {"emoje_vs_linear_probe_audio", "emoje_vs_concat_scenario_mean"} <= set(checks)
    assert checks["emoje_vs_linear_probe_face"]["value"] == pytest.approx(emoje["weighted_f1_mean"]["face"] - probe["face"], abs=1e-4)


def test_recipe_settings_come_from_the_shipped_small_corpus_config():
    models, training = real_features.recipe_settings(real_features.DEFAULT_CONFIG)
    assert models["emoje"]["dropout"] == 0.3 and models["cmarr"]["dropout"] == 0.3
    assert training["patience"] == 6 and "output_dir" not in training


def test_linear_probe_reference_uses_only_the_scenario_modalities():
    """Audio frames carry the label exactly and the other streams do not: the audio-only probe is perfect, the
    text-only and face+body probes are not, and every scenario that keeps audio is perfect too."""
    from dataset_scripts.synthetic import make_controlled_corpus
    from training.evaluation.scenarios import modality_scenarios
    from training.train.collator import DialogueDataset

    dims = {"text": 6, "audio": 4, "face": 5, "body": 3}
    corpus = make_controlled_corpus(num_dialogues=(30, 4, 12), seed=1, dims=dims)
    num_labels = corpus["train"].features["label"].num_classes

    def audio_is_label(row):
        frames = np.zeros((max(1, len(row["audio_features"])), num_labels), dtype=np.float32)
        frames[:, row["label"]] = 1.0
        return {"audio_features": frames.tolist() if row["audio_features"] else []}

    corpus = corpus.map(audio_is_label)
    train, test = DialogueDataset(corpus["train"], name="train"), DialogueDataset(corpus["test"], name="test")
    scores = robustness.linear_probe_reference(train, test, modality_scenarios(test.available_modalities))
    assert scores["audio"]["weighted_f1"] == 1.0 and scores["text+audio+face+body"]["weighted_f1"] == 1.0
    assert scores["text"]["weighted_f1"] < 0.9 and scores["face+body"]["weighted_f1"] < 0.9


def test_speed_tiny_inference_run_writes_ratios_and_machine(tmp_path, meld_dir):
    output = tmp_path / "speed.json"
    speed.main(
        ["--scale", "tiny", "--in-process", "--threads", "1", "--only", "inference", "--frame-modes", "sequence,pooled",
         "--meld-dir", str(meld_dir), "--output", str(output), "--work-dir", str(tmp_path / "work")]
    )
    result = json.loads(output.read_text())
    assert result["benchmark"] == "speed" and result["scale"] == "tiny"
    assert {"cpu_model", "cpus_usable", "torch", "torch_threads", "load_average"} <= set(result["machine"])
    section = result["by_threads"]["1"]["inference"]
    for frames in ("sequence", "pooled"):
        for model in ("emoje", "concat", "linear"):
            run = section["runs"][f"{model}/{frames}"]
            assert run["utterances_per_second"] > 0 and run["peak_rss_mb"] > 0, run
            assert run["data"]["dialogues"] == 4 and run["frames"] == frames
        row = section["by_frames"][frames]
        assert row["ratio_to_concat_baseline"] == pytest.approx(
            section["runs"][f"emoje/{frames}"]["utterances_per_second"] / section["runs"][f"concat/{frames}"]["utterances_per_second"],
            rel=1e-2,
        )
        assert isinstance(row["meets_target"], bool)
        shares = section["profile"][frames]["stage_share"]
        # meld_full.yaml has no cross-attended layers since issue 24 (acn_layers: 0): no ACN stage to time
        assert {"mode encoders", "query adaptive fusion", "classifier"} <= set(shares)
        assert "cross-attended network (ACN)" not in shares and sum(shares.values()) == pytest.approx(1.0, abs=0.02)
    # Pooled inputs have one frame per utterance and modality; sequences have more for audio.
    assert section["runs"]["emoje/pooled"]["data"]["mean_frames"]["audio"] == 1.0
    assert section["runs"]["emoje/sequence"]["data"]["mean_frames"]["audio"] > 1.0
    summary = result["target_summary"]["1"]
    assert summary["inference_pooled_utterances_per_second"] == section["runs"]["emoje/pooled"]["utterances_per_second"]
    # The larger-batch runs (default 64 dialogues) are reported beside the default batch of 16.
    large = section["runs"]["emoje/pooled/batch64"]
    assert large["data"]["batch_size_dialogues"] == 64 and large["data"]["batches"] == 1
    assert section["by_frames"]["pooled"]["large_batch"]["emoje_utterances_per_second"] == large["utterances_per_second"]


def test_speed_tiny_pipeline_and_training_runs(tmp_path, meld_dir, minilm_path):
    output = tmp_path / "speed.json"
    speed.main(
        ["--scale", "tiny", "--in-process", "--threads", "1", "--only", "pipeline,training", "--meld-dir", str(meld_dir),
         "--output", str(output), "--work-dir", str(tmp_path / "work")]
    )
    result = json.loads(output.read_text())
    pipeline = result["by_threads"]["1"]["pipeline"]
    run = pipeline["runs"]["pipeline_and_encoder"]
    assert run["conversations"] == 2 and run["utterances"] > 0
    assert pipeline["ratio_pipeline_to_encoder"] == run["ratio_pipeline_to_encoder"] > 0
    training = result["by_threads"]["1"]["training"]
    assert training["runs"]["emoje"]["dialogues"] == 8 and training["epoch_seconds"] > 0
    cache = training["runs"]["emoje"]["feature_cache"]  # the package's feature cache, filled by the first run
    assert cache["cache_shards_before"] == 0 < cache["cache_shards_after"]
    assert training["runs"]["concat"]["feature_cache"]["cache_shards_before"] == cache["cache_shards_after"]
    assert list((tmp_path / "work" / "feature_cache").rglob("*.npz"))
    assert isinstance(training["meets_target"], bool)


def test_quality_runs_emoje_train_per_seed_under_the_budget(tmp_path, meld_dir, minilm_path):
    """The fine-tuning recipe through emoje-train on a 3/2/2-dialogue MELD copy, two seeds, a budget that stops
    each run after its first step: the JSON has both runs, their mean, the budget flag and the command."""
    from training.demo.corpus import write_meld_subset

    write_meld_subset(meld_dir, tmp_path / "csv", (3, 2, 2))
    output = tmp_path / "quality.json"
    argv = ["--meld-dir", str(tmp_path / "csv"), "--seeds", "0", "1", "--threads", "1", "--budget-minutes", "0.0001",
            "--text-encoder", str(minilm_path), "--work-dir", str(tmp_path / "work"), "--output", str(output),
            "--train-args", "--eval_steps", "1", "--save_steps", "1", "--per_device_train_batch_size", "1"]
    assert quality.main(argv) == 0
    result = json.loads(output.read_text())
    assert result["recipe"] == "finetune" and result["settings"]["config"] == "training/configs/meld_text_finetune.yaml"
    assert result["command"].startswith("python benchmarks/quality.py") and "cpu_model" in result["machine"]
    runs = result["runs"]
    assert [run["seed"] for run in runs] == [0, 1]
    for run in runs:
        assert run["stopped_by_budget"] and run["global_step"] == 1 < run["max_steps"]
        assert 0.0 <= run["weighted_f1"] <= 1.0 and run["n"] > 0
        assert run["validation_history"] and run["validation_history"][0]["step"] == 1
    assert result["summary"]["weighted_f1"]["mean"] == pytest.approx(np.mean([run["weighted_f1"] for run in runs]), abs=1e-4)
    assert result["target_met"] == (result["summary"]["weighted_f1"]["mean"] >= 0.62)
    assert not (tmp_path / "work" / "runs" / "finetune_seed0").exists()  # models are kept only with --save-models
    # The frozen-feature reference is trained beside each seed (same seed, same budget) and compared.
    reference = result["reference"]
    assert reference["recipe"] == "frozen" and reference["config"] == "training/configs/meld_text.yaml"
    for run in runs:
        assert run["reference"]["seed"] == run["seed"] and run["reference"]["stopped_by_budget"]
    means = [np.mean([run[key]["weighted_f1"] if key else run["weighted_f1"] for run in runs]) for key in (None, "reference")]
    assert reference["weighted_f1_ratio"] == pytest.approx(means[0] / means[1], abs=1e-3)
    assert reference["weighted_f1_difference_points"] == pytest.approx(100 * (means[0] - means[1]), abs=0.01)


def test_robustness_models_get_their_own_validation_chosen_settings():
    dims, labels = {"text": 8, "audio": 4, "face": 6, "body": 5}, ["a", "b", "c"]
    emoje = robustness.build_model("emoje", dims, labels)
    paper = robustness.build_model("emoje_paper", dims, labels)
    concat = robustness.build_model("concat_zeros", dims, labels)
    assert (emoje.config.acn_layers, emoje.config.modality_dropout) == (0, 0.5)
    assert (paper.config.acn_layers, paper.config.modality_dropout) == (2, 0.3)
    assert concat.config.modality_dropout == 0.3 and concat.config.hidden_size == emoje.config.hidden_size
    no_joint = robustness.build_model("emoje_no_joint", dims, labels)
    assert not no_joint.config.use_joint_embedding and no_joint.config.acn_layers == 0  # same settings, JE off
    settings = robustness.with_overrides(robustness.SIZES["default"], {"modality_dropout": 0.2, "acn_layers": 1})
    assert robustness.build_model("concat_zeros", dims, labels, settings=settings).config.modality_dropout == 0.2
    assert robustness.build_model("emoje", dims, labels, settings=settings).config.acn_layers == 1
