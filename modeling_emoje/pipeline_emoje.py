# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""The `emotion-recognition-in-conversation` pipeline: raw conversation turns in, one emotion per turn out.

Example:

```python
>>> import modeling_emoje  # registers the task
>>> from transformers import pipeline
>>> erc = pipeline("emotion-recognition-in-conversation", model="path/to/exported/model")  # doctest: +SKIP
>>> erc([
...     {"speaker": "Diane", "text": "Hello?", "audio": "hello.wav"},
...     {"speaker": "Sheila", "audio": {"path": "call.wav", "start": 7.63, "end": 8.16}},
...     {"speaker": "Diane", "video": "clip.mp4"},
... ])  # doctest: +SKIP
[{'label': 'neutral', 'score': 0.71, 'scores': {...}, 'modality_weights': {'text': 0.62, 'audio': 0.38, ...},
  'modalities': ['text', 'audio'], 'imputed': ['face', 'body']}, ...]
```

Output, one dict per turn, in order:

- `label`, `score`: the most probable emotion and its probability. Never for NaN/inf scores: inputs that make the
  model's scores non-finite (finite but huge values, say 1e30) raise a `ValueError` naming the turn and modality.
- `scores`: `{label: probability}` over every label (sums to 1).
- `modality_weights`: `{mode: weight}` for the modes the model fused for that turn (used and imputed; the weights
  sum to 1). `None` for a model without per-modality weights (CM-ARR): the key is always there, and `None` says
  "not produced" where an empty dict could be misread as "no mode mattered".
- `modalities`: the modes extracted from the turn and fed to the model (in MODALITIES order).
- `imputed`: the model's other modes that it filled in (joint embedding / flow) for that turn.
- with `top_k=k > 1` (or `top_k=None` for all labels), also `top_k`: a list of `{"label", "score"}`, best first;
  `label`/`score` stay the best one, so the fields above keep their meaning whatever `top_k` is.

