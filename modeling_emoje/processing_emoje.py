# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""Processor for emoje: conversations of raw turns -> the models' shared input contract (padded dialogues + masks).

A conversation is a list of turns, in order. Each turn is a dict with `speaker` and any subset of:

| key | value | gives |
|---|---|---|
| `text` | str | `text_features` (1, D) from the frozen text encoder, or `input_ids` for a model with its own backbone |
| `audio` | path, `{"array", "sampling_rate"}` or `{"path", "start", "end"}` (seconds) | `audio_features` (T, D) of the processor's audio extractor (80-bin log-mel by default) |
| `video` | path or `{"path", "start", "end"}` | `face_features` (T, 204) and `body_features` (T, 88) landmarks |
| `face`, `body` | pre-extracted arrays (T, D) or (D,) | used as given |
| `text_features`, `audio_features` | pre-extracted arrays (T, D) or (D,) | used as given |

Any other key (a typo such as `audo`) is an error naming the turn and the key. Audio that is digital silence (a
file or an array) counts as absent audio, as it does in prepared datasets. Pre-extracted arrays win over the raw
field of the same modality. Extraction is per utterance (an audio slice is decoded on its own, never the whole
recording), so memory grows with the number of turns' *features*; an uncut long wav/flac file is decoded and
featurised block by block, in memory that does not grow with its length.

**Text.** The models read pooled sentence features of a frozen encoder (`modality_dims["text"]`, 384 for MiniLM),
so the processor needs the encoder's weights, not only its tokenizer. It keeps the `tokenizer` as its
[`ProcessorMixin`] part (used for `input_ids` when the model has its own text backbone, `text_input="input_ids"`)
and delegates the encoder to its `text_features` part ([`EmoJETextFeatureExtractor`]), which refers to it by
`text_encoder_name_or_path`. `save_pretrained` writes the encoder (weights and
tokenizer) into a `text_encoder/` subfolder and stores the reference `"./text_encoder"`, which is resolved against
the directory (or Hub repository) the processor is loaded from. A saved model directory is therefore
self-contained: `pipeline(..., model=dir)` needs no download. The encoder is loaded lazily, on the first turn
with text.

