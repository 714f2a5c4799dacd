"""training.hub + model_cards: the exported folder is self-contained and its card parses."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest
import torch
from huggingface_hub import ModelCard

from tests.synthetic_data import TINY_CONFIG, TINY_DIMS, isolated_python_command, subprocess_env, one_thread  # noqa: F401  (one_thread: autouse fixture)
from training.collator import DialogueCollator, DialogueDataset
from training.evaluation import evaluate_model
from training.hub import CARD_FILE, EVALUATION_FILE, EXPORT_IGNORE_PATTERNS, export_model, push_to_hub
from dataset_scripts.synthetic import make_prototype_corpus as make_synthetic_corpus
from training.train import build_model

LABELS = ["neutral", "joy", "sadness", "anger"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    corpus = make_synthetic_corpus(num_dialogues=(2, 1, 3), modality_dims=TINY_DIMS, seed=0)
    test = DialogueDataset(corpus["test"])
    model = build_model("emoje", test, LABELS, "synthetic/synthetic", TINY_CONFIG).eval()
    evaluation = evaluate_model(model, test, "all", batch_size=2)
    folder = tmp_path_factory.mktemp("export") / "model"
    export_model(
        model, folder, evaluation=evaluation, protocol="synthetic/synthetic", dataset_name="emoje synthetic conversations",
        splits={"train": {"dialogues": 2, "utterances": 9}, "test": {"dialogues": len(test), "utterances": test.num_utterances}},
        training_summary={"global_step": 0},
    )
    batch = DialogueCollator()([test[0], test[1]])
    batch.pop("labels")
    with torch.no_grad():
        logits = model(**batch).logits
    torch.save({"batch": batch, "logits": logits}, folder.parent / "probe.pt")
    return folder, evaluation


def test_folder_contents(exported):
    folder, evaluation = exported
    config = json.loads((folder / "config.json").read_text())
    assert config["id2label"] == {str(i): name for i, name in enumerate(LABELS)}
    assert config["label2id"] == {name: i for i, name in enumerate(LABELS)}
    assert config["protocol"] == "synthetic/synthetic"
    assert config["modality_dims"] == TINY_DIMS
    assert set(config["auto_map"]) >= {"AutoConfig", "AutoModelForSequenceClassification"}
    for name in ("model.safetensors", "modeling_emoje.py", "configuration_emoje.py", "modeling_layers.py", CARD_FILE):
        assert (folder / name).is_file(), name
    assert json.loads((folder / EVALUATION_FILE).read_text()) == evaluation
    assert "checkpoint-*" in EXPORT_IGNORE_PATTERNS


def test_model_card_parses_with_one_result_per_scenario_and_metric(exported):
    folder, evaluation = exported
    card = ModelCard.load(folder / CARD_FILE)
    results = card.data.eval_results
    assert len(results) == 4 * len(evaluation["scenarios"])
    by_name = {result.metric_name: result for result in results}
    for scenario, scores in evaluation["scenarios"].items():
        assert by_name[f"Weighted F1 [{scenario}]"].metric_value == pytest.approx(scores["weighted_f1"], abs=1e-6)
        assert by_name[f"UAR [{scenario}]"].metric_config == "macro"
    assert {result.dataset_split for result in results} == {"test"}
    text = card.text
    for needle in ("Intended use", "Privacy", "Limitations", "2402.10921", "2407.09029", "Devulapally", "Haoqin",
                   "synthetic data", "`privacy`", "`neutral`", "synthetic/synthetic", "| test | 3 |"):
        assert needle in text, needle


def test_export_loads_with_remote_code_where_the_package_is_not_importable(exported, tmp_path):
    folder, _ = exported
    code = textwrap.dedent(
        f"""
        import importlib.util, torch
        for name in ("modeling_emoje", "training", "dataset_scripts", "model_cards"):
            assert importlib.util.find_spec(name) is None, name + " is importable: the check would prove nothing"
        from transformers import AutoModelForSequenceClassification
        model = AutoModelForSequenceClassification.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
        probe = torch.load({str(folder.parent / "probe.pt")!r})
        with torch.no_grad():
            logits = model(**probe["batch"]).logits
        torch.testing.assert_close(logits, probe["logits"])
        print("OK", type(model).__name__, model.config.id2label[0])
        """
    )
    env = subprocess_env(HF_MODULES_CACHE=str(tmp_path / "modules"))
    env.pop("PYTHONPATH")
    completed = subprocess.run(isolated_python_command(code), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "OK EmoJEForEmotionRecognition neutral" in completed.stdout


def test_push_refuses_a_folder_that_is_not_an_export(tmp_path):
    with pytest.raises(ValueError, match="README.md is missing"):
        (tmp_path / "config.json").write_text("{}")
        push_to_hub(tmp_path, "someone/model")


def test_push_uploads_the_export_without_checkpoints(exported, monkeypatch):
    calls = {}

    class FakeApi:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, private=False, exist_ok=False):
            calls["create"] = (repo_id, private, exist_ok)

        def upload_folder(self, **kwargs):
            calls["upload"] = kwargs
            return type("Commit", (), {"commit_url": "https://hub/me/model/commit/1"})()

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    url = push_to_hub(exported[0], "me/model", token="t", private=True)
    assert url.endswith("/commit/1") and calls["create"] == ("me/model", True, True) and calls["token"] == "t"
    assert calls["upload"]["folder_path"] == str(exported[0]) and calls["upload"]["repo_id"] == "me/model"
    assert "checkpoint-*" in calls["upload"]["ignore_patterns"]


def test_export_needs_label_names(tmp_path):
    from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition

    model = EmoJEForEmotionRecognition(EmoJEConfig(modality_dims={"text": 4}, num_labels=2, **TINY_CONFIG))
    with pytest.raises(ValueError, match="no label names"):
        export_model(model, tmp_path / "x")