Options (at construction or per call): `privacy` (face never extracted nor used), `causal` (no prediction uses a
later turn), `top_k`, `batch_size` (texts per text-encoder forward pass, default 64: the texts of up to
`TEXT_WINDOW_TURNS` consecutive turns, across conversations when given several, are sorted by length together
before they are cut into batches, so the encoder pads little; audio and video are always extracted one turn at a
time), `conversation_batch_size` (conversations padded together into one model forward pass when given several,
default 16; 1 runs them one at a time; the scores equal those of one-by-one calls within float rounding),
`audio_from_video` (a turn with `video` and no `audio` uses the video's audio track).

**Causal inference.** `causal=True` asks the model for each turn's prediction from turns 0..*i* only
(`model(..., causal=True)`), exactly as a streaming system would see them. A model trained with
`config.causal=True` (unidirectional context) or without dialogue context (CM-ARR's default) is causal already; for
a bidirectional context only the context runs on the growing prefixes (`DialogueContext.prefix_states`), since
everything before it works per utterance: train with `causal=True` for long streams. A conversation longer than
`2 * CAUSAL_WINDOW_TURNS` turns is predicted with a window instead (linear time, a warning): each turn's context is
then its last `CAUSAL_WINDOW_TURNS` to `2 * CAUSAL_WINDOW_TURNS` turns.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, Pipeline
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_emoje import is_trained_on_synthetic
from .modalities import MODALITIES, MODALITY_INDEX, MODALITY_TABLE, get_modality, modality_names
from .processing_emoje import is_conversation

logger = logging.getLogger(__name__)

TASK = "emotion-recognition-in-conversation"
DEFAULT_TEXT_BATCH_SIZE = 64  # texts per text-encoder forward pass
TEXT_WINDOW_TURNS = 8192  # turns whose texts are length-sorted and encoded together (bounds memory for long streams)
DEFAULT_CONVERSATION_BATCH_SIZE = 16  # conversations padded into one model forward pass
# `causal=True` on a conversation longer than twice this: each turn's context is its last CAUSAL_WINDOW_TURNS to
# 2 * CAUSAL_WINDOW_TURNS turns (linear time; logged), not its whole past (quadratic).
CAUSAL_WINDOW_TURNS = 256
# The raw turn fields modalities are extracted from (text, audio, video), from the modality table.
_SYNTHETIC_WARNED: set[str] = set()  # models already warned about in this process (`_warn_if_synthetic_model`)
RAW_SOURCES: tuple[str, ...] = tuple(dict.fromkeys(modality.source for modality in MODALITY_TABLE))


def check_text_is_unicode(turns: Sequence) -> None:
    """Every turn's `text` can be encoded (UTF-8): a lone surrogate (`"\\ud800"`, what a wrongly decoded file leaves)
    is a ValueError naming the turn and the position, before any tokenizer sees it.

    Example:
        >>> check_text_is_unicode([{"speaker": "A", "text": "fine"}])
        >>> check_text_is_unicode([{"speaker": "A", "text": "bad \\ud800"}])
        Traceback (most recent call last):
        ...
        ValueError: turn 0: its text holds a lone surrogate '\\ud800' at character 4, which is not a character: decode the text as UTF-8 (or replace the character)
    """
    for index, turn in enumerate(turns):
        text = turn.get("text") if isinstance(turn, Mapping) else None
        if not isinstance(text, str):
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise ValueError(
                f"turn {index}: its text holds a lone surrogate {text[err.start:err.end]!r} at character {err.start}, "
                "which is not a character: decode the text as UTF-8 (or replace the character)"
            ) from None


class _Conversations:
    """Conversations padded into one model batch, wrapped so that `Pipeline.__call__` runs them as one input
    (instead of iterating over them); the postprocessed result is one list of per-turn dicts per conversation."""

    def __init__(self, conversations: Sequence[Sequence[Mapping]]) -> None:
        self.conversations = conversations


class EmotionRecognitionInConversationPipeline(Pipeline):
    r"""
    Per-turn emotion recognition for a conversation with any subset of text, audio and video per turn.

    Works with any model of this package ([`EmoJEForEmotionRecognition`], [`CMARRForEmotionRecognition`]) and an
    [`EmoJEProcessor`]; see the module docstring for the input and output formats.
    """

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False
    _load_video_processor = False

    def __init__(self, *args, conversation_batch_size: int = DEFAULT_CONVERSATION_BATCH_SIZE, **kwargs):
        super().__init__(*args, **kwargs)
        self.conversation_batch_size = _positive(conversation_batch_size, "conversation_batch_size")
        if self.processor is None:
            raise ValueError(
                f"the {TASK} pipeline needs an EmoJEProcessor: save one next to the model (processor.save_pretrained) "
                "or pass processor=..."
            )
        self.model.eval()
        self._warned_synthetic = False
        self._warned_window = False

    def save_pretrained(self, save_directory, with_pipeline_code: bool = False, **kwargs):
        """Save the model and the processor (with its text encoder): all `pipeline(TASK, model=directory)` needs.

        `with_pipeline_code=True` also writes the task into `config.custom_pipelines` and copies this file, so that
        `pipeline(TASK, model=directory, trust_remote_code=True)` works where this package is not installed. But
        transformers then requires `trust_remote_code=True` for that directory *everywhere*, even with the package
        imported, which is why it is off by default.
        """
        if with_pipeline_code:
            super().save_pretrained(save_directory, **kwargs)
        else:
            self.model.save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory)

    # ------------------------------------------------------------------ calling

    def __call__(self, conversations, **kwargs):
        """One conversation (list of turn dicts) -> list of per-turn dicts; a list of conversations -> list of those.

        A generator of conversations gives a generator of results. Several conversations are padded together,
        `conversation_batch_size` per model forward pass, and the texts of up to `TEXT_WINDOW_TURNS` turns are
        encoded together.
        """
        self._warned_synthetic = False  # `_warn_if_synthetic_model`: at most once per call
        self._warned_window = False  # `_windowed_causal_forward`: at most once per call
        if "batch_size" in kwargs:  # turn-level batching, not the base class's batching of inputs
            kwargs["turn_batch_size"] = kwargs.pop("batch_size")
        if is_conversation(conversations):
            kwargs.pop("conversation_batch_size", None)
            check_text_is_unicode(conversations)
            return super().__call__(_Conversations([conversations]), **kwargs)[0]
        if isinstance(conversations, types.GeneratorType):
            return self._run_many(conversations, kwargs)
        if isinstance(conversations, (list, tuple)) and conversations:
            return list(self._run_many(conversations, kwargs))
        raise ValueError(
            "expected a conversation (a non-empty list of turn dicts, each with 'speaker') or a list of conversations, "
            f"got {type(conversations).__name__}{' (empty)' if isinstance(conversations, (list, tuple)) else ''}"
        )

    def _run_many(self, conversations: Iterable, kwargs: dict) -> Iterator[list[dict]]:
        per_forward = kwargs.pop("conversation_batch_size", None)
        per_forward = self.conversation_batch_size if per_forward is None else _positive(per_forward, "conversation_batch_size")
        batch_size = kwargs.get("turn_batch_size") or self._preprocess_params.get("turn_batch_size")
        batch_size = batch_size or self._batch_size or DEFAULT_TEXT_BATCH_SIZE
        block, turns = [], 0
        for index, conversation in enumerate(conversations):
            if not is_conversation(conversation):
                raise ValueError(f"conversation {index} is not a non-empty list of turn dicts")
            try:
                check_text_is_unicode(conversation)
            except ValueError as err:
                raise ValueError(f"conversation {index}: {err}") from None
            if block and turns + len(conversation) > TEXT_WINDOW_TURNS:  # a window of turns, or one conversation
                yield from self._run_block(block, batch_size, per_forward, kwargs)
                block, turns = [], 0
            block.append((index, conversation))
            turns += len(conversation)
        if block:
            yield from self._run_block(block, batch_size, per_forward, kwargs)

    def _run_block(
        self, block: list[tuple[int, Sequence]], batch_size: int, per_forward: int, kwargs: dict
    ) -> Iterator[list[dict]]:
        config = self.model.config
        conversations = [conversation for _, conversation in block]
        if "text" in config.modality_dims and getattr(config, "text_config", None) is None:
            conversations = self.processor.attach_text_features(conversations, batch_size, config.modality_dims)
        indexed = [(index, conversation) for (index, _), conversation in zip(block, conversations)]
        for start in range(0, len(indexed), per_forward):
            group = indexed[start : start + per_forward]
            if len(group) > 1:
                try:
                    yield from super().__call__(_Conversations([conversation for _, conversation in group]), **kwargs)
                    continue
                except ValueError:
                    pass  # run them one at a time below, so that the error names its conversation and turn
            for index, conversation in group:
                try:
                    yield super().__call__(_Conversations([conversation]), **kwargs)[0]
                except ValueError as err:
                    raise ValueError(f"conversation {index}: {err}") from err

    def _sanitize_parameters(
        self,
        privacy: bool | None = None,
        causal: bool | None = None,
        top_k: int | None | str = "unset",
        turn_batch_size: int | None = None,
        audio_from_video: bool | None = None,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(f"{TASK} pipeline got unknown arguments {sorted(kwargs)}")
        preprocess, forward, postprocess = {}, {}, {}
        if privacy is not None:
            preprocess["privacy"] = bool(privacy)
        if turn_batch_size is not None:
            if int(turn_batch_size) < 1:
                raise ValueError(f"batch_size must be >= 1, got {turn_batch_size}")
            preprocess["turn_batch_size"] = int(turn_batch_size)
        if audio_from_video is not None:
            preprocess["audio_from_video"] = bool(audio_from_video)
        if causal is not None:
            forward["causal"] = bool(causal)
        if top_k != "unset":
            if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
                raise ValueError(f"top_k must be a positive int or None (all labels), got {top_k!r}")
            postprocess["top_k"] = top_k
        return preprocess, forward, postprocess

    # ------------------------------------------------------------------ stages

    def preprocess(
        self, inputs, privacy: bool = False, turn_batch_size: int | None = None, audio_from_video: bool = False
    ) -> dict[str, Any]:
        conversations = inputs.conversations if isinstance(inputs, _Conversations) else [inputs]
        self._warn_if_synthetic_model([turn for turns in conversations for turn in turns])
        config = self.model.config
        text_input = "input_ids" if getattr(config, "text_config", None) is not None else "features"
        batch = self.processor(
            conversations[0] if len(conversations) == 1 else list(conversations),
            privacy=privacy,
            modality_dims=config.modality_dims,
            text_input=text_input,
            batch_size=turn_batch_size or self._batch_size or DEFAULT_TEXT_BATCH_SIZE,
            audio_from_video=audio_from_video,
            return_tensors="pt",
        )
        return dict(batch)

    def _warn_if_synthetic_model(self, turns: Sequence) -> None:
        """Warn (once per process and model) when a model whose config says it was trained on synthetic features is
        given real input (text, audio or video): its predictions then mean nothing."""
        if self._warned_synthetic or not is_trained_on_synthetic(self.model.config):
            return
        model_name = str(getattr(self.model.config, "_name_or_path", ""))
        if model_name in _SYNTHETIC_WARNED:
            self._warned_synthetic = True
            return
        real = any(isinstance(turn, Mapping) and any(_has_raw(turn, source) for source in RAW_SOURCES) for turn in turns)
        if real:
            self._warned_synthetic = True
            _SYNTHETIC_WARNED.add(model_name)
            logger.warning(
                "this model was trained on %s (config.trained_on): its predictions on real text, audio or video are "
                "meaningless. Train on a real corpus (e.g. emoje-demo with the MELD CSVs) before using it.",
                self.model.config.trained_on,
            )

    def _forward(self, model_inputs: dict[str, Any], causal: bool = False) -> dict[str, torch.Tensor | None]:
        # `causal` only when asked, so that a model without the option still runs bidirectionally.
        length = model_inputs["utterance_mask"].shape[1]
        if causal and not getattr(self.model.config, "causal", False) and length > 2 * CAUSAL_WINDOW_TURNS:
            outputs = self._windowed_causal_forward(model_inputs)
        else:
            outputs = self.model(**model_inputs, **({"causal": True} if causal else {}))
        self._check_finite(outputs.logits, model_inputs)
        return {
            "logits": outputs.logits,
            "modality_weights": outputs.modality_weights,
            "imputed_mask": outputs.imputed_mask,
            "modality_mask": model_inputs["modality_mask"],
            "utterance_mask": model_inputs["utterance_mask"],
        }

    def _windowed_causal_forward(self, model_inputs: dict[str, Any]) -> Any:
        """`causal=True` over a conversation longer than `2 * CAUSAL_WINDOW_TURNS` turns, in time linear in its
        length: the turns are taken `CAUSAL_WINDOW_TURNS` at a time, each block run causally together with the
        `CAUSAL_WINDOW_TURNS` turns before it, so every turn's context is its last `CAUSAL_WINDOW_TURNS` to
        `2 * CAUSAL_WINDOW_TURNS` turns (never a later one) instead of its whole past (whose cost grows with the
        square of the length). Logged once per call as a warning."""
        mask = model_inputs["utterance_mask"]
        batch, length = mask.shape
        window = CAUSAL_WINDOW_TURNS
        if not self._warned_window:
            self._warned_window = True
            logger.warning(
                "causal prediction of a conversation of %d turns: each turn's context is its last %d to %d turns (a "
                "window: the whole past would cost time growing with the square of the length)",
                int(mask.sum(-1).max()), window, 2 * window,
            )
        parts: dict[str, list[torch.Tensor]] = {"logits": [], "modality_weights": [], "imputed_mask": []}
        empty: dict[str, bool] = {}
        for start in range(0, length, window):
            low, high = max(0, start - window), min(length, start + window)
            rows = torch.nonzero(mask[:, start:high].sum(-1) > 0).flatten()  # right-padded: others are padding here
            sliced = {
                key: value[rows][:, low:high] if torch.is_tensor(value) and value.dim() >= 2 and value.shape[:2] == mask.shape else value
                for key, value in model_inputs.items()
            }
            outputs = self.model(**sliced, causal=True)
            for key in parts:
                value = getattr(outputs, key)
                empty[key] = value is None
                if value is None:
                    continue
                block = value.new_zeros(batch, high - start, *value.shape[2:])
                block[rows] = value[:, start - low :]
                parts[key].append(block)
        return types.SimpleNamespace(**{key: None if empty[key] else torch.cat(parts[key], dim=1) for key in parts})

    def _check_finite(self, logits: torch.Tensor, model_inputs: dict[str, Any]) -> None:
        """Never return a label for NaN/inf scores: a ValueError naming the turn(s) and the input modality at fault.

        Finite but huge inputs (say 1e30) overflow inside the model. Only on that failure path, each affected turn
        is run alone and then with one modality at a time, to name the input that produces non-finite scores.
        """
        if logits.shape[0] > 1:  # several conversations: the caller runs them one at a time to name the turn
            if not torch.isfinite(logits[model_inputs["utterance_mask"].bool()]).all():
                raise ValueError("the model's scores are not finite (NaN or inf) in this batch of conversations")
            return
        real = model_inputs["utterance_mask"][0].bool()
        bad_turns = [int(u) for u in torch.nonzero(real & ~torch.isfinite(logits[0]).all(-1)).flatten()]
        if not bad_turns:
            return
        culprits = []  # "turn i: its <modality> input (largest |value| v)"
        for turn in range(len(real)):
            alone = {key: value[:, turn : turn + 1] for key, value in model_inputs.items()}
            if not real[turn] or self._finite_output(alone):
                continue
            present = modality_names(alone["modality_mask"][0, 0])
            for name in present:
                if not self._finite_output(_without_modalities(alone, [m for m in present if m != name])):
                    culprits.append(f"turn {turn}: its {name} input{_largest_value(alone, name)}")
        if culprits:
            raise ValueError(
                "; ".join(culprit.replace(": ", ": the model's scores are not finite (NaN or inf) because of ", 1)
                          for culprit in culprits)
                + "; check the scale of these values (features are expected to be of order 1)"
            )
        raise ValueError(
            f"turn {bad_turns[0]}: the model's scores are not finite (NaN or inf) for turns {bad_turns}, although "
            "each turn alone gives finite scores: check the scale of the conversation's input values"
        )

    def _finite_output(self, model_inputs: dict[str, Any]) -> bool:
        return bool(torch.isfinite(self.model(**model_inputs).logits).all())

    def postprocess(self, model_outputs: dict[str, torch.Tensor | None], top_k: int | None = 1) -> list[list[dict]]:
        """One list of per-turn dicts per conversation of the batch (its real turns only)."""
        lengths = model_outputs["utterance_mask"].sum(-1).tolist()
        return [self._postprocess_row(model_outputs, row, length, top_k) for row, length in enumerate(lengths)]

    def _postprocess_row(
        self, model_outputs: dict[str, torch.Tensor | None], conversation: int, length: int, top_k: int | None
    ) -> list[dict]:
        probabilities = model_outputs["logits"][conversation, :length].float().softmax(-1)
        present = model_outputs["modality_mask"][conversation, :length].bool().tolist()
        weights = model_outputs["modality_weights"]
        imputed = model_outputs["imputed_mask"]
        imputed = None if imputed is None else imputed[conversation, :length].bool().tolist()
        id2label = self.model.config.id2label
        labels = [
            id2label.get(index, id2label.get(str(index), f"LABEL_{index}")) for index in range(probabilities.shape[-1])
        ]
        results = []
        for turn, row in enumerate(probabilities.tolist()):
            used = modality_names(present[turn])
            filled = [] if imputed is None else modality_names(imputed[turn])
            best = max(range(len(row)), key=row.__getitem__)
            fused = [name for name in MODALITIES if name in used or name in filled]
            result = {
                "label": labels[best],
                "score": row[best],
                "scores": dict(zip(labels, row)),
                "modality_weights": None
                if weights is None
                else {name: float(weights[conversation, turn, MODALITY_INDEX[name]]) for name in fused},
                "modalities": used,
                "imputed": filled,
            }
            if top_k is None or top_k > 1:
                order = sorted(range(len(row)), key=row.__getitem__, reverse=True)[: top_k or len(row)]
                result["top_k"] = [{"label": labels[index], "score": row[index]} for index in order]
            results.append(result)
        return results


def _positive(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _without_modalities(model_inputs: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """A copy of `model_inputs` in which the modalities `names` are absent (no tensors, off in `modality_mask`)."""
    inputs = dict(model_inputs)
    mask = inputs["modality_mask"].clone()
    for name in names:
        modality = get_modality(name)
        keys = (modality.features_key, modality.attention_mask_key)
        keys += ("input_ids", "attention_mask") if name == "text" else ()  # the text backbone's inputs
        for key in keys:
            inputs.pop(key, None)
        mask[..., MODALITY_INDEX[name]] = False
    inputs["modality_mask"] = mask
    return inputs


def _largest_value(model_inputs: dict[str, Any], name: str) -> str:
    """`" (largest |value| 1e+30)"` for a modality given as features, `""` otherwise (token ids)."""
    features = model_inputs.get(get_modality(name).features_key)
    return "" if features is None else f" (largest |value| {float(features.abs().max()):.3g})"


def _has_raw(turn: Mapping, source: str) -> bool:
    """Whether ``turn`` gives its raw ``source`` field (a text: a string that is not blank)."""
    value = turn.get(source)
    if source == "text":
        return isinstance(value, str) and bool(value.strip())
    return value is not None


def register_pipeline() -> None:
    """Register the task with transformers (done by `import modeling_emoje`); a second call does nothing."""
    if PIPELINE_REGISTRY.supported_tasks.get(TASK, {}).get("impl") is EmotionRecognitionInConversationPipeline:
        return
    PIPELINE_REGISTRY.register_pipeline(
        TASK,
        pipeline_class=EmotionRecognitionInConversationPipeline,
        pt_model=AutoModelForSequenceClassification,
        type="multimodal",
    )


__all__ = ["CAUSAL_WINDOW_TURNS", "DEFAULT_CONVERSATION_BATCH_SIZE", "DEFAULT_TEXT_BATCH_SIZE", "TASK", "TEXT_WINDOW_TURNS", "EmotionRecognitionInConversationPipeline", "check_text_is_unicode", "register_pipeline"]
