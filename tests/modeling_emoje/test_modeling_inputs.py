"""modeling_emoje.modeling_inputs / modeling_base: both models read their modality inputs from the modality table,
refuse any keyword they do not take (naming the closest valid one), and document the contract in ``forward``."""

from __future__ import annotations

import pytest
import torch

from modeling_emoje import (
    CMARRConfig,
    CMARRForEmotionRecognition,
    CMARRModel,
    EmoJEConfig,
    EmoJEForEmotionRecognition,
    EmoJEModel,
)
from modeling_emoje.modalities import MODALITY_TABLE, get_modality
from modeling_emoje.modeling_inputs import INPUT_CONTRACT, check_input_names, collect_modality_inputs
from tests.modeling_common import TINY_DIMS, make_batch

TINY = {
    "emoje": (EmoJEConfig, dict(hidden_size=16, encoder_heads=2, acn_heads=2, joint_embedding_size=8, context_hidden_size=8)),
    "cmarr": (CMARRConfig, dict(hidden_size=16, latent_size=6, flow_blocks=2, flow_hidden_size=16, fusion_heads=2)),
}
CLASSES = {"emoje": (EmoJEModel, EmoJEForEmotionRecognition), "cmarr": (CMARRModel, CMARRForEmotionRecognition)}


def tiny(model_type: str, head: bool = True):
    config_class, options = TINY[model_type]
    torch.manual_seed(0)
    model_class = CLASSES[model_type][1 if head else 0]
    return model_class(config_class(modality_dims=dict(TINY_DIMS), num_labels=4, **options)).eval()


@pytest.mark.parametrize("model_type", ["emoje", "cmarr"])
@pytest.mark.parametrize("head", [True, False], ids=["with-head", "base"])
@pytest.mark.parametrize(
    ("keyword", "closest"),
    [("aduio_features", "audio_features"), ("face_atention_mask", "face_attention_mask"), ("speaker_id", "speaker_ids")],
)
def test_an_unknown_keyword_is_named_with_the_closest_valid_input(model_type, head, keyword, closest):
    """AM^2-EmoJE used to drop ``aduio_features=`` silently (and CM-ARR any keyword not ending in ``_features``)."""
    model = tiny(model_type, head)
    batch = {key: value for key, value in make_batch(["text", "audio"]).items() if key != "labels"}
    with pytest.raises(ValueError, match=rf"unknown (modality )?inputs \['{keyword}'\] \(did you mean '{closest}'\?\)"):
        model(**batch, **{keyword: batch["audio_features"] if keyword.endswith("features") else batch["speaker_ids"]})
    with pytest.raises(ValueError, match=rf"\['{keyword}'\]"):  # whatever its value: an unknown keyword is a mistake
        model(**batch, **{keyword: None})


@pytest.mark.parametrize("model_type", ["emoje", "cmarr"])
def test_the_inputs_are_taken_by_the_tables_names_and_keyword_calls_keep_working(model_type):
    """The keys a model reads are the table's ``features_key`` / ``attention_mask_key``; the calls the tests and the
    Trainer make (keywords only) give the same logits whatever order the keywords come in."""
    model = tiny(model_type)
    batch = make_batch(seed=3)
    mask = batch["modality_mask"].bool() & torch.tensor([True, True, False, False])  # text and audio only
    text, audio = get_modality("text"), get_modality("audio")
    with torch.no_grad():
        direct = model(
            text_features=batch["text_features"], audio_features=batch["audio_features"], modality_mask=mask,
            utterance_mask=batch["utterance_mask"], text_attention_mask=batch["text_attention_mask"],
            audio_attention_mask=batch["audio_attention_mask"], speaker_ids=batch["speaker_ids"],
        ).logits
        keys = [key for modality in (text, audio) for key in (modality.features_key, modality.attention_mask_key)]
        table = model(
            speaker_ids=batch["speaker_ids"], utterance_mask=batch["utterance_mask"], modality_mask=mask,
            **{key: batch[key] for key in reversed(keys)},
        ).logits
    assert keys == ["text_features", "text_attention_mask", "audio_features", "audio_attention_mask"]
    assert torch.equal(direct, table)


@pytest.mark.parametrize("model_type", ["emoje", "cmarr"])
def test_return_dict_false_gives_the_tuple_of_the_output(model_type):
    model = tiny(model_type)
    batch = make_batch(seed=1)
    with torch.no_grad():
        output = model(**batch)
        as_tuple = model(**batch, return_dict=False)
        base, base_output = model.base_model(**batch, return_dict=False), model.base_model(**batch)
    assert isinstance(as_tuple, tuple) and len(as_tuple) == len(output.to_tuple())
    assert torch.equal(as_tuple[0], output.loss) and torch.equal(as_tuple[1], output.logits)
    assert isinstance(base, tuple) and torch.equal(base[0], base_output.last_hidden_state)


def test_both_models_document_the_contract_of_every_modality_in_forward():
    for base, head in CLASSES.values():
        assert INPUT_CONTRACT in base.forward.__doc__
    for modality in MODALITY_TABLE:
        assert f"{modality.features_key} (B, U, T, {modality.default_dim} by default)" in INPUT_CONTRACT
        assert modality.attention_mask_key in INPUT_CONTRACT and modality.description in INPUT_CONTRACT
    assert "SPEC.md" not in INPUT_CONTRACT and "API.md" not in INPUT_CONTRACT


def test_collect_modality_inputs_reads_the_table_and_names_forward_parameters_as_valid():
    features, masks = collect_modality_inputs({"body_features": torch.zeros(1, 1, 1, 2), "text_features": None})
    assert list(features) == ["body"] and masks == {"body": None}
    with pytest.raises(ValueError, match=r"unknown inputs \['causel'\] \(did you mean 'causal'\?\)"):
        check_input_names(["causel"], ["labels", "causal"])
    with pytest.raises(ValueError, match=r"unknown inputs \['xyz'\]; the model's inputs are causal, text_features"):
        check_input_names(["xyz"], ["causal"])  # no close match: no hint
