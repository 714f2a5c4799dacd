"""The speech-encoder route on tiny randomly initialised WavLM / HuBERT folders (no download)."""

from __future__ import annotations

import json
import pickle
import shutil
import tracemalloc

import numpy as np
import pytest
import soundfile as sf
import torch
from transformers import AutoModel, Wav2Vec2FeatureExtractor, WhisperConfig, WhisperFeatureExtractor

from modeling_emoje.audio_features_emoje import build_audio_extractor, check_same_extractor
from modeling_emoje.media_io import SilentAudioError
from modeling_emoje.speech_encoder_features_emoje import SpeechEncoderAudioExtractor
from tests.audio_fixtures import save_tiny_encoder, call_wav, speech, tiny_hubert, tiny_hubert_layer_norm, tiny_wavlm  # noqa: F401 (fixtures)


FRAMES = {"pooling": "frames", "frames_per_second": None, "max_frames": None}


def reference_states(folder, wave: np.ndarray) -> tuple:
    """One forward pass over the whole waveform, as transformers computes it: `hidden_states[k]` (the input of the
    first layer, then each layer's output) for k < L, and the model's output `last_hidden_state` for L (which, for
    pre-norm models, has the final layer norm that transformers 5's `hidden_states[L]` lacks)."""
    processor = Wav2Vec2FeatureExtractor.from_pretrained(folder)
    inputs = processor(wave, sampling_rate=16000, return_tensors="pt")
    with torch.inference_mode():
        output = AutoModel.from_pretrained(folder).eval()(**inputs, output_hidden_states=True)
    states = [state[0].numpy() for state in output.hidden_states]
    return tuple(states[:-1]) + (output.last_hidden_state[0].numpy(),)


@pytest.mark.parametrize("kind", ["tiny_wavlm", "tiny_hubert", "tiny_hubert_layer_norm"])
def test_layers_equal_transformers_hidden_states(kind, speech, request):
    folder = request.getfixturevalue(kind)
    states = reference_states(folder, speech)
    assert len(states) == 4  # 3 layers
    for layer in (0, 1, 2, 3, -1):
        extractor = build_audio_extractor(str(folder), layer=layer, **FRAMES)
        np.testing.assert_allclose(extractor(speech, 16000), states[layer], atol=1e-5, rtol=1e-5)
    assert build_audio_extractor(str(folder), layer=-1).settings["layer"] == 3  # -1 is saved as the last layer
    with pytest.raises(ValueError, match="layer must be in"):
        build_audio_extractor(str(folder), layer=4)


def test_layers_after_the_chosen_one_are_not_run(tiny_wavlm, speech):
    extractor = build_audio_extractor(str(tiny_wavlm), layer=1)
    extractor(speech, 16000)
    assert len(extractor.model.encoder.layers) == 1


def test_pooling(tiny_wavlm, speech):
    native = build_audio_extractor(str(tiny_wavlm), **FRAMES)(speech, 16000)  # 50 frames/s
    assert native.shape == (149, 32)
    mean = build_audio_extractor(str(tiny_wavlm), pooling="mean")(speech, 16000)
    np.testing.assert_allclose(mean, native.mean(axis=0, keepdims=True), atol=1e-5)
    frames = build_audio_extractor(str(tiny_wavlm), pooling="frames")(speech, 16000)
    assert frames.shape == (30, 32)  # 3 s at 10 frames/s
    np.testing.assert_allclose(frames[0], native[:5].mean(axis=0), atol=1e-5)
    assert build_audio_extractor(str(tiny_wavlm), pooling="frames", max_frames=7)(speech, 16000).shape == (7, 32)
    with pytest.raises(ValueError, match="pooling='frames' only"):
        build_audio_extractor(str(tiny_wavlm), pooling="mean", max_frames=10)
    with pytest.raises(ValueError, match="pooling must be"):
        build_audio_extractor(str(tiny_wavlm), pooling="max")


