"""AM^2-EmoJE: shapes, missing-modality invariances, causality, gradients, serialisation, bad input."""

from __future__ import annotations

import pytest
import torch

from modeling_emoje import MODALITIES, EmoJEConfig, EmoJEForEmotionRecognition, EmoJEModel
from modeling_emoje.modeling_emoje import MultimodalJointEmbedding
from modeling_emoje.modeling_layers import DialogueContext
from modeling_emoje.modeling_sampling import sample_modality_dropout
from tests.modeling_common import (
    ALL_SUBSETS,
    PRIVACY,
    TINY_DIMS,
    assert_causal_matches_prefixes,
    load_in_isolated_process,
    make_batch,
    pad_batch,
    with_noise_in_absent,
)

NUM_LABELS = 4


def tiny_config(**overrides) -> EmoJEConfig:
    values = dict(
        modality_dims=dict(TINY_DIMS), num_labels=NUM_LABELS, hidden_size=16, encoder_heads=2, acn_heads=2,
        acn_layers=2, joint_embedding_size=8, context_hidden_size=8, context_layers=1, max_positions=16,
        id2label={i: name for i, name in enumerate(["neutral", "joy", "anger", "sadness"])},
    )
    values.update(overrides)
    return EmoJEConfig(**values)


def tiny_model(**overrides) -> EmoJEForEmotionRecognition:
    torch.manual_seed(0)
    return EmoJEForEmotionRecognition(tiny_config(**overrides))


@pytest.mark.parametrize("modalities", ALL_SUBSETS + [PRIVACY], ids=lambda m: "+".join(m))
def test_every_modality_subset_gives_shapes_and_finite_loss(modalities):
    model = tiny_model().train()
    batch = make_batch(modalities)
    out = model(**batch)
    assert out.logits.shape == (3, 6, NUM_LABELS)
    assert out.modality_weights.shape == (3, 6, 4)
    assert torch.isfinite(out.loss)
    assert set(out.loss_terms) == {"focal", "acn_focal", "guided_nce", "joint_nce", "mapping", "js", "reconstruction"}
    model.eval()
    with torch.no_grad():
        out = model(**batch)
    real = batch["utterance_mask"].bool()
    absent = [MODALITIES.index(m) for m in MODALITIES if m not in modalities]
    # At test time every absent mode is imputed from the present ones (mode switching).
    assert out.imputed_mask[real][:, absent].all()
    assert not out.imputed_mask[real][:, [MODALITIES.index(m) for m in modalities]].any()


def test_absent_modality_values_do_not_change_logits():
    model = tiny_model().eval()
    batch = make_batch(random_presence=True)
    noisy = with_noise_in_absent(batch)
    assert not torch.equal(noisy["face_features"], batch["face_features"])
    with torch.no_grad():
        clean_logits = model(**batch).logits
        noisy_logits = model(**noisy).logits
    real = batch["utterance_mask"].bool()
    torch.testing.assert_close(noisy_logits[real], clean_logits[real], rtol=1e-5, atol=1e-5)


def test_padding_utterances_do_not_change_real_ones():
    model = tiny_model().eval()
    batch = make_batch(random_presence=True)
    padded = pad_batch(batch, extra=3)
    with torch.no_grad():
        logits = model(**batch).logits
        padded_logits = model(**padded).logits[:, : logits.shape[1]]
    real = batch["utterance_mask"].bool()
    torch.testing.assert_close(padded_logits[real], logits[real], rtol=1e-5, atol=1e-5)


def test_dialogues_in_a_batch_do_not_influence_each_other():
    model = tiny_model().eval()
    batch = make_batch(batch=3)
    single = {key: value[:1] for key, value in batch.items()}
    with torch.no_grad():
        together = model(**batch).logits[:1]
        alone = model(**single).logits
    real = single["utterance_mask"].bool()
    torch.testing.assert_close(together[real], alone[real], rtol=1e-5, atol=1e-5)


def test_causal_model_ignores_later_utterances():
    model = tiny_model(causal=True).eval()
    batch = make_batch(batch=1, lengths=[6])
    changed = dict(batch)
    for name in MODALITIES:
        changed[f"{name}_features"] = batch[f"{name}_features"].clone()
        changed[f"{name}_features"][:, 4:] = torch.randn_like(changed[f"{name}_features"][:, 4:])
    with torch.no_grad():
        before, after = model(**batch).logits, model(**changed).logits
    torch.testing.assert_close(after[:, :4], before[:, :4], rtol=1e-6, atol=1e-6)
    assert not torch.allclose(after[:, 4:], before[:, 4:])
    # The bidirectional model does look ahead, so the check above can fail.
    bidirectional = tiny_model(causal=False).eval()
    with torch.no_grad():
        assert not torch.allclose(bidirectional(**batch).logits[:, :4], bidirectional(**changed).logits[:, :4])


@pytest.mark.parametrize("use_speaker_context", [True, False])
def test_causal_forward_equals_the_model_on_each_prefix(use_speaker_context):
    """Streaming: ``causal=True`` on a bidirectional model gives each turn what the model gives for the dialogue cut
    after it; several dialogues of different lengths (padding), modalities missing at random, two speakers."""
    model = tiny_model(use_speaker_context=use_speaker_context).eval()
    batch = make_batch(batch=3, length=7, lengths=[7, 4, 1], random_presence=True, seed=3)
    assert_causal_matches_prefixes(model, batch)


