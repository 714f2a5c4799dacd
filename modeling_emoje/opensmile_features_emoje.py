# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""The `egemaps` and `compare` audio routes: openSMILE's eGeMAPS v02 and ComParE 2016 feature sets.

Computed by the `opensmile` package (`pip install emoje[opensmile]`; it ships the openSMILE library, nothing is
downloaded). License: the Python wrapper is MIT, but the openSMILE library it bundles is under the audEERING Research
License (non-commercial and research use; any other commercial use needs a license from audEERING), which is why it
is an optional extra. Features are computed through its own `Smile.process_signal`, on the waveform resampled to
`sampling_rate` (16 kHz by default, so corpora recorded at other rates give comparable features). Two levels:

- `level="lld"`: low-level descriptors, 100 frames/s (eGeMAPS 25, ComParE 65 per frame), averaged to
  `frames_per_second` (default 10) and capped at `max_frames` (default 300) uniform segments, as the log-mel route.
  `frames_per_second=None, max_frames=None` keeps openSMILE's frames as they are.
  Long audio is processed `chunk_seconds` (60 s) at a time, each chunk with `context_seconds` of audio on both sides
  whose frames are dropped: the frames equal one pass over the whole signal (eGeMAPS exactly; ComParE's RASTA filter
  within 1e-5 with its 5 s context), and memory stays one chunk plus the pooled frames (about 7 MB per hour of
  audio for eGeMAPS at 10 frames/s), where one pass needs about 2.4 GB for an hour.
- `level="functionals"`: one vector per utterance (eGeMAPS 88, ComParE 6373), the standard utterance-level set of
  the affective-computing literature. It needs the whole utterance at once: memory grows with its length (about
  0.65 MB per second of audio); meant for utterances, not for uncut hour-long recordings.

openSMILE reads 16-bit samples: the waveform is clipped to [-1, 1) first (as a 16-bit file would be).

Example:

```python
>>> import numpy as np
>>> from modeling_emoje.opensmile_features_emoje import OpenSmileAudioExtractor
>>> wave = np.random.default_rng(0).standard_normal(32000).astype(np.float32) * 0.1  # 2 s at 16 kHz
>>> OpenSmileAudioExtractor("egemaps")(wave, 16000).shape  # doctest: +SKIP
(20, 25)
>>> OpenSmileAudioExtractor("compare", level="functionals")(wave, 16000).shape  # doctest: +SKIP
(1, 6373)
>>> OpenSmileAudioExtractor("egemaps", frames_per_second=None, max_frames=None)(wave, 16000).shape  # doctest: +SKIP
(196, 25)

```
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .audio_features_emoje import AudioExtractor, pool_frames
from .media_io import open_audio


# route name -> (opensmile FeatureSet member, LLD dims, functionals dims, context seconds for exact chunking)
FEATURE_SETS: dict[str, tuple[str, int, int, float]] = {
    "egemaps": ("eGeMAPSv02", 25, 88, 1.0),
    "compare": ("ComParE_2016", 65, 6373, 5.0),
}
LEVELS = {"lld": "lld", "functionals": "func"}
LLD_FRAME_RATE = 100  # openSMILE's LLD hop is 10 ms in both sets
MIN_SAMPLES_SECONDS = 0.06  # the longest analysis window (60 ms): shorter audio gives no frame


def _import_opensmile():
    try:
        import opensmile
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the egemaps/compare audio features need the opensmile package: pip install emoje[opensmile] (openSMILE is "
            "under the audEERING Research License: non-commercial and research use)"
        ) from error
    return opensmile


