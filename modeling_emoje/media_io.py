# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""Decoding helpers shared by the offline feature extractors: audio (soundfile / PyAV) and video frames (PyAV).

Everything here is numpy in, numpy out; nothing downloads anything. Bad media raise [`MediaDecodeError`] (a
`ValueError` naming the file and the reason) so that dataset preparation can record *why* a modality is absent.

Example:

```python
>>> from modeling_emoje.media_io import load_audio, iter_video_frames
>>> wav = load_audio("conversation/sample.wav", start=6.68, end=7.16)  # doctest: +SKIP
>>> wav.dtype, wav.shape  # doctest: +SKIP
(dtype('float32'), (7680,))
>>> frames = list(iter_video_frames("video/single_face.mp4", fps=5.0, max_frames=8))  # doctest: +SKIP
>>> frames[0].shape, frames[0].dtype  # doctest: +SKIP
((360, 640, 3), dtype('uint8'))

```
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator
from fractions import Fraction

import numpy as np


logger = logging.getLogger(__name__)

# Extensions read with libsndfile; anything else (mp4, avi, mkv, mp3, m4a, ...) goes through PyAV/FFmpeg.
SOUNDFILE_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aif", ".aiff")

# A peak absolute amplitude at or below this (about -80 dBFS, 3 LSB of 16-bit PCM) counts as digital silence.
DEFAULT_SILENCE_THRESHOLD = 1e-4
# soundfile formats are decoded, mixed down and resampled this many seconds at a time (bounds the working memory)
AUDIO_BLOCK_SECONDS = 20.0
# What `resample` accepts: audio rates (a signal labelled 1 Hz or 1 GHz is a mislabelled one), and at most this long
# a waveform in one piece (its output is allocated whole: 4 h at 16 kHz is 0.9 GB of float32).
MIN_SAMPLING_RATE, MAX_SAMPLING_RATE = 1_000, 1_000_000
MAX_RESAMPLED_SECONDS = 4 * 3600
# Audio shorter than one 25 ms analysis window carries no usable signal: it is an absent modality, not zeros.
MIN_AUDIO_SECONDS = 0.025


class MediaDecodeError(ValueError):
    """A media file could not be decoded (missing, corrupt, no usable stream, empty or silent).

    Attributes:
        path (`str`): the file at fault.
        reason (`str`): a short human-readable reason.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"cannot decode {self.path!r}: {reason}")

    def __reduce__(self):  # keep (path, reason) through pickling (multiprocessing, datasets.map)
        return (self.__class__, (self.path, self.reason))


class SilentAudioError(MediaDecodeError):
    """The audio decoded fine but is digital silence: a missing modality rather than a broken file."""


class ShortAudioError(SilentAudioError):
    """The audio decoded fine but lasts under `MIN_AUDIO_SECONDS` (one analysis window): absent, like silence."""


def peak_amplitude(wave: np.ndarray) -> float:
    """Largest absolute sample of a non-empty `wave` (NaN if it holds NaN), without a temporary copy of it."""
    return max(abs(float(np.min(wave))), abs(float(np.max(wave))))


def _below_threshold(peak: float, threshold: float | None) -> bool:
    return threshold is not None and peak <= threshold


def is_silent(wave: np.ndarray, threshold: float | None = DEFAULT_SILENCE_THRESHOLD) -> bool:
    """True when the peak absolute amplitude of `wave` is `<= threshold` (never for `threshold=None`)."""
    return _below_threshold(peak_amplitude(wave), threshold)


def _check_path(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MediaDecodeError(path, "file not found")
    if os.path.isdir(path):
        raise MediaDecodeError(path, "is a directory, not a media file")
    if os.path.getsize(path) == 0:
        raise MediaDecodeError(path, "file is empty (0 bytes)")
    return path


def _check_span(path: str, start: float | None, end: float | None) -> tuple[float, float | None]:
    start = 0.0 if start is None else float(start)
    if not math.isfinite(start) or start < 0:
        raise ValueError(f"{path!r}: start must be a finite number of seconds >= 0, got {start}")
    if end is not None:
        end = float(end)
        if not math.isfinite(end) or end <= start:
            raise ValueError(f"{path!r}: end ({end}) must be a finite number of seconds greater than start ({start})")
    return start, end


def resample(array: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Resample a 1-D (or `(channels, samples)`) signal with a polyphase anti-aliasing filter.

    Uses `scipy.signal.resample_poly` with the reduced ratio `target_sr / orig_sr`, so 8 kHz -> 16 kHz doubles the
    length exactly and 44.1 kHz -> 16 kHz gives `ceil(n * 160 / 441)` samples. Returns float32.

    ```python
    >>> import numpy as np
    >>> resample(np.zeros(8000, dtype=np.float32), 8000, 16000).shape
    (16000,)

    ```
    """
    array = np.asarray(array, dtype=np.float32)
    orig_sr, target_sr = int(orig_sr), int(target_sr)
    if orig_sr <= 0 or target_sr <= 0:
        raise ValueError(f"sampling rates must be positive, got orig_sr={orig_sr}, target_sr={target_sr}")
    if orig_sr == target_sr or array.shape[-1] == 0:
        return array
    check_sampling_rate(orig_sr)
    check_sampling_rate(target_sr, "target rate")
    seconds = array.shape[-1] / orig_sr
    if seconds > MAX_RESAMPLED_SECONDS:
        raise ValueError(
            f"{array.shape[-1]:,} samples at {orig_sr} Hz last {seconds:,.0f} s; one waveform is resampled whole, "
            f"at most {MAX_RESAMPLED_SECONDS:,} s (cut it into turns)"
        )
    from scipy.signal import resample_poly

    ratio = Fraction(target_sr, orig_sr)
    out = resample_poly(array, ratio.numerator, ratio.denominator, axis=-1)
    return np.ascontiguousarray(out, dtype=np.float32)