def test_causal_forward_of_a_causal_model_is_its_plain_forward():
    model = tiny_model(causal=True).eval()
    batch = make_batch(random_presence=True)
    batch.pop("labels")
    with torch.no_grad():
        torch.testing.assert_close(model(**batch, causal=True).logits, model(**batch).logits, rtol=0.0, atol=0.0)


def test_prefix_states_do_not_depend_on_the_chunk_size():
    torch.manual_seed(0)
    context = DialogueContext(input_size=5, hidden_size=4, num_layers=2).eval()
    utterances = torch.randn(3, 6, 5)
    mask = torch.tensor([[1] * 6, [1] * 3 + [0] * 3, [1] * 5 + [0]])
    speakers = torch.randint(0, 3, (3, 6), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        one_call = context.prefix_states(utterances, mask, speakers)
        chunked = context.prefix_states(utterances, mask, speakers, chunk_size=4)  # 14 prefixes: 4 calls
        for end in (0, 2, 5):
            alone = context(utterances[:, : end + 1], mask[:, : end + 1], speakers[:, : end + 1])[:, end]
            real = mask[:, end].bool()
            torch.testing.assert_close(one_call[real, end], alone[real], rtol=0.0, atol=1e-6)
    torch.testing.assert_close(chunked, one_call, rtol=0.0, atol=1e-6)
    assert (one_call[~mask.bool()] == 0).all()  # padding utterances: zeros, as in forward


@pytest.mark.parametrize("use_joint_embedding", [True, False])
def test_modality_weights_are_zero_for_unavailable_modes_and_sum_to_one(use_joint_embedding):
    model = tiny_model(use_joint_embedding=use_joint_embedding).eval()
    batch = make_batch(random_presence=True)
    with torch.no_grad():
        out = model(**batch)
    real = batch["utterance_mask"].bool()
    weights = out.modality_weights[real]
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[0]))
    available = batch["modality_mask"][real] | out.imputed_mask[real]
    assert (weights[~available] == 0).all()
    assert (weights[available] > 0).all()
    if not use_joint_embedding:
        assert not out.imputed_mask.any()
        assert (weights[~batch["modality_mask"][real]] == 0).all()
    assert (out.modality_weights[~real] == 0).all()


def test_modality_weights_skip_modes_the_model_was_not_built_for():
    model = tiny_model(modality_dims={"text": 12, "audio": 6}).eval()
    with torch.no_grad():
        out = model(**make_batch(["text"]))
    real = make_batch(["text"])["utterance_mask"].bool()
    assert (out.modality_weights[real][:, 2:] == 0).all()
    assert out.imputed_mask[real][:, 1].all()  # audio imputed from text


def test_every_parameter_gets_a_gradient_and_each_loss_term_is_reported():
    model = tiny_model().train()
    out = model(**make_batch(batch=4, length=8))
    out.loss.backward()
    missing = [name for name, parameter in model.named_parameters() if parameter.grad is None]
    assert missing == []
    dead = [name for name, parameter in model.named_parameters() if parameter.grad.abs().sum() == 0]
    # Structurally zero here: position rows beyond the longest sequence, and the pooling score of text,
    # which has one frame per utterance in this batch (a softmax over one frame is constant).
    assert [name for name in dead if "position_embeddings" not in name] == [
        "emoje.pooling.text.score.weight"
    ]
    terms = out.loss_terms
    assert all(torch.isfinite(value) for value in terms.values())
    config = model.config
    expected = terms["focal"] + terms["acn_focal"] + config.nce_weight * terms["guided_nce"] + config.joint_weight * (
        terms["joint_nce"] + terms["mapping"] + terms["js"]
    )
    torch.testing.assert_close(out.loss.detach(), expected)
    assert terms["guided_nce"] > 0 and terms["joint_nce"] > 0


def test_invertible_maps_are_exact_inverses():
    joint = MultimodalJointEmbedding(list(MODALITIES), hidden_size=8, joint_size=6, temperature=0.07)
    with torch.no_grad():
        joint.map_generators.normal_(0, 0.5)
    identity = torch.eye(6)
    for source in MODALITIES:
        for target in MODALITIES:
            product = joint.mapping(target, source) @ joint.mapping(source, target)
            torch.testing.assert_close(product, identity, rtol=0, atol=1e-5)


def test_save_and_load_round_trip_gives_identical_logits(tmp_path):
    model = tiny_model().eval()
    batch = make_batch(random_presence=True)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    reloaded = EmoJEForEmotionRecognition.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits, rtol=0, atol=0)
    assert reloaded.config.id2label[1] == "joy"


def test_auto_classes_load_a_saved_directory(tmp_path):
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    tiny_model().save_pretrained(tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)) is EmoJEConfig
    assert type(AutoModel.from_pretrained(tmp_path)) is EmoJEModel
    assert type(AutoModelForSequenceClassification.from_pretrained(tmp_path)) is EmoJEForEmotionRecognition


