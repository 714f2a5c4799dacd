# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""Video processor for emoje: a clip -> face landmarks `(T, 204)` (mediapipe FaceMesh) and body landmarks `(T, 88)`
(mediapipe Pose, without its face keypoints 0-10).

mediapipe (0.10.21, legacy `mp.solutions` API) is imported lazily, so the package imports without it. Its native
loggers (TensorFlow Lite, absl, glog) write INFO and WARNING lines about its own graphs straight to the process'
standard error, below Python's logging; they are dropped while a clip is processed (errors and anything else written
meanwhile are passed on after the clip), unless ``EMOJE_NATIVE_LOGS=1``.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np
from transformers.processing_utils import VideosKwargs
from transformers.utils import logging
from transformers.video_processing_utils import VideoProcessorMixin

from .media_io import iter_video_frames


logger = logging.get_logger(__name__)

# A 68-point subset of FaceMesh's 468 landmarks, in the order of the classic 68-point (iBUG 300-W / dlib) layout.
# "Right"/"left" are the subject's; in an unmirrored image the subject's right is on the image's left.
FACE_LANDMARK_GROUPS: dict[str, tuple[int, ...]] = {
    # 17 points along the jaw, from the right temple, down to the chin (152), up to the left temple.
    "jaw": (162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389),
    "right_brow": (71, 63, 105, 66, 107),  # outer -> inner
    "left_brow": (336, 296, 334, 293, 301),  # inner -> outer
    "nose_bridge": (168, 197, 5, 4),  # between the eyes -> tip
    "nostrils": (75, 97, 2, 326, 305),  # right alar -> subnasale (2) -> left alar
    "right_eye": (33, 160, 158, 133, 153, 144),  # outer corner, upper lid x2, inner corner, lower lid x2
    "left_eye": (362, 385, 387, 263, 373, 380),  # inner corner, upper lid x2, outer corner, lower lid x2
    "outer_lips": (61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181),  # right corner, clockwise in the image
    "inner_lips": (78, 82, 13, 312, 308, 317, 14, 87),
}
FACE_LANDMARK_INDICES: tuple[int, ...] = tuple(i for group in FACE_LANDMARK_GROUPS.values() for i in group)
# Pose landmarks kept for the body: 11..32 (shoulders, arms, hands, hips, legs). 0..10 are the nose, eyes, ears and
# mouth, which are face keypoints and are never kept, in privacy mode or not.
BODY_LANDMARK_INDICES: tuple[int, ...] = tuple(range(11, 33))
FACE_FEATURE_DIM = 3 * len(FACE_LANDMARK_INDICES)  # 204: (x, y, z) per landmark
BODY_FEATURE_DIM = 4 * len(BODY_LANDMARK_INDICES)  # 88: (x, y, z, visibility) per landmark

_RIGHT_EYE = [FACE_LANDMARK_INDICES.index(i) for i in FACE_LANDMARK_GROUPS["right_eye"]]
_LEFT_EYE = [FACE_LANDMARK_INDICES.index(i) for i in FACE_LANDMARK_GROUPS["left_eye"]]
_LEFT_SHOULDER, _RIGHT_SHOULDER = BODY_LANDMARK_INDICES.index(11), BODY_LANDMARK_INDICES.index(12)

MEDIAPIPE_INSTALL_HINT = (
    "EmoJEVideoProcessor needs mediapipe==0.10.21 (FaceMesh and Pose). Run `make install`, or: "
    "pip install --no-deps mediapipe==0.10.21 && pip install absl-py attrs flatbuffers 'protobuf<5' matplotlib "
    "opencv-python-headless==4.14.0.94  (--no-deps keeps numpy 2.x: mediapipe's metadata pins numpy<2)."
)


