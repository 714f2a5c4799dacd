"""A folder that is not one of the package's models fails fast, with one message, at every loader that takes a path."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertForSequenceClassification

from benchmarks.baselines import CONCAT_MODEL_TYPE
from modeling_emoje import CMARRForEmotionRecognition, EmoJEForEmotionRecognition
from modeling_emoje.model_folder import ModelFolderError, check_model_folder, load_model
from modeling_emoje.model_specs import build_model, known_model_types
from training.cli import predict

DIMS = {"text": 4, "audio": 3}
LABELS = ["calm", "angry"]
TINY = {
    "emoje": {"hidden_size": 8, "encoder_heads": 2, "acn_heads": 2, "acn_layers": 1, "joint_embedding_size": 8,
              "context_hidden_size": 8, "context_layers": 1},
    "cmarr": {"hidden_size": 16, "latent_size": 8},
    CONCAT_MODEL_TYPE: {"hidden_size": 8, "encoder_heads": 2, "context_hidden_size": 8, "context_layers": 1},
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    """One saved tiny model of each known type, and the bad folders users point loaders at by mistake."""
    root = tmp_path_factory.mktemp("folders")
    torch.manual_seed(0)
    saved = {}
    for model_type, options in TINY.items():
        saved[model_type] = root / model_type
        build_model(model_type, DIMS, LABELS, options).save_pretrained(saved[model_type])
    saved["bert"] = root / "bert"  # a real (tiny) BERT checkpoint: config.json and weights
    bert = BertConfig(vocab_size=16, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
    BertForSequenceClassification(bert).save_pretrained(saved["bert"])
    saved["typo"] = root / "typo"  # the package's own folder (auto_map: remote code) with a mistyped model_type
    shutil.copytree(saved["emoje"], saved["typo"])
    _edit_config(saved["typo"], model_type="emoje-typo")
    saved["untyped"] = root / "untyped"
    shutil.copytree(saved["emoje"], saved["untyped"])
    _edit_config(saved["untyped"], model_type=None)
    saved["no-config"] = root / "no-config"  # weights alone
    shutil.copytree(saved["emoje"], saved["no-config"])
    (saved["no-config"] / "config.json").unlink()
    saved["garbled"] = root / "garbled"
    shutil.copytree(saved["emoje"], saved["garbled"])
    (saved["garbled"] / "config.json").write_text('{"model_type": "emoje",')
    return saved


def _edit_config(folder: Path, **changes) -> None:
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            config.pop(key)
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))


# (folder, what the message says about it)
BAD = [
    ("bert", "config.json has model_type 'bert'"),
    ("typo", "config.json has model_type 'emoje-typo'"),
    ("untyped", "config.json has no model_type"),
    ("no-config", "is not a saved model folder: it has no config.json"),
]


@pytest.mark.parametrize("name, found", BAD)
def test_load_model_names_the_folder_its_model_type_and_the_known_ones(folders, name, found):
    with pytest.raises(ModelFolderError) as error:
        load_model(folders[name])
    message = str(error.value)
    assert str(folders[name]) in message and found in message
    assert f"this package loads only model_type {known_model_types()}" in message
    assert CONCAT_MODEL_TYPE in message  # the registry's list, registered models included


@pytest.mark.parametrize("name, found", BAD)
def test_emoje_predict_says_it_in_one_line(folders, tmp_path, capsys, name, found):
    argv = ["--model", str(folders[name]), "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "o.jsonl")]
    assert predict.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("emoje-predict: error: ") and str(folders[name]) in error and found in error
    assert "Traceback" not in error and not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("name, found", [*BAD, ("cmarr", "config.json has model_type 'cmarr'")])
def test_from_pretrained_refuses_another_model_type_before_reading_weights(folders, name, found):
    with pytest.raises(ModelFolderError) as error:
        EmoJEForEmotionRecognition.from_pretrained(folders[name])
    message = str(error.value)
    assert str(folders[name]) in message and found in message
    assert "EmoJEForEmotionRecognition loads only model_type ['emoje']" in message
    with pytest.raises(ModelFolderError, match=r"CMARRForEmotionRecognition loads only model_type \['cmarr'\]"):
        CMARRForEmotionRecognition.from_pretrained(folders["emoje"])


def test_an_unreadable_config_is_named(folders):
    config_file = folders["garbled"] / "config.json"
    for load in (load_model, EmoJEForEmotionRecognition.from_pretrained):
        with pytest.raises(ModelFolderError, match=re.escape(f"{config_file} is not a readable model config")):
            load(folders["garbled"])


def test_a_missing_path_is_named(tmp_path):
    with pytest.raises(ModelFolderError, match=re.escape(f"{tmp_path / 'nope'} is not a saved model folder: no such path")):
        load_model(tmp_path / "nope")


@pytest.mark.parametrize("model_type", list(TINY))
def test_the_package_models_still_load_with_their_weights(folders, model_type):
    saved = load_file(folders[model_type] / "model.safetensors")
    model = load_model(folders[model_type])
    reloaded = type(model).from_pretrained(folders[model_type])
    assert model.config.model_type == reloaded.config.model_type == model_type
    for loaded in (model, reloaded):
        state = loaded.state_dict()
        assert all(torch.equal(state[key], tensor.reshape(state[key].shape)) for key, tensor in saved.items())


def test_an_explicit_config_skips_the_folder_check(folders):
    """``from_pretrained(folder, config=...)`` (what AutoModel and load_model pass) trusts the caller's config."""
    config = EmoJEForEmotionRecognition.config_class.from_pretrained(folders["emoje"])
    model = EmoJEForEmotionRecognition.from_pretrained(folders["no-config"], config=config)
    assert model.config.model_type == "emoje"


def test_check_model_folder_returns_the_model_type(folders):
    assert check_model_folder(folders["cmarr"], ["cmarr", "emoje"], "test") == "cmarr"


def test_load_model_checks_the_weights_once(folders, monkeypatch):
    """``load_model`` checks the weights from their headers before reading them; the strict ``from_pretrained`` it then
    calls does not check them a second time (transformers is not asked for its loading report), while a direct
    ``from_pretrained`` still checks them itself."""
    from transformers import PreTrainedModel

    from modeling_emoje import model_folder

    header_checks, loading_reports = [], []
    check = model_folder.check_weights_match
    monkeypatch.setattr(model_folder, "check_weights_match", lambda *a, **k: header_checks.append(a) or check(*a, **k))
    load = PreTrainedModel.from_pretrained.__func__

    def spy(cls, *args, **kwargs):
        loading_reports.append(bool(kwargs.get("output_loading_info")))
        return load(cls, *args, **kwargs)

    monkeypatch.setattr(PreTrainedModel, "from_pretrained", classmethod(spy))
    load_model(folders["emoje"])
    assert len(header_checks) == 1 and loading_reports == [False]
    EmoJEForEmotionRecognition.from_pretrained(folders["emoje"])
    assert len(header_checks) == 1 and loading_reports == [False, True]
