"""modeling_emoje.modalities (which modalities, under which scenario) and turn_media (one privacy decision)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling_emoje.dialogue_batch import build_dialogue_batch
from modeling_emoje.modalities import (
    ABBREVIATIONS,
    DEFAULT_MODALITY_DIMS,
    MODALITIES,
    MODALITY_INDEX,
    MODALITY_INPUT_KEYS,
    MODALITY_TABLE,
    PRIVACY,
    Scenario,
    counted_modalities,
    get_modality,
    modality_names,
    normalize_modalities,
    validate_modality_dims,
)
from modeling_emoje.processing_emoje import TURN_KEYS
from modeling_emoje.turn_media import VIDEO_MODALITIES
from modeling_emoje.turn_media import TurnMedia, private_video_processor


def test_every_modality_list_is_derived_from_the_table():
    assert MODALITIES == tuple(modality.name for modality in MODALITY_TABLE) == ("text", "audio", "face", "body")
    assert MODALITY_INDEX == {"text": 0, "audio": 1, "face": 2, "body": 3}
    assert ABBREVIATIONS == {"t": "text", "a": "audio", "f": "face", "b": "body"}
    assert DEFAULT_MODALITY_DIMS == {"text": 384, "audio": 80, "face": 204, "body": 88}
    assert [modality.source for modality in MODALITY_TABLE] == ["text", "audio", "video", "video"]
    assert len({modality.colour for modality in MODALITY_TABLE}) == len(MODALITY_TABLE)
    assert VIDEO_MODALITIES == ("face", "body")  # the video processor's modalities: those whose source is video


def test_a_modalitys_keys_come_from_the_table():
    audio, face = get_modality("audio"), get_modality("face")
    assert (audio.features_key, audio.attention_mask_key, audio.turn_key) == ("audio_features", "audio_attention_mask", "audio_features")
    assert (face.features_key, face.turn_key) == ("face_features", "face")  # face arrays are given beside a video
    assert MODALITY_INPUT_KEYS[:4] == ("text_features", "text_attention_mask", "audio_features", "audio_attention_mask")
    # The processor's turn keys and the batch's keys are the table's.
    assert TURN_KEYS == ("speaker", "text", "audio", "video", "face", "body", "text_features", "audio_features")
    assert set(TURN_KEYS[1:]) == {m.source for m in MODALITY_TABLE} | {m.turn_key for m in MODALITY_TABLE}
    dialogue = {"modality_mask": [[False, True, True, False]], "audio_features": [np.ones((2, 3))], "face_features": [np.ones((1, 5))]}
    batch = build_dialogue_batch([dialogue])
    assert {key for key in batch if key.endswith(("_features", "_attention_mask"))} == {
        get_modality(name).features_key for name in ("audio", "face")
    } | {get_modality(name).attention_mask_key for name in ("audio", "face")}
    with pytest.raises(ValueError, match=r"unknown modality 'txt' \(did you mean 'text'\?\)"):
        get_modality("txt")


def test_scenario_constructors_name_and_select():
    assert Scenario.full().keep == frozenset(MODALITIES) and Scenario.full().name == "text+audio+face+body"
    privacy = Scenario.privacy(["face", "text", "body"])
    assert privacy.name == PRIVACY and privacy.keep == {"text", "body"} and privacy.is_private
    assert privacy.select(["body", "face", "audio", "text"]) == ["text", "body"]
    assert Scenario.of_call(True) == Scenario.privacy() and Scenario.of_call(False) == Scenario.full()
    assert Scenario.from_names("b+t").name == "text+body" and Scenario.from_names(["audio"]).keep == {"audio"}
    assert Scenario.privacy().mask() == (True, True, False, True)


def test_scenario_refuses_unknown_and_empty():
    with pytest.raises(ValueError, match="unknown modalities .*'video'"):
        Scenario.from_names("text,video")
    with pytest.raises(ValueError, match="at least one modality"):
        Scenario.privacy(["face"])
    assert normalize_modalities(None) is None and normalize_modalities("text+audio") == {"text", "audio"}


def test_validate_modality_dims_orders_and_checks():
    assert list(validate_modality_dims({"body": 4, "text": 3})) == ["text", "body"]
    for bad, message in (({}, "at least one"), ({"txt": 3}, "unknown"), ({"text": 0}, "positive int")):
        with pytest.raises(ValueError, match=message):
            validate_modality_dims(bad)


@pytest.mark.parametrize("library", ["numpy", "torch"])
def test_counted_modalities_same_rule_for_numpy_and_torch(library):
    mask = np.array([[[1, 1, 1, 0], [1, 0, 1, 1], [1, 1, 1, 1]]], dtype=bool)
    utterances = np.array([[1, 1, 0]])
    if library == "torch":
        mask, utterances = torch.from_numpy(mask), torch.from_numpy(utterances)
    counted = counted_modalities(mask, utterances, Scenario.privacy())
    assert type(counted) is type(mask)
    rows = [modality_names(row) for row in counted[0].tolist()]
    assert rows == [["text", "audio"], ["text", "body"], []]
    assert bool(mask[0, 0, 2])  # the input is not modified


class _Video:
    """Records whether face landmarking was asked for; `privacy` only as an attribute (no call argument)."""

    def __init__(self):
        self.privacy, self.calls = False, []

    def __call__(self, path, start=None, end=None):
        self.calls.append((path, start, end, self.privacy))
        return {"face": None if self.privacy else np.ones((2, 3)), "body": np.ones((4, 5))}


def test_privacy_is_one_decision_for_turn_media():
    video = _Video()
    private = TurnMedia(video_processor=video, scenario=Scenario.privacy())
    result = private.video("clip.mp4", 1.0, 2.0)
    assert result["face"] is None and result["body"].shape == (4, 5)
    # a private copy ran (it shares the call log), the caller's processor is untouched
    assert video.calls == [("clip.mp4", 1.0, 2.0, True)] and video.privacy is False
    assert TurnMedia(video_processor=video).video("clip.mp4")["face"].shape == (2, 3)
    assert video.calls[-1] == ("clip.mp4", None, None, False)
    with pytest.raises(ValueError, match="privacy"):
        private_video_processor(lambda path: {})