def test_remote_code_load_in_a_process_that_cannot_import_the_package(tmp_path):
    model = tiny_model().eval()
    model_dir = tmp_path / "model"
    model.save_pretrained(model_dir)
    assert (model_dir / "modeling_emoje.py").exists() and (model_dir / "modeling_layers.py").exists()
    batch = make_batch(random_presence=True)
    result = load_in_isolated_process(model_dir, batch, tmp_path)
    assert result["module"].startswith("transformers_modules")
    with torch.no_grad():
        expected = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    torch.testing.assert_close(torch.tensor(result["logits"]), expected, rtol=1e-5, atol=1e-5)


def test_one_optimisation_step_lowers_the_loss():
    model = tiny_model(modality_dropout=0.0, dropout=0.0, classifier_dropout=0.0, context_dropout=0.0).train()
    batch = make_batch(batch=4, length=6)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = model(**batch).loss
    first.backward()
    optimizer.step()
    with torch.no_grad():
        second = model(**batch).loss
    assert second < first


def test_text_backbone_path_runs_input_ids_through_a_hf_encoder():
    from transformers import BertConfig

    text_config = BertConfig(vocab_size=50, hidden_size=12, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    model = tiny_model(text_config=text_config.to_dict()).eval()
    assert model.config.modality_dims["text"] == 12
    batch = make_batch(["audio"])
    batch["modality_mask"][..., 0] = batch["utterance_mask"].bool()
    input_ids = torch.randint(1, 50, (3, 6, 5))
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **batch)
    assert out.logits.shape == (3, 6, NUM_LABELS)
    model.freeze_text_backbone()
    assert not any(p.requires_grad for p in model.emoje.text_model.parameters())


@pytest.mark.parametrize("pooling", ["tokens", "mean"])
def test_text_backbone_runs_length_sorted_chunks_with_the_same_states(pooling):
    """Utterances of different lengths, run 2 per pass after sorting: the states equal one unchunked pass over the
    padded batch (padding never changes a real token's state), and utterances without tokens stay zero."""
    from transformers import BertConfig

    text_config = BertConfig(vocab_size=50, hidden_size=12, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    model = tiny_model(text_config=text_config.to_dict(), text_pooling=pooling, text_backbone_chunk_size=2).eval()
    torch.manual_seed(0)
    input_ids = torch.randint(1, 50, (2, 3, 7))
    lengths = torch.tensor([[7, 2, 0], [4, 1, 5]])
    mask = (torch.arange(7) < lengths[..., None]).long()
    with torch.no_grad():
        features, feature_mask = model.emoje._text_features_from_backbone(input_ids * mask, mask)
        reference = model.emoje.text_model(input_ids=(input_ids * mask).flatten(0, 1), attention_mask=mask.flatten(0, 1)).last_hidden_state
    reference = reference.reshape(2, 3, 7, 12)
    if pooling == "tokens":
        assert features.shape == (2, 3, 7, 12) and torch.equal(feature_mask, mask)
        real = mask.bool()
        assert torch.allclose(features[real], reference[real], atol=1e-5)
    else:
        assert features.shape == (2, 3, 1, 12) and feature_mask.squeeze(-1).tolist() == [[1, 1, 0], [1, 1, 1]]
        weights = mask[..., None].float()
        expected = (reference * weights).sum(2) / weights.sum(2).clamp_min(1)
        assert torch.allclose(features[:, :, 0][lengths > 0], expected[lengths > 0], atol=1e-5)
    assert not features[0, 2].any()  # no tokens: zeros, never run
    with pytest.raises(ValueError, match="right-padded"):
        model.emoje._text_features_from_backbone(input_ids, mask.flip(-1))


def test_training_dropout_never_empties_an_utterance():
    present = torch.rand(200, 4) < 0.7
    present[:, 0] |= ~present.any(-1)
    kept = sample_modality_dropout(present, 0.9, torch.Generator().manual_seed(0))
    assert (kept <= present).all() and kept.any(-1).all()
    assert kept.sum() < present.sum()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b.update(text_features=torch.randn(3, 6, 1, 5)), "text_features has feature size 5"),
        (lambda b: b["modality_mask"].__setitem__((0, 2), False), "modality_mask has no modality for real utterance 2 of dialogue 0"),
        (lambda b: b["labels"].__setitem__((1, 0), 9), r"labels\[1, 0\] = 9 is out of range"),
        (lambda b: b.update(labels=torch.full((3, 6), -3)), "out of range"),
        (lambda b: b.pop("audio_features"), r"modality_mask marks \['audio'\] present but no audio_features"),
        (lambda b: b.update(face_attention_mask=torch.zeros(3, 6, 4, dtype=torch.long)), "face_attention_mask has no real frame"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_input(mutate, message):
    model = tiny_model().eval()
    batch = make_batch()
    mutate(batch)
    with pytest.raises(ValueError, match=message):
        model(**batch)


def test_unknown_modality_in_config_is_rejected():
    with pytest.raises(ValueError, match="unknown modalities"):
        EmoJEConfig(modality_dims={"txt": 3})
