# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""One turn's media -> features: cut the turn's audio/video span and run the extractors, under a `Scenario`.

Used by the processor (a conversation's turns) and by `dataset_scripts.features` (a corpus' utterances): the one
place where a span is cut, the extractors are called and the face is left out when the scenario does not keep it
(face landmarking then never runs). Errors of the extractors (`MediaDecodeError`, `SilentAudioError`, other
`ValueError`/`OSError`) propagate: each caller reports them its own way (a turn's ValueError, a cached reason).

Example:
    >>> from modeling_emoje.modalities import Scenario
    >>> from modeling_emoje.turn_media import TurnMedia, media_span
    >>> media_span({"path": "call.wav", "start": 7.6, "end": 8.2}, "turn 1", "audio")
    ('call.wav', 7.6, 8.2)
    >>> class Video:
    ...     def __call__(self, path, start=None, end=None, privacy=False):
    ...         return {"face": None if privacy else [[0.0] * 3], "body": [[1.0] * 2]}
    >>> result = TurnMedia(video_processor=Video(), scenario=Scenario.privacy()).video("clip.mp4")
    >>> result["face"], result["body"].shape
    (None, (1, 2))
"""

from __future__ import annotations

import copy
import inspect
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from .modalities import Scenario, modalities_from

VIDEO_SOURCE = "video"
# The modalities the video processor gives, from the modality table (face, body).
VIDEO_MODALITIES: tuple[str, ...] = modalities_from(VIDEO_SOURCE)


def media_span(value: Any, where: str, field: str) -> tuple[str, float | None, float | None]:
    """A turn's `path` or `{"path", "start", "end"}` (seconds) -> `(path, start, end)`; a ValueError naming `where`."""
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value), None, None
    if isinstance(value, Mapping) and "path" in value:
        return os.fspath(value["path"]), value.get("start"), value.get("end")
    raise ValueError(
        f"{where}: '{field}' must be a file path or a dict with 'path' (and optional 'start'/'end' in seconds), "
        f"got {type(value).__name__}"
    )


def frames_or_none(value: Any, what: str) -> np.ndarray | None:
    """An extractor's output as float32 (T, D) (a (D,) vector is one frame); None when absent or empty."""
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float32)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{what} returned an array of shape {array.shape}, expected (T, D)")
    return array if array.shape[0] > 0 else None


def _parameters(function: Any) -> Mapping[str, Any]:
    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return {}


def private_video_processor(processor: Any) -> Any:
    """A video processor that never runs face landmarking, or a ValueError (it has no privacy setting at all).

    One with a `privacy` call argument is returned as is (it is called with `privacy=True`); one with only a
    `privacy` attribute is copied with it set (an `EmoJEVideoProcessor` copy drops its mediapipe graphs).
    """
    if getattr(processor, "privacy", None) is True or "privacy" in _parameters(processor):
        return processor
    if hasattr(processor, "privacy"):
        private = copy.copy(processor)
        private.privacy = True
        return private
    raise ValueError("privacy mode needs a video processor with a `privacy` setting or call argument")


class TurnMedia:
    """Runs `audio_extractor` (`extract_file(path[, start, end]) -> (T, D)`) and `video_processor`
    (`(path[, start=, end=][, privacy=]) -> {"face", "body"}`) on one turn's span, keeping what `scenario` keeps.

    Args:
        audio_extractor: an `AudioExtractor` of `audio_features_emoje` (log-mel, eGeMAPS/ComParE, a speech encoder)
            or any object with `extract_file`; None when audio is not extracted.
        video_processor: e.g. an [`EmoJEVideoProcessor`]; None when video is not extracted.
        scenario: the call's scenario; without the face, face landmarking never runs and `face` is always None.
    """

    def __init__(self, audio_extractor: Any = None, video_processor: Any = None, scenario: Scenario | None = None):
        self.scenario = scenario or Scenario.full()
        self.audio_extractor = audio_extractor
        if video_processor is not None and "face" not in self.scenario:
            video_processor = private_video_processor(video_processor)
        self.video_processor = video_processor
        parameters = _parameters(video_processor) if video_processor is not None else {}
        self.video_takes_span = "start" in parameters and "end" in parameters
        self._video_takes_privacy = "privacy" in parameters

    def audio(self, path: str, start: float | None = None, end: float | None = None) -> np.ndarray | None:
        """The audio extractor's frames of the span; None when it gives no frame (e.g. audio shorter than its window)."""
        span = () if start is None and end is None else (start, end)
        return frames_or_none(self.audio_extractor.extract_file(path, *span), "audio extractor")

    def video(
        self, path: str, start: float | None = None, end: float | None = None, face: bool = True
    ) -> dict[str, np.ndarray | None]:
        """`{"face", "body"}` frames of the span (None where nothing was found); the face only when both the
        scenario keeps it and `face` asks for it (a turn that already gives its face arrays says `face=False`)."""
        with_face = face and "face" in self.scenario
        kwargs: dict[str, Any] = {"privacy": not with_face} if self._video_takes_privacy else {}
        if start is not None or end is not None:
            if not self.video_takes_span:
                raise ValueError("segment of a dialogue video, and the video processor takes no start/end")
            kwargs.update(start=start, end=end)
        output = self.video_processor(path, **kwargs)
        return {
            name: frames_or_none(output.get(name), "video processor") if name != "face" or with_face else None
            for name in VIDEO_MODALITIES
        }


__all__ = ["VIDEO_MODALITIES", "VIDEO_SOURCE", "TurnMedia", "frames_or_none", "media_span", "private_video_processor"]
