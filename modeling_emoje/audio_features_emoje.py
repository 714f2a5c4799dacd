# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""Audio feature extractors selectable by name: one interface for the log-mel, openSMILE and speech-encoder routes.

Every extractor turns one utterance into float32 frames `(T, D)` and says exactly what it computes:

| attribute | what |
|---|---|
| `name` | `"logmel"`, `"egemaps"`, `"compare"` or `"encoder"` |
| `settings` | a JSON object that rebuilds it (`build_audio_extractor(settings)`); saved in `processor_config.json` |
| `feature_dim` | D |
| `version` | what else changes the numbers: the openSMILE release, the encoder's commit or weights digest |
| `fingerprint` | hash of what identifies the features (settings and, for an encoder, its weights, not their location) |
| `cache_key` | hash of `fingerprint` and `version`: the feature cache's key for this extractor |

`extractor(waveform, sampling_rate)` gives `(T, D)`, or `None` when the audio carries nothing to extract (empty,
digital silence, shorter than the extractor's window); malformed input (not 1-D, NaN) is a `ValueError`.
`extractor.extract_file(path, start=None, end=None)` decodes a file or a video's audio track (see `media_io`) and
raises `MediaDecodeError` / `SilentAudioError` for unusable files, so dataset preparation can record why.

The routes live in sibling modules loaded only when asked for: `logmel` here (today's
[`EmoJEFeatureExtractor`], unchanged), `egemaps`/`compare` in `opensmile_features_emoje.py` (the `opensmile`
package), any Hugging Face speech encoder (Hub id or local folder) in `speech_encoder_features_emoje.py` (torch).

Example:

```python
>>> import numpy as np
>>> from modeling_emoje.audio_features_emoje import build_audio_extractor, check_same_extractor
>>> logmel = build_audio_extractor("logmel")
>>> wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
>>> logmel(wave, 16000).shape, logmel.feature_dim
((11, 80), 80)
>>> build_audio_extractor(logmel.settings).fingerprint == logmel.fingerprint  # settings rebuild it
True
>>> logmel(np.zeros(16000, np.float32), 16000) is None  # digital silence: no audio
True
>>> check_same_extractor(logmel.describe(), build_audio_extractor("logmel", max_frames=100))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
ValueError: audio features differ: the model was trained on logmel {..., 'max_frames': 300, ...} but logmel {..., 'max_frames': 100, ...} was asked for

```
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .media_io import DEFAULT_SILENCE_THRESHOLD, load_audio, resample


logger = logging.getLogger(__name__)

# Names of the built-in routes (their modules load on first use); any other spec is a speech encoder's Hub id or path.
BUILTIN_EXTRACTORS = ("logmel", "egemaps", "compare", "encoder")
DEFAULT_AUDIO_EXTRACTOR = "logmel"
LOGMEL_VERSION = "emoje-logmel 1"  # bumped whenever the log-mel computation changes its numbers


def settings_hash(payload: Any) -> str:
    """The SHA-1 hex digest of a JSON value (keys sorted), the hash behind fingerprints and cache keys."""
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _mono_waveform(waveform: Any, what: str = "waveform") -> np.ndarray:
    wave = np.asarray(waveform.detach().cpu() if hasattr(waveform, "detach") else waveform, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"{what} must be a 1-D mono waveform, got shape {wave.shape} (mix channels down first)")
    if wave.size and not np.all(np.isfinite(wave)):
        raise ValueError(f"{what} holds NaN or infinite samples")
    return wave


def _check_rate(sampling_rate: Any) -> int:
    if sampling_rate is None or isinstance(sampling_rate, bool) or int(sampling_rate) != sampling_rate or sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be a positive number of Hz, got {sampling_rate!r}")
    return int(sampling_rate)


class FrameBins:
    """Averages frames, as they arrive, into output frames: first into windows of `1 / frames_per_second` s (given
    by the caller as each frame's window index), then, when there are more than `max_frames` windows, into
    `max_frames` uniform groups of windows (the whole utterance stays covered). Memory is the output only.

    Args:
        num_windows: how many windows the whole utterance has (known before the frames arrive).
        dim: features per frame.
        max_frames: cap on output frames, or None.

    Example:
        >>> bins = FrameBins(num_windows=4, dim=1, max_frames=2)
        >>> bins.add(np.array([0, 0, 1, 2, 3]), np.array([[1.0], [3.0], [4.0], [6.0], [8.0]]))
        >>> bins.result().ravel().tolist()  # windows {0, 1} and {2, 3}, each frame weighing the same
        [2.6666667461395264, 7.0]
    """

    def __init__(self, num_windows: int, dim: int, max_frames: int | None):
        count = max(1, int(num_windows))
        outputs = count if max_frames is None else min(count, int(max_frames))
        self._bounds = np.linspace(0, count, outputs + 1).round().astype(np.int64)
        self._sums = np.zeros((outputs, dim), dtype=np.float64)
        self._counts = np.zeros(outputs, dtype=np.int64)

    def add(self, windows: np.ndarray, frames: np.ndarray) -> None:
        """Add `frames` (N, D), frame i falling in window `windows[i]`."""
        if len(frames) == 0:
            return
        owners = np.searchsorted(self._bounds, np.asarray(windows, dtype=np.int64), side="right") - 1
        owners = np.clip(owners, 0, len(self._counts) - 1)
        np.add.at(self._sums, owners, np.asarray(frames, dtype=np.float64))
        np.add.at(self._counts, owners, 1)

    def result(self) -> np.ndarray | None:
        """The mean of each output frame that received frames, float32 (T, D); None when none did."""
        filled = self._counts > 0
        if not filled.any():
            return None
        return (self._sums[filled] / self._counts[filled, None]).astype(np.float32)


def pool_frames(frames: np.ndarray, frame_rate: float, frames_per_second: float | None, max_frames: int | None) -> np.ndarray:
    """Average consecutive frames at `frame_rate` into `frames_per_second` (None: keep the rate), then cap at
    `max_frames` uniform groups; frames that are all NaN/inf are an error of the caller.

    Example:
        >>> pool_frames(np.arange(10.0)[:, None], frame_rate=100, frames_per_second=50, max_frames=None).ravel()
        array([0.5, 2.5, 4.5, 6.5, 8.5], dtype=float32)
    """
    frames = np.asarray(frames, dtype=np.float32)
    size = 1 if frames_per_second is None else max(1, int(round(frame_rate / frames_per_second)))
    windows = np.arange(frames.shape[0]) // size
    bins = FrameBins(-(-frames.shape[0] // size), frames.shape[1], max_frames)
    bins.add(windows, frames)
    result = bins.result()
    return result if result is not None else np.zeros((0, frames.shape[1]), np.float32)


class AudioExtractor:
    r"""
    The interface of every audio feature extractor (see the module docstring for its attributes).

    Subclasses set `name`, implement `settings`, `feature_dim`, `version` and `extract(wave)` (a mono float32
    waveform at `self.sampling_rate`, already checked: non-empty, finite, not silent), and may override
    `extract_file` to stream long files.
    """

    name: str = ""
    sampling_rate: int = 16000
    silence_threshold: float | None = DEFAULT_SILENCE_THRESHOLD

    @property
    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def feature_dim(self) -> int:
        raise NotImplementedError

    @property
    def version(self) -> str:
        raise NotImplementedError

    def extract(self, wave: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    @property
    def dim(self) -> int:
        """`feature_dim`, under the name the feature cache records (as `TextFeatureEncoder.dim`)."""
        return self.feature_dim

    # ----- identity

    def identity(self) -> dict[str, Any]:
        """What identifies the features: the settings (an encoder replaces its location by its weights' digest)."""
        return dict(self.settings)

    @property
    def fingerprint(self) -> str:
        """Hash of [`identity`]: equal fingerprints give the same features (up to `version`)."""
        return settings_hash(self.identity())

    @property
    def cache_key(self) -> str:
        """The feature cache's key for this extractor: its fingerprint and version."""
        return settings_hash({"fingerprint": self.fingerprint, "version": self.version})

    def describe(self) -> dict[str, Any]:
        """`{"name", "settings", "feature_dim", "version", "fingerprint"}`: what a processor config, the dataset
        metadata and the model card record, and what [`check_same_extractor`] compares."""
        return {
            "name": self.name,
            "settings": self.settings,
            "feature_dim": self.feature_dim,
            "version": self.version,
            "fingerprint": self.fingerprint,
        }

    def to_dict(self) -> dict[str, Any]:
        """The settings (what `feature_cache.extractor_key` reads when an object has no `cache_key`)."""
        return self.settings

    def __repr__(self) -> str:
        return f"{type(self).__name__}({json.dumps(self.settings, sort_keys=True)})"

    # ----- extraction

    def min_samples(self) -> int:
        """The shortest waveform (at `sampling_rate`) giving at least one frame."""
        return 1

    def __call__(self, waveform: Any, sampling_rate: int) -> np.ndarray | None:
        """Frames `(T, feature_dim)` of one mono waveform at `sampling_rate` (resampled as needed), or None for
        audio with nothing to extract (empty, digital silence, shorter than `min_samples()`)."""
        wave = _mono_waveform(waveform)
        rate = _check_rate(sampling_rate)
        if wave.size == 0:
            return None
        if self.silence_threshold is not None and float(np.max(np.abs(wave))) <= self.silence_threshold:
            return None
        if rate != self.sampling_rate:
            wave = resample(wave, rate, self.sampling_rate)
        if wave.size < self.min_samples():
            return None
        return self.extract(wave)

    def extract_file(self, path: str | os.PathLike, start: float | None = None, end: float | None = None) -> np.ndarray | None:
        """Frames of `path` (a wav/flac, or a video's audio track) between `start` and `end` seconds; None when it
        is too short. Raises `MediaDecodeError` for missing/corrupt files and `SilentAudioError` for silence."""
        wave = load_audio(path, self.sampling_rate, start, end, silence_threshold=self.silence_threshold)
        if wave.size < self.min_samples():
            return None
        return self.extract(wave)


class LogMelAudioExtractor(AudioExtractor):
    r"""
    The `logmel` route: today's [`EmoJEFeatureExtractor`] (80-bin log-mel, pooled to 10 frames/s, `max_frames`),
    unchanged, behind the common interface. Keyword arguments are its settings (`feature_size`, `n_fft`,
    `hop_length`, `frames_per_second`, `max_frames`, `do_normalize`, ...); long files stream block by block.

    Example:
        >>> extractor = LogMelAudioExtractor(max_frames=5)
        >>> extractor(np.random.default_rng(0).standard_normal(32000).astype(np.float32), 16000).shape
        (5, 80)
    """

    name = "logmel"

    def __init__(self, feature_extractor: Any = None, **settings: Any):
        from .feature_extraction_emoje import EmoJEFeatureExtractor

        if feature_extractor is not None and settings:
            raise ValueError("give either a feature_extractor or its settings, not both")
        unknown = sorted(set(settings) - set(self._setting_names()))
        if unknown:
            raise ValueError(f"unknown logmel settings {unknown}; known: {', '.join(self._setting_names())}")
        self.feature_extractor = feature_extractor if feature_extractor is not None else EmoJEFeatureExtractor(**settings)
        self.sampling_rate = int(self.feature_extractor.sampling_rate)

    @staticmethod
    def _setting_names() -> list[str]:
        from .feature_extraction_emoje import EmoJEFeatureExtractor

        skip = {"self", "kwargs", "padding_value", "return_attention_mask"}  # they do not change the features
        return [name for name in inspect.signature(EmoJEFeatureExtractor.__init__).parameters if name not in skip]

    @property
    def settings(self) -> dict[str, Any]:
        extractor = self.feature_extractor
        return {"name": self.name, **{key: getattr(extractor, key) for key in self._setting_names()}}

    @property
    def feature_dim(self) -> int:
        return int(self.feature_extractor.feature_size)

    @property
    def version(self) -> str:
        return LOGMEL_VERSION

    def extract(self, wave: np.ndarray) -> np.ndarray:
        return self.feature_extractor.extract(wave)

    def extract_file(self, path: str | os.PathLike, start: float | None = None, end: float | None = None) -> np.ndarray:
        return self.feature_extractor.extract_file(path, start, end)  # streamed, block by block


# ---------------------------------------------------------------------------------------------- factory


def _builtin_class(name: str) -> type[AudioExtractor]:
    # Plain relative imports (inside the function: each route's dependencies load only when it is asked for), so
    # that Hub remote code copies these sibling files with this one; their optional packages are imported inside
    # try blocks, which transformers' remote-code import check skips.
    if name == "logmel":
        return LogMelAudioExtractor
    if name in ("egemaps", "compare"):
        from .opensmile_features_emoje import OpenSmileAudioExtractor

        return OpenSmileAudioExtractor
    from .speech_encoder_features_emoje import SpeechEncoderAudioExtractor

    return SpeechEncoderAudioExtractor


def _settings_of(spec: Any) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        if "settings" in spec and isinstance(spec["settings"], Mapping):  # a describe() record
            return dict(spec["settings"])
        return dict(spec)
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec).strip()
        if not text:
            raise ValueError("the audio extractor spec is empty; give logmel, egemaps, compare or a speech encoder")
        if text in BUILTIN_EXTRACTORS and text != "encoder":
            return {"name": text}
        if text == "encoder":
            raise ValueError("the 'encoder' route needs a model: give its Hub id or local path instead of 'encoder'")
        close = difflib.get_close_matches(text.lower(), [n for n in BUILTIN_EXTRACTORS if n != "encoder"], n=1, cutoff=0.75)
        if close and not os.path.exists(text):
            raise ValueError(
                f"unknown audio extractor {text!r} (did you mean {close[0]!r}?); give logmel, egemaps, compare, or "
                "a speech encoder's Hub id or local path"
            )
        return {"name": "encoder", "model": text}
    raise TypeError(f"an audio extractor spec is a name, a path, a settings dict or an extractor, got {type(spec).__name__}")


def build_audio_extractor(spec: Any = DEFAULT_AUDIO_EXTRACTOR, **overrides: Any) -> AudioExtractor:
    """An extractor from a name (`"logmel"`, `"egemaps"`, `"compare"`), a speech encoder's Hub id or local path,
    saved settings (`extractor.settings`, or a `describe()` record), or an extractor (returned as is).

    `overrides` are settings (`level="functionals"`, `layer=6`, `pooling="mean"`, ...) or, for an encoder, run-time
    options that do not change the numbers (`device`, `batch_size`, `local_files_only`, `token`, `cache_dir`).

    Example:
        >>> build_audio_extractor("egemaps", level="functionals").settings["level"]  # doctest: +SKIP
        'functionals'
        >>> build_audio_extractor("egemap")
        Traceback (most recent call last):
        ...
        ValueError: unknown audio extractor 'egemap' (did you mean 'egemaps'?); give logmel, egemaps, compare, or a speech encoder's Hub id or local path
    """
    if isinstance(spec, AudioExtractor):
        if overrides:
            return build_audio_extractor({**spec.settings, **overrides})
        return spec
    settings = {**_settings_of(spec), **overrides}
    name = settings.pop("name", None)
    if name not in BUILTIN_EXTRACTORS:
        known = ", ".join(BUILTIN_EXTRACTORS)
        raise ValueError(f"audio extractor settings name {name!r}, which is not one of {known}")
    cls = _builtin_class(name)
    if name in ("egemaps", "compare"):
        return cls(name, **settings)
    return cls(**settings)


def parse_audio_options(options: Sequence[str] | None) -> dict[str, Any]:
    """Command-line `key=value` options -> settings: values read as JSON when they parse (`6`, `null`, `true`,
    `10.0`), else kept as strings.

    Example:
        >>> parse_audio_options(["layer=6", "pooling=frames", "max_frames=null"])
        {'layer': 6, 'pooling': 'frames', 'max_frames': None}
    """
    parsed: dict[str, Any] = {}
    for option in options or ():
        key, sep, value = option.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"audio option {option!r} must be key=value (e.g. layer=6)")
        try:
            parsed[key.strip()] = json.loads(value)
        except ValueError:
            parsed[key.strip()] = value
    return parsed


# ---------------------------------------------------------------------------------------------- the check


def _description(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping) and "settings" in value and "fingerprint" in value:
        return dict(value)
    return build_audio_extractor(value).describe()


def _summary(description: Mapping[str, Any]) -> str:
    settings = {key: value for key, value in description["settings"].items() if key != "name"}
    return f"{description['name']} {settings}"


def check_same_extractor(saved: Any, requested: Any) -> dict[str, Any]:
    """Check that the audio features a model was trained on (`saved`) are the ones asked for (`requested`).

    Each side is an extractor, its `describe()` record, its settings or a spec (name / Hub id / path). Different
    features (settings, or an encoder's weights) raise a `ValueError` naming both; the same features under another
    `version` (say, another openSMILE release) only log a warning. Returns the saved description.
    """
    old, new = _description(saved), _description(requested)
    if old["fingerprint"] != new["fingerprint"]:
        raise ValueError(
            f"audio features differ: the model was trained on {_summary(old)} but {_summary(new)} was asked for"
        )
    if old.get("version") != new.get("version"):
        logger.warning(
            "audio features %s: the model was trained with %s, this run uses %s (same settings)",
            old["name"],
            old.get("version"),
            new.get("version"),
        )
    return old


# ---------------------------------------------------------------------------------------------- the card line

_OPENSMILE_SETS = {"egemaps": "eGeMAPS v02", "compare": "ComParE 2016"}
OPENSMILE_LICENSE_NOTE = (
    "openSMILE is under the audEERING Research License (non-commercial and research use; other commercial use needs "
    "a license from audEERING)"
)


def describe_audio_features(processor_config: Mapping[str, Any]) -> str | None:
    """One sentence naming a model's audio features, their version and settings (for its card), from its
    `processor_config.json` (or the `audio_features` record itself); None when it records no audio features.

    Example:
        >>> record = {"name": "encoder", "feature_dim": 768, "version": "microsoft/wavlm-base-plus@abc123 sha256:0f1e",
        ...           "settings": {"name": "encoder", "model": "microsoft/wavlm-base-plus", "layer": 6, "pooling": "mean"}}
        >>> print(describe_audio_features({"audio_features": record}))
        Audio features: speech encoder microsoft/wavlm-base-plus, 768 per frame (microsoft/wavlm-base-plus@abc123 sha256:0f1e; settings: layer=6, pooling=mean).
        >>> describe_audio_features({"modalities": ["text"]}) is None
        True
    """
    record = processor_config.get("audio_features") if "settings" not in processor_config else processor_config
    if not isinstance(record, Mapping) or not isinstance(record.get("settings"), Mapping):
        return None
    name = record.get("name") or record["settings"].get("name")
    settings = {key: value for key, value in record["settings"].items() if key != "name"}
    what = {
        "egemaps": f"openSMILE {_OPENSMILE_SETS['egemaps']}",
        "compare": f"openSMILE {_OPENSMILE_SETS['compare']}",
        "encoder": f"speech encoder {settings.get('model')}",
    }.get(name, str(name))
    if name == "encoder" and str(settings.get("model", "")).startswith("./"):
        what = f"a local speech encoder (copied into {str(settings['model'])[2:]}/)"
    listed = ", ".join(f"{key}={value}" for key, value in settings.items() if key not in ("model", "feature_set"))
    line = f"Audio features: {what}, {record.get('feature_dim')} per frame ({record.get('version')}; settings: {listed})."
    if name in _OPENSMILE_SETS:
        line += f" {OPENSMILE_LICENSE_NOTE}."
    return line


__all__ = [
    "BUILTIN_EXTRACTORS",
    "OPENSMILE_LICENSE_NOTE",
    "describe_audio_features",
    "DEFAULT_AUDIO_EXTRACTOR",
    "AudioExtractor",
    "FrameBins",
    "LogMelAudioExtractor",
    "build_audio_extractor",
    "check_same_extractor",
    "parse_audio_options",
    "pool_frames",
    "settings_hash",
]
