"""Feature extraction: real MiniLM text features on MELD rows, cache hits, resume after a crash, bad media."""

from __future__ import annotations

import math

import numpy as np
import pytest
from datasets import DatasetDict, List, Value

from dataset_scripts import FeatureCache, IemocapBuilder, MeldBuilder, dataset_metadata, extract_features
from tests.dataset_fixtures import (
    CountingEncoder,
    HashEncoder,
    SimulatedCrash,
    make_iemocap_tree,
    make_meld_tree,
    text_encoder_for,
)


@pytest.fixture(scope="module")
def minilm(minilm_path):
    return text_encoder_for(minilm_path)


@pytest.fixture(scope="module")
def meld_subset(meld_dir):
    """50 real MELD rows: 30 train, 10 validation, 10 test (whole dialogues' prefixes, order kept)."""
    full = MeldBuilder(meld_dir).build()
    subset = DatasetDict({s: full[s].select(range(n)) for s, n in (("train", 30), ("validation", 10), ("test", 10))})
    for split in subset:  # keep the builder metadata (select keeps info; assert it rather than assume)
        assert dataset_metadata(subset[split])["corpus"] == "meld"
    return subset


def test_text_features_cached_rerun_does_no_work(meld_subset, minilm, tmp_path):
    texts = [t for s in meld_subset for t in meld_subset[s]["text"]]
    unique = {t for t in texts if t.strip()}
    encoder = CountingEncoder(minilm)
    out = extract_features(
        meld_subset, ["text"], text_encoder=encoder, cache_dir=tmp_path, batch_size=16, progress=False
    )
    assert encoder.texts == len(unique) < 50  # repeated utterances ("Okay.") are encoded once
    assert encoder.calls == math.ceil(len(unique) / 16)
    assert out["train"].features["text_features"] == List(List(Value("float32")))
    row = out["test"][3]
    vector = np.asarray(row["text_features"], dtype=np.float32)
    assert vector.shape == (1, 384)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_allclose(vector[0], minilm([row["text"]])[0], atol=1e-5)
    assert all(mask == [True, False, False, False] for s in out for mask in out[s]["modality_mask"])
    assert "audio_features" not in out["train"].column_names
    meta = dataset_metadata(out)
    assert meta["features"]["text"]["dim"] == 384 and meta["features"]["text"]["rows"] == {
        "train": 30,
        "validation": 10,
        "test": 10,
    }

    again = CountingEncoder(minilm)
    cached = extract_features(
        meld_subset, ["text"], text_encoder=again, cache_dir=tmp_path, batch_size=16, progress=False
    )
    assert again.calls == 0 and again.texts == 0
    for split in out:
        assert cached[split]["text_features"] == out[split]["text_features"]

    # same wrapper class and dim, another model name: must not hit the MiniLM cache
    other_encoder = CountingEncoder(HashEncoder(dim=384, name_or_path="another-model"))
    extract_features(meld_subset, ["text"], text_encoder=other_encoder, cache_dir=tmp_path, progress=False)
    assert other_encoder.texts == len(unique)


def test_interrupted_extraction_resumes_with_only_the_rest(meld_subset, tmp_path):
    unique = {t for s in meld_subset for t in meld_subset[s]["text"] if t.strip()}
    crashing = CountingEncoder(HashEncoder(), fail_after=2)
    with pytest.raises(SimulatedCrash):
        extract_features(
            meld_subset,
            ["text"],
            text_encoder=crashing,
            cache_dir=tmp_path,
            batch_size=8,
            shard_rows=1000,
            progress=False,
        )
    assert crashing.texts == 16
    caches = list(tmp_path.glob("*/text-*"))
    assert len(caches) == 1
    assert not list(caches[0].glob(".*.tmp")), "no half-written shard may remain"
    assert len(FeatureCache(caches[0]).load()) == 16  # the two finished batches were committed on the way out
    resumed = CountingEncoder(HashEncoder())
    out = extract_features(
        meld_subset, ["text"], text_encoder=resumed, cache_dir=tmp_path, batch_size=8, progress=False
    )
    assert resumed.texts == len(unique) - 16
    assert all(len(f) == 1 for s in out for f in out[s]["text_features"])


class FakeAudio:
    """Decodes only the fixture's real mp4 clips; anything else raises a MediaDecodeError-like ValueError."""

    def __init__(self):
        self.files = []

    def to_dict(self):
        return {"kind": "fake-audio", "dim": 80}

    def extract_file(self, path, start=None, end=None):
        self.files.append(path)
        with open(path, "rb") as stream:
            head = stream.read(12)
        if head[4:8] != b"ftyp" or b"garbage" in open(path, "rb").read():
            error = ValueError(f"cannot decode {path!r}: invalid data found when processing input")
            error.reason = "invalid data found when processing input"
            raise error
        return np.full((7, 80), len(path) % 5, dtype=np.float32)


class FakeVideo:
    """Records its calls; finds a body in every clip, a face only when not private."""

    def __init__(self, privacy=False):
        self.privacy = privacy
        self.calls = []

    def to_dict(self):
        return {"kind": "fake-video", "privacy": self.privacy}

    def __call__(self, path, start=None, end=None):
        self.calls.append((path, start, end, self.privacy))
        if b"garbage" in open(path, "rb").read():
            raise ValueError("cannot decode: moov atom not found")
        face = None if self.privacy else np.ones((3, 204), np.float32)
        return {"face": face, "body": np.ones((4, 88), np.float32), "num_frames": 4}


@pytest.fixture()
def meld_clips(tmp_path):
    make_meld_tree(tmp_path / "meld")
    return MeldBuilder(tmp_path / "meld").build()


