"""modeling_emoje.model_specs: model types, the one model factory (package models and the registered concat baseline)."""

from __future__ import annotations

import pytest
import torch

from benchmarks import robustness
from benchmarks.baselines import CONCAT_MODEL_TYPE, SHARED_FIELDS, ConcatFusionForEmotionRecognition
from modeling_emoje import CMARRForEmotionRecognition, EmoJEConfig, EmoJEForEmotionRecognition
from modeling_emoje.model_specs import build_model, config_fields, get_model_spec, known_model_types

DIMS = {"text": 8, "audio": 4, "face": 6, "body": 5}
LABELS = ["neutral", "joy", "anger"]


def get_model_classes(model_type):
    spec = get_model_spec(model_type)
    return spec.config_class, spec.model_class


def test_the_package_models_come_from_modeling_emoje():
    assert get_model_classes("emoje") == (EmoJEConfig, EmoJEForEmotionRecognition)
    assert get_model_classes("cmarr")[1] is CMARRForEmotionRecognition
    assert {"emoje", "cmarr", CONCAT_MODEL_TYPE} <= set(known_model_types())  # the baseline: registered on import
    with pytest.raises(ValueError, match="unknown model_type 'nope'"):
        get_model_classes("nope")
    assert "flow_blocks" in config_fields("cmarr") and "flow_blocks" not in config_fields("emoje")


@pytest.mark.parametrize("model_type", ["emoje", "cmarr", CONCAT_MODEL_TYPE])
def test_build_model_takes_dims_and_labels_from_the_data_and_options_from_the_caller(model_type):
    model = build_model(model_type, DIMS, LABELS, {"hidden_size": 16, "dropout": 0.0}, **(
        {"protocol": "synthetic/synthetic"} if model_type != CONCAT_MODEL_TYPE else {}
    ))
    config = model.config
    assert config.modality_dims == DIMS and config.hidden_size == 16 and config.dropout == 0.0
    assert config.num_labels == 3 and config.id2label == dict(enumerate(LABELS)) and config.label2id["anger"] == 2
    with torch.no_grad():
        logits = model.eval()(text_features=torch.randn(2, 4, 1, 8), audio_features=torch.randn(2, 4, 3, 4)).logits
    assert logits.shape == (2, 4, 3)


def test_build_model_names_the_options_a_config_or_model_rejects():
    with pytest.raises(ValueError, match=r"the emoje config rejects the model options \{'hidden_size': 30, 'acn_heads': 4\}"):
        build_model("emoje", DIMS, LABELS, {"hidden_size": 30, "acn_heads": 4})
    with pytest.raises(ValueError, match="the cmarr config rejects the model options"):
        build_model("cmarr", DIMS, LABELS, {"modality_dims": {"text": 3}})  # data-derived: given twice


@pytest.mark.parametrize("size", ["tiny", "default"])
def test_the_concat_baseline_gets_the_emoje_settings_it_shares(size):
    """The benchmarks' `concat_zeros` models: built by the registry with AM^2-EmoJE's shared settings (the same
    encoders and context as the AM^2-EmoJE it is compared with), except where the size's ``concat`` section names
    the baseline's own choice (its modality dropout, chosen on validation)."""
    settings = robustness.SIZES[size]
    emoje = robustness.build_model("emoje", DIMS, LABELS, size).config
    for name, changes in (("concat_zeros", {}), ("concat_zeros_no_dropout", {"modality_dropout": 0.0})):
        concat = robustness.build_model(name, DIMS, LABELS, size)
        assert isinstance(concat, ConcatFusionForEmotionRecognition)
        expected = EmoJEConfig(modality_dims=DIMS, **{**settings["emoje"], **settings.get("concat", {}), **changes})
        for field in SHARED_FIELDS:
            assert getattr(concat.config, field) == getattr(expected, field), field
        assert concat.config.id2label == emoje.id2label
