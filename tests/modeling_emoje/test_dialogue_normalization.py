"""Per-(dialogue, speaker) input standardisation (modeling_emoje/dialogue_normalization.py) and its use in AM^2-EmoJE."""

from __future__ import annotations

import pytest
import torch

from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition
from modeling_emoje.dialogue_normalization import DialogueNormalization

TINY = dict(modality_dims={"audio": 5, "face": 3}, num_labels=3, hidden_size=8, encoder_heads=2, acn_heads=2, context_hidden_size=4)


def twin_models(**fields):
    """The same weights with dialogue normalisation on and off (it has no weights of its own)."""
    torch.manual_seed(0)
    on = EmoJEForEmotionRecognition(EmoJEConfig(**TINY, dialogue_normalization="standard", **fields)).eval()
    off = EmoJEForEmotionRecognition(EmoJEConfig(**TINY)).eval()
    off.load_state_dict(on.state_dict())
    return on, off


def test_a_group_is_standardised_to_mean_zero_and_unit_std_and_mapped_back_to_the_training_scale():
    torch.manual_seed(0)
    x = torch.randn(1, 6, 3, 4) * 5 + 20
    shift, scale = torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([2.0, 2.0, 0.5, 1.0])
    out = DialogueNormalization("standard", min_utterances=2, eps=0.0)(x, shift=shift, scale=scale)
    z = ((out - shift) / scale).flatten(0, 2)
    assert torch.allclose(z.mean(0), torch.zeros(4), atol=1e-4) and torch.allclose(z.std(0, correction=0), torch.ones(4), atol=1e-4)
    centred = DialogueNormalization("center", min_utterances=2)(x, shift=shift)
    assert torch.allclose((centred - shift).flatten(0, 2).mean(0), torch.zeros(4), atol=1e-4)


def test_padding_missing_modalities_and_other_speakers_take_no_part():
    torch.manual_seed(1)
    x = torch.randn(1, 6, 2, 3)
    frames = torch.ones(1, 6, 2, dtype=torch.long)
    frames[0, 1, 1] = 0  # a padded frame
    present = torch.tensor([[1, 1, 1, 0, 1, 1]])  # utterance 3 lacks the modality
    utterances = torch.tensor([[1, 1, 1, 1, 1, 0]])  # utterance 5 is padding
    speakers = torch.tensor([[0, 0, 0, 0, 1, 0]])
    block = DialogueNormalization("standard", min_utterances=3)
    out = block(x, frames, present, utterances, speakers)
    # Changing what must not count changes nothing.
    y = x.clone()
    y[0, 1, 1] += 100.0
    y[0, 3] += 100.0
    y[0, 5] += 100.0
    y[0, 4] += 100.0  # the other speaker
    again = block(y, frames, present, utterances, speakers)
    assert torch.allclose(out[0, [0, 2]], again[0, [0, 2]]) and torch.allclose(out[0, 1, 0], again[0, 1, 0])
    # What is not normalised is left bit for bit: padding, the missing modality, speaker 1's group of one.
    assert torch.equal(out[0, 3:], x[0, 3:]) and torch.equal(out[0, 1, 1], x[0, 1, 1])
    # The group of speaker 0 (utterances 0-2, 5 real frames) has mean 0.
    real = torch.cat([out[0, 0], out[0, 1, :1], out[0, 2]])
    assert torch.allclose(real.mean(0), torch.zeros(3), atol=1e-3)


def test_one_utterance_dialogues_give_exactly_the_model_without_it():
    on, off = twin_models()
    audio, face = torch.randn(4, 1, 2, 5) * 3 + 7, torch.randn(4, 1, 1, 3)
    assert torch.equal(on(audio_features=audio, face_features=face).logits, off(audio_features=audio, face_features=face).logits)


def test_several_utterances_of_a_speaker_change_the_prediction():
    on, off = twin_models(dialogue_normalization_min_utterances=2)
    audio, face = torch.randn(1, 5, 2, 5) * 3 + 7, torch.randn(1, 5, 1, 3)
    assert not torch.allclose(on(audio_features=audio, face_features=face).logits, off(audio_features=audio, face_features=face).logits)


def test_causal_runs_use_past_statistics_only():
    on, _ = twin_models(dialogue_normalization_min_utterances=2)
    audio, face = torch.randn(1, 6, 2, 5) * 3 + 7, torch.randn(1, 6, 1, 3)
    speakers = torch.tensor([[0, 1, 0, 1, 0, 0]])
    later = audio.clone()
    later[:, 4:] += 10.0
    first = on(audio_features=audio, face_features=face, speaker_ids=speakers, causal=True).logits
    second = on(audio_features=later, face_features=face, speaker_ids=speakers, causal=True).logits
    assert torch.allclose(first[:, :4], second[:, :4], atol=1e-6) and not torch.allclose(first[:, 4:], second[:, 4:])
    # Without causal=True the dialogue's statistics include the later turns.
    whole = on(audio_features=later, face_features=face, speaker_ids=speakers).logits
    assert not torch.allclose(whole[:, :4], on(audio_features=audio, face_features=face, speaker_ids=speakers).logits[:, :4])


def test_bad_settings_are_refused_by_the_config():
    with pytest.raises(ValueError, match="dialogue_normalization must be one of"):
        EmoJEConfig(**TINY, dialogue_normalization="speaker")
    with pytest.raises(ValueError, match="min_utterances must be >= 2"):
        EmoJEConfig(**TINY, dialogue_normalization="standard", dialogue_normalization_min_utterances=1)


def test_without_dialogue_context_each_utterance_is_classified_alone():
    torch.manual_seed(0)
    model = EmoJEForEmotionRecognition(EmoJEConfig(**TINY, use_dialogue_context=False)).eval()
    assert model.emoje.context is None and not [n for n, _ in model.named_parameters() if "context" in n]
    audio, face = torch.randn(1, 4, 2, 5), torch.randn(1, 4, 1, 3)
    whole = model(audio_features=audio, face_features=face).logits
    alone = model(audio_features=audio[:, 2:3], face_features=face[:, 2:3]).logits
    assert torch.allclose(whole[:, 2], alone[:, 0], atol=1e-6)
