"""The egemaps / compare routes: shapes, equality with openSMILE's own output on the real call, exact chunking."""

from __future__ import annotations

import numpy as np
import pytest

opensmile = pytest.importorskip("opensmile", reason="the egemaps/compare routes need the opensmile package")

from modeling_emoje.audio_features_emoje import build_audio_extractor  # noqa: E402
from modeling_emoje.media_io import load_audio  # noqa: E402
from tests.audio_fixtures import call_wav, speech  # noqa: F401 (fixtures)

NATIVE = {"frames_per_second": None, "max_frames": None}


@pytest.mark.parametrize(
    ("name", "level", "dim"),
    [("egemaps", "lld", 25), ("egemaps", "functionals", 88), ("compare", "lld", 65), ("compare", "functionals", 6373)],
)
def test_shapes(name, level, dim, speech):
    extractor = build_audio_extractor(name, level=level)
    assert extractor.feature_dim == dim
    features = extractor(speech, 16000)  # 3 s
    assert features.dtype == np.float32 and np.isfinite(features).all()
    assert features.shape == ((30, dim) if level == "lld" else (1, dim))
    if level == "lld":
        native = build_audio_extractor(name, **NATIVE)(speech, 16000)
        assert native.shape == (296, dim)  # openSMILE's 10 ms frames
        assert build_audio_extractor(name, max_frames=8)(speech, 16000).shape == (8, dim)
        np.testing.assert_allclose(features[0], native[:10].mean(axis=0), rtol=1e-5, atol=1e-5)
    assert "opensmile" in extractor.version


@pytest.mark.parametrize("name", ["egemaps", "compare"])
@pytest.mark.parametrize("level", ["lld", "functionals"])
def test_equals_opensmiles_own_output_on_the_real_call(name, level, call_wav):
    extractor = build_audio_extractor(name, level=level, **(NATIVE if level == "lld" else {}))
    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet[extractor.feature_set], feature_level="lld" if level == "lld" else "func"
    )
    reference = smile.process_file(str(call_wav)).to_numpy()
    ours = extractor.extract_file(call_wav)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-5)
    np.testing.assert_allclose(extractor(load_audio(call_wav), 16000), reference, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["egemaps", "compare"])
def test_chunked_llds_equal_one_pass(name, call_wav):
    whole = build_audio_extractor(name, **NATIVE).extract_file(call_wav)
    chunked = build_audio_extractor(name, chunk_seconds=11.0, **NATIVE)  # 30 s -> three chunks with context
    assert chunked.settings == build_audio_extractor(name, **NATIVE).settings  # a run-time option, not a setting
    np.testing.assert_allclose(chunked.extract_file(call_wav), whole, rtol=0, atol=1e-5)
    np.testing.assert_allclose(chunked.extract_file(call_wav, 3.0, 29.0), build_audio_extractor(name, **NATIVE).extract_file(call_wav, 3.0, 29.0), rtol=0, atol=1e-5)


def test_video_tracks_are_resampled(media_dir):
    extractor = build_audio_extractor("egemaps", **NATIVE)
    features = extractor.extract_file(media_dir / "video" / "no_face.mp4")  # 44.1 kHz AAC, 3.9 s
    assert features.shape[1] == 25 and 380 <= features.shape[0] <= 396


def test_llds_of_long_audio_are_computed_one_chunk_at_a_time(speech, tmp_path, monkeypatch):
    from modeling_emoje.opensmile_features_emoje import OpenSmileAudioExtractor

    import soundfile as sf

    path = tmp_path / "long.wav"
    sf.write(path, np.tile(speech, 20), 16000)  # 60 s
    extractor = build_audio_extractor("egemaps", chunk_seconds=10.0)
    sizes: list[int] = []
    run = OpenSmileAudioExtractor._run
    monkeypatch.setattr(OpenSmileAudioExtractor, "_run", lambda self, wave: sizes.append(wave.size) or run(self, wave))
    features = extractor.extract_file(path)
    assert features.shape == (300, 25)
    assert len(sizes) == 6 and max(sizes) <= (10.0 + 2 * extractor.context_seconds) * 16000