# "1" keeps mediapipe's own INFO/WARNING lines (emoje commands set it with --verbose).
NATIVE_LOGS_VARIABLE = "EMOJE_NATIVE_LOGS"
# Levels the native loggers read from the environment when mediapipe is first imported (set only if unset).
_NATIVE_LOG_LEVELS = {"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
# The lines mediapipe's native code writes about its graphs on every run: TFLite's delegate notice, absl's
# pre-initialisation notice, and glog/absl-style INFO (I) and WARNING (W) records ("W0000 00:00:17... file.cc:114] ...").
_NATIVE_CHATTER = re.compile(
    r"^(INFO: Created TensorFlow Lite|WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} \d\d:\d\d:\d+\.\d+\s)"
)


def native_logs_wanted() -> bool:
    """Whether mediapipe's native INFO/WARNING lines are to be kept (``EMOJE_NATIVE_LOGS=1``)."""
    return os.environ.get(NATIVE_LOGS_VARIABLE, "") == "1"


def drop_native_chatter(text: str) -> str:
    """``text`` without mediapipe's routine native log lines (everything else kept, in order).

    Example:
        >>> drop_native_chatter("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\\n"
        ...                     "W0000 00:00:1796.45 19238 inference_feedback_manager.cc:114] Feedback manager ...\\n"
        ...                     "E0000 00:00:1796.45 19238 graph.cc:1] a real error\\n")
        'E0000 00:00:1796.45 19238 graph.cc:1] a real error\\n'
    """
    return "".join(line for line in text.splitlines(keepends=True) if not _NATIVE_CHATTER.match(line))


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Run the block with file descriptor 2 (where C++ code writes) captured; on exit, what was written there is
    passed on without mediapipe's routine lines (`drop_native_chatter`). Nothing else changes; with
    ``EMOJE_NATIVE_LOGS=1``, or when descriptor 2 cannot be redirected, the block runs as is."""
    if native_logs_wanted():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, AttributeError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = drop_native_chatter(capture.read().decode("utf-8", errors="replace"))
            if kept:
                os.write(2, kept.encode("utf-8"))


def _import_mediapipe():
    if not native_logs_wanted():  # the native loggers read these once, when mediapipe is first loaded
        for name, value in _NATIVE_LOG_LEVELS.items():
            os.environ.setdefault(name, value)
    try:
        import mediapipe
        from mediapipe import solutions  # noqa: F401  (the legacy API must be there)
    except ImportError as err:
        raise ImportError(MEDIAPIPE_INSTALL_HINT) from err
    return mediapipe


class EmoJEVideosKwargs(VideosKwargs, total=False):
    """Keyword arguments of [`EmoJEVideoProcessor`] on top of transformers' `VideosKwargs` (which has `fps`)."""

    max_frames: int
    privacy: bool
    static_image_mode: bool
    min_detection_confidence: float
    min_tracking_confidence: float
    max_size: int | None


class EmoJEVideoProcessor(VideoProcessorMixin):
    r"""
    Extracts per-frame face and body landmark features from a video (a file or a list of RGB frames).

    Frames are sampled at about `fps` per second (spread over the whole clip when that would exceed `max_frames`,
    see `media_io.iter_video_frames`). On each sampled frame:

    - **face** (skipped entirely when `privacy=True`: FaceMesh is then never built nor run): mediapipe FaceMesh (one
      face) gives 468 landmarks; the 68 of `FACE_LANDMARK_INDICES` (jaw, brows, nose, eyes, lips in the 68-point
      layout) are converted to pixel-proportional units (x * width, y * height, z * width), centred on their
      centroid and divided by the inter-ocular distance (between the two eye centroids). Row layout:
      `[x_0, y_0, z_0, x_1, ...]` -> 204 values.
    - **body**: mediapipe Pose (`model_complexity=1`) gives 33 landmarks; only `BODY_LANDMARK_INDICES` = 11..32 are
      kept (no face keypoints 0-10), converted the same way, centred on the mid-shoulder point and divided by the
      shoulder width; the landmark visibility (0-1) is appended. Row layout `[x, y, z, visibility] * 22` -> 88.
      Shoulders are used rather than hips because conversational video rarely shows the hips.

    Frames where nothing is detected are dropped, so the face and body arrays may have fewer rows than
    `num_frames` (and different lengths). If no frame has a face, `"face"` is `None` (absent, not an error); same for
    `"body"`. Undecodable files raise `media_io.MediaDecodeError`.

    The mediapipe graphs are created on first use and reused; in video mode (`static_image_mode=False`, default,
    faster thanks to tracking) they are reset between clips so one clip never influences the next. They are not
    saved by `save_pretrained`, not pickled, and not thread-safe: use one processor per process/thread.

    Args:
        fps (`float`, *optional*, defaults to 5.0): frames sampled per second of video.
        max_frames (`int`, *optional*, defaults to 64): cap on sampled frames per clip.
        privacy (`bool`, *optional*, defaults to `False`): never run FaceMesh; `"face"` is always `None`.
        static_image_mode (`bool`, *optional*, defaults to `False`): run detection on every frame instead of tracking.
        min_detection_confidence (`float`, *optional*, defaults to 0.5): mediapipe detection threshold.
        min_tracking_confidence (`float`, *optional*, defaults to 0.5): mediapipe tracking threshold.
        max_size (`int`, *optional*): downscale decoded frames whose longer side exceeds this (landmarks are
            resolution-independent; this only saves time on HD video).

    Example:

    ```python
    >>> from modeling_emoje.video_processing_emoje import EmoJEVideoProcessor
    >>> processor = EmoJEVideoProcessor(fps=5.0, max_frames=8)
    >>> out = processor("video/single_face.mp4")  # doctest: +SKIP
    >>> out["face"].shape, out["body"].shape, out["num_frames"]  # doctest: +SKIP
    ((8, 204), (8, 88), 8)
    >>> processor.save_pretrained("my_processor")  # doctest: +SKIP
    >>> EmoJEVideoProcessor.from_pretrained("my_processor").max_frames  # doctest: +SKIP
    8

    ```
    """

    model_input_names = ["face_features", "body_features"]
    valid_kwargs = EmoJEVideosKwargs

    def __init__(
        self,
        fps: float = 5.0,
        max_frames: int = 64,
        privacy: bool = False,
        static_image_mode: bool = False,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        max_size: int | None = None,
        **kwargs,
    ):
        kwargs.pop("video_processor_type", None)
        super().__init__(**kwargs)
        if not fps or fps <= 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        if max_frames is None or max_frames <= 0:
            raise ValueError(f"max_frames must be a positive integer, got {max_frames}")
        self.fps = float(fps)
        self.max_frames = int(max_frames)
        self.privacy = bool(privacy)
        self.static_image_mode = bool(static_image_mode)
        self.min_detection_confidence = float(min_detection_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self.max_size = max_size
        self._face_mesh = None
        self._pose = None
        self._used_since_reset = False

    # ----- serialisation: only the public settings, never the mediapipe graphs -----
    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-serialisable dict (what `save_pretrained` writes)."""
        output = {k: copy.deepcopy(v) for k, v in self.__dict__.items() if not k.startswith("_")}
        output["video_processor_type"] = self.__class__.__name__
        return output

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_face_mesh=None, _pose=None, _used_since_reset=False)
        return state

    # ----- mediapipe models, created lazily and reused -----
    def _get_face_mesh(self):
        if self.privacy:  # defensive: privacy mode must never build FaceMesh
            raise RuntimeError("FaceMesh is disabled in privacy mode")
        if self._face_mesh is None:
            mp = _import_mediapipe()
            self._face_mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=self.static_image_mode,
                max_num_faces=1,
                refine_landmarks=False,
                min_detection_confidence=self.min_detection_confidence,
                min_tracking_confidence=self.min_tracking_confidence,
            )
        return self._face_mesh

    def _get_pose(self):
        if self._pose is None:
            mp = _import_mediapipe()
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=self.static_image_mode,
                model_complexity=1,
                smooth_landmarks=False,  # frames are sparse samples: keep each frame's own estimate
                enable_segmentation=False,
                min_detection_confidence=self.min_detection_confidence,
                min_tracking_confidence=self.min_tracking_confidence,
            )
        return self._pose

    def _start_clip(self) -> None:
        """Forget the tracking state of the previous clip (video mode only)."""
        if self._used_since_reset and not self.static_image_mode:
            for model in (self._face_mesh, self._pose):
                if model is not None:
                    model.reset()
        self._used_since_reset = False

    def close(self) -> None:
        """Release the mediapipe graphs (they are rebuilt on next use)."""
        with quiet_native_stderr():
            for model in (self._face_mesh, self._pose):
                if model is not None:
                    model.close()
        self._face_mesh = self._pose = None
        self._used_since_reset = False

    # ----- per-frame features -----
    def face_features(self, frame: np.ndarray) -> np.ndarray | None:
        """Normalised 204-d face vector of one RGB uint8 frame, or `None` if no face is found."""
        result = self._get_face_mesh().process(frame)
        if not result.multi_face_landmarks:
            return None
        marks = result.multi_face_landmarks[0].landmark
        height, width = frame.shape[:2]
        points = np.array(
            [(marks[i].x * width, marks[i].y * height, marks[i].z * width) for i in FACE_LANDMARK_INDICES],
            dtype=np.float64,
        )
        scale = np.linalg.norm(points[_RIGHT_EYE].mean(0) - points[_LEFT_EYE].mean(0))
        if not np.isfinite(scale) or scale < 1e-6:
            return None
        return ((points - points.mean(0)) / scale).astype(np.float32).reshape(-1)

    def body_features(self, frame: np.ndarray) -> np.ndarray | None:
        """Normalised 88-d body vector (Pose landmarks 11..32) of one RGB uint8 frame, or `None` if no body."""
        result = self._get_pose().process(frame)
        if result.pose_landmarks is None:
            return None
        marks = result.pose_landmarks.landmark
        height, width = frame.shape[:2]
        points = np.array(
            [(marks[i].x * width, marks[i].y * height, marks[i].z * width) for i in BODY_LANDMARK_INDICES],
            dtype=np.float64,
        )
        visibility = np.array([marks[i].visibility for i in BODY_LANDMARK_INDICES], dtype=np.float64)
        left, right = points[_LEFT_SHOULDER], points[_RIGHT_SHOULDER]
        scale = np.linalg.norm(left - right)
        if not np.isfinite(scale) or scale < 1e-6:
            return None
        points = (points - (left + right) / 2) / scale
        return np.concatenate([points, visibility[:, None]], axis=1).astype(np.float32).reshape(-1)

    # ----- clips -----
    def extract_frames(self, frames, privacy: bool = False) -> dict[str, Any]:
        """Features of a clip given as RGB uint8 frames (a list of `(H, W, 3)` arrays or a `(T, H, W, 3)` array).

        More than `max_frames` frames are subsampled uniformly.
        """
        if isinstance(frames, np.ndarray) and frames.ndim == 3:
            frames = frames[None]
        frames = list(frames)
        if len(frames) > self.max_frames:
            keep = np.linspace(0, len(frames) - 1, self.max_frames).round().astype(int)
            frames = [frames[i] for i in keep]
        for index, frame in enumerate(frames):
            frame = np.asarray(frame)
            if frame.ndim != 3 or frame.shape[-1] != 3 or frame.dtype != np.uint8:
                raise ValueError(
                    f"frames[{index}] must be an RGB uint8 array of shape (H, W, 3), got {frame.dtype} {frame.shape}"
                )
        return self._process((np.ascontiguousarray(np.asarray(f)) for f in frames), privacy=privacy)

    def extract_file(
        self, path: str | os.PathLike, start: float | None = None, end: float | None = None, privacy: bool = False
    ) -> dict[str, Any]:
        """Features of a video file, optionally cut to `[start, end)` seconds. Raises `MediaDecodeError`.

        `privacy=True` (or a processor built with `privacy=True`) never runs FaceMesh.
        """
        frames = iter_video_frames(
            path, fps=self.fps, max_frames=self.max_frames, start=start, end=end, max_size=self.max_size
        )
        return self._process(frames, privacy=privacy)

    def _process(self, frames, privacy: bool = False) -> dict[str, Any]:
        with quiet_native_stderr():  # mediapipe's graphs log on every run; its errors still show
            return self._process_frames(frames, privacy)

    def _process_frames(self, frames, privacy: bool = False) -> dict[str, Any]:
        privacy = privacy or self.privacy
        self._start_clip()
        faces, bodies, count = [], [], 0
        for frame in frames:
            count += 1
            self._used_since_reset = True
            if not privacy:
                face = self.face_features(frame)
                if face is not None:
                    faces.append(face)
            body = self.body_features(frame)
            if body is not None:
                bodies.append(body)
        return {
            "face": np.stack(faces) if faces else None,
            "body": np.stack(bodies) if bodies else None,
            "num_frames": count,
        }

    def __call__(
        self, videos, start: float | None = None, end: float | None = None, privacy: bool = False, **kwargs
    ):
        """
        Featurise one clip (a path, a `(T, H, W, 3)` array or a list of `(H, W, 3)` frames) -> a dict
        `{"face": (T_f, 204) | None, "body": (T_b, 88) | None, "num_frames": int}`; a list of paths -> a list of
        such dicts. `start`/`end` (seconds) cut file inputs; `privacy=True` never runs FaceMesh (face is `None`).
        """
        if kwargs:
            logger.warning_once(f"EmoJEVideoProcessor ignores the arguments {sorted(kwargs)}")
        if isinstance(videos, (str, os.PathLike)):
            return self.extract_file(videos, start=start, end=end, privacy=privacy)
        if isinstance(videos, (list, tuple)) and videos and all(isinstance(v, (str, os.PathLike)) for v in videos):
            return [self.extract_file(v, start=start, end=end, privacy=privacy) for v in videos]
        if isinstance(videos, (list, tuple, np.ndarray)) and len(videos) > 0:
            return self.extract_frames(videos, privacy=privacy)
        raise ValueError(
            "videos must be a file path, a list of paths, a (T, H, W, 3) uint8 array or a list of (H, W, 3) frames"
        )

    def preprocess(self, videos, **kwargs):
        """Alias of `__call__` (transformers' VideoProcessorMixin entry point)."""
        return self(videos, **kwargs)


__all__ = [
    "BODY_FEATURE_DIM",
    "BODY_LANDMARK_INDICES",
    "FACE_FEATURE_DIM",
    "FACE_LANDMARK_GROUPS",
    "FACE_LANDMARK_INDICES",
    "NATIVE_LOGS_VARIABLE",
    "EmoJEVideoProcessor",
    "drop_native_chatter",
    "native_logs_wanted",
    "quiet_native_stderr",
]
