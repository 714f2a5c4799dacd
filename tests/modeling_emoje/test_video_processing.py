"""EmoJEVideoProcessor: face/body landmark features from real clips, privacy mode, absent faces, save/load."""

from __future__ import annotations

import json
import pickle
import sys
from unittest import mock

import numpy as np
import pytest

from modeling_emoje.media_io import MediaDecodeError, iter_video_frames
from modeling_emoje.video_processing_emoje import (
    BODY_FEATURE_DIM,
    BODY_LANDMARK_INDICES,
    FACE_FEATURE_DIM,
    FACE_LANDMARK_GROUPS,
    FACE_LANDMARK_INDICES,
    EmoJEVideoProcessor,
    _import_mediapipe,
)


@pytest.fixture(scope="module")
def mediapipe():
    return pytest.importorskip("mediapipe", reason="mediapipe==0.10.21 is installed by `make install`")


@pytest.fixture(scope="module")
def processor(mediapipe):
    processor = EmoJEVideoProcessor(fps=5.0, max_frames=6)
    yield processor
    processor.close()


def _check(features, dim):
    assert features is not None and features.ndim == 2 and features.shape[1] == dim
    assert features.shape[0] > 0 and features.dtype == np.float32 and np.isfinite(features).all()


def test_landmark_subsets():
    assert FACE_FEATURE_DIM == 204 and BODY_FEATURE_DIM == 88
    assert len(FACE_LANDMARK_INDICES) == len(set(FACE_LANDMARK_INDICES)) == 68
    assert all(0 <= i < 468 for i in FACE_LANDMARK_INDICES)
    sizes = {name: len(group) for name, group in FACE_LANDMARK_GROUPS.items()}
    assert sizes["jaw"] == 17 and sizes["right_eye"] == sizes["left_eye"] == 6 and sizes["inner_lips"] == 8
    # the body never carries Pose's face keypoints (0 nose, 1-6 eyes, 7-8 ears, 9-10 mouth)
    assert tuple(BODY_LANDMARK_INDICES) == tuple(range(11, 33))
    assert not set(BODY_LANDMARK_INDICES) & set(range(11))
    assert 4 * len(BODY_LANDMARK_INDICES) == BODY_FEATURE_DIM


def test_single_face(processor, media_dir):
    out = processor(media_dir / "video" / "single_face.mp4")
    assert set(out) == {"face", "body", "num_frames"} and out["num_frames"] == 6
    _check(out["face"], 204)
    _check(out["body"], 88)
    assert out["face"].shape[0] == 6  # a well-lit frontal face: found in every sampled frame
    face = out["face"].reshape(-1, 68, 3)
    np.testing.assert_allclose(face.mean(1), 0.0, atol=1e-5)  # centred on the landmarks' centroid
    right = face[:, [FACE_LANDMARK_INDICES.index(i) for i in FACE_LANDMARK_GROUPS["right_eye"]]].mean(1)
    left = face[:, [FACE_LANDMARK_INDICES.index(i) for i in FACE_LANDMARK_GROUPS["left_eye"]]].mean(1)
    np.testing.assert_allclose(np.linalg.norm(right - left, axis=1), 1.0, atol=1e-5)  # inter-ocular unit
    assert (right[:, 0] < left[:, 0]).all()  # the subject's right eye is on the image's left
    body = out["body"].reshape(-1, 22, 4)
    shoulders = body[:, [BODY_LANDMARK_INDICES.index(11), BODY_LANDMARK_INDICES.index(12)], :3]
    np.testing.assert_allclose(shoulders.mean(1), 0.0, atol=1e-5)  # centred on mid-shoulders
    np.testing.assert_allclose(np.linalg.norm(shoulders[:, 0] - shoulders[:, 1], axis=1), 1.0, atol=1e-5)
    assert ((body[..., 3] >= 0) & (body[..., 3] <= 1)).all()  # visibility


def test_crying_woman_long_clip(processor, media_dir):
    out = processor(media_dir / "video" / "WolfgangLanger_Pexels.mp4")  # 19.7 s -> 6 frames spread over it
    assert out["num_frames"] == 6
    _check(out["face"], 204)
    _check(out["body"], 88)


def test_no_face_is_absent_not_an_error(processor, media_dir):
    out = processor(media_dir / "video" / "no_face.mp4")
    assert out["face"] is None and out["num_frames"] == 6
    assert out["body"] is None or out["body"].shape[1] == 88


def test_frames_input_and_no_state_leak(processor, media_dir):
    path = media_dir / "video" / "single_face.mp4"
    frames = list(iter_video_frames(path, fps=5.0, max_frames=6))
    from_frames = processor(frames)
    from_stack = processor(np.stack(frames))
    from_file = processor(path)  # after other clips: tracking state must have been reset
    for key in ("face", "body"):
        np.testing.assert_allclose(from_frames[key], from_file[key], atol=1e-4)
        np.testing.assert_allclose(from_stack[key], from_file[key], atol=1e-4)
    with pytest.raises(ValueError, match=r"frames\[0\]"):
        processor([np.zeros((8, 8, 3), np.float32)])


def test_privacy_mode_never_touches_facemesh(mediapipe, media_dir):
    processor = EmoJEVideoProcessor(fps=5.0, max_frames=3, privacy=True)
    with mock.patch.object(mediapipe.solutions.face_mesh, "FaceMesh") as face_mesh:
        out = processor(media_dir / "video" / "single_face.mp4")
    face_mesh.assert_not_called()
    assert processor._face_mesh is None
    assert out["face"] is None and out["num_frames"] == 3
    _check(out["body"], 88)
    with pytest.raises(RuntimeError, match="privacy"):
        processor._get_face_mesh()
    processor.close()


def test_privacy_call_argument_never_touches_facemesh(mediapipe, media_dir):
    processor = EmoJEVideoProcessor(fps=5.0, max_frames=3)
    with mock.patch.object(mediapipe.solutions.face_mesh, "FaceMesh") as face_mesh:
        out = processor(media_dir / "video" / "single_face.mp4", privacy=True)
    face_mesh.assert_not_called()
    assert out["face"] is None and out["body"] is not None
    processor.close()


def test_bad_files_raise_media_decode_error(processor, tmp_path):
    with pytest.raises(MediaDecodeError, match="missing.mp4"):
        processor(tmp_path / "missing.mp4")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(2048))
    with pytest.raises(MediaDecodeError, match="corrupt.mp4"):
        processor(corrupt)
    with pytest.raises(ValueError, match="videos must be"):
        processor([])


def test_save_load_and_pickle(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "video_preprocessor_config.json").read_text())
    assert config["video_processor_type"] == "EmoJEVideoProcessor"
    assert config["fps"] == 5.0 and config["max_frames"] == 6 and config["privacy"] is False
    assert not any(key.startswith("_") for key in config)  # no mediapipe graph leaks into the config
    loaded = EmoJEVideoProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == processor.to_dict()
    private = EmoJEVideoProcessor.from_pretrained(tmp_path, privacy=True, max_frames=3)
    assert private.privacy is True and private.max_frames == 3
    copy = pickle.loads(pickle.dumps(processor))  # datasets.map(num_proc=...) pickles it; graphs are rebuilt
    assert copy._pose is None and copy.to_dict() == processor.to_dict()


def test_missing_mediapipe_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(ImportError, match="make install"):
        _import_mediapipe()
    with pytest.raises(ImportError, match="--no-deps mediapipe==0.10.21"):
        EmoJEVideoProcessor(privacy=True).body_features(np.zeros((8, 8, 3), np.uint8))
