"""AM^2-EmoJE's joint-embedding training options: ``joint_gradient`` and ``modality_logit_weight``."""

from __future__ import annotations

import pytest
import torch

from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition
from tests.modeling_common import TINY_DIMS, make_batch

NUM_LABELS = 4


def tiny_model(**overrides) -> EmoJEForEmotionRecognition:
    values = dict(
        modality_dims=dict(TINY_DIMS), num_labels=NUM_LABELS, hidden_size=16, encoder_heads=2, acn_heads=2,
        acn_layers=1, joint_embedding_size=8, context_hidden_size=8, context_layers=1, max_positions=16,
    )
    values.update(overrides)
    torch.manual_seed(0)
    return EmoJEForEmotionRecognition(EmoJEConfig(**values))


def joint_gradient_into_encoders(model: EmoJEForEmotionRecognition) -> float:
    """Gradient norm that the joint-embedding terms alone (``joint_weight * (InfoNCE + mapping + JS)``) send into the
    mode encoders, with every mode present and kept (so nothing is imputed into the fusion)."""
    model.train()
    batch = make_batch(("text", "audio", "face", "body"))
    labels = batch.pop("labels")
    outputs = model.emoje(**batch, compute_leave_one_out=True)
    logits = model.classifier(outputs.last_hidden_state)
    with_joint, _ = model._losses(outputs, logits, labels)
    model.config.joint_weight = 0.0
    without_joint, _ = model._losses(outputs, logits, labels)
    (with_joint - without_joint).backward()
    return sum(p.grad.norm().item() for p in model.emoje.encoders.parameters() if p.grad is not None)


def test_defaults_keep_the_paper_form():
    config = EmoJEConfig(modality_dims={"text": 4, "audio": 3}, num_labels=2, hidden_size=8, encoder_heads=2, acn_heads=2)
    assert config.joint_gradient == "shared"
    assert config.modality_logit_weight == 0.0


@pytest.mark.parametrize("field, value", [("joint_gradient", "frozen"), ("modality_logit_weight", -0.5)])
def test_bad_values_are_rejected(field, value):
    with pytest.raises(ValueError, match=field):
        EmoJEConfig(modality_dims={"text": 4}, num_labels=2, hidden_size=8, encoder_heads=2, acn_heads=2, **{field: value})


def test_isolated_joint_terms_send_no_gradient_into_the_encoders():
    shared = joint_gradient_into_encoders(tiny_model(modality_dropout=0.0))
    isolated = joint_gradient_into_encoders(tiny_model(modality_dropout=0.0, joint_gradient="isolated"))
    assert shared > 1e-6
    assert isolated == 0.0


def test_isolated_joint_embedding_still_learns_and_imputes():
    model = tiny_model(joint_gradient="isolated", modality_dropout=0.0).train()
    batch = make_batch(("text", "audio", "face", "body"))
    model(**batch).loss.backward()
    projections = model.emoje.joint_embedding.projections
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in projections.parameters())
    model.eval()
    with torch.no_grad():
        out = model(**make_batch(("text", "audio")))
    assert out.imputed_mask[..., 2:].any()  # face and body imputed from text and audio


def test_modality_vote_is_added_to_the_logits_from_present_modes_only():
    batch = make_batch(("text", "audio"))
    plain = tiny_model().eval()
    voting = tiny_model(modality_logit_weight=0.5).eval()
    voting.load_state_dict(plain.state_dict())
    with torch.no_grad():
        base = plain(**batch).logits
        out = voting(**batch).logits
        inner = voting.emoje(**batch)
        per_mode = voting.descriptor_classifier(inner.descriptors[..., :2, :])  # text and audio, the present modes
    assert torch.allclose(out, base + 0.5 * per_mode.mean(2), atol=1e-5)


def test_modality_vote_trains_with_a_finite_loss():
    model = tiny_model(modality_logit_weight=1.0, joint_gradient="isolated").train()
    out = model(**make_batch(random_presence=True))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert model.descriptor_classifier.weight.grad.abs().sum() > 0
