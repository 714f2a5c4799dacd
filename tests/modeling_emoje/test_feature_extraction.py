"""EmoJEFeatureExtractor: pooled log-mel features of real speech, resampling, batching, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from modeling_emoje.feature_extraction_emoje import AUDIO_FEATURE_DIM, EmoJEFeatureExtractor
from modeling_emoje.media_io import MediaDecodeError, load_audio, resample


@pytest.fixture(scope="module")
def extractor():
    return EmoJEFeatureExtractor()


@pytest.fixture(scope="module")
def conversation(media_dir, telephone_turns):
    return media_dir / "conversation" / "sample.wav", [(turn.start, turn.end) for turn in telephone_turns]


def test_constants_and_defaults(extractor):
    assert AUDIO_FEATURE_DIM == 80 == extractor.feature_size
    assert (extractor.n_fft, extractor.win_length, extractor.hop_length) == (400, 400, 160)  # 25 ms / 10 ms
    assert extractor.pool_size == 10 and extractor.max_frames == 300
    assert extractor.model_input_names == ["input_features"]


def test_log_mel_matches_transformers_reference(extractor, conversation):
    from transformers.audio_utils import spectrogram

    wav = load_audio(conversation[0], start=8.0, end=9.0)
    reference = spectrogram(
        wav,
        extractor.window,
        frame_length=400,
        hop_length=160,
        fft_length=400,
        power=2.0,
        center=True,
        pad_mode="reflect",
        mel_filters=extractor.mel_filters,
    ).T
    ours = extractor.log_mel(wav)
    assert ours.shape == (101, 80)
    # same energies up to float32 round-off (which only shows in bins ~1e-6 below the loudest)
    np.testing.assert_allclose(np.exp(ours), reference + extractor.log_floor, rtol=1e-3, atol=1e-6 * reference.max())


def test_utterances_of_a_real_conversation(extractor, conversation):
    path, turns = conversation
    for start, end in turns:
        features = extractor.extract_file(path, start=start, end=end)
        num_samples = round(end * 16000) - round(start * 16000)
        assert features.dtype == np.float32 and features.shape == (extractor.num_frames(num_samples), 80)
        assert features.shape[0] == int(np.ceil((num_samples // 160 + 1) / 10))  # 10 frames per second
        assert np.isfinite(features).all()
        assert np.abs(features.mean(0)).max() < 0.5  # per-utterance normalisation centres each bin


def test_long_audio_is_pooled_to_max_frames(conversation):
    wav = load_audio(conversation[0])  # 30 s -> 301 frames at 10/s
    assert EmoJEFeatureExtractor().extract(wav).shape == (300, 80)
    short_cap = EmoJEFeatureExtractor(max_frames=50, do_normalize=False)
    pooled = short_cap.extract(wav)
    assert pooled.shape == (50, 80)
    # uniform pooling keeps the whole file: the mean over time is (about) the mean of the uncapped frames
    full = EmoJEFeatureExtractor(max_frames=10_000, do_normalize=False).extract(wav)
    np.testing.assert_allclose(pooled.mean(0), full.mean(0), atol=0.05)


def test_pooling_keeps_time_alignment():
    rng = np.random.default_rng(0)
    wave = np.zeros(16000, dtype=np.float32)
    wave[8000:] = rng.standard_normal(8000).astype(np.float32) * 0.3  # silence, then noise from 0.5 s
    features = EmoJEFeatureExtractor(do_normalize=False)(wave, sampling_rate=16000)["input_features"][0]
    energy = features.mean(1)
    assert features.shape == (11, 80)
    assert energy[:4].max() < energy[6:].min() - 5


def test_normalisation_removes_gain(conversation):
    wav = load_audio(conversation[0], start=14.444, end=17.769)
    normalised = EmoJEFeatureExtractor(do_normalize=True)
    raw = EmoJEFeatureExtractor(do_normalize=False)
    louder, quieter = normalised.extract(wav * 10), normalised.extract(wav)
    # the telephone band (bins 1..59, ~30 Hz-4 kHz) is gain-invariant; the empty bins outside sit near the floor
    np.testing.assert_allclose(louder[:, 1:60], quieter[:, 1:60], atol=0.02)
    assert np.abs(louder - quieter).mean() < 0.02
    np.testing.assert_allclose(raw.extract(wav * 10)[:, 1:60], raw.extract(wav)[:, 1:60] + np.log(100), atol=0.02)


@pytest.mark.parametrize("rate", [8000, 44100])
def test_other_sampling_rates_are_resampled(extractor, conversation, tmp_path, rate):
    path, _ = conversation
    clip = load_audio(path, start=14.444, end=17.769)
    reference = extractor.extract(clip)
    other = resample(clip, 16000, rate)
    from_array = extractor(other, sampling_rate=rate)["input_features"][0]
    assert from_array.shape == reference.shape
    file_path = tmp_path / f"clip_{rate}.wav"
    sf.write(file_path, other, rate)
    from_file = extractor.extract_file(file_path)
    assert from_file.shape == reference.shape
    # the same speech: the low mel bins (below 4 kHz, present at 8 kHz too) agree closely
    assert np.corrcoef(from_file[:, :50].ravel(), reference[:, :50].ravel())[0, 1] > 0.9


def test_call_single_and_batch(extractor, conversation):
    wav = load_audio(conversation[0], start=6.0, end=9.0)
    single = extractor(wav, sampling_rate=16000)
    assert list(single.keys()) == ["input_features"] and len(single["input_features"]) == 1
    batch = extractor([wav[:16000], wav], sampling_rate=16000)["input_features"]
    assert [f.shape for f in batch] == [(11, 80), (31, 80)]
    np.testing.assert_array_equal(batch[1], single["input_features"][0])
    padded = extractor([wav[:16000], wav], sampling_rate=16000, return_tensors="np")
    assert padded["input_features"].shape == (2, 31, 80)
    assert padded["attention_mask"].sum(1).tolist() == [11, 31]
    pt = extractor([list(wav[:16000])], sampling_rate=16000, return_tensors="pt")
    assert tuple(pt["input_features"].shape) == (1, 11, 80)


def test_bad_inputs(extractor, tmp_path, media_dir):
    with pytest.raises(ValueError, match=r"raw_speech\[1\]"):
        extractor([np.zeros(1600, np.float32), np.zeros(0, np.float32)], sampling_rate=16000)
    with pytest.raises(ValueError, match="2-D"):
        extractor(np.zeros((2, 1600), np.float32), sampling_rate=16000)
    with pytest.raises(ValueError, match="NaN"):
        extractor(np.full(1600, np.nan, np.float32), sampling_rate=16000)
    with pytest.raises(MediaDecodeError, match="missing.wav"):
        extractor.extract_file(tmp_path / "missing.wav")
    with pytest.raises(MediaDecodeError, match="silent"):
        extractor.extract_file(media_dir / "video" / "WolfgangLanger_Pexels.mp4", end=1.0)


def test_very_short_input(extractor):
    for n in (1, 50, 200, 400):
        features = extractor(np.ones(n, np.float32) * 0.1, sampling_rate=16000)["input_features"][0]
        assert features.shape == (extractor.num_frames(n), 80) and np.isfinite(features).all()


def test_save_and_load(tmp_path, conversation):
    original = EmoJEFeatureExtractor(max_frames=40, frames_per_second=5, do_normalize=False)
    original.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "preprocessor_config.json").read_text())
    assert config["feature_extractor_type"] == "EmoJEFeatureExtractor"
    assert config["max_frames"] == 40 and config["frames_per_second"] == 5 and config["do_normalize"] is False
    assert "mel_filters" not in config and "window" not in config
    loaded = EmoJEFeatureExtractor.from_pretrained(tmp_path)
    assert loaded.to_dict() == original.to_dict()
    wav = load_audio(conversation[0], start=14.444, end=17.769)
    np.testing.assert_array_equal(loaded.extract(wav), original.extract(wav))
    assert loaded.extract(wav).shape == (17, 80)  # 3.3 s at 5 frames/s
