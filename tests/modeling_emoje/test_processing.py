"""EmoJEProcessor: conversations of raw turns -> the shared input contract; save/load round trip."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from transformers import AutoProcessor

from modeling_emoje import EmoJEConfig
from modeling_emoje.feature_extraction_emoje import EmoJEFeatureExtractor
from modeling_emoje.media_io import load_audio
from modeling_emoje.dialogue_batch import number_speakers
from modeling_emoje.processing_emoje import EmoJEProcessor, is_conversation
from modeling_emoje.text_encoding_emoje import TextFeatureEncoder
from modeling_emoje.video_processing_emoje import EmoJEVideoProcessor
from tests.synthetic_data import one_thread  # noqa: F401 (autouse: one torch thread on the shared cores)



pytestmark = pytest.mark.compat  # `make test-newest` runs these at the newest allowed versions


@pytest.fixture(scope="module")
def processor(minilm_path) -> EmoJEProcessor:
    return EmoJEProcessor.from_text_encoder(
        minilm_path,
        feature_extractor=EmoJEFeatureExtractor(max_frames=50),
        video_processor=EmoJEVideoProcessor(fps=1.0, max_frames=2, max_size=320),
    )


@pytest.fixture(scope="module")
def wav(media_dir) -> str:
    return str(media_dir / "conversation" / "sample.wav")


def _arrays(seed: int, frames: int, dim: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((frames, dim)).astype(np.float32)


def test_batch_follows_the_input_contract(processor):
    first = [
        {"speaker": "Ann", "text_features": _arrays(0, 1, 384), "audio_features": _arrays(1, 5, 80)},
        {"speaker": "Bob", "audio_features": _arrays(2, 3, 80), "body": _arrays(3, 4, 88)},
        {"speaker": "Ann", "face": _arrays(4, 2, 204), "body": _arrays(5, 2, 88)},
    ]
    second = [{"speaker": 7, "text_features": _arrays(6, 1, 384)}, {"speaker": 3, "face": _arrays(7, 6, 204)}]
    batch = processor([first, second])

    assert batch["text_features"].shape == (2, 3, 1, 384)
    assert batch["audio_features"].shape == (2, 3, 5, 80)
    assert batch["face_features"].shape == (2, 3, 6, 204)
    assert batch["body_features"].shape == (2, 3, 4, 88)
    assert batch["audio_features"].dtype == torch.float32
    assert batch["modality_mask"].dtype == torch.bool
    assert batch["utterance_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["speaker_ids"].tolist() == [[0, 1, 0], [0, 1, 0]]  # per-dialogue, in order of first appearance
    assert batch["modality_mask"][0].tolist() == [
        [True, True, False, False],
        [False, True, False, True],
        [False, False, True, True],
    ]
    assert batch["modality_mask"][1].tolist() == [[True, False, False, False], [False, False, True, False], [False] * 4]
    assert batch["audio_attention_mask"][0].tolist() == [[1] * 5, [1, 1, 1, 0, 0], [0] * 5]
    torch.testing.assert_close(batch["audio_features"][0, 1, :3], torch.from_numpy(first[1]["audio_features"]))
    assert batch["audio_features"][0, 1, 3:].abs().sum() == 0
    torch.testing.assert_close(batch["face_features"][1, 1], torch.from_numpy(second[1]["face"]))


def test_single_conversation_helpers():
    turns = [{"speaker": "x"}, {"speaker": "y"}, {"speaker": "x"}]
    assert is_conversation(turns) and not is_conversation([turns]) and not is_conversation([])
    assert number_speakers(turn["speaker"] for turn in turns).tolist() == [0, 1, 0]


def test_text_is_encoded_in_turn_batches_like_the_bare_encoder(processor, minilm_path):
    texts = ["Hello?", "Oh, hello.", "I didn't know you were there.", "Neither did I.", "This is Diane in New Jersey."]
    conversation = [{"speaker": index % 2, "text": text} for index, text in enumerate(texts)]
    conversation.insert(2, {"speaker": 0, "text": "   ", "audio_features": _arrays(0, 2, 80)})  # blank text: absent
    encoder = processor.text_encoder  # loaded lazily from the processor's reference
    assert isinstance(encoder, TextFeatureEncoder) and encoder.model_name_or_path == minilm_path
    expected = encoder(texts)
    for batch_size in (2, 32):
        batch = processor(conversation, batch_size=batch_size)
        features = batch["text_features"][0, :, 0].numpy()
        np.testing.assert_allclose(np.delete(features, 2, axis=0), expected, atol=1e-5)
        assert batch["modality_mask"][0, :, 0].tolist() == [True, True, False, True, True, True]
        assert not features[2].any()


def test_audio_is_cut_per_turn_and_resampled(processor, wav):
    extractor = processor.feature_extractor
    cut = {"path": wav, "start": 9.838, "end": 10.78}
    wave = load_audio(wav, start=9.838, end=10.78)
    batch = processor(
        [
            {"speaker": "S", "audio": cut},
            {"speaker": "S", "audio": {"array": wave, "sampling_rate": 16000}},
            {"speaker": "D", "audio": {"array": wave[::2], "sampling_rate": 8000}},
        ]
    )
    reference = extractor.extract_file(wav, 9.838, 10.78)
    frames = reference.shape[0]
    assert batch["audio_attention_mask"][0].sum(-1).tolist() == [frames, frames, frames]
    np.testing.assert_allclose(batch["audio_features"][0, 0, :frames].numpy(), reference, atol=1e-5)
    np.testing.assert_allclose(batch["audio_features"][0, 1, :frames].numpy(), reference, atol=1e-5)
    assert not np.allclose(batch["audio_features"][0, 2, :frames].numpy(), reference, atol=1e-3)  # really resampled


def test_modality_dims_select_outputs_and_check_sizes(processor):
    turns = [{"speaker": "A", "text_features": _arrays(0, 1, 384), "face": _arrays(1, 2, 204)}]
    batch = processor(turns, modality_dims={"text": 384, "audio": 80})
    assert "face_features" not in batch and batch["modality_mask"][0, 0].tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match=r"turn 1: 'audio_features' has 40 features per frame but the model expects 80"):
        processor(turns + [{"speaker": "B", "audio_features": _arrays(2, 3, 40)}], modality_dims={"text": 384, "audio": 80})
    with pytest.raises(ValueError, match=r"turn 0 has nothing usable.*'face'"):
        processor([{"speaker": "A", "face": _arrays(1, 2, 204)}], modality_dims={"text": 384})


def test_privacy_drops_face(processor):
    turns = [{"speaker": "A", "face": _arrays(0, 2, 204), "body": _arrays(1, 2, 88)}]
    batch = processor(turns, privacy=True)
    assert "face_features" not in batch and batch["modality_mask"][0, 0].tolist() == [False, False, False, True]
    with pytest.raises(ValueError, match=r"turn 1 has nothing usable.*privacy"):
        processor(turns + [{"speaker": "B", "face": _arrays(0, 2, 204)}], privacy=True)


def test_input_ids_for_a_model_with_its_own_text_backbone(processor):
    turns = [{"speaker": "A", "text": "Hello there, how are you?"}, {"speaker": "B", "audio_features": _arrays(0, 3, 80)}]
    batch = processor(turns, text_input="input_ids")
    assert "text_features" not in batch
    assert batch["input_ids"].shape[:2] == (1, 2) and batch["input_ids"].shape == batch["attention_mask"].shape
    assert batch["attention_mask"][0, 0].sum() > 2 and batch["attention_mask"][0, 1].sum() == 0
    assert batch["modality_mask"][0, :, 0].tolist() == [True, False]
    assert batch["input_ids"][0, 0, 0].item() == processor.tokenizer.cls_token_id


def test_bad_turns_are_named(processor, tmp_path):
    ok = {"speaker": "A", "text": "Hi."}
    with pytest.raises(ValueError, match=r"turn 1 has no 'speaker'"):
        processor([ok, {"text": "Hello."}])
    with pytest.raises(ValueError, match=r"turn 1: unknown key 'txt' \(did you mean 'text'\?\)"):  # not ignored
        processor([ok, {"speaker": "B", "txt": "typo"}])
    with pytest.raises(ValueError, match=r"turn 0: an audio array needs its 'sampling_rate'"):
        processor([{"speaker": "A", "audio": {"array": np.ones(1600)}}])
    with pytest.raises(ValueError, match=r"turn 1: 'face' must be an array of shape"):
        processor([ok, {"speaker": "B", "face": np.ones((2, 3, 4))}])
    missing = tmp_path / "nowhere.wav"
    with pytest.raises(ValueError, match=r"conversation 1, turn 0: audio file .*nowhere\.wav.*file not found"):
        processor([[ok], [{"speaker": "B", "audio": str(missing)}]])


def test_save_and_load_round_trip(local_text_encoder, tmp_path, wav):
    AutoProcessor.register(EmoJEConfig, EmoJEProcessor, exist_ok=True)  # the package's __init__ does this too
    processor = EmoJEProcessor.from_text_encoder(  # an encoder that exists only here: saved with the processor
        local_text_encoder,
        feature_extractor=EmoJEFeatureExtractor(max_frames=50),
        video_processor=EmoJEVideoProcessor(fps=1.0, max_frames=2, max_size=320),
    )
    saved = tmp_path / "saved"
    processor.save_pretrained(saved)
    config = json.loads((saved / "processor_config.json").read_text())
    assert config["text_encoder_name_or_path"] == "./text_encoder"
    assert config["feature_extractor"]["max_frames"] == 50 and config["video_processor"]["max_frames"] == 2
    assert (saved / "text_encoder" / "model.safetensors").is_file() and (saved / "tokenizer_config.json").is_file()

    moved = tmp_path / "elsewhere"  # the reference is relative: the directory can move
    shutil.move(saved, moved)
    (moved / "config.json").write_text(json.dumps({"model_type": "emoje"}))
    for loaded in (EmoJEProcessor.from_pretrained(moved), AutoProcessor.from_pretrained(moved)):
        assert isinstance(loaded, EmoJEProcessor)
        assert loaded.resolve_text_encoder_path() == str(moved / "text_encoder")
        assert loaded.feature_extractor.max_frames == 50 and loaded.video_processor.fps == 1.0
        assert loaded.modalities == processor.modalities and loaded.text_input == "features"
    turns = [{"speaker": "A", "text": "Neither did I.", "audio": {"path": wav, "start": 9.838, "end": 10.78}}]
    expected, got = processor(turns), loaded(turns)
    assert expected.keys() == got.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], atol=1e-5, rtol=0)


def test_the_packaged_public_encoder_is_saved_as_its_hub_id(processor, tmp_path, minilm_path):
    from modeling_emoje.text_encoding_emoje import DEFAULT_HUB_TEXT_ENCODER

    for save_text_encoder in (True, False):
        folder = tmp_path / str(save_text_encoder)
        processor.save_pretrained(folder, save_text_encoder=save_text_encoder)
        saved = json.loads((folder / "processor_config.json").read_text())
        assert saved["text_encoder_name_or_path"] == DEFAULT_HUB_TEXT_ENCODER and not (folder / "text_encoder").exists()
        loaded = EmoJEProcessor.from_pretrained(folder)
        assert loaded.resolve_text_encoder_path() == minilm_path  # resolved to the package's copy: no download
    assert processor.text_encoder_name_or_path == minilm_path


def test_save_without_text_encoder_writes_a_resolved_reference(local_text_encoder, tmp_path):
    processor = EmoJEProcessor.from_text_encoder(local_text_encoder)
    processor.save_pretrained(tmp_path, save_text_encoder=False)
    assert json.loads((tmp_path / "processor_config.json").read_text())["text_encoder_name_or_path"] == local_text_encoder
    assert not (tmp_path / "text_encoder").exists()
    assert processor.text_encoder_name_or_path == local_text_encoder


def test_relative_reference_needs_a_load_location(processor):
    unloaded = EmoJEProcessor(
        processor.feature_extractor, processor.video_processor, processor.tokenizer, text_encoder_name_or_path="./text_encoder"
    )
    with pytest.raises(ValueError, match="relative to the processor's directory"):
        unloaded([{"speaker": "A", "text": "Hi."}])
