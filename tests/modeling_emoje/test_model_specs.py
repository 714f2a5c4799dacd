"""modeling_emoje.model_specs: one ModelSpec per model, registered once; the Auto classes are derived from it."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification
from transformers.models.auto.processing_auto import PROCESSOR_MAPPING

import modeling_emoje
from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition, EmoJEModel, EmoJEProcessor, modeling_cmarr
from modeling_emoje import model_specs as model_specs_module
from modeling_emoje import modeling_emoje as emoje_module
from modeling_emoje.model_specs import (
    ModelSpec,
    build_model,
    config_fields,
    get_model_spec,
    known_model_types,
    model_specs,
    register_model_spec,
)

DIMS = {"text": 8, "audio": 4}
LABELS = ["calm", "angry", "sad"]
TINY = {
    "emoje": {"hidden_size": 8, "encoder_heads": 2, "acn_heads": 2, "joint_embedding_size": 4, "context_hidden_size": 4},
    "cmarr": {"hidden_size": 8, "latent_size": 4, "flow_hidden_size": 8, "fusion_heads": 2},
}


def test_each_modeling_file_ends_with_its_spec_and_the_package_registers_them():
    assert [spec.model_type for spec in model_specs()][:2] == ["emoje", "cmarr"]
    assert get_model_spec("emoje") is emoje_module.MODEL_SPEC and get_model_spec("cmarr") is modeling_cmarr.MODEL_SPEC
    spec = get_model_spec("emoje")
    assert (spec.config_class, spec.base_model_class, spec.model_class) == (EmoJEConfig, EmoJEModel, EmoJEForEmotionRecognition)
    assert spec.display_name == "AM^2-EmoJE" and spec.description.startswith("AM^2-EmoJE (Devulapally et al., 2024)")
    assert get_model_spec("cmarr").citation_bibtex.startswith("@inproceedings{sun2025cmarr,")
    assert {"emoje", "cmarr"} <= set(known_model_types()) and known_model_types() == sorted(known_model_types())
    with pytest.raises(ValueError, match=r"unknown model_type 'nope'; known: \[.*'cmarr', 'emoje'"):
        get_model_spec("nope")
    assert "flow_blocks" in config_fields("cmarr") and "flow_blocks" not in config_fields("emoje")


def test_cmarr_declares_its_three_mode_conditions_and_emoje_none():
    assert get_model_spec("emoje").extra_scenarios == ()
    assert get_model_spec("cmarr").extra_scenarios == (
        ("audio",), ("text",), ("face+body",), ("audio", "text"), ("audio", "face+body"), ("text", "face+body"),
    )


@pytest.mark.parametrize("model_type", ["emoje", "cmarr"])
def test_the_auto_classes_and_auto_map_are_derived_from_the_spec(model_type, tmp_path):
    spec = get_model_spec(model_type)
    config = spec.config_class(modality_dims=DIMS, num_labels=2, **TINY[model_type])
    assert type(AutoConfig.for_model(model_type)) is spec.config_class
    assert type(AutoModel.from_config(config)) is spec.base_model_class
    assert type(AutoModelForSequenceClassification.from_config(config)) is spec.model_class
    spec.model_class(config).save_pretrained(tmp_path)
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    module = spec.model_class.__module__.rsplit(".", 1)[-1]
    assert auto_map == {
        "AutoConfig": f"{spec.config_class.__module__.rsplit('.', 1)[-1]}.{spec.config_class.__name__}",
        "AutoModel": f"{module}.{spec.base_model_class.__name__}",
        "AutoModelForSequenceClassification": f"{module}.{spec.model_class.__name__}",
    }


def test_registering_a_new_spec_derives_every_auto_registration(monkeypatch):
    """What adding a model takes besides its files: one spec, one `register` (the loop in ``__init__.py``)."""
    monkeypatch.setattr(model_specs_module, "_SPECS", dict(model_specs_module._SPECS))  # the registry as it was, after

    class DerivedConfig(EmoJEConfig):
        model_type = "emoje-derived-test"

    class DerivedModel(EmoJEModel):
        config_class = DerivedConfig

    class DerivedHead(EmoJEForEmotionRecognition):
        config_class = DerivedConfig

    spec = ModelSpec("emoje-derived-test", "Derived", DerivedConfig, DerivedModel, DerivedHead, "a test model")
    modeling_emoje.register(spec)
    config = DerivedConfig(modality_dims=DIMS, num_labels=2, **TINY["emoje"])
    assert get_model_spec("emoje-derived-test") is spec and "emoje-derived-test" in known_model_types()
    assert type(AutoConfig.for_model("emoje-derived-test")) is DerivedConfig
    assert type(AutoModel.from_config(config)) is DerivedModel
    assert type(AutoModelForSequenceClassification.from_config(config)) is DerivedHead
    assert PROCESSOR_MAPPING[DerivedConfig] is EmoJEProcessor  # the processor, for the new config too
    assert type(build_model("emoje-derived-test", DIMS, LABELS, TINY["emoje"])) is DerivedHead


def test_a_spec_must_name_its_configs_model_type():
    with pytest.raises(ValueError, match="its config class EmoJEConfig has model_type 'emoje'"):
        register_model_spec(ModelSpec("emojee", "Typo", EmoJEConfig, EmoJEModel, EmoJEForEmotionRecognition))
    assert "emojee" not in known_model_types()


@pytest.mark.parametrize("model_type", ["emoje", "cmarr"])
def test_build_model_takes_dims_and_labels_from_the_data_and_options_from_the_caller(model_type):
    model = build_model(model_type, DIMS, LABELS, {**TINY[model_type], "dropout": 0.0}, protocol="synthetic/synthetic")
    config = model.config
    assert type(model) is get_model_spec(model_type).model_class
    assert config.modality_dims == DIMS and config.hidden_size == 8 and config.dropout == 0.0
    assert config.num_labels == 3 and config.id2label == dict(enumerate(LABELS)) and config.label2id["sad"] == 2
    with torch.no_grad():
        assert model.eval()(text_features=torch.randn(1, 2, 1, 8)).logits.shape == (1, 2, 3)


def test_build_model_names_the_options_a_config_or_model_rejects():
    with pytest.raises(ValueError, match=r"the emoje config rejects the model options \{'hidden_size': 30, 'acn_heads': 4\}"):
        build_model("emoje", DIMS, LABELS, {"hidden_size": 30, "acn_heads": 4})
    with pytest.raises(ValueError, match="the cmarr config rejects the model options"):
        build_model("cmarr", DIMS, LABELS, {"modality_dims": {"text": 3}})  # data-derived: given twice
