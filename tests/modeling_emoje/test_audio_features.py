"""The common interface: the logmel route, the factory, settings round-trips, the mismatch check, unusable audio."""

from __future__ import annotations

import json
import logging
import pickle

import numpy as np
import pytest

from modeling_emoje.audio_features_emoje import (
    AudioExtractor,
    FrameBins,
    LogMelAudioExtractor,
    build_audio_extractor,
    check_same_extractor,
    parse_audio_options,
    pool_frames,
)
from modeling_emoje.feature_extraction_emoje import EmoJEFeatureExtractor
from modeling_emoje.media_io import MediaDecodeError, SilentAudioError
from tests.audio_fixtures import call_wav, speech  # noqa: F401 (fixtures)


def test_logmel_is_todays_extractor_unchanged(speech, call_wav):
    today = EmoJEFeatureExtractor()
    route = build_audio_extractor("logmel")
    assert isinstance(route, LogMelAudioExtractor) and route.feature_dim == 80
    np.testing.assert_array_equal(route(speech, 16000), today(speech, sampling_rate=16000)["input_features"][0])
    np.testing.assert_array_equal(route(speech[::2], 8000), today(speech[::2], sampling_rate=8000)["input_features"][0])
    np.testing.assert_array_equal(route.extract_file(call_wav, 6.68, 9.0), today.extract_file(call_wav, 6.68, 9.0))
    assert route.settings["max_frames"] == 300 and route.settings["name"] == "logmel"


@pytest.mark.parametrize(
    "spec",
    [
        "logmel",
        {"name": "logmel", "max_frames": 50, "do_normalize": False},
        "egemaps",
        {"name": "egemaps", "level": "functionals"},
        {"name": "compare", "frames_per_second": None, "max_frames": None},
    ],
)
def test_settings_round_trip_through_json(spec):
    extractor = build_audio_extractor(spec)
    saved = json.loads(json.dumps(extractor.describe()))  # what processor_config.json / the dataset metadata hold
    for rebuilt in (build_audio_extractor(saved), build_audio_extractor(saved["settings"])):
        assert rebuilt.settings == extractor.settings
        assert rebuilt.fingerprint == extractor.fingerprint == saved["fingerprint"]
        assert rebuilt.cache_key == extractor.cache_key
        assert rebuilt.feature_dim == saved["feature_dim"]
    check_same_extractor(saved, extractor)  # no error


def test_cache_keys_separate_every_setting_and_are_what_the_feature_cache_uses():
    from dataset_scripts.feature_cache import extractor_key

    extractors = [
        build_audio_extractor("logmel"),
        build_audio_extractor("logmel", max_frames=100),
        build_audio_extractor("egemaps"),
        build_audio_extractor("egemaps", level="functionals"),
        build_audio_extractor("egemaps", frames_per_second=5),
        build_audio_extractor("compare"),
    ]
    keys = [extractor.cache_key for extractor in extractors]
    assert len(set(keys)) == len(keys)
    for extractor in extractors:  # the package's cache takes the extractor's own key
        key, description = extractor_key(extractor)
        assert description["cache_key"] == extractor.cache_key and description["dim"] == extractor.feature_dim
    assert len({extractor_key(e)[0] for e in extractors}) == len(extractors)


def test_mismatch_names_both_and_version_only_warns(caplog):
    logmel, egemaps = build_audio_extractor("logmel"), build_audio_extractor("egemaps")
    with pytest.raises(ValueError, match=r"trained on logmel \{.*\} but egemaps \{.*'level': 'lld'.*\} was asked for"):
        check_same_extractor(logmel.describe(), egemaps)
    with pytest.raises(ValueError, match="'level': 'functionals'"):
        check_same_extractor(egemaps, {"name": "egemaps", "level": "functionals"})
    older = {**egemaps.describe(), "version": "opensmile 2.5.0"}
    with caplog.at_level(logging.WARNING):
        assert check_same_extractor(older, "egemaps")["version"] == "opensmile 2.5.0"
    assert "opensmile 2.5.0" in caplog.text and egemaps.version in caplog.text