def check_sampling_rate(rate: int, name: str = "sampling rate") -> int:
    """`rate` if it is an audio rate (`MIN_SAMPLING_RATE` to `MAX_SAMPLING_RATE` Hz), else a ValueError saying so.

    Example:
        >>> check_sampling_rate(16000)
        16000
    """
    if not MIN_SAMPLING_RATE <= rate <= MAX_SAMPLING_RATE:
        raise ValueError(
            f"{name} {rate} Hz is not an audio rate: expected {MIN_SAMPLING_RATE:,} to {MAX_SAMPLING_RATE:,} Hz "
            "(is the rate mislabelled?)"
        )
    return rate


def audio_too_short(num_samples: int, sampling_rate: int) -> bool:
    """Whether `num_samples` at `sampling_rate` (checked: `check_sampling_rate`) last under `MIN_AUDIO_SECONDS`,
    too short for any analysis window: such audio is absent, never a turn of zero features.

    Example:
        >>> audio_too_short(100, 16000), audio_too_short(16000, 16000)
        (True, False)
    """
    return num_samples < MIN_AUDIO_SECONDS * check_sampling_rate(int(sampling_rate))


def _resampling_context(orig_sr: int, target_sr: int) -> int:
    """Input samples a block needs on each side for [`resample`] to give the same samples as on the whole signal:
    the reach of `resample_poly`'s default filter (10 * max(up, down) upsampled taps), as a multiple of `down`."""
    ratio = Fraction(int(target_sr), int(orig_sr))
    up, down = ratio.numerator, ratio.denominator
    return down * math.ceil((10 * max(up, down) / up + 2) / down)