**Audio.** `audio_features` chooses the audio extractor (`"logmel"`, the default; `"egemaps"`, `"compare"`; a speech
encoder's Hub id or local folder; settings or a saved record: see `audio_features_emoje`). `processor_config.json`
records it (`audio_features`: name, settings, feature_dim, version, fingerprint), so a model always gets at inference
the features it was trained on; `from_pretrained(..., audio_features=X)` with a different X is a ValueError naming
both. A local speech encoder is copied into `audio_encoder/` (referred to as `"./audio_encoder"`), a Hub one is
stored as its id pinned to the commit it was loaded from.

Example:

```python
>>> from modeling_emoje.processing_emoje import EmoJEProcessor
>>> processor = EmoJEProcessor.from_text_encoder("path/to/all-MiniLM-L6-v2")  # doctest: +SKIP
>>> batch = processor([{"speaker": "A", "text": "Hello?"}, {"speaker": "B", "audio": "b.wav"}])  # doctest: +SKIP
>>> batch["text_features"].shape, batch["audio_features"].shape, batch["speaker_ids"].tolist()  # doctest: +SKIP
(torch.Size([1, 2, 1, 384]), torch.Size([1, 2, 7, 80]), [[0, 1]])
>>> batch["modality_mask"][0].tolist()  # text, audio, face, body  # doctest: +SKIP
[[True, False, False, False], [False, True, False, False]]
>>> processor.save_pretrained("exported")  # writes processor_config.json, tokenizer files and text_encoder/  # doctest: +SKIP
```
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from transformers import AutoTokenizer
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin
from transformers.utils import cached_file, logging

from .audio_features_emoje import AudioExtractor, LogMelAudioExtractor, build_audio_extractor, check_same_extractor
from .dialogue_batch import build_dialogue_batch, number_speakers
from .feature_extraction_emoje import EmoJEFeatureExtractor
from .media_io import MIN_AUDIO_SECONDS, MediaDecodeError, SilentAudioError, audio_too_short, is_silent
from .modalities import MODALITIES, MODALITY_TABLE, Scenario, get_modality
from .text_encoding_emoje import TextFeatureEncoder
from .text_feature_extraction_emoje import EmoJETextFeatureExtractor
from .turn_media import VIDEO_MODALITIES, TurnMedia, media_span
from .video_processing_emoje import EmoJEVideoProcessor


logger = logging.get_logger(__name__)

_NO_FRAMES = np.zeros((0, 0), dtype=np.float32)  # a turn without a modality's features
PROCESSOR_CONFIG_FILE = "processor_config.json"
AUDIO_ENCODER_FOLDER = "audio_encoder"  # where save_pretrained copies a local speech encoder
_AUDIO_ENCODER_FILES = ("config.json", "preprocessor_config.json", "*.safetensors", "*.bin", "*.index.json")
# Keyword arguments of `from_pretrained` that say where and how to fetch the files (the rest are settings).
HUB_OPTIONS = ("cache_dir", "force_download", "local_files_only", "token", "revision", "subfolder", "proxies")
# A turn's keys, from the modality table: the raw fields (each modality's `source`), then the ready-made arrays
# (`turn_key`) of the modalities that come from another field (face, body beside a video), then those of the
# modalities that are their own field (text_features beside text).
TURN_KEYS = (
    "speaker",
    *dict.fromkeys(modality.source for modality in MODALITY_TABLE),
    *(modality.turn_key for modality in MODALITY_TABLE if modality.source != modality.name),
    *(modality.turn_key for modality in MODALITY_TABLE if modality.source == modality.name),
)
_TEXT, _AUDIO = get_modality("text"), get_modality("audio")


def is_conversation(value: Any) -> bool:
    """True for one conversation (a non-empty list/tuple of turn dicts), False for a list of conversations."""
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(isinstance(turn, Mapping) for turn in value)


def check_turn_keys(turn: Mapping, where: str) -> None:
    """A ValueError naming the first key of `turn` that is not one of `TURN_KEYS` (with a close match, if any)."""
    for key in turn:
        if key in TURN_KEYS:
            continue
        name = str(key)
        stem = name.removesuffix("_features")  # `face_features` -> `face`, which is how a turn gives face arrays
        matches = [stem] if stem != name and stem in TURN_KEYS else difflib.get_close_matches(name, TURN_KEYS, n=1)
        hint = f" (did you mean {matches[0]!r}?)" if matches else ""
        raise ValueError(f"{where}: unknown key {key!r}{hint}; a turn's keys are {', '.join(TURN_KEYS)}")


def _part_settings(saved: Any) -> dict[str, Any]:
    """A part's saved settings without the bookkeeping keys transformers adds on save (its class name, `auto_map`)."""
    if not isinstance(saved, Mapping):
        raise ValueError(f"a processor part's settings must be a JSON object, got {type(saved).__name__}")
    bookkeeping = ("processor_class", "auto_map", "feature_extractor_type", "video_processor_type")
    return {key: value for key, value in saved.items() if key not in bookkeeping}


def _as_frames(value: Any, where: str, field: str, dim: int | None) -> np.ndarray:
    """A pre-extracted feature array -> float32 (T, D), checked."""
    array = np.asarray(value.detach().cpu() if hasattr(value, "detach") else value, dtype=np.float32)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{where}: '{field}' must be an array of shape (frames, dim) or (dim,), got shape {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise ValueError(f"{where}: '{field}' has {array.shape[1]} features per frame but the model expects {dim}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{where}: '{field}' holds NaN or infinite values")
    return array


def _audio_extractor_for(spec: Any, feature_extractor: EmoJEFeatureExtractor) -> AudioExtractor:
    """The processor's audio extractor: the log-mel of `feature_extractor` when `spec` is None, else the one `spec`
    names (log-mel settings must equal the `feature_extractor` part's: the part is what `processor_config.json` keeps)."""
    logmel = LogMelAudioExtractor(feature_extractor=feature_extractor)
    if spec is None:
        return logmel
    extractor = build_audio_extractor(spec)
    if extractor.name != logmel.name:
        return extractor
    if extractor.fingerprint != logmel.fingerprint:
        raise ValueError(
            f"audio_features asks for log-mel settings {extractor.settings}, which differ from the feature_extractor "
            f"part's {logmel.settings}: give the settings to the EmoJEFeatureExtractor instead"
        )
    return logmel


def _resolve_audio_encoder(reference: str, base: str, subfolder: str, hub_kwargs: dict[str, Any]) -> str:
    """A saved processor's `"./audio_encoder"` as a local folder: next to the processor, or fetched from its Hub repo."""
    folder = reference[2:]
    folder = f"{subfolder}/{folder}" if subfolder else folder
    if os.path.isdir(base):
        path = os.path.join(base, folder)
        if not os.path.isdir(path):
            raise ValueError(f"the processor in {base!r} refers to its audio encoder {reference!r}, but {path!r} is missing")
        return path
    from huggingface_hub import snapshot_download

    return os.path.join(snapshot_download(base, allow_patterns=[f"{folder}/*"], **hub_kwargs), folder)


def _load_audio_extractor(
    record: Any, feature_extractor: EmoJEFeatureExtractor, base: str, hub_kwargs: dict[str, Any], where: str
) -> AudioExtractor | None:
    """The audio extractor a saved `audio_features` record describes (None: no record, the part's log-mel), checked
    to rebuild the very features it was saved with (same fingerprint)."""
    if record is None:
        return None
    if not isinstance(record, Mapping) or not isinstance(record.get("settings"), Mapping):
        raise ValueError(f"{where}: 'audio_features' must be an object with 'settings', got {record!r}")
    settings = dict(record["settings"])
    model = settings.get("model")
    if settings.get("name") == "encoder" and isinstance(model, str) and model.startswith("./"):
        fetch = {key: value for key, value in hub_kwargs.items() if key != "subfolder"}
        settings["model"] = _resolve_audio_encoder(model, base, hub_kwargs.get("subfolder", ""), fetch)
    try:
        extractor = _audio_extractor_for(settings, feature_extractor)
        if record.get("fingerprint"):
            check_same_extractor(record, extractor)
    except ValueError as error:
        raise ValueError(f"{where}: its audio extractor does not rebuild as saved: {error}") from error
    return extractor


class EmoJEProcessor(ProcessorMixin):
    r"""
    Turns conversations of raw turns into the batched inputs of [`EmoJEForEmotionRecognition`] and CM-ARR.

    Args:
        feature_extractor ([`EmoJEFeatureExtractor`]): audio waveform -> log-mel frames.
        video_processor ([`EmoJEVideoProcessor`]): video file -> face and body landmark frames.
        tokenizer ([`PreTrainedTokenizerBase`]): the text tokenizer (gives `input_ids` for a model with its own
            text backbone; otherwise the text encoder's own copy is used).
        text_encoder_name_or_path (`str`, *optional*): the frozen sentence encoder giving `text_features`: a local
            path, a Hub id, or `"./text_encoder"` (relative to where the processor was loaded from). `None`: text must
            come pre-extracted (`text_features`) or as `input_ids`.
        text_input (`str`, *optional*, defaults to `"features"`): `"features"` (pooled encoder features) or
            `"input_ids"` (token ids for a model with `text_config`).
        max_text_length (`int`, *optional*, defaults to 128): truncation length for `input_ids`.
        modalities (`list[str]`, *optional*): modalities to produce by default (all four if unset).
        audio_features (*optional*): the audio extractor: a name (`"logmel"`, `"egemaps"`, `"compare"`), a speech
            encoder's Hub id or path, settings, a saved `describe()` record or an [`AudioExtractor`]. Default: the
            log-mel of `feature_extractor`. Log-mel settings must equal `feature_extractor`'s.
    """

    def __init__(
        self,
        feature_extractor: EmoJEFeatureExtractor,
        video_processor: EmoJEVideoProcessor,
        tokenizer,
        text_encoder_name_or_path: str | None = None,
        text_input: str = "features",
        max_text_length: int = 128,
        modalities: list[str] | None = None,
        audio_features: Any = None,
        **kwargs,
    ):
        if text_input not in ("features", "input_ids"):
            raise ValueError(f"text_input must be 'features' or 'input_ids', got {text_input!r}")
        unknown = sorted(set(modalities or ()) - set(MODALITIES))
        if unknown:
            raise ValueError(f"unknown modalities {unknown}; modalities are {MODALITIES}")
        self.text_features = EmoJETextFeatureExtractor(text_encoder_name_or_path)
        self.text_input = text_input
        self.max_text_length = max_text_length
        self.modalities = [name for name in MODALITIES if name in modalities] if modalities else list(MODALITIES)
        self.audio_extractor = _audio_extractor_for(audio_features, feature_extractor)
        self._audio_reference: dict[str, Any] | None = None  # the settings' model/revision while saving
        for how_it_was_loaded in ("local_files_only", "is_local"):  # not settings of the tokenizer: never saved
            getattr(tokenizer, "init_kwargs", {}).pop(how_it_was_loaded, None)
        super().__init__(feature_extractor, video_processor, tokenizer, **kwargs)

    # ------------------------------------------------------------------ construction / serialisation

    @classmethod
    def from_text_encoder(cls, text_encoder_name_or_path: str | os.PathLike, **kwargs) -> EmoJEProcessor:
        """A processor with default audio/video extractors and the tokenizer of `text_encoder_name_or_path`.

        Extra keyword arguments go to `__init__` (e.g. `modalities=`, `audio_features=`; log-mel settings become
        the `feature_extractor` part), or to the parts when given as `feature_extractor=` / `video_processor=`
        instances.
        """
        path = os.fspath(text_encoder_name_or_path)
        feature_extractor = kwargs.pop("feature_extractor", None)
        if kwargs.get("audio_features") is not None:
            kwargs["audio_features"] = build_audio_extractor(kwargs["audio_features"])
            if feature_extractor is None and isinstance(kwargs["audio_features"], LogMelAudioExtractor):
                feature_extractor = kwargs["audio_features"].feature_extractor  # log-mel settings live in the part
        feature_extractor = feature_extractor or EmoJEFeatureExtractor()
        video_processor = kwargs.pop("video_processor", None) or EmoJEVideoProcessor()
        tokenizer = kwargs.pop("tokenizer", None) or AutoTokenizer.from_pretrained(path)
        return cls(feature_extractor, video_processor, tokenizer, text_encoder_name_or_path=path, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **kwargs) -> EmoJEProcessor:
        """Load a processor saved with `save_pretrained` (a folder, a `processor_config.json` file or a Hub repository).

        The parts are always this package's own classes, so they are rebuilt from `processor_config.json` here,
        without going through how a given transformers release resolves sub-processors (which changed between
        5.24 and 5.25); only the tokenizer is read from its own files. Works the same through `AutoProcessor` and
        from Hub remote code (`trust_remote_code=True`) where this package is not installed. Keyword arguments
        override the saved settings (e.g. `modalities=["text"]`) or go to the Hub download (`revision`, `token`,
        `cache_dir`, `local_files_only`, `subfolder`, ...).
        """
        # The caller's answer on remote code holds for the tokenizer too (it reads the folder's config.json).
        trust = {"trust_remote_code": kwargs["trust_remote_code"]} if kwargs.get("trust_remote_code") is not None else {}
        for internal in ("_from_auto", "_from_pipeline", "trust_remote_code", "code_revision", "return_unused_kwargs"):
            kwargs.pop(internal, None)
        hub_kwargs = {key: kwargs.pop(key) for key in HUB_OPTIONS if key in kwargs}
        hub_kwargs = {key: value for key, value in hub_kwargs.items() if value is not None}
        source = os.fspath(pretrained_model_name_or_path)
        config_file = source if os.path.isfile(source) else cached_file(source, PROCESSOR_CONFIG_FILE, **hub_kwargs)
        try:
            with open(config_file, encoding="utf-8") as stream:
                saved = json.load(stream)
        except (OSError, ValueError) as error:
            raise ValueError(f"{config_file}: not a readable processor config ({error})") from error
        if not isinstance(saved, dict):
            raise ValueError(f"{config_file}: a processor config must be a JSON object, got {type(saved).__name__}")
        folder = os.path.dirname(os.path.abspath(source)) if os.path.isfile(source) else source
        feature_extractor = EmoJEFeatureExtractor.from_dict(_part_settings(saved.pop("feature_extractor", {})))
        requested_audio = kwargs.pop("audio_features", None)
        audio = _load_audio_extractor(saved.pop("audio_features", None), feature_extractor, folder, hub_kwargs, config_file)
        if requested_audio is not None:  # a different extractor than the model was trained with: an error naming both
            check_same_extractor(
                audio.describe() if audio is not None else LogMelAudioExtractor(feature_extractor).describe(),
                requested_audio,
            )
        video_processor = EmoJEVideoProcessor(**_part_settings(saved.pop("video_processor", {})))
        tokenizer = kwargs.pop("tokenizer", None) or AutoTokenizer.from_pretrained(folder, **hub_kwargs, **trust)
        accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "feature_extractor", "video_processor", "tokenizer", "kwargs"}
        ignored = sorted(set(saved) - accepted - {"processor_class", "auto_map"})
        if ignored:
            logger.warning("%s: ignoring settings this version does not know: %s", config_file, ", ".join(ignored))
        # Other keyword arguments (a pipeline passes the model's, such as `dtype`) are not the processor's.
        settings = {key: value for key, value in {**saved, **kwargs}.items() if key in accepted}
        processor = cls(feature_extractor, video_processor, tokenizer, audio_features=audio, **settings)
        processor.text_features.bind(folder, hub_kwargs.get("subfolder", ""), {k: v for k, v in hub_kwargs.items() if k != "subfolder"})
        return processor

    def check_argument_for_proper_class(self, argument_name, argument):
        # transformers resolves "VideoProcessorMixin" through VIDEO_PROCESSOR_MAPPING, a dummy without torchvision
        # (not a dependency here): check the video processor's class directly.
        if argument_name == "video_processor":
            if not isinstance(argument, EmoJEVideoProcessor):
                raise TypeError(f"video_processor must be an EmoJEVideoProcessor, got {type(argument).__name__}")
            return EmoJEVideoProcessor
        return super().check_argument_for_proper_class(argument_name, argument)

    def to_dict(self) -> dict[str, Any]:
        """What `processor_config.json` holds: the parts' configs and the text-encoder reference (never weights)."""
        output: dict[str, Any] = {
            "feature_extractor": self.feature_extractor.to_dict(),
            "video_processor": self.video_processor.to_dict(),
            "text_encoder_name_or_path": self.text_encoder_name_or_path,
            "text_input": self.text_input,
            "max_text_length": self.max_text_length,
            "modalities": list(self.modalities),
            "audio_features": self.audio_features_record(),
            "processor_class": self.__class__.__name__,
        }
        if getattr(self, "auto_map", None):
            output["auto_map"] = self.auto_map
        return output

    def save_pretrained(
        self, save_directory: str | os.PathLike, push_to_hub: bool = False, save_text_encoder: bool = True, **kwargs
    ):
        """Save the processor. A public text encoder is written as its Hub id; any other is copied into
        `text_encoder/` (default), or with `save_text_encoder=False` written as its resolved local path (a training
        checkpoint's lean reference). A local speech encoder (audio) is likewise copied into `audio_encoder/` (or
        referred to by its absolute path); a Hub one is written as its id and the commit it was loaded from."""
        original = self.text_encoder_name_or_path
        if original is not None:
            self.text_encoder_name_or_path = (
                self.text_features.save(save_directory) if save_text_encoder else self.text_features.portable_reference()
            )
        self._audio_reference = self._save_audio_encoder(save_directory, copy=save_text_encoder)
        try:
            return super().save_pretrained(save_directory, push_to_hub=push_to_hub, **kwargs)
        finally:
            self.text_encoder_name_or_path = original
            self._audio_reference = None

    def _save_audio_encoder(self, save_directory: str | os.PathLike, copy: bool) -> dict[str, Any] | None:
        """The `model`/`revision` a saved processor records for its speech encoder (None: not an encoder)."""
        extractor = self.audio_extractor
        source = getattr(extractor, "model_name_or_path", None)
        if extractor.name != "encoder" or source is None:
            return None
        if not os.path.isdir(source):  # a Hub id, pinned to the commit it was loaded from
            return {"model": source, "revision": getattr(extractor, "commit_hash", None) or extractor.revision}
        if not copy:
            return {"model": os.path.abspath(source), "revision": None}
        import glob
        import shutil

        extractor.weights_digest  # computed from the source files before anything is copied
        target = os.path.join(os.fspath(save_directory), AUDIO_ENCODER_FOLDER)
        if os.path.realpath(source) != os.path.realpath(target):
            os.makedirs(target, exist_ok=True)
            for pattern in _AUDIO_ENCODER_FILES:
                for path in glob.glob(os.path.join(source, pattern)):
                    shutil.copy2(path, os.path.join(target, os.path.basename(path)))
        return {"model": "./" + AUDIO_ENCODER_FOLDER, "revision": None}

    def audio_features_record(self) -> dict[str, Any]:
        """What `processor_config.json` records of the audio extractor: `{"name", "settings", "feature_dim",
        "version", "fingerprint"}` (see `audio_features_emoje`)."""
        record = self.audio_extractor.describe()
        if self._audio_reference:
            record["settings"] = {**record["settings"], **self._audio_reference}
        return record

    @property
    def text_encoder_name_or_path(self) -> str | None:
        """The text encoder's reference (see [`EmoJETextFeatureExtractor`]), as `processor_config.json` stores it."""
        return self.text_features.name_or_path

    @text_encoder_name_or_path.setter
    def text_encoder_name_or_path(self, value: str | os.PathLike | None) -> None:
        self.text_features.name_or_path = None if value is None else os.fspath(value)

    def resolve_text_encoder_path(self) -> str | None:
        """The text encoder as a loadable local path or Hub id (`./x` resolved against the load location)."""
        return self.text_features.resolve_path()

    @property
    def text_encoder(self) -> TextFeatureEncoder:
        """The frozen sentence encoder (loaded on first use)."""
        return self.text_features.encoder

    # ------------------------------------------------------------------ processing

    def __call__(
        self,
        conversations: Sequence[Mapping] | Sequence[Sequence[Mapping]],
        privacy: bool = False,
        modality_dims: Mapping[str, int] | None = None,
        text_input: str | None = None,
        batch_size: int = 64,
        audio_from_video: bool = False,
        return_tensors: str | None = "pt",
        **kwargs,
    ) -> BatchFeature:
        r"""
        Extract every turn's features and pad the conversation(s) into one batch.

        Args:
            conversations: one conversation (list of turn dicts) or a list of them.
            privacy: never extract or pass face features (the video processor runs without FaceMesh; `face`
                arrays given in turns are dropped).
            modality_dims: the model's `config.modality_dims`; restricts the output to those modalities and checks
                feature sizes. Defaults to `self.modalities` without size checks.
            text_input: override of `self.text_input` (`"features"` or `"input_ids"`).
            batch_size: texts per text-encoder forward pass. The texts of every conversation of the call are
                sorted by length together first, so little padding is encoded; audio and video are extracted one
                turn at a time.
            audio_from_video: a turn with `video` but no `audio` uses the video's audio track (if it has a usable one).
            return_tensors: `"pt"` (default), `"np"` or `None`.

        Returns:
            [`BatchFeature`] with `{m}_features` (B, U, T, D), `{m}_attention_mask` (B, U, T) for each modality present
            somewhere, `modality_mask` (B, U, 4) bool, `utterance_mask` (B, U), `speaker_ids` (B, U), and `input_ids` /
            `attention_mask` (B, U, L) in `"input_ids"` mode. Modalities absent from every turn get no key.

        Raises:
            ValueError: naming the turn (and file) at fault: a turn with nothing usable, a missing speaker, a missing or
                unreadable file, a malformed array.
        """
        if kwargs:
            raise TypeError(f"EmoJEProcessor got unexpected arguments {sorted(kwargs)}")
        text_input = text_input or self.text_input
        if text_input not in ("features", "input_ids"):
            raise ValueError(f"text_input must be 'features' or 'input_ids', got {text_input!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        single = is_conversation(conversations)
        if single:
            conversations = [conversations]
        elif not isinstance(conversations, (list, tuple)) or not conversations:
            raise ValueError("expected a conversation (a non-empty list of turn dicts) or a list of conversations")
        dims = dict(modality_dims) if modality_dims is not None else None
        scenario = Scenario.of_call(privacy)  # the one privacy decision of this call
        wanted = scenario.select(dims if dims is not None else self.modalities)
        media = TurnMedia(self.audio_extractor, self.video_processor, scenario)

        extracted = []  # per conversation: list of per-turn {modality: (T, D) array} (text may be a pending str)
        pending: list[tuple[dict, str]] = []  # (turn features dict, text) waiting for the next text-encoder batch
        for conversation_index, conversation in enumerate(conversations):
            if not is_conversation(conversation):
                raise ValueError(f"conversation {conversation_index} is not a non-empty list of turn dicts")
            turns = []
            for turn_index, turn in enumerate(conversation):
                where = f"turn {turn_index}" if single else f"conversation {conversation_index}, turn {turn_index}"
                features = self._extract_turn(turn, where, wanted, dims, media, text_input, audio_from_video)
                if isinstance(features.get("text"), str) and text_input == "features":
                    pending.append((features, where))
                turns.append((features, where))
            extracted.append(turns)
        if pending:
            self._encode_texts(pending, dims, batch_size)
        return self._collate(conversations, extracted, wanted, text_input, return_tensors)

    def _extract_turn(
        self,
        turn: Mapping,
        where: str,
        wanted: list[str],
        dims: dict | None,
        media: TurnMedia,
        text_input: str,
        audio_from_video: bool,
    ) -> dict[str, Any]:
        """One turn -> {modality: (T, D) float32 array}; a text stays a str until its encoder batch runs.

        Fields of modalities the model does not read are ignored (their files are not even opened); a key that is
        not a turn key at all (a typo such as `audo`) is an error. Silent audio counts as absent audio.
        """
        check_turn_keys(turn, where)
        speaker = turn.get("speaker")
        if speaker is None:
            raise ValueError(f"{where} has no 'speaker' (every turn needs one; turn keys: {sorted(turn)})")
        try:
            hash(speaker)
        except TypeError:
            raise ValueError(f"{where}: 'speaker' must be a name or an id, got {type(speaker).__name__}") from None
        dims = dims or {}
        features: dict[str, Any] = {}
        absent: dict[str, str] = {}  # modality -> why a field that was given gave nothing
        if _TEXT.name in wanted:
            self._text_of(turn, where, dims.get(_TEXT.name), text_input, features)
        if _AUDIO.name in wanted:
            self._audio_of(turn, where, dims.get(_AUDIO.name), audio_from_video, media, features, absent)
        visual = [name for name in VIDEO_MODALITIES if name in wanted]
        for name in visual:
            key = get_modality(name).turn_key
            if turn.get(key) is not None:
                features[name] = _as_frames(turn[key], where, key, dims.get(name))
        missing = [name for name in visual if name not in features]
        if missing and turn.get("video") is not None:
            # FaceMesh only runs when the face is wanted (kept by the scenario) and not given.
            extracted = self._extract_video(turn["video"], where, media, "face" in missing)
            for name in missing:
                if extracted.get(name) is not None and len(extracted[name]) > 0:
                    features[name] = _as_frames(extracted[name], where, f"{name} (from the video)", dims.get(name))
        if not features:
            given = [key for key in TURN_KEYS[1:] if turn.get(key) is not None]
            if "face" not in media.scenario and turn.get("face") is not None:
                given.append(f"face (dropped: {media.scenario.name})")
            detail = " and its video had no detectable face or body" if turn.get("video") is not None and missing else ""
            detail += "".join(f"; its {name} is {reason}" for name, reason in absent.items())
            raise ValueError(
                f"{where} has nothing usable: it gives {given or 'no field'} (turn keys: {sorted(turn)}), but the model "
                f"reads {wanted}{detail}"
            )
        return features

    def _text_of(self, turn: Mapping, where: str, dim: int | None, text_input: str, features: dict) -> None:
        if turn.get(_TEXT.turn_key) is not None and text_input == "features":
            features["text"] = _as_frames(turn[_TEXT.turn_key], where, _TEXT.turn_key, dim)
        elif turn.get("text") is not None:
            if not isinstance(turn["text"], str):
                raise ValueError(f"{where}: 'text' must be a string, got {type(turn['text']).__name__}")
            if turn["text"].strip():  # a blank text is an absent one
                features["text"] = turn["text"]

    def _audio_of(
        self,
        turn: Mapping,
        where: str,
        dim: int | None,
        audio_from_video: bool,
        media: TurnMedia,
        features: dict,
        absent: dict,
    ) -> None:
        if turn.get(_AUDIO.turn_key) is not None:
            features["audio"] = _as_frames(turn[_AUDIO.turn_key], where, _AUDIO.turn_key, dim)
            return
        if turn.get("audio") is not None:
            audio = self._extract_audio(turn["audio"], where, media)
            if audio is None:
                absent["audio"] = "silent"
            else:
                features["audio"] = audio
        elif audio_from_video and turn.get("video") is not None:
            path, start, end = media_span(turn["video"], where, "video")
            try:
                audio = media.audio(path, start, end)
            except MediaDecodeError as err:
                logger.info(f"{where}: no usable audio track in {path!r} ({err.reason})")
            else:
                if audio is not None:
                    features["audio"] = audio
        if "audio" in features and dim is not None and features["audio"].shape[1] != dim:
            raise ValueError(
                f"{where}: the audio extractor gives {features['audio'].shape[1]} features per frame, the model expects {dim}"
            )

    def _extract_audio(self, value: Any, where: str, media: TurnMedia) -> np.ndarray | None:
        """Frames of the audio extractor for a turn's `audio` (array or file); None for digital silence or audio
        too short for the extractor (an absent modality)."""
        if isinstance(value, Mapping) and "array" in value:
            rate = value.get("sampling_rate")
            if rate is None:
                raise ValueError(f"{where}: an audio array needs its 'sampling_rate'")
            wave = np.asarray(value["array"], dtype=np.float32)
            if wave.ndim == 2:  # (channels, samples) or (samples, channels): mix down
                wave = wave.mean(axis=0 if wave.shape[0] < wave.shape[1] else 1)
            if wave.ndim != 1 or wave.size == 0:
                raise ValueError(f"{where}: the audio array must be a non-empty waveform, got shape {wave.shape}")
            if is_silent(wave):
                logger.info(f"{where}: the audio array is silent; the turn has no audio")
                return None
            try:
                if audio_too_short(wave.size, int(rate)):  # under one analysis window: absent, not zeros
                    logger.info(f"{where}: the audio array lasts under {MIN_AUDIO_SECONDS * 1000:.0f} ms; the turn has no audio")
                    return None
                frames = self.audio_extractor(wave, int(rate))
            except ValueError as err:
                raise ValueError(f"{where}: audio array: {err}") from err
            if frames is None:
                logger.info(f"{where}: the audio array is too short for the {self.audio_extractor.name} features; the turn has no audio")
            return frames
        if isinstance(value, np.ndarray) or (isinstance(value, (list, tuple)) and value and not isinstance(value[0], str)):
            raise ValueError(f"{where}: give an audio array as {{'array': ..., 'sampling_rate': ...}}")
        path, start, end = media_span(value, where, "audio")
        try:
            return media.audio(path, start, end)
        except SilentAudioError as err:
            logger.info(f"{where}: audio file {err.path!r} is silent; the turn has no audio")
            return None
        except MediaDecodeError as err:
            raise ValueError(f"{where}: audio file {err.path!r} is unusable: {err.reason}") from err
        except ValueError as err:
            raise ValueError(f"{where}: audio file {path!r}: {err}") from err

    @staticmethod
    def _extract_video(value: Any, where: str, media: TurnMedia, face: bool) -> dict[str, np.ndarray | None]:
        """Face/body landmarks of one turn's clip; FaceMesh runs only with `face` (and a scenario keeping it)."""
        path, start, end = media_span(value, where, "video")
        try:
            return media.video(path, start, end, face=face)
        except MediaDecodeError as err:
            raise ValueError(f"{where}: video file {err.path!r} is unusable: {err.reason}") from err
        except (ValueError, OSError) as err:
            raise ValueError(f"{where}: video file {path!r}: {err}") from err

    def _encode_texts(self, pending: list[tuple[dict, str]], dims: dict | None, batch_size: int) -> None:
        """Run the text encoder on the turns' texts (one length-sorted pass) and store (1, D) features in place."""
        encoded = self.text_features([features["text"] for features, _ in pending], batch_size, (dims or {}).get("text"))
        for (features, _), row in zip(pending, encoded):
            features["text"] = row.reshape(1, -1)
        pending.clear()

    def attach_text_features(
        self,
        conversations: Sequence[Sequence[Mapping]],
        batch_size: int = 64,
        modality_dims: Mapping[str, int] | None = None,
    ) -> list[list[dict]]:
        """Copies of `conversations` in which every turn with text (and no `text_features`) also carries its
        `text_features`. All those texts are sorted by length together and encoded `batch_size` per forward pass,
        across conversations. The inputs are not modified.

        The pipeline uses this to batch the text encoder across many short conversations; turns it cannot use
        (no or blank text, not a dict) are left for `__call__` to judge and report.
        """
        prepared = [[dict(turn) if isinstance(turn, Mapping) else turn for turn in turns] for turns in conversations]
        pending = [
            turn
            for turns in prepared
            for turn in turns
            if isinstance(turn, dict)
            and turn.get(_TEXT.turn_key) is None
            and isinstance(turn.get("text"), str)
            and turn["text"].strip()
        ]
        if pending:
            encoded = self.text_features([turn["text"] for turn in pending], batch_size, (modality_dims or {}).get("text"))
            for turn, row in zip(pending, encoded):
                turn[_TEXT.turn_key] = row.reshape(1, -1)
        return prepared

    def _collate(self, conversations, extracted, wanted, text_input, return_tensors) -> BatchFeature:
        """The extracted turns as dialogues of `build_dialogue_batch` (the training collator's batch builder)."""
        dialogues = []
        for conversation, turns in zip(conversations, extracted):
            dialogue: dict[str, Any] = {
                "speaker_ids": number_speakers(turn["speaker"] for turn in conversation),
                "modality_mask": [[name in features for name in MODALITIES] for features, _ in turns],
            }
            for name in wanted:
                if name == _TEXT.name and text_input == "input_ids":
                    dialogue["text"] = [features.get(name, "") for features, _ in turns]
                else:
                    dialogue[get_modality(name).features_key] = [features.get(name, _NO_FRAMES) for features, _ in turns]
            dialogues.append(dialogue)
        data = build_dialogue_batch(
            dialogues,
            scenario=Scenario(wanted),
            tokenizer=self.tokenizer if text_input == "input_ids" else None,
            max_text_length=self.max_text_length,
            locate=lambda b, u: extracted[b][u][1],
        )
        return BatchFeature(data, tensor_type=return_tensors)

    @property
    def model_input_names(self) -> list[str]:
        names = []
        for name in self.modalities:
            names += [get_modality(name).features_key, get_modality(name).attention_mask_key]
        return names + ["input_ids", "attention_mask", "modality_mask", "utterance_mask", "speaker_ids"]


__all__ = ["AUDIO_ENCODER_FOLDER", "TURN_KEYS", "EmoJEProcessor", "check_turn_keys", "is_conversation"]