def test_spec_errors_are_clear():
    with pytest.raises(ValueError, match="did you mean 'egemaps'"):
        build_audio_extractor("egemap")
    with pytest.raises(ValueError, match="needs a model"):
        build_audio_extractor("encoder")
    with pytest.raises(ValueError, match="unknown logmel settings"):
        build_audio_extractor("logmel", layer=3)
    with pytest.raises(ValueError, match="level='lld' only"):
        build_audio_extractor("egemaps", level="functionals", max_frames=10)
    with pytest.raises(ValueError, match="not one of"):
        build_audio_extractor({"name": "mfcc"})
    with pytest.raises(ValueError, match="cannot load the speech encoder"):
        build_audio_extractor("/no/such/encoder-folder")
    assert parse_audio_options(["layer=6", "pooling=frames", "max_frames=null", "model=a/b"]) == {
        "layer": 6, "pooling": "frames", "max_frames": None, "model": "a/b"
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_audio_options(["layer"])


@pytest.mark.parametrize("spec", ["logmel", "egemaps", {"name": "compare", "level": "functionals"}])
def test_unusable_audio(spec, speech, media_dir, tmp_path):
    extractor = build_audio_extractor(spec)
    assert extractor(np.zeros(0, np.float32), 16000) is None  # empty
    assert extractor(np.zeros(16000, np.float32), 16000) is None  # digital silence
    assert extractor(np.full(16000, 5e-5, np.float32), 16000) is None  # below -80 dBFS
    if extractor.min_samples() > 1:
        assert extractor(speech[: extractor.min_samples() - 1], 16000) is None  # shorter than the window
    with pytest.raises(ValueError, match="NaN"):
        extractor(np.r_[speech[:100], np.nan].astype(np.float32), 16000)
    with pytest.raises(ValueError, match="1-D"):
        extractor(np.stack([speech, speech]), 16000)
    with pytest.raises(ValueError, match="sampling_rate"):
        extractor(speech, 0)
    with pytest.raises(SilentAudioError):  # a real video whose audio track is digital zeros
        extractor.extract_file(media_dir / "video" / "WolfgangLanger_Pexels.mp4")
    with pytest.raises(MediaDecodeError, match="not found"):
        extractor.extract_file(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(MediaDecodeError, match="empty"):
        extractor.extract_file(tmp_path / "empty.wav")


@pytest.mark.parametrize("spec", ["logmel", "egemaps"])
def test_extractors_pickle_for_worker_processes(spec, speech):
    extractor = build_audio_extractor(spec)
    before = extractor(speech, 16000)  # builds the native parts
    copy = pickle.loads(pickle.dumps(extractor))
    np.testing.assert_array_equal(copy(speech, 16000), before)
    assert copy.cache_key == extractor.cache_key


def test_frame_bins_cover_the_whole_utterance():
    frames = np.arange(1000, dtype=np.float32)[:, None]
    pooled = pool_frames(frames, frame_rate=100, frames_per_second=10, max_frames=None)
    assert pooled.shape == (100, 1) and pooled[0, 0] == pytest.approx(4.5) and pooled[-1, 0] == pytest.approx(994.5)
    capped = pool_frames(frames, frame_rate=100, frames_per_second=10, max_frames=7)
    assert capped.shape == (7, 1) and capped.min() > 0 and capped.max() < 999
    assert float(capped.mean()) == pytest.approx(float(frames.mean()), rel=0.01)  # uniform segments over all of it
    bins = FrameBins(3, 2, None)
    assert bins.result() is None
    bins.add(np.array([2]), np.ones((1, 2)))
    assert bins.result().shape == (1, 2)  # empty windows are left out


def test_the_interface_is_what_subclasses_fill():
    assert {"name", "settings", "feature_dim", "version", "fingerprint", "cache_key", "extract_file"} <= set(dir(AudioExtractor))


@pytest.mark.parametrize("module", ["audio_features_emoje", "opensmile_features_emoje", "speech_encoder_features_emoje"])
def test_docstring_examples(module):
    import doctest
    import importlib

    loaded = importlib.import_module(f"modeling_emoje.{module}")
    result = doctest.testmod(loaded, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0


def test_card_line_names_extractor_version_settings_and_the_opensmile_license():
    from modeling_emoje.audio_features_emoje import describe_audio_features

    line = describe_audio_features({"audio_features": build_audio_extractor("egemaps", level="functionals").describe()})
    assert line.startswith("Audio features: openSMILE eGeMAPS v02, 88 per frame (opensmile ")
    assert "level=functionals" in line and "audEERING Research License" in line
    logmel = describe_audio_features(build_audio_extractor("logmel", max_frames=100).describe())
    assert "max_frames=100" in logmel and "emoje-logmel 1" in logmel and "audEERING" not in logmel
    assert describe_audio_features({"modalities": ["text"]}) is None


def test_processor_saves_its_extractor_and_refuses_another(minilm_path, tmp_path, speech):
    from modeling_emoje.processing_emoje import EmoJEProcessor

    record = build_audio_extractor("logmel", max_frames=100).describe()  # what a prepared dataset records
    processor = EmoJEProcessor.from_text_encoder(minilm_path, audio_features=record)
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "processor_config.json").read_text())
    assert saved["audio_features"]["fingerprint"] == record["fingerprint"]
    assert saved["feature_extractor"]["max_frames"] == 100  # log-mel settings live in the feature_extractor part
    loaded = EmoJEProcessor.from_pretrained(tmp_path)
    assert loaded.audio_extractor.fingerprint == record["fingerprint"]
    batch = loaded([{"speaker": "A", "audio": {"array": np.tile(speech, 5), "sampling_rate": 16000}}], modality_dims={"audio": 80})
    assert tuple(batch["audio_features"].shape) == (1, 1, 100, 80)
    with pytest.raises(ValueError, match=r"trained on logmel \{.*'max_frames': 100.*\} but logmel \{.*'max_frames': 300.*\} was asked for"):
        EmoJEProcessor.from_pretrained(tmp_path, audio_features="logmel")
    with pytest.raises(ValueError, match="differ from the feature_extractor part"):
        EmoJEProcessor(loaded.feature_extractor, loaded.video_processor, loaded.tokenizer, audio_features="logmel")