def _soundfile_blocks(sound, first: int, last: int, sampling_rate: int) -> Iterator[np.ndarray]:
    """Frames `[first, last)` of an open `soundfile.SoundFile`, mixed down and resampled, `AUDIO_BLOCK_SECONDS` at a
    time. Blocks start at multiples of the resampling ratio's denominator and carry [`_resampling_context`] samples
    of their neighbours, so their concatenation equals resampling the whole cut at once."""
    sr = int(sound.samplerate)
    ratio = Fraction(int(sampling_rate), sr)
    up, down = ratio.numerator, ratio.denominator
    context = _resampling_context(sr, sampling_rate) if sr != sampling_rate else 0
    block = down * max(1, int(AUDIO_BLOCK_SECONDS * sr) // down)
    for begin in range(first, last, block):
        stop = min(begin + block, last)
        left, right = min(context, begin - first), min(context, last - stop)
        sound.seek(begin - left)
        samples = sound.read(left + stop - begin + right, dtype="float32", always_2d=True)
        mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
        resampled = resample(mono, sr, sampling_rate)
        yield resampled[left * up // down :][: (stop - begin) * up // down if stop < last else None]


class AudioBlocks:
    """One audio cut as consecutive mono float32 blocks at `sampling_rate` (see [`open_audio`]).

    `num_samples` is known before decoding. Iterating decodes (soundfile formats: one block at a time, so memory
    stays one block whatever the length, rate and channels) and, after the last block, raises
    [`MediaDecodeError`] for NaN/infinite samples or [`SilentAudioError`] for digital silence.
    """

    def __init__(
        self,
        path: str,
        num_samples: int,
        blocks: Callable[[], Iterator[np.ndarray]],
        silence_threshold: float | None,
        on_close: Callable[[], None] | None = None,
    ):
        self.path, self.num_samples = path, num_samples
        self._blocks, self._silence_threshold, self._on_close = blocks, silence_threshold, on_close

    def close(self) -> None:
        """Release the open file (iterating to the end does it too)."""
        if self._on_close is not None:
            self._on_close()

    def __iter__(self) -> Iterator[np.ndarray]:
        peak, finite = 0.0, True
        try:
            for block in self._blocks():
                if block.size:
                    block_peak = peak_amplitude(block)
                    finite = finite and math.isfinite(block_peak)
                    peak = max(peak, block_peak) if finite else peak
                    yield block
        except MediaDecodeError:
            raise
        except Exception as err:  # noqa: BLE001 - a decoder failing mid-file: name the file
            raise MediaDecodeError(self.path, f"decoding failed ({err})") from err
        finally:
            self.close()
        if not finite:
            raise MediaDecodeError(self.path, "audio holds NaN or infinite samples")
        if _below_threshold(peak, self._silence_threshold):
            raise SilentAudioError(self.path, f"audio is silent (peak amplitude <= {self._silence_threshold:g})")


def _open_soundfile(path: str, start: float, end: float | None, sampling_rate: int, silence_threshold) -> AudioBlocks:
    import soundfile as sf

    sound = sf.SoundFile(path)
    sr = int(sound.samplerate)
    first = min(int(round(start * sr)), sound.frames)
    last = sound.frames if end is None else min(max(first, int(round(end * sr))), sound.frames)
    ratio = Fraction(int(sampling_rate), sr)
    num_samples = -(-(last - first) * ratio.numerator // ratio.denominator)
    return AudioBlocks(
        path, num_samples, lambda: _soundfile_blocks(sound, first, last, sampling_rate), silence_threshold, sound.close
    )


def _stream_offset(stream) -> float:
    """Presentation time (s) of the stream's first sample: file times are counted from there."""
    return float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base else 0.0


def _seek(container, stream, seconds: float) -> bool:
    """Seek to the keyframe at or before `seconds` (stream time); False if the demuxer cannot seek."""
    import av

    try:
        container.seek(int(seconds / stream.time_base), stream=stream, backward=True, any_frame=False)
        return True
    except (av.error.FFmpegError, OverflowError, ValueError):
        return False


def _decode_audio(container, stream, sr: int, start: float, end: float | None, seek: bool):
    """Decoded `(channels, samples)` chunks and the time (s, relative to the file start) of their first sample.

    Returns `None` when the decoder gives no timestamps after a seek (the position would be unknown)."""
    import av

    offset = _stream_offset(stream)
    seeked = seek and start > 0 and _seek(container, stream, start + offset)
    converter = av.AudioResampler(format="fltp")  # planar float at the native rate/layout; we mix down ourselves
    chunks: list[np.ndarray] = []
    origin: float | None = None
    decoded = 0
    for frame in container.decode(stream):
        if origin is None:
            if frame.pts is None and seeked:
                return None
            origin = float(frame.pts * frame.time_base) - offset if frame.pts is not None else 0.0
        for converted in converter.resample(frame):
            chunks.append(converted.to_ndarray())
            decoded += chunks[-1].shape[1]
        if end is not None and origin + decoded / sr >= end + 0.1:  # a margin for codec delays
            break
    for converted in converter.resample(None):
        chunks.append(converted.to_ndarray())
    return chunks, origin or 0.0


def _read_av_audio(path: str, start: float, end: float | None) -> tuple[np.ndarray, int]:
    import av

    with av.open(path) as container:
        if not container.streams.audio:
            raise MediaDecodeError(path, "no audio stream")
        stream = container.streams.audio[0]
        sr = int(stream.codec_context.sample_rate or stream.rate or 0)
        if sr <= 0:
            raise MediaDecodeError(path, "audio stream has no sampling rate")
        decoded = _decode_audio(container, stream, sr, start, end, seek=True)
        if decoded is None or (start > 0 and decoded[1] > start + 1.0 / sr):
            # no timestamps after the seek, or it landed past `start` (some demuxers index few audio packets):
            # decode from the beginning instead
            container.seek(0)
            decoded = _decode_audio(container, stream, sr, start, end, seek=False)
        chunks, origin = decoded
    if not chunks:
        raise MediaDecodeError(path, "the audio stream holds no decodable frames")
    channels = min(c.shape[0] for c in chunks)
    data = np.concatenate([c[:channels] for c in chunks], axis=1)
    first = max(0, int(round((start - origin) * sr)))
    last = None if end is None else max(first, int(round((end - origin) * sr)))
    return data[:, first:last], sr


def open_audio(
    path: str | os.PathLike,
    sampling_rate: int = 16000,
    start: float | None = None,
    end: float | None = None,
    silence_threshold: float | None = DEFAULT_SILENCE_THRESHOLD,
) -> AudioBlocks:
    """Open an audio file (or the audio track of a video) as mono float32 blocks at `sampling_rate` ([`AudioBlocks`]).

    wav/flac/ogg/aiff are read with soundfile (falling back to PyAV if libsndfile refuses them), one block of
    `AUDIO_BLOCK_SECONDS` at a time when iterated, so memory does not grow with the file's length, rate or channels;
    any other container (mp4, avi, mkv, mp3, m4a, ...) is decoded whole with PyAV (one block). Channels are
    averaged, then the signal is resampled to `sampling_rate` with [`resample`].

    Args:
        path: the media file.
        sampling_rate: output rate in Hz.
        start, end: optional cut, in seconds from the beginning of the file. An `end` past the end of the file is
            clipped to it.
        silence_threshold: if the peak absolute amplitude of the (cut) signal is `<=` this, iterating ends with a
            [`SilentAudioError`] (video tracks muted with digital zeros are common). `None` disables it.

    Raises:
        MediaDecodeError: missing/corrupt file, no audio stream, no samples in `[start, end)` (here); NaN samples or
            digital silence (a [`SilentAudioError`]) at the end of the iteration.
        ValueError: a negative `start` or `end <= start`.
    """
    path = _check_path(path)
    start, end = _check_span(path, start, end)
    errors = []
    audio = None
    if path.lower().endswith(SOUNDFILE_EXTENSIONS):
        try:
            audio = _open_soundfile(path, start, end, sampling_rate, silence_threshold)
        except Exception as err:  # libsndfile refuses some codecs (e.g. some wav sub-formats): let FFmpeg try
            errors.append(f"soundfile: {err}")
    if audio is None:
        try:
            data, sr = _read_av_audio(path, start, end)
        except MediaDecodeError:
            raise
        except Exception as err:
            errors.append(f"PyAV: {err}")
            raise MediaDecodeError(path, "; ".join(errors)) from err
        mono = data.mean(axis=0, dtype=np.float32) if data.shape[0] > 1 else data[0].astype(np.float32, copy=False)
        wav = resample(mono, sr, sampling_rate)
        audio = AudioBlocks(path, wav.shape[0], lambda: iter([wav]), silence_threshold)
    if audio.num_samples == 0:
        audio.close()
        span = f"between {start:g} s and {end:g} s" if end is not None else f"after {start:g} s"
        raise MediaDecodeError(path, f"no audio samples {span}")
    if audio_too_short(audio.num_samples, sampling_rate):
        audio.close()
        raise ShortAudioError(
            path, f"audio lasts {audio.num_samples / sampling_rate * 1000:.1f} ms, under one {MIN_AUDIO_SECONDS * 1000:.0f} ms "
            "analysis window"
        )
    return audio


def load_audio(
    path: str | os.PathLike,
    sampling_rate: int = 16000,
    start: float | None = None,
    end: float | None = None,
    silence_threshold: float | None = DEFAULT_SILENCE_THRESHOLD,
) -> np.ndarray:
    """Decode an audio file (or the audio track of a video) to one mono float32 waveform at `sampling_rate`.

    The concatenated blocks of [`open_audio`] (same arguments, same errors): memory is the output (4 bytes per
    sample) plus one block.

    Raises:
        MediaDecodeError: missing/corrupt file, no audio stream, no samples in `[start, end)`, NaN samples, or digital
            silence (a [`SilentAudioError`]).
        ValueError: a negative `start` or `end <= start`.
    """
    audio = open_audio(path, sampling_rate, start, end, silence_threshold)
    output = np.empty(audio.num_samples, dtype=np.float32)
    filled = 0
    for block in audio:
        output[filled : filled + block.shape[0]] = block
        filled += block.shape[0]
    return output[:filled]


def _sample_times(start: float, end: float | None, fps: float, max_frames: int | None) -> tuple[float, float]:
    """First sample time and step (s) so that at most `max_frames` frames spread evenly over `[start, end)`."""
    step = 1.0 / fps
    if max_frames is not None and end is not None and (end - start) * fps > max_frames:
        step = (end - start) / max_frames
    return start, step


def iter_video_frames(
    path: str | os.PathLike,
    fps: float = 5.0,
    max_frames: int | None = None,
    start: float | None = None,
    end: float | None = None,
    max_size: int | None = None,
) -> Iterator[np.ndarray]:
    """Decode a video and yield RGB `uint8` frames of shape `(H, W, 3)` sampled at about `fps` frames per second.

    A frame is kept each time the presentation time passes the next sampling instant (`start, start + 1/fps, ...`),
    so the output rate never exceeds the video's own rate. When the clip length is known and `fps` would give more
    than `max_frames` frames, the sampling step is widened so that `max_frames` frames cover the whole clip (an
    utterance's end matters as much as its start); `max_frames` is a hard cap in every case.

    The file is opened when this function is called, so a missing or unreadable file raises
    [`MediaDecodeError`] immediately, not at the first `next()`.

    Args:
        path: the video file.
        fps: sampling rate in frames per second (> 0).
        max_frames: optional cap on the number of frames.
        start, end: optional cut in seconds.
        max_size: if given, frames whose longer side exceeds it are downscaled (keeping the aspect ratio).
    """
    path = _check_path(path)
    start, end = _check_span(path, start, end)
    if not fps or fps <= 0:
        raise ValueError(f"{path!r}: fps must be > 0, got {fps}")
    if max_frames is not None and max_frames <= 0:
        raise ValueError(f"{path!r}: max_frames must be > 0, got {max_frames}")
    import av

    try:
        container = av.open(path)
    except Exception as err:
        raise MediaDecodeError(path, f"cannot open the container ({err})") from err
    if not container.streams.video:
        container.close()
        raise MediaDecodeError(path, "no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    if end is None:
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration:
            duration = container.duration / 1_000_000
        clip_end = duration
    else:
        clip_end = end
    first_time, step = _sample_times(start, clip_end, fps, max_frames)
    return _video_frames(container, stream, path, first_time, step, end, max_frames, max_size)


def _video_frames(
    container, stream, path, next_time, step, end, max_frames, max_size, allow_seek=True
) -> Iterator[np.ndarray]:
    import av

    offset = _stream_offset(stream)
    rate = float(stream.average_rate) if stream.average_rate else 25.0
    yielded = 0
    try:
        seeked = allow_seek and next_time > 0 and _seek(container, stream, next_time + offset)
        counted = 0  # frames decoded, for files without timestamps (time = count / nominal rate)
        try:
            for frame in container.decode(stream):
                if seeked and counted == 0 and (
                    frame.pts is None or float(frame.pts * stream.time_base) - offset > next_time + 1e-3
                ):  # position unknown after the seek, or it landed past the target: start over from the beginning
                    container.seek(0)
                    yield from _video_frames(
                        container, stream, path, next_time, step, end, max_frames, max_size, allow_seek=False
                    )
                    return
                time = float(frame.pts * stream.time_base) - offset if frame.pts is not None else counted / rate
                counted += 1
                if end is not None and time >= end:
                    break
                if time + 1e-6 < next_time:
                    continue
                if max_size is not None and max(frame.width, frame.height) > max_size:
                    scale = max_size / max(frame.width, frame.height)
                    frame = frame.reformat(
                        width=max(2, int(round(frame.width * scale))), height=max(2, int(round(frame.height * scale)))
                    )
                yield frame.to_ndarray(format="rgb24")
                yielded += 1
                if max_frames is not None and yielded >= max_frames:
                    break
                while next_time <= time + 1e-6:
                    next_time += step
        except av.error.FFmpegError as err:
            if yielded == 0:
                raise MediaDecodeError(path, f"video decoding failed ({err})") from err
            logger.warning("%s: video decoding stopped after %d frames (%s)", path, yielded, err)
        if yielded == 0:
            raise MediaDecodeError(path, "no video frames in the requested span")
    finally:
        container.close()


__all__ = [
    "DEFAULT_SILENCE_THRESHOLD",
    "MAX_RESAMPLED_SECONDS",
    "MAX_SAMPLING_RATE",
    "MIN_AUDIO_SECONDS",
    "MIN_SAMPLING_RATE",
    "AudioBlocks",
    "MediaDecodeError",
    "ShortAudioError",
    "SilentAudioError",
    "audio_too_short",
    "check_sampling_rate",
    "is_silent",
    "iter_video_frames",
    "load_audio",
    "open_audio",
    "resample",
]