def test_long_audio_is_chunked_and_streamed(tiny_wavlm, speech, tmp_path, monkeypatch):
    """Memory bounded: every forward pass sees at most one batch of chunks, and the numpy side holds no more for
    160 s of audio than for 40 s (a file is decoded in 20 s blocks)."""
    extractor = build_audio_extractor(str(tiny_wavlm), pooling="frames", chunk_seconds=1.0, batch_size=2)
    seen: list[list[int]] = []
    forward = SpeechEncoderAudioExtractor._forward

    def spy(self, chunks):
        seen.append([len(chunk) for chunk in chunks])
        return forward(self, chunks)

    monkeypatch.setattr(SpeechEncoderAudioExtractor, "_forward", spy)
    limit = extractor.chunk_samples + extractor.receptive_field
    peaks = {}
    for seconds in (40, 160):
        wave = np.tile(speech, seconds // 3 + 1)[: seconds * 16000]
        path = tmp_path / f"long{seconds}.wav"
        sf.write(path, wave, 16000, subtype="FLOAT")
        seen.clear()
        tracemalloc.start()
        from_file = extractor.extract_file(path)
        peaks[seconds] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert from_file.shape == (min(300, 10 * seconds), 32)
        assert sum(len(batch) for batch in seen) == len(extractor.chunk_lengths(wave.size)) == seconds
        assert max(max(batch) for batch in seen) < limit and max(len(batch) for batch in seen) <= 2
        np.testing.assert_allclose(extractor(wave, 16000), from_file, atol=1e-5)  # in memory = streamed
    assert peaks[160] < 1.2 * peaks[40], peaks  # 4x the audio, not 4x the memory


def test_a_short_utterance_is_one_pass_and_a_tiny_remainder_joins_the_last_chunk(tiny_wavlm):
    extractor = build_audio_extractor(str(tiny_wavlm), chunk_seconds=1.0)
    assert extractor.chunk_lengths(16000) == [16000]
    assert extractor.chunk_lengths(16000 + 399) == [16399]  # 399 samples give no frame on their own
    assert extractor.chunk_lengths(16000 + 400) == [16000, 400]
    assert extractor.chunk_lengths(399) == []


def test_batches_of_utterances_equal_one_at_a_time(tiny_wavlm, tiny_hubert_layer_norm, speech):
    waves = [speech[:16000], speech, np.zeros(8000, np.float32), speech[:24000], speech[5:16005], speech[:100]]
    for folder, pads in ((tiny_wavlm, False), (tiny_hubert_layer_norm, True)):
        extractor = build_audio_extractor(str(folder), pooling="frames", batch_size=3, chunk_seconds=2.0)
        assert extractor.pads_exactly is pads
        batched = extractor.extract_batch(waves, 16000)
        single = [extractor(wave, 16000) for wave in waves]
        assert batched[2] is None and batched[5] is None  # silent, too short
        for got, expected in zip(batched, single):
            if expected is None:
                assert got is None
            else:
                np.testing.assert_allclose(got, expected, atol=1e-4)


def test_unusable_and_resampled_audio(tiny_hubert, speech, media_dir):
    extractor = build_audio_extractor(str(tiny_hubert), pooling="frames")
    assert extractor(speech[:399], 16000) is None  # shorter than the 25 ms window
    assert extractor(np.zeros(16000, np.float32), 16000) is None
    assert extractor(speech[::2], 8000).shape == extractor(speech, 16000).shape  # resampled to 16 kHz
    with pytest.raises(SilentAudioError):
        extractor.extract_file(media_dir / "video" / "WolfgangLanger_Pexels.mp4")
    assert extractor.extract_file(media_dir / "video" / "single_face.mp4").shape == (24, 32)  # 44.1 kHz, 2.42 s


def test_identity_follows_the_weights_not_the_folder(tiny_wavlm, tmp_path):
    copy = shutil.copytree(tiny_wavlm, tmp_path / "elsewhere")
    original = build_audio_extractor(str(tiny_wavlm), layer=2)
    moved = build_audio_extractor(str(copy), layer=2)
    assert original.settings["model"] != moved.settings["model"]
    assert original.fingerprint == moved.fingerprint and original.cache_key == moved.cache_key
    check_same_extractor(original.describe(), moved)  # the same features
    assert build_audio_extractor(str(tiny_wavlm), layer=1).fingerprint != original.fingerprint
    retrained = save_tiny_encoder(tmp_path / "other_seed", "wavlm", seed=1)
    with pytest.raises(ValueError, match=r"trained on encoder .*tiny_wavlm.* but encoder .*other_seed.* was asked for"):
        check_same_extractor(original.describe(), build_audio_extractor(str(retrained), layer=2))
    saved = json.loads(json.dumps(original.describe()))
    rebuilt = build_audio_extractor(saved["settings"])
    assert rebuilt.settings == original.settings and rebuilt.fingerprint == saved["fingerprint"]
    assert original.version.startswith("local sha256:") and original.version == moved.version  # no path in it


def test_runtime_options_are_not_settings_and_pickling_drops_the_weights(tiny_wavlm, speech):
    a = build_audio_extractor(str(tiny_wavlm), batch_size=1, device="cpu")
    b = build_audio_extractor(str(tiny_wavlm), batch_size=8)
    assert a.settings == b.settings and a.cache_key == b.cache_key
    before = a(speech, 16000)
    state = pickle.dumps(a)
    assert len(state) < 20_000  # no weights in it
    np.testing.assert_allclose(pickle.loads(state)(speech, 16000), before, atol=1e-6)


def test_spectrogram_models_are_refused(tmp_path):
    WhisperConfig(d_model=16, encoder_layers=1, decoder_layers=1).save_pretrained(tmp_path)
    WhisperFeatureExtractor().save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="not a raw waveform"):
        build_audio_extractor(str(tmp_path))