class OpenSmileAudioExtractor(AudioExtractor):
    r"""
    openSMILE eGeMAPS v02 (`"egemaps"`) or ComParE 2016 (`"compare"`) features of one utterance (module docstring).

    Args:
        name (`str`): `"egemaps"` or `"compare"`.
        level (`str`, *optional*, defaults to `"lld"`): `"lld"` (frames) or `"functionals"` (one vector).
        sampling_rate (`int`, *optional*, defaults to 16000): audio is resampled to this rate first (a multiple of
            100 Hz, so that a 10 ms hop is a whole number of samples).
        frames_per_second (`float`, *optional*): LLD only; default 10; `None` keeps 100 frames/s.
        max_frames (`int`, *optional*): LLD only; default 300; `None` for no cap.
        feature_set (`str`, *optional*): the openSMILE set's name, checked against `name` (saved settings carry it).
        chunk_seconds (`float`, *optional*, defaults to 60): LLD audio processed at once (a run-time option: the
            frames do not depend on it).
    """

    def __init__(
        self,
        name: str = "egemaps",
        level: str = "lld",
        sampling_rate: int = 16000,
        frames_per_second: float | None | str = "default",
        max_frames: int | None | str = "default",
        feature_set: str | None = None,
        chunk_seconds: float = 60.0,
    ):
        if name not in FEATURE_SETS:
            raise ValueError(f"unknown openSMILE route {name!r}; known: {', '.join(FEATURE_SETS)}")
        if level not in LEVELS:
            raise ValueError(f"{name}: level must be one of {', '.join(LEVELS)}, got {level!r}")
        set_name, _, _, context = FEATURE_SETS[name]
        if feature_set is not None and feature_set != set_name:
            raise ValueError(f"{name} is openSMILE's {set_name}, but the settings name the feature set {feature_set!r}")
        if int(sampling_rate) != sampling_rate or sampling_rate <= 0 or int(sampling_rate) % LLD_FRAME_RATE:
            raise ValueError(f"{name}: sampling_rate must be a positive multiple of 100 Hz, got {sampling_rate!r}")
        if level == "functionals":
            for key, value in (("frames_per_second", frames_per_second), ("max_frames", max_frames)):
                if value not in ("default", None):
                    raise ValueError(f"{name}: {key} applies to level='lld' only (functionals give one vector)")
            frames_per_second = max_frames = None
        else:
            frames_per_second = 10.0 if frames_per_second == "default" else frames_per_second
            max_frames = 300 if max_frames == "default" else max_frames
            if frames_per_second is not None and not 0 < float(frames_per_second) <= LLD_FRAME_RATE:
                raise ValueError(f"{name}: frames_per_second must be in (0, 100] or None, got {frames_per_second!r}")
            if max_frames is not None and (int(max_frames) != max_frames or max_frames <= 0):
                raise ValueError(f"{name}: max_frames must be a positive integer or None, got {max_frames!r}")
        if chunk_seconds <= 2 * context:
            raise ValueError(f"{name}: chunk_seconds must exceed {2 * context:g} s (twice the chunks' context)")
        self.name, self.level, self.feature_set = name, level, set_name
        self.sampling_rate = int(sampling_rate)
        self.frames_per_second = None if frames_per_second is None else float(frames_per_second)
        self.max_frames = None if max_frames is None else int(max_frames)
        self.chunk_seconds, self.context_seconds = float(chunk_seconds), context
        self._smile = None

    def __getstate__(self) -> dict[str, Any]:  # worker processes build their own openSMILE instance
        return {**self.__dict__, "_smile": None}

    # ----- interface

    @property
    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "name": self.name,
            "feature_set": self.feature_set,
            "level": self.level,
            "sampling_rate": self.sampling_rate,
        }
        if self.level == "lld":
            settings.update(frames_per_second=self.frames_per_second, max_frames=self.max_frames)
        return settings

    @property
    def feature_dim(self) -> int:
        _, lld, functionals, _ = FEATURE_SETS[self.name]
        return lld if self.level == "lld" else functionals

    @property
    def version(self) -> str:
        return f"opensmile {_import_opensmile().__version__}"

    def min_samples(self) -> int:
        return int(round(MIN_SAMPLES_SECONDS * self.sampling_rate))

    @property
    def smile(self):
        """The `opensmile.Smile` doing the work (built on first use)."""
        if self._smile is None:
            opensmile = _import_opensmile()
            self._smile = opensmile.Smile(
                feature_set=opensmile.FeatureSet[self.feature_set], feature_level=LEVELS[self.level]
            )
            if self._smile.num_features != self.feature_dim:
                raise RuntimeError(f"openSMILE's {self.feature_set} gives {self._smile.num_features} features, not {self.feature_dim}")
        return self._smile

    def _run(self, wave: np.ndarray) -> np.ndarray:
        """openSMILE on one piece of audio: float32 (frames, D), rows of NaN (too short to analyse) left out."""
        wave = np.clip(wave, -1.0, 32767 / 32768)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Segment too short")
            values = self.smile.process_signal(wave, self.sampling_rate).to_numpy(dtype=np.float32)
        return values[np.isfinite(values).all(axis=1)]

    # ----- extraction

    def extract(self, wave: np.ndarray) -> np.ndarray | None:
        return self._extract_blocks([wave])

    def extract_file(self, path: str | os.PathLike, start: float | None = None, end: float | None = None) -> np.ndarray | None:
        audio = open_audio(path, self.sampling_rate, start, end, silence_threshold=self.silence_threshold)
        if audio.num_samples < self.min_samples():
            audio.close()
            return None
        return self._extract_blocks(audio)

    def _extract_blocks(self, blocks: Iterable[np.ndarray]) -> np.ndarray | None:
        if self.level == "functionals":
            pieces = list(blocks)
            wave = pieces[0] if len(pieces) == 1 else np.concatenate(pieces)
            values = self._run(wave) if wave.size >= self.min_samples() else np.zeros((0, self.feature_dim))
            return values[:1] if len(values) else None
        hop = self.sampling_rate // LLD_FRAME_RATE
        size = 1 if self.frames_per_second is None else max(1, int(round(LLD_FRAME_RATE / self.frames_per_second)))
        sums, counts = [], []  # per chunk: sums and frame counts of the pooling windows it touches (window order)
        first_window = []
        for offset, samples, skip, keep in _context_chunks(
            blocks, round(self.chunk_seconds * LLD_FRAME_RATE) * hop, round(self.context_seconds * LLD_FRAME_RATE) * hop
        ):
            first = skip // hop
            frames = self._run(samples)[first : None if keep is None else first + keep // hop]
            if not len(frames):
                continue
            index = (offset + skip) // hop + np.arange(len(frames))  # global frame numbers
            windows = index // size
            starts = np.flatnonzero(np.r_[True, windows[1:] != windows[:-1]])
            sums.append(np.add.reduceat(frames.astype(np.float64), starts, axis=0))
            counts.append(np.diff(np.r_[starts, len(frames)]))
            first_window.append(int(windows[0]))
        if not sums:
            return None
        total = first_window[-1] + len(counts[-1])
        window_sums = np.zeros((total, self.feature_dim))
        window_counts = np.zeros(total, dtype=np.int64)
        for first, chunk_sums, chunk_counts in zip(first_window, sums, counts):
            window_sums[first : first + len(chunk_counts)] += chunk_sums
            window_counts[first : first + len(chunk_counts)] += chunk_counts
        filled = window_counts > 0
        means = window_sums[filled] / window_counts[filled, None]
        return pool_frames(means, 1.0, None, self.max_frames)


def _context_chunks(blocks: Iterable[np.ndarray], chunk: int, context: int) -> Iterator[tuple[int, np.ndarray, int, int | None]]:
    """Cut a stream of blocks into `(offset, samples, skip, keep)`: chunks of `chunk` samples, each with up to
    `context` samples before and after it: `samples` start at stream index `offset`, their first `skip` samples are
    left context, then come the chunk's own `keep` samples (None for the last chunk: everything up to the end).
    Holds at most one chunk, its context and one block."""
    buffer = np.zeros(0, dtype=np.float32)
    buffer_start = 0  # stream index of buffer[0]
    begin = 0  # stream index of the next chunk's first own sample
    for block in blocks:
        buffer = np.concatenate([buffer, np.asarray(block, dtype=np.float32)])
        while buffer_start + buffer.size >= begin + chunk + context:
            low = max(0, begin - context)
            yield low, buffer[low - buffer_start : begin + chunk + context - buffer_start], begin - low, chunk
            begin += chunk
            drop = max(0, begin - context) - buffer_start
            buffer, buffer_start = buffer[drop:], buffer_start + drop
    if buffer_start + buffer.size > begin:
        low = max(0, begin - context)
        yield low, buffer[low - buffer_start :], begin - low, None


__all__ = ["FEATURE_SETS", "OpenSmileAudioExtractor"]
