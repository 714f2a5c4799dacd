# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""Audio feature extractor for emoje: 16 kHz waveform -> pooled log-mel frames of shape `(T, 80)`."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
from transformers.audio_utils import mel_filter_bank, window_function
from transformers.feature_extraction_sequence_utils import SequenceFeatureExtractor
from transformers.feature_extraction_utils import BatchFeature
from transformers.utils import TensorType, logging

from .media_io import AudioBlocks, MediaDecodeError, open_audio, resample


logger = logging.get_logger(__name__)

AUDIO_FEATURE_DIM = 80
STFT_CHUNK_FRAMES = 1000  # STFT frames computed at once (10 s at the default hop): about 10 MB of working memory


def _reflected(begin: int, end: int, pad: int, num_samples: int) -> np.ndarray:
    """Waveform indices of samples `[begin, end)` of the signal centred with `pad` reflected samples on each side."""
    index = np.abs(np.arange(begin - pad, end - pad))
    return np.where(index >= num_samples, 2 * (num_samples - 1) - index, index)


class _CentredWave:
    """An in-memory waveform as the STFT sees it: `n_fft // 2` reflected samples on each side (zeros when it is too
    short to reflect), read by range without padding the whole waveform."""

    def __init__(self, wave: np.ndarray, n_fft: int):
        self.wave, self.pad, self.num_samples = wave, n_fft // 2, wave.size

    def samples(self, begin: int, end: int) -> np.ndarray:
        if self.num_samples <= self.pad:
            return np.pad(self.wave, (self.pad, max(self.pad, end - self.pad - self.num_samples)))[begin:end]
        return self.wave[_reflected(begin, end, self.pad, self.num_samples)]


class _CentredStream:
    """The same view of an [`AudioBlocks`] stream (longer than `n_fft // 2` samples), read forward: it keeps only the
    samples from the current STFT chunk on (one chunk plus one decoded block), so memory does not grow with the
    length of the audio."""

    def __init__(self, audio: AudioBlocks, n_fft: int):
        self.path, self.pad, self.num_samples = audio.path, n_fft // 2, audio.num_samples
        self._blocks = iter(audio)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._offset = 0  # waveform index of self._buffer[0]

    def samples(self, begin: int, end: int) -> np.ndarray:
        index = _reflected(begin, end, self.pad, self.num_samples)
        low, high = int(index.min()), int(index.max()) + 1
        if low < self._offset:
            raise RuntimeError(f"STFT chunks must move forward: sample {low} was already dropped")
        keep_from = max(self._offset, low - 2 * self.pad)  # earlier samples are never asked for again
        self._buffer, self._offset = self._buffer[keep_from - self._offset :], keep_from
        pieces = [self._buffer]
        available = self._offset + self._buffer.size
        while available < high:
            block = next(self._blocks, None)
            if block is None:
                raise MediaDecodeError(self.path, f"the audio ended after {available} of {self.num_samples} samples")
            pieces.append(block)
            available += block.size
        self._buffer = np.concatenate(pieces) if len(pieces) > 1 else self._buffer
        return self._buffer[index - self._offset]

    def finish(self) -> None:
        """Read the stream to its end, where it checks for NaN samples and digital silence."""
        for _ in self._blocks:
            pass