def test_bad_clips_are_reported_marked_absent_and_never_dropped(meld_clips, tmp_path):
    audio, video = FakeAudio(), FakeVideo()
    out = extract_features(
        meld_clips,
        ["audio", "face", "body"],
        audio_extractor=audio,
        video_processor=video,
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    for split in out:
        assert out[split].num_rows == meld_clips[split].num_rows
    rows = {r["source_id"]: r for s in out for r in out[s]}
    corrupt = rows["train/dia125_utt3"]
    assert corrupt["modality_mask"] == [False, False, False, False]  # text not extracted in this call
    assert corrupt["audio_features"] == [] and corrupt["face_features"] == [] and corrupt["body_features"] == []
    good = rows["train/dia0_utt1"]
    assert good["modality_mask"] == [False, True, True, True]
    assert np.asarray(good["audio_features"]).shape == (7, 80)
    assert np.asarray(good["face_features"]).shape == (3, 204) and np.asarray(good["body_features"]).shape == (4, 88)
    assert rows["dev/dia110_utt7"]["modality_mask"] == [False] * 4  # missing clip: absent, still a row
    undecodable = {
        (u["modality"], u["file"].rsplit("/", 1)[-1]): u["reason"]
        for u in dataset_metadata(out)["summary"]["undecodable"]
    }
    assert undecodable[("audio", "dia125_utt3.mp4")] == "invalid data found when processing input"
    assert undecodable[("face", "dia125_utt3.mp4")].startswith("ValueError: cannot decode")
    assert undecodable[("audio", "dia1_utt0.mp4")] == "empty file"  # the zero-byte clip of test dia1
    assert (
        len(audio.files) == len({r["audio_path"] for r in rows.values() if r["audio_path"]}) - 1
    )  # not the empty one


def test_media_cache_reports_failures_again_without_retrying(meld_clips, tmp_path):
    first = extract_features(meld_clips, ["audio"], audio_extractor=FakeAudio(), cache_dir=tmp_path, progress=False)
    audio = FakeAudio()
    second = extract_features(meld_clips, ["audio"], audio_extractor=audio, cache_dir=tmp_path, progress=False)
    assert audio.files == []
    assert dataset_metadata(second)["summary"]["undecodable"] == dataset_metadata(first)["summary"]["undecodable"]
    assert second["train"]["audio_features"] == first["train"]["audio_features"]


def test_privacy_mode_never_extracts_faces(meld_clips, tmp_path):
    video = FakeVideo()
    out = extract_features(
        meld_clips, ["face", "body"], video_processor=video, cache_dir=tmp_path, privacy=True, progress=False
    )
    assert "face_features" not in out["train"].column_names and "body_features" in out["train"].column_names
    # a private copy ran (it shares the calls list); the caller's processor keeps its setting
    assert video.calls and all(private for *_, private in video.calls) and video.privacy is False
    assert all(not mask[2] for s in out for mask in out[s]["modality_mask"])
    # faces extracted earlier are dropped when a later call runs in privacy mode
    with_faces = extract_features(
        meld_clips, ["face"], video_processor=FakeVideo(), cache_dir=tmp_path, progress=False
    )
    assert "face_features" in with_faces["train"].column_names
    private = extract_features(
        with_faces, ["body"], video_processor=FakeVideo(), cache_dir=tmp_path, privacy=True, progress=False
    )
    assert "face_features" not in private["train"].column_names
    assert "face" not in dataset_metadata(private)["features"]


def test_later_extraction_keeps_earlier_columns(meld_clips, tmp_path):
    with_audio = extract_features(
        meld_clips, ["audio"], audio_extractor=FakeAudio(), cache_dir=tmp_path, progress=False
    )
    both = extract_features(with_audio, ["body"], video_processor=FakeVideo(), cache_dir=tmp_path, progress=False)
    row = next(r for r in both["train"] if r["source_id"] == "train/dia0_utt1")
    assert row["modality_mask"] == [False, True, False, True]
    assert list(both["train"].column_names[-2:]) == ["audio_features", "body_features"]


def test_dialogue_videos_are_cut_at_the_utterance_span(tmp_path):
    make_iemocap_tree(tmp_path / "iemocap")
    dataset = IemocapBuilder(tmp_path / "iemocap").build()
    dataset = DatasetDict({s: dataset[s].select(range(min(3, dataset[s].num_rows))) for s in dataset})
    video = FakeVideo()
    extract_features(dataset, ["body"], video_processor=video, cache_dir=tmp_path / "cache", progress=False)
    spans = {(path, round(start, 3), round(end, 3)) for path, start, end, _ in video.calls}
    expected = {
        (r["video_path"], round(r["video_start"], 3), round(r["video_end"], 3)) for s in dataset for r in dataset[s]
    }
    assert spans == expected and all(start is not None for _, start, _ in spans)


def test_real_audio_extractor_on_clips(meld_clips, tmp_path):
    feature_extraction = pytest.importorskip("modeling_emoje.feature_extraction_emoje")
    out = extract_features(
        meld_clips,
        ["audio"],
        audio_extractor=feature_extraction.EmoJEFeatureExtractor(),
        cache_dir=tmp_path,
        progress=False,
    )
    rows = {r["source_id"]: r for s in out for r in out[s]}
    features = np.asarray(rows["train/dia0_utt0"]["audio_features"])
    assert features.ndim == 2 and features.shape[1] == 80 and features.shape[0] >= 1
    assert rows["train/dia125_utt3"]["modality_mask"][1] is False
    files = {u["file"].rsplit("/", 1)[-1] for u in dataset_metadata(out)["summary"]["undecodable"]}
    assert {"dia125_utt3.mp4", "dia1_utt0.mp4"} <= files
