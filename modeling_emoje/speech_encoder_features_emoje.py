# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""The speech-encoder audio route: hidden states of any Hugging Face raw-waveform encoder (WavLM, HuBERT,
wav2vec 2.0, data2vec-audio, UniSpeech...), by Hub id or local folder, on CPU or GPU.

`AutoFeatureExtractor` prepares the waveform (resampled to the encoder's rate, normalised as it was trained) and
`AutoModel` encodes it; `layer` picks the hidden state: 0 the input of the first transformer layer, `k` the output of
layer `k` (both as transformers' `hidden_states[k]`), and the last layer (`-1`, saved as `num_hidden_layers`) the
model's `last_hidden_state`, with the final layer norm of pre-norm models (WavLM/HuBERT Large) included. Layers after
`layer` are never run.
`pooling="mean"` gives one vector per utterance (the mean over its frames), `pooling="frames"` the encoder's frames
(50 per second for these models) averaged to `frames_per_second` (default 10) and capped at `max_frames` (300)
uniform segments, as the log-mel route.

**Long audio.** The waveform is encoded `chunk_seconds` (20 s) at a time: a file is decoded block by block
(`media_io.open_audio`), and only one batch of chunks is held (`batch_size` chunks of equal length: no padding;
1 on CPU, 4 on GPU by default).
The output frames are summed into their final output frame as chunks finish, so memory does not grow with the
length of the audio. An utterance shorter than `chunk_seconds` is one chunk, as in one pass over it; a longer one is
encoded as independent chunks (each sees its own 20 s of context), and a remainder shorter than the encoder's window
(25 ms) joins the chunk before it.

**Batches of utterances.** [`SpeechEncoderAudioExtractor.extract_batch`] encodes the chunks of many utterances
together: chunks of equal length always; chunks of different lengths, padded with an attention mask, only for
encoders whose outputs padding does not change (layer-normalised convolutions and an attention mask, e.g. WavLM
Large); others run one length at a time, so a batch gives the same frames as one utterance at a time.

Identity: `settings` hold the model reference; `fingerprint` replaces it by the SHA-256 of the weights files and of
the config, so a copy of the same encoder elsewhere gives the same features and the same cache key.

Example:

```python
>>> import numpy as np
>>> from modeling_emoje.speech_encoder_features_emoje import SpeechEncoderAudioExtractor
>>> encoder = SpeechEncoderAudioExtractor("microsoft/wavlm-base-plus", layer=6, pooling="mean")  # doctest: +SKIP
>>> wave = np.random.default_rng(0).standard_normal(48000).astype(np.float32) * 0.1
>>> encoder(wave, sampling_rate=16000).shape  # doctest: +SKIP
(1, 768)
>>> SpeechEncoderAudioExtractor("microsoft/wavlm-base-plus", pooling="frames")(wave, 16000).shape  # doctest: +SKIP
(30, 768)

```
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from .audio_features_emoje import AudioExtractor, FrameBins, _check_rate, _mono_waveform, settings_hash
from .media_io import open_audio, resample


POOLINGS = ("mean", "frames")
HUB_OPTIONS = ("token", "cache_dir", "local_files_only")  # where to fetch from: never part of the settings
WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
CONFIG_NOISE = ("_name_or_path", "_commit_hash", "transformers_version", "architectures", "dtype", "torch_dtype")


def _import_torch():
    try:
        import torch
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("speech-encoder audio features need torch") from error
    return torch


def _conv_geometry(config: Any) -> tuple[int, int]:
    """(receptive field, stride) in samples of a wav2vec2-style convolutional front end."""
    kernels, strides = getattr(config, "conv_kernel", None), getattr(config, "conv_stride", None)
    if not kernels or not strides:
        raise ValueError(
            f"{getattr(config, 'model_type', '?')} has no convolutional waveform front end (conv_kernel/conv_stride): "
            "only raw-waveform speech encoders (wav2vec 2.0, HuBERT, WavLM, data2vec-audio, UniSpeech) are supported"
        )
    field, stride = 1, 1
    for kernel, step in zip(kernels, strides):
        field += (kernel - 1) * stride
        stride *= step
    return field, stride


class SpeechEncoderAudioExtractor(AudioExtractor):
    r"""
    Hidden states of a Hugging Face speech encoder (module docstring).

    Args:
        model (`str`): a Hub id or a local folder holding the encoder and its `preprocessor_config.json`.
        layer (`int`, *optional*, defaults to -1): hidden state to read (0 .. num_hidden_layers; -1 = last).
        pooling (`str`, *optional*, defaults to `"mean"`): `"mean"` (one vector) or `"frames"`.
        frames_per_second (`float`, *optional*): `"frames"` only; default 10; `None` keeps the encoder's rate.
        max_frames (`int`, *optional*): `"frames"` only; default 300; `None` for no cap.
        chunk_seconds (`float`, *optional*, defaults to 20): audio encoded at once.
        revision (`str`, *optional*): Hub revision (branch, tag or commit).
        device (`str`, *optional*): run-time option; `"cuda"` when available, else `"cpu"`.
        batch_size (`int`, *optional*): run-time option; chunks per forward pass (default 1 on CPU, where batching
            20 s chunks is no faster, 4 on GPU).
        token, cache_dir, local_files_only: run-time options passed to `from_pretrained`.
    """

    name = "encoder"

    def __init__(
        self,
        model: str | os.PathLike,
        layer: int = -1,
        pooling: str = "mean",
        frames_per_second: float | None | str = "default",
        max_frames: int | None | str = "default",
        chunk_seconds: float = 20.0,
        revision: str | None = None,
        device: str | None = None,
        batch_size: int | None = None,
        **hub_options: Any,
    ):
        from transformers import AutoConfig, AutoFeatureExtractor

        unknown = sorted(set(hub_options) - set(HUB_OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown speech-encoder settings {unknown}; known: layer, pooling, frames_per_second, max_frames, "
                f"chunk_seconds, revision, device, batch_size, {', '.join(HUB_OPTIONS)}"
            )
        self.model_name_or_path = os.fspath(model)
        self.revision = revision
        self._hub = {key: value for key, value in hub_options.items() if value is not None}
        where = {"revision": revision, **self._hub} if revision else dict(self._hub)
        try:
            self.config = AutoConfig.from_pretrained(self.model_name_or_path, **where)
            self.processor = AutoFeatureExtractor.from_pretrained(self.model_name_or_path, **where)
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot load the speech encoder {self.model_name_or_path!r}: {error}") from error
        inputs = list(getattr(self.processor, "model_input_names", []))
        if not inputs or inputs[0] != "input_values":
            raise ValueError(
                f"{self.model_name_or_path!r} takes {inputs or 'unknown inputs'}, not a raw waveform ('input_values'): "
                "only raw-waveform encoders are supported (not spectrogram models such as Whisper)"
            )
        self.receptive_field, self.stride = _conv_geometry(self.config)
        self.sampling_rate = int(self.processor.sampling_rate)
        num_layers = int(self.config.num_hidden_layers)
        layer = int(layer)
        if not -num_layers - 1 <= layer <= num_layers:
            raise ValueError(f"{self.model_name_or_path!r} has {num_layers} layers: layer must be in [0, {num_layers}] or -1, got {layer}")
        self.num_layers, self.layer = num_layers, layer % (num_layers + 1)
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        frame_rate = self.sampling_rate / self.stride
        if pooling == "mean":
            for key, value in (("frames_per_second", frames_per_second), ("max_frames", max_frames)):
                if value not in ("default", None):
                    raise ValueError(f"{key} applies to pooling='frames' only (mean pooling gives one vector)")
            frames_per_second = max_frames = None
        else:
            frames_per_second = 10.0 if frames_per_second == "default" else frames_per_second
            max_frames = 300 if max_frames == "default" else max_frames
            if frames_per_second is not None and not 0 < float(frames_per_second) <= frame_rate:
                raise ValueError(f"frames_per_second must be in (0, {frame_rate:g}] (the encoder's rate) or None, got {frames_per_second!r}")
            if max_frames is not None and (int(max_frames) != max_frames or max_frames <= 0):
                raise ValueError(f"max_frames must be a positive integer or None, got {max_frames!r}")
        self.frames_per_second = None if frames_per_second is None else float(frames_per_second)
        self.max_frames = None if max_frames is None else int(max_frames)
        chunk = int(round(float(chunk_seconds) * self.sampling_rate)) // self.stride * self.stride
        if chunk < 4 * self.receptive_field:
            raise ValueError(f"chunk_seconds must be at least {4 * self.receptive_field / self.sampling_rate:g} s, got {chunk_seconds}")
        self.chunk_seconds, self.chunk_samples = float(chunk_seconds), chunk
        if batch_size is not None and int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = None if batch_size is None else int(batch_size)
        self.device = device
        self._model = None
        self._captured: list = []
        self._digest: str | None = None

    def __getstate__(self) -> dict[str, Any]:  # worker processes load their own copy of the weights
        return {**self.__dict__, "_model": None, "_captured": []}

    # ----- interface

    @property
    def settings(self) -> dict[str, Any]:
        settings: dict[str, Any] = {
            "name": self.name,
            "model": self.model_name_or_path,
            "revision": self.revision,
            "layer": self.layer,
            "pooling": self.pooling,
            "chunk_seconds": self.chunk_seconds,
        }
        if self.pooling == "frames":
            settings.update(frames_per_second=self.frames_per_second, max_frames=self.max_frames)
        return settings

    @property
    def feature_dim(self) -> int:
        return int(self.config.hidden_size)

    @property
    def commit_hash(self) -> str | None:
        """The Hub commit the encoder was loaded from (None for a local folder)."""
        return getattr(self.config, "_commit_hash", None)

    @property
    def weights_digest(self) -> str:
        """SHA-256 of the config (without where it was loaded from) and of every weights file, in name order."""
        if self._digest is None:
            digest = hashlib.sha256()
            config = {k: v for k, v in self.config.to_dict().items() if k not in CONFIG_NOISE}
            digest.update(json.dumps(config, sort_keys=True, default=str).encode("utf-8"))
            for path in self._weight_files():
                digest.update(os.path.basename(path).encode("utf-8"))
                with open(path, "rb") as stream:
                    digest.update(hashlib.file_digest(stream, "sha256").digest())
            self._digest = digest.hexdigest()
        return self._digest

    def _weight_files(self) -> list[str]:
        source = self.model_name_or_path
        if os.path.isdir(source):
            files = sorted(path for pattern in WEIGHT_PATTERNS for path in glob.glob(os.path.join(source, pattern)))
            if not files:
                raise ValueError(f"the speech encoder folder {source!r} holds no weights (*.safetensors or *.bin)")
            return files
        from transformers.utils import cached_file

        where = {"revision": self.revision, **self._hub} if self.revision else dict(self._hub)
        for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin"):
            path = cached_file(source, name, _raise_exceptions_for_missing_entries=False, **where)
            if path is None:
                continue
            if not name.endswith(".index.json"):
                return [path]
            with open(path, encoding="utf-8") as stream:
                shards = sorted(set(json.load(stream)["weight_map"].values()))
            return [cached_file(source, shard, **where) for shard in shards]
        raise ValueError(f"the speech encoder {source!r} has no model.safetensors or pytorch_model.bin")

    @property
    def version(self) -> str:
        import transformers

        # A local folder is named by its weights only (never its path: a saved processor holds no absolute path, and
        # a copy of the folder is the same encoder); a Hub encoder by its id and commit.
        if os.path.isdir(self.model_name_or_path):
            where = "local"
        else:
            where = f"{self.model_name_or_path}@{self.commit_hash or self.revision or 'main'}"
        return f"{where} sha256:{self.weights_digest[:16]} (transformers {transformers.__version__})"

    def identity(self) -> dict[str, Any]:
        settings = {key: value for key, value in self.settings.items() if key not in ("model", "revision")}
        return {**settings, "weights_sha256": self.weights_digest}

    @property
    def cache_key(self) -> str:
        return settings_hash({"fingerprint": self.fingerprint})  # the weights digest stands for the location

    def min_samples(self) -> int:
        return self.receptive_field

    # ----- the model

    def _num_frames(self, num_samples: int) -> int:
        length = int(num_samples)
        for kernel, step in zip(self.config.conv_kernel, self.config.conv_stride):
            length = (length - kernel) // step + 1
        if getattr(self.config, "add_adapter", False):
            for _ in range(int(getattr(self.config, "num_adapter_layers", 0))):
                length = (length - 1) // int(self.config.adapter_stride) + 1
        return max(0, length)

    def _layers(self, model: Any) -> Any:
        for path in ("encoder.layers", "encoder.layer", "layers"):
            module = model
            for part in path.split("."):
                module = getattr(module, part, None)
            if module is not None and hasattr(module, "__len__") and len(module) == self.num_layers:
                return module, path
        return None, None

    @property
    def model(self) -> Any:
        """The encoder (loaded on first use), cut after `layer`, in eval mode on `device`."""
        if self._model is None:
            torch = _import_torch()
            from transformers import AutoModel

            where = {"revision": self.revision, **self._hub} if self.revision else dict(self._hub)
            model = AutoModel.from_pretrained(self.model_name_or_path, **where)
            device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
            model = model.to(device).eval()
            self._use_hidden_states = False
            if self.layer < self.num_layers:
                layers, path = self._layers(model)
                if layers is None:  # an unfamiliar layout: run every layer and read `hidden_states`
                    self._use_hidden_states = True
                else:
                    kept = torch.nn.ModuleList(list(layers)[: max(1, self.layer)])
                    owner = model
                    for part in path.split(".")[:-1]:
                        owner = getattr(owner, part)
                    setattr(owner, path.split(".")[-1], kept)
                    if self.layer == 0:  # the input of the first layer
                        kept[0].register_forward_pre_hook(self._capture_input, with_kwargs=True)
                    else:
                        kept[self.layer - 1].register_forward_hook(self._capture_output)
            self._model, self._device = model, torch.device(device)
            if self.batch_size is None:  # on CPU a batch of 20 s chunks is no faster than one, and holds 4x the memory
                self.batch_size = 1 if self._device.type == "cpu" else 4
        return self._model

    def _capture_input(self, module, args, kwargs):
        self._captured.append(args[0] if args else kwargs["hidden_states"])

    def _capture_output(self, module, args, output):
        self._captured.append(output[0] if isinstance(output, (tuple, list)) else output)

    @property
    def pads_exactly(self) -> bool:
        """Whether chunks of different lengths may share a padded batch without changing any frame."""
        return bool(getattr(self.processor, "return_attention_mask", False)) and getattr(
            self.config, "feat_extract_norm", "group"
        ) == "layer"

    def _forward(self, chunks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Hidden states (frames, D) of each chunk, encoded in one forward pass."""
        torch = _import_torch()
        model = self.model
        with_mask = bool(getattr(self.processor, "return_attention_mask", False))
        inputs = self.processor(
            list(chunks),
            sampling_rate=self.sampling_rate,
            padding="longest",
            return_attention_mask=with_mask,
            return_tensors="pt",
        )
        kwargs = {"input_values": inputs["input_values"].to(self._device)}
        if with_mask:
            kwargs["attention_mask"] = inputs["attention_mask"].to(self._device)
        self._captured.clear()
        with torch.inference_mode():
            output = model(**kwargs, output_hidden_states=self._use_hidden_states)
        if self.layer == self.num_layers:
            states = output.last_hidden_state
        elif self._use_hidden_states:
            states = output.hidden_states[self.layer]
        else:
            states = self._captured[-1]
        self._captured.clear()
        states = states.float().cpu().numpy()
        return [states[index, : self._num_frames(len(chunk))] for index, chunk in enumerate(chunks)]

    # ----- chunk plans and output frames

    def chunk_lengths(self, num_samples: int) -> list[int]:
        """Lengths of the chunks a waveform of `num_samples` is encoded in ([] when too short for one frame)."""
        lengths, rest = [], int(num_samples)
        while rest >= self.chunk_samples + self.receptive_field:
            lengths.append(self.chunk_samples)
            rest -= self.chunk_samples
        if rest >= self.receptive_field:
            lengths.append(rest)
        return lengths

    def _bins(self, num_samples: int) -> tuple[FrameBins, list[np.ndarray]] | None:
        """The output accumulator of a waveform and, per chunk, the window index of each of its frames."""
        lengths = self.chunk_lengths(num_samples)
        if not lengths:
            return None
        windows, offset, count = [], 0, 0
        for length in lengths:
            frames = self._num_frames(length)
            if self.pooling == "mean":
                windows.append(np.zeros(frames, dtype=np.int64))
            elif self.frames_per_second is None:
                windows.append(count + np.arange(frames))
            else:
                centres = (offset + np.arange(frames) * self.stride + self.receptive_field / 2) / self.sampling_rate
                windows.append(np.floor(centres * self.frames_per_second + 1e-9).astype(np.int64))
            offset += length
            count += frames
        num_windows = int(max(int(w[-1]) for w in windows if len(w)) + 1)
        return FrameBins(num_windows, self.feature_dim, 1 if self.pooling == "mean" else self.max_frames), windows

    def _stream_chunks(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """The chunks of a stream of blocks (see [`chunk_lengths`]), holding at most one chunk and one block."""
        buffer = np.zeros(0, dtype=np.float32)
        for block in blocks:
            buffer = np.concatenate([buffer, np.asarray(block, dtype=np.float32)])
            while buffer.size >= self.chunk_samples + self.receptive_field:
                yield buffer[: self.chunk_samples]
                buffer = buffer[self.chunk_samples :]
        if buffer.size >= self.receptive_field:
            yield buffer

    def _encode_stream(self, blocks: Iterable[np.ndarray], num_samples: int) -> np.ndarray | None:
        plan = self._bins(num_samples)
        if plan is None:
            for _ in blocks:  # read to the end: the decoder's silence/NaN checks run there
                pass
            return None
        bins, windows = plan
        pending: list[np.ndarray] = []
        done = 0

        def flush() -> None:
            nonlocal done
            for states in self._forward(pending):
                bins.add(windows[done][: len(states)], states)
                done += 1
            pending.clear()

        self.model  # loaded first: it settles the batch size
        for chunk in self._stream_chunks(blocks):
            if pending and (len(pending) == self.batch_size or chunk.size != pending[0].size):
                flush()
            pending.append(chunk)
        if pending:
            flush()
        if done != len(windows):
            raise RuntimeError(f"encoded {done} chunks, planned {len(windows)}")
        return bins.result()

    # ----- extraction

    def extract(self, wave: np.ndarray) -> np.ndarray | None:
        return self._encode_stream([wave], wave.size)

    def extract_file(self, path: str | os.PathLike, start: float | None = None, end: float | None = None) -> np.ndarray | None:
        audio = open_audio(path, self.sampling_rate, start, end, silence_threshold=self.silence_threshold)
        return self._encode_stream(audio, audio.num_samples)

    def extract_batch(self, waveforms: Sequence[Any], sampling_rate: int) -> list[np.ndarray | None]:
        """Frames of many utterances, their chunks encoded together (module docstring); None where one has no
        usable audio (empty, silent, too short). The same frames as calling the extractor on each."""
        rate = _check_rate(sampling_rate)
        plans: list[tuple[FrameBins, list[np.ndarray]] | None] = []
        chunks: list[tuple[int, int, np.ndarray]] = []  # (utterance, chunk number, samples)
        for index, waveform in enumerate(waveforms):
            wave = _mono_waveform(waveform, f"waveforms[{index}]")
            silent = wave.size == 0 or (
                self.silence_threshold is not None and float(np.max(np.abs(wave))) <= self.silence_threshold
            )
            if not silent and rate != self.sampling_rate:
                wave = resample(wave, rate, self.sampling_rate)
            plan = None if silent else self._bins(wave.size)
            plans.append(plan)
            if plan is not None:
                chunks.extend((index, number, chunk) for number, chunk in enumerate(self._stream_chunks([wave])))
        order = sorted(range(len(chunks)), key=lambda i: -chunks[i][2].size)
        self.model  # loaded first: it settles the batch size
        batch: list[int] = []

        def flush() -> None:
            for position, states in zip(batch, self._forward([chunks[i][2] for i in batch])):
                utterance, number, _ = chunks[position]
                bins, windows = plans[utterance]
                bins.add(windows[number][: len(states)], states)
            batch.clear()

        for position in order:
            size = chunks[position][2].size
            if batch and (len(batch) == self.batch_size or (size != chunks[batch[0]][2].size and not self.pads_exactly)):
                flush()
            batch.append(position)
        if batch:
            flush()
        return [None if plan is None else plan[0].result() for plan in plans]


__all__ = ["POOLINGS", "SpeechEncoderAudioExtractor"]
