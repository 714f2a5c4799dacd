"""modeling_emoje.dialogue_batch: one batch builder behind the training collator and the processor."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dataset_scripts.feature_frames import frames_column, read_frames
from modeling_emoje.dialogue_batch import build_dialogue_batch, number_speakers
from modeling_emoje.modalities import Scenario
from modeling_emoje.processing_emoje import EmoJEProcessor
from training.train.collator import DialogueCollator


def _frames(seed: int, frames: int, dim: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(frames, dim)).astype(np.float32)


@pytest.fixture(scope="module")
def processor(minilm_path) -> EmoJEProcessor:
    return EmoJEProcessor.from_text_encoder(minilm_path)


def test_number_speakers_by_first_appearance():
    assert number_speakers(["b", "a", "b", 3, "a"]).tolist() == [0, 1, 0, 2, 1]
    assert number_speakers([]).shape == (0,)


def test_collator_and_processor_give_the_same_batch(processor):
    conversations = [
        [
            {"speaker": "Ann", "text_features": _frames(0, 1, 384), "audio_features": _frames(1, 5, 80)},
            {"speaker": "Bob", "face": _frames(2, 3, 204)},
            {"speaker": "Ann", "audio_features": _frames(3, 2, 80), "body": _frames(4, 4, 88)},
        ],
        [{"speaker": "Cy", "body": _frames(5, 1, 88)}, {"speaker": "Di", "text_features": _frames(6, 1, 384)}],
    ]
    from_processor = processor(conversations, return_tensors="pt")
    fields = {"text": "text_features", "audio": "audio_features", "face": "face", "body": "body"}
    dialogues = []
    for turns in conversations:
        dialogue = {
            "labels": np.zeros(len(turns), dtype=np.int64),
            "speaker_ids": number_speakers(turn["speaker"] for turn in turns),
            "modality_mask": [[field in turn for field in fields.values()] for turn in turns],
        }
        for name, field in fields.items():
            dialogue[f"{name}_features"] = [turn.get(field, np.zeros((0, 0), np.float32)) for turn in turns]
        dialogues.append(dialogue)
    from_collator = DialogueCollator()(dialogues)
    assert from_collator.pop("labels").tolist() == [[0, 0, 0], [0, 0, -100]]
    assert list(from_collator) == list(from_processor)
    for key, value in from_collator.items():
        torch.testing.assert_close(from_processor[key], value, rtol=0, atol=0, msg=key)
    assert from_processor["speaker_ids"].tolist() == [[0, 1, 0], [0, 1, 0]]


def test_scenario_drops_modalities_and_frames_count():
    dialogue = {
        "modality_mask": [[True, True, True, False], [True, False, True, False]],
        "text_features": [_frames(0, 1, 3), _frames(1, 1, 3)],
        "audio_features": [_frames(2, 2, 2), np.zeros((0, 2))],
        "face_features": [_frames(3, 6, 4), np.zeros((0, 4))],  # marked present on turn 1 but has no frame
    }
    batch = build_dialogue_batch([dialogue], scenario=Scenario.from_names("text,face"), max_frames=4)
    assert "audio_features" not in batch and "labels" not in batch
    assert batch["face_features"].shape == (1, 2, 4, 4)
    assert batch["modality_mask"][0].tolist() == [[True, False, True, False], [True, False, False, False]]


def test_bad_shapes_name_the_utterance():
    dialogue = {"modality_mask": [[True, False, False, False]] * 2, "text_features": [_frames(0, 1, 3), _frames(1, 1, 4)]}
    with pytest.raises(ValueError, match="turn B: text_features has shape"):
        build_dialogue_batch([dialogue], locate=lambda b, u: "turn A" if u == 0 else "turn B")


def test_frames_format_round_trip():
    import pyarrow as pa

    arrays = [_frames(0, 2, 3), None, _frames(1, 1, 3)]
    column = frames_column(arrays, dim=3, chunk_rows=2)
    assert column.num_chunks == 2
    frames, offsets, dim = read_frames(pa.table({"face_features": column}), "face_features", "test")
    assert dim == 3 and offsets.tolist() == [0, 2, 2, 3]
    np.testing.assert_array_equal(frames, np.concatenate([arrays[0], arrays[2]]))