class EmoJEFeatureExtractor(SequenceFeatureExtractor):
    r"""
    Turns raw speech into a short sequence of log-mel frames, one `(T, feature_size)` float32 array per utterance.

    Pipeline, all numpy: short-time Fourier transform (Hann window of `win_length` samples, `hop_length` hop,
    `n_fft`-point FFT, centred frames with reflect padding) -> power spectrum -> `feature_size` Slaney mel filters
    over `[0, sampling_rate / 2]` -> `log(mel + log_floor)` at 100 frames/s (for the defaults) -> optional
    per-utterance mean/variance normalisation -> average pooling of consecutive frames down to
    `frames_per_second` -> if more than `max_frames` remain, uniform average pooling into exactly `max_frames`
    segments (the whole utterance stays covered; nothing is cut off).

    Normalisation (`do_normalize=True`, the default): each mel bin is centred and scaled by the mean and standard
    deviation it has over the utterance's full-rate frames, then pooled; so the pooled features are centred but
    have a variance below one. This removes channel and loudness offsets between recordings; set it to `False` to
    keep absolute log energies (e.g. with a corpus recorded in one setting).

    Audio at another sampling rate is **resampled automatically** to `sampling_rate` (polyphase filter, see
    `media_io.resample`); pass the true rate with `sampling_rate=`. If it is not given, the input is assumed to be at
    `self.sampling_rate` and a warning is logged once.

    Args:
        feature_size (`int`, *optional*, defaults to 80): number of mel bins.
        sampling_rate (`int`, *optional*, defaults to 16000): rate the STFT works at.
        padding_value (`float`, *optional*, defaults to 0.0): value used by `pad()`.
        n_fft (`int`, *optional*, defaults to 400): FFT size (25 ms at 16 kHz).
        win_length (`int`, *optional*, defaults to 400): analysis window length (25 ms at 16 kHz).
        hop_length (`int`, *optional*, defaults to 160): hop between frames (10 ms at 16 kHz).
        frames_per_second (`float`, *optional*, defaults to 10): output frame rate after pooling.
        max_frames (`int`, *optional*, defaults to 300): cap on output frames per utterance (30 s at 10 frames/s).
        do_normalize (`bool`, *optional*, defaults to `True`): per-utterance mean/variance normalisation per bin.
        log_floor (`float`, *optional*, defaults to 1e-10): added to the mel energies before the natural log; about
            the quantisation-noise level of 16-bit audio, so quiet speech stays well above it (telephone audio has
            empty bins above 4 kHz, which sit at this floor).

    Example:

    ```python
    >>> import numpy as np
    >>> from modeling_emoje.feature_extraction_emoje import EmoJEFeatureExtractor
    >>> extractor = EmoJEFeatureExtractor()
    >>> wave = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1  # 1 s at 16 kHz
    >>> features = extractor(wave, sampling_rate=16000)["input_features"]
    >>> features[0].shape
    (11, 80)
    >>> extractor(wave[::2], sampling_rate=8000)["input_features"][0].shape  # resampled to 16 kHz first
    (11, 80)

    ```
    """

    model_input_names = ["input_features"]

    def __init__(
        self,
        feature_size: int = AUDIO_FEATURE_DIM,
        sampling_rate: int = 16000,
        padding_value: float = 0.0,
        n_fft: int = 400,
        win_length: int = 400,
        hop_length: int = 160,
        frames_per_second: float = 10.0,
        max_frames: int = 300,
        do_normalize: bool = True,
        log_floor: float = 1e-10,
        return_attention_mask: bool = True,
        **kwargs,
    ):
        super().__init__(
            feature_size=feature_size,
            sampling_rate=sampling_rate,
            padding_value=padding_value,
            return_attention_mask=return_attention_mask,
            **kwargs,
        )
        if win_length > n_fft:
            raise ValueError(f"win_length ({win_length}) must be <= n_fft ({n_fft})")
        if frames_per_second <= 0 or max_frames <= 0 or hop_length <= 0:
            raise ValueError("frames_per_second, max_frames and hop_length must be positive")
        self.n_fft = n_fft
        self.win_length = win_length
        self.hop_length = hop_length
        self.frames_per_second = frames_per_second
        self.max_frames = max_frames
        self.do_normalize = do_normalize
        self.log_floor = log_floor
        # Not serialised: FeatureExtractionMixin.to_dict drops `window` and `mel_filters`.
        self.window = window_function(win_length, "hann", frame_length=n_fft).astype(np.float32)
        self.mel_filters = mel_filter_bank(
            num_frequency_bins=n_fft // 2 + 1,
            num_mel_filters=feature_size,
            min_frequency=0.0,
            max_frequency=sampling_rate / 2,
            sampling_rate=sampling_rate,
            norm="slaney",
            mel_scale="slaney",
        ).astype(np.float32)

    @property
    def pool_size(self) -> int:
        """Number of STFT frames averaged into one output frame (10 for the defaults)."""
        return max(1, int(round(self.sampling_rate / self.hop_length / self.frames_per_second)))

    def _check_waveform(self, waveform: np.ndarray) -> np.ndarray:
        wave = np.asarray(waveform, dtype=np.float32)
        if wave.ndim != 1 or wave.size == 0:
            raise ValueError(f"expected a non-empty mono waveform (1-D array), got shape {wave.shape}")
        return wave

    def _num_stft_frames(self, num_samples: int) -> int:
        padded = num_samples + 2 * (self.n_fft // 2)
        return 1 + (max(padded, self.n_fft) - self.n_fft) // self.hop_length

    def _log_mel_chunks(self, source: _CentredWave | _CentredStream) -> Iterator[np.ndarray]:
        """The full-rate log-mel frames of `source`, `STFT_CHUNK_FRAMES` frames (a multiple of `pool_size`) at a
        time, so that the STFT's working memory stays a few MB whatever the length of the audio."""
        count = self._num_stft_frames(source.num_samples)
        chunk = self.pool_size * max(1, STFT_CHUNK_FRAMES // self.pool_size)
        for first in range(0, count, chunk):
            last = min(first + chunk, count)
            samples = source.samples(first * self.hop_length, (last - 1) * self.hop_length + self.n_fft)
            frames = np.lib.stride_tricks.sliding_window_view(samples, self.n_fft)[:: self.hop_length]
            spectrum = np.fft.rfft(frames * self.window, n=self.n_fft, axis=-1)
            power = spectrum.real**2 + spectrum.imag**2
            # numpy's own loop, not BLAS: a BLAS product's rounding depends on its thread count, and extraction must
            # give the same bits in one process and in parallel workers (which run single-threaded).
            mel = np.einsum("fk,km->fm", power.astype(np.float32), self.mel_filters, optimize=False)
            yield np.log(mel + self.log_floor, dtype=np.float32)

    def log_mel(self, waveform: np.ndarray) -> np.ndarray:
        """Full-rate log-mel spectrogram `(num_stft_frames, feature_size)` of a mono waveform at `sampling_rate`."""
        return np.concatenate(list(self._log_mel_chunks(_CentredWave(self._check_waveform(waveform), self.n_fft))))

    def _pool_rate(self, frames: np.ndarray) -> np.ndarray:
        """Average consecutive groups of `pool_size` frames (the last group may be shorter)."""
        size, count = self.pool_size, frames.shape[0]
        if size == 1:
            return frames
        starts = np.arange(0, count, size)
        return np.add.reduceat(frames, starts, axis=0) / np.diff(np.append(starts, count))[:, None]

    def extract(self, waveform: np.ndarray) -> np.ndarray:
        """Features `(T, feature_size)` of one mono waveform already at `self.sampling_rate`."""
        return self._features(_CentredWave(self._check_waveform(waveform), self.n_fft))

    def _features(self, source: _CentredWave | _CentredStream) -> np.ndarray:
        """Chunk by chunk, in memory that does not grow with the audio: each chunk's frames are pooled to
        `frames_per_second` and added into their output frame (`max_frames` uniform segments when there are more),
        and only per-bin sums are kept for the normalisation. Normalising at the end equals normalising the
        full-rate frames first, as every pooling step is an average."""
        pooled_count = -(-self._num_stft_frames(source.num_samples) // self.pool_size)
        outputs = min(pooled_count, self.max_frames)
        bounds = np.linspace(0, pooled_count, outputs + 1).round().astype(np.int64)  # pooled frames per output frame
        sums = np.zeros((outputs, self.feature_size), dtype=np.float64)
        total, squares, count, done = 0.0, 0.0, 0, 0
        for frames in self._log_mel_chunks(source):
            pooled = self._pool_rate(frames)
            owners = np.searchsorted(bounds, np.arange(done, done + pooled.shape[0]), side="right") - 1
            np.add.at(sums, owners, pooled)
            done += pooled.shape[0]
            if self.do_normalize:
                total = total + frames.sum(axis=0, dtype=np.float64)
                squares = squares + np.square(frames, dtype=np.float64).sum(axis=0)
                count += frames.shape[0]
        features = sums / np.diff(bounds)[:, None]
        if self.do_normalize:
            mean = total / count
            features = (features - mean) / np.sqrt(np.maximum(squares / count - mean**2, 0.0) + 1e-5)
        return features.astype(np.float32)

    def num_frames(self, num_samples: int) -> int:
        """Number of output frames for a waveform of `num_samples` samples at `sampling_rate`."""
        stft_frames = 1 + max(num_samples + 2 * (self.n_fft // 2), self.n_fft) - self.n_fft
        stft_frames = 1 + (stft_frames - 1) // self.hop_length
        return min(-(-stft_frames // self.pool_size), self.max_frames)

    def __call__(
        self,
        raw_speech: np.ndarray | list[float] | list[np.ndarray] | list[list[float]],
        sampling_rate: int | None = None,
        return_tensors: str | TensorType | None = None,
        **kwargs,
    ) -> BatchFeature:
        """
        Featurise one waveform or a batch of them.

        Args:
            raw_speech: a 1-D array/list of floats (one utterance) or a list of them (a batch). Stereo input must be
                mixed down by the caller (or loaded with `media_io.load_audio`).
            sampling_rate: the rate of `raw_speech`; other rates than `self.sampling_rate` are resampled.
            return_tensors: `None` keeps a list of `(T_i, feature_size)` float32 arrays (lengths differ); `"np"` or
                `"pt"` pad them with `padding_value` into one `(B, T_max, feature_size)` tensor and add
                `attention_mask` (B, T_max).

        Returns:
            [`BatchFeature`] with `input_features` (and `attention_mask` when padded).
        """
        if kwargs:
            logger.warning_once(f"EmoJEFeatureExtractor ignores the arguments {sorted(kwargs)}")
        if sampling_rate is None:
            logger.warning_once(
                f"No sampling_rate passed to EmoJEFeatureExtractor: assuming {self.sampling_rate} Hz. Pass "
                "`sampling_rate=` to have other rates resampled."
            )
            sampling_rate = self.sampling_rate
        batched = isinstance(raw_speech, (list, tuple)) and len(raw_speech) > 0 and (
            isinstance(raw_speech[0], (np.ndarray, list, tuple))
        )
        if isinstance(raw_speech, np.ndarray) and raw_speech.ndim == 2:
            raise ValueError(
                f"got a 2-D array of shape {raw_speech.shape}: pass a list of 1-D waveforms (a batch), "
                "or mix channels down to mono first"
            )
        speeches = list(raw_speech) if batched else [raw_speech]
        features = []
        for index, speech in enumerate(speeches):
            wave = np.asarray(speech, dtype=np.float32)
            if wave.ndim != 1 or wave.size == 0:
                raise ValueError(f"raw_speech[{index}] must be a non-empty 1-D waveform, got shape {wave.shape}")
            if not np.all(np.isfinite(wave)):
                raise ValueError(f"raw_speech[{index}] holds NaN or infinite samples")
            if sampling_rate != self.sampling_rate:
                wave = resample(wave, sampling_rate, self.sampling_rate)
            features.append(self.extract(wave))

        batch = BatchFeature({"input_features": features})
        if return_tensors is not None:
            batch = self.pad(batch, padding="longest", return_attention_mask=True, return_tensors=return_tensors)
        return batch

    def extract_file(
        self, path: str | os.PathLike, start: float | None = None, end: float | None = None
    ) -> np.ndarray:
        """Decode `path` (wav/flac or a video's audio track) between `start` and `end` seconds and featurise it.

        The file is decoded block by block as the STFT advances ([`~media_io.open_audio`]), so memory does not grow
        with its length (a 1-hour wav included). Raises [`~media_io.MediaDecodeError`] for missing, corrupt, empty or
        digitally silent audio ([`~media_io.SilentAudioError`]).
        """
        audio = open_audio(path, sampling_rate=self.sampling_rate, start=start, end=end)
        if audio.num_samples <= self.n_fft:  # too short to stream (and to reflect-pad): one block
            return self.extract(np.concatenate(list(audio)))
        source = _CentredStream(audio, self.n_fft)
        features = self._features(source)
        source.finish()  # the silence and NaN checks run at the end of the file
        return features


__all__ = ["AUDIO_FEATURE_DIM", "EmoJEFeatureExtractor"]
