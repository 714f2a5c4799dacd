"""Media extraction of one `extract_features` call: the tasks, the extractors, and the one place media is extracted.

A [`MediaTask`] is one utterance's media jobs (its audio file, its video span). [`MediaExtraction`] holds what a
process needs to run them (extractors, scenario, the cache folder of each output modality) and is picklable, so
worker processes (`parallel.py`) get their own copy; its [`MediaRunner`] extracts each job through
`modeling_emoje.turn_media.TurnMedia` and writes the results to the feature cache in shards. A file that is missing,
empty or undecodable gives a failure reason instead of an array (cached, reported once); a reason starting with
[`ABSENT_PREFIX`] means there was nothing to extract (no face found), not a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modeling_emoje.modalities import Scenario
from modeling_emoje.turn_media import VIDEO_MODALITIES, TurnMedia

from .feature_cache import FeatureCache, ShardWriter

ABSENT_PREFIX = "absent: "  # cached reasons that mean "nothing to extract" (no face found), not a decode failure


def _failure_reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    return str(reason) if reason else f"{type(error).__name__}: {error}"


MediaTask = tuple[tuple[str, str, tuple], ...]  # one utterance's media jobs: (kind "audio" | "video", key, job)


@dataclass(frozen=True)
class MediaExtraction:
    """The media part of one `extract_features` call: extractors and the cache folder of each output modality.

    Picklable (the extractors drop their native graphs when pickled), so worker processes get their own copy and
    build their own mediapipe graphs, once per process. [`MediaExtraction.runner`] is the only place media is
    extracted, whether in the calling process or in a worker.
    """

    audio_extractor: Any
    video_processor: Any
    scenario: Scenario
    caches: dict[str, Path]  # output modality ("audio", "face", "body") -> FeatureCache folder
    shard_rows: int = 512
    shard_seconds: float = 60.0
    outputs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # kind -> modalities it writes

    def runner(self, entries: dict[str, dict[str, np.ndarray | str]] | None = None) -> MediaRunner:
        """A [`MediaRunner`]; `entries` (modality -> dict) also receives every result (None: results only go to disk)."""
        return MediaRunner(self, entries)


class MediaRunner:
    """Runs [`MediaTask`]s: extracts each job and writes its results to the cache in shards (flushed on `close`)."""

    def __init__(self, extraction: MediaExtraction, entries: dict[str, dict[str, np.ndarray | str]] | None):
        media = TurnMedia(
            extraction.audio_extractor if "audio" in extraction.outputs else None,
            extraction.video_processor if "video" in extraction.outputs else None,
            extraction.scenario,
        )
        self.work: dict[str, Callable[[tuple], dict[str, np.ndarray | str]]] = {}
        if "audio" in extraction.outputs:
            self.work["audio"] = _audio_work(media)
        if "video" in extraction.outputs:
            self.work["video"] = _video_work(media)
        self.writers = {
            modality: ShardWriter(
                FeatureCache(root),
                None if entries is None else entries.setdefault(modality, {}),
                extraction.shard_rows,
                extraction.shard_seconds,
            )
            for modality, root in extraction.caches.items()
        }

    def run(self, task: MediaTask) -> None:
        for kind, key, job in task:
            for modality, value in self.work[kind](job).items():
                if modality in self.writers:
                    self.writers[modality].add(key, value)

    def close(self) -> None:
        """Write what is pending (called on success, on an exception and on Ctrl-C)."""
        for writer in self.writers.values():
            writer.flush()


def _media_file_problem(path: str) -> str | None:
    if not os.path.isfile(path):
        return "file not found"
    if os.path.getsize(path) == 0:
        return "empty file"
    return None


def _audio_work(media: TurnMedia) -> Callable[[tuple], dict[str, np.ndarray | str]]:
    def work(job: tuple) -> dict[str, np.ndarray | str]:
        (path,) = job
        problem = _media_file_problem(path)
        if problem:
            return {"audio": problem}
        try:
            array = media.audio(path)
        except (ValueError, OSError) as error:  # MediaDecodeError is a ValueError
            return {"audio": _failure_reason(error)}
        return {"audio": array if array is not None else ABSENT_PREFIX + "no audio frames"}

    return work


def _video_work(media: TurnMedia) -> Callable[[tuple], dict[str, np.ndarray | str]]:
    kept = media.scenario.select(VIDEO_MODALITIES)  # never a face result when the scenario drops the face

    def work(job: tuple) -> dict[str, np.ndarray | str]:
        path, start, end = job
        problem = _media_file_problem(path)
        if problem:
            return dict.fromkeys(kept, problem)
        if (start is not None or end is not None) and not media.video_takes_span:
            return dict.fromkeys(kept, "segment of a dialogue video, and the video processor takes no start/end")
        try:
            output = media.video(path, start, end)
        except (ValueError, OSError) as error:
            return dict.fromkeys(kept, _failure_reason(error))
        return {name: output[name] if output[name] is not None else f"{ABSENT_PREFIX}no {name} found" for name in kept}

    return work


__all__ = ["ABSENT_PREFIX", "MediaExtraction", "MediaRunner", "MediaTask"]
