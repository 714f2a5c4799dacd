"""training.publishing.export + model_cards: the exported folder is self-contained and its card parses."""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from transformers import AutoModelForSequenceClassification

from tests.synthetic_data import TINY_CONFIG, TINY_DIMS, isolated_python_command, subprocess_env, one_thread  # noqa: F401  (one_thread: autouse fixture)
from training.evaluation.evaluate import evaluate_model
from training.publishing.export import CARD_FILE, EVALUATION_CHART_FILE, EVALUATION_FILE, EXPORT_IGNORE_PATTERNS, export_model, push_to_hub
from training.train.collator import DialogueCollator, DialogueDataset
from dataset_scripts.synthetic import make_prototype_corpus as make_synthetic_corpus
from training.train.run import build_model

pytestmark = pytest.mark.compat  # `make test-newest` runs these at the newest allowed versions

LABELS = ["neutral", "joy", "sadness", "anger"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    corpus = make_synthetic_corpus(num_dialogues=(2, 1, 3), modality_dims=TINY_DIMS, seed=0)
    test = DialogueDataset(corpus["test"])
    model = build_model("emoje", test, LABELS, "synthetic/synthetic", TINY_CONFIG).eval()
    evaluation = evaluate_model(model, test, "all", batch_size=2)
    folder = tmp_path_factory.mktemp("export") / "model"
    cmarr = build_model("cmarr", test, LABELS, "synthetic/synthetic", {"hidden_size": 16, "latent_size": 8}).eval()
    export_model(cmarr, folder.parent / "cmarr", protocol="synthetic/synthetic")
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
    assert config["auto_map"] == {
        "AutoConfig": "configuration_emoje.EmoJEConfig",
        "AutoModel": "modeling_emoje.EmoJEModel",
        "AutoModelForSequenceClassification": "modeling_emoje.EmoJEForEmotionRecognition",
    }
    cmarr_map = json.loads((folder.parent / "cmarr" / "config.json").read_text())["auto_map"]
    assert cmarr_map["AutoModel"] == "modeling_cmarr.CMARRModel"
    assert cmarr_map["AutoModelForSequenceClassification"] == "modeling_cmarr.CMARRForEmotionRecognition"
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
        from transformers import AutoModel
        model = AutoModelForSequenceClassification.from_pretrained({str(folder)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
        probe = torch.load({str(folder.parent / "probe.pt")!r})
        with torch.no_grad():
            logits = model(**probe["batch"]).logits
        torch.testing.assert_close(logits, probe["logits"])
        print("OK", type(model).__name__, model.config.id2label[0])
        base = AutoModel.from_pretrained({str(folder)!r}, trust_remote_code=True, attn_implementation="sdpa").eval()
        with torch.no_grad():
            base_out = base(**probe["batch"])
            torch.testing.assert_close(base_out.last_hidden_state, model.emoje(**probe["batch"]).last_hidden_state)  # trained weights, not random
        print("OK", type(base).__name__, base.config._attn_implementation)
        for auto in (AutoModel, AutoModelForSequenceClassification):
            print("OK", type(auto.from_pretrained({str(folder.parent / "cmarr")!r}, trust_remote_code=True)).__name__)
        """
    )
    env = subprocess_env(HF_MODULES_CACHE=str(tmp_path / "modules"))
    env.pop("PYTHONPATH")
    completed = subprocess.run(isolated_python_command(code), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "OK EmoJEForEmotionRecognition neutral" in completed.stdout
    assert "OK EmoJEModel sdpa" in completed.stdout
    assert "OK CMARRModel" in completed.stdout and "OK CMARRForEmotionRecognition" in completed.stdout


def test_card_metadata_and_the_evaluation_chart(exported):
    from model_cards import NO_PIPELINE_TAG_REASON

    folder, _ = exported
    card = ModelCard.load(folder / CARD_FILE)
    metadata = yaml.safe_load((folder / CARD_FILE).read_text().split("---")[1])
    assert "pipeline_tag" not in metadata and NO_PIPELINE_TAG_REASON in card.text  # omitted, with the reason
    assert "datasets" not in metadata and "base_model" not in metadata  # synthetic features: no corpus, no text encoder
    assert (folder / EVALUATION_CHART_FILE).stat().st_size > 10_000
    assert f"]({EVALUATION_CHART_FILE})" in card.text


def test_card_names_the_text_encoder_and_the_corpus():
    from model_cards import build_model_card
    from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition, EmoJEProcessor
    from modeling_emoje.text_encoding_emoje import DEFAULT_HUB_TEXT_ENCODER, default_text_encoder
    from training.publishing.export import text_encoder_hub_id

    model = EmoJEForEmotionRecognition(EmoJEConfig(modality_dims={"text": 384}, num_labels=2, **TINY_CONFIG))
    processor = EmoJEProcessor.from_text_encoder(default_text_encoder())
    assert text_encoder_hub_id(model, processor) == DEFAULT_HUB_TEXT_ENCODER
    assert text_encoder_hub_id(model, None) is None
    card = build_model_card(
        model_type="emoje", label_names=["neutral", "joy"], modalities=["text"], protocol="meld/emotion",
        dataset_name="MELD", base_model=text_encoder_hub_id(model, processor),
    )
    metadata = yaml.safe_load(str(card).split("---")[1])
    assert "pipeline_tag" not in metadata
    assert metadata["base_model"] == DEFAULT_HUB_TEXT_ENCODER
    assert metadata["datasets"] == ["declare-lab/MELD"]  # the corpus authors' Hub dataset id
    assert "GPL-3.0" in str(card)  # the corpus's own terms sit beside the card's licence


def test_card_states_the_corpus_terms_only_for_a_known_corpus():
    from model_cards import build_model_card

    iemocap = str(build_model_card(model_type="emoje", label_names=["a", "b"], modalities=["text"], protocol="iemocap/erc6"))
    custom = str(build_model_card(model_type="emoje", label_names=["a", "b"], modalities=["text"], protocol="my_calls"))
    assert "USC SAIL" in iemocap and "GPL-3.0" not in iemocap
    assert "\ndatasets:" not in iemocap  # no official Hub copy of IEMOCAP: no dataset id is invented
    assert "USC SAIL" not in custom and "GPL-3.0" not in custom


def test_attn_implementation_sdpa_is_accepted(exported):
    from modeling_emoje import CMARRForEmotionRecognition, EmoJEForEmotionRecognition

    folder, _ = exported
    model = EmoJEForEmotionRecognition.from_pretrained(folder, attn_implementation="sdpa")
    assert model.config._attn_implementation == "sdpa"
    cmarr = CMARRForEmotionRecognition.from_pretrained(folder.parent / "cmarr", attn_implementation="sdpa")
    assert cmarr.config._attn_implementation == "sdpa"


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


def test_export_replaces_an_earlier_export_whole_and_refuses_other_folders(exported, tmp_path):
    from training.publishing.export import ExportError

    folder, _ = exported
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    target = tmp_path / "export"
    export_model(model, target)
    (target / "stale-file.bin").write_text("from an older export")
    export_model(model, target)  # an earlier export is replaced whole: nothing of it is left
    assert not (target / "stale-file.bin").exists() and (target / "config.json").is_file()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine")
    with pytest.raises(ExportError, match=r"notes: it holds files that are not an exported model \(todo.txt\)"):
        export_model(model, notes)
    assert (notes / "todo.txt").read_text() == "mine"


def test_export_needs_label_names(tmp_path):
    from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition

    model = EmoJEForEmotionRecognition(EmoJEConfig(modality_dims={"text": 4}, num_labels=2, **TINY_CONFIG))
    with pytest.raises(ValueError, match="no label names"):
        export_model(model, tmp_path / "x")
