# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""Dialogues of per-utterance features -> the models' padded batch (the input contract of the models' ``forward``).

The one place the batch is built, whether the dialogues come from a prepared split (`training.train.collator`) or from
raw conversations (`EmoJEProcessor`, hence the pipeline). A dialogue is a mapping with, for its U utterances:

| key | value |
|---|---|
| `modality_mask` | (U, 4) bools in MODALITIES order: where each modality is present |
| `{m}_features` | a list of U arrays (T, D) (T = 0 where absent), for the modalities it has |
| `text` | a list of U strings (tokenized when a `tokenizer` is given; blank = absent) |
| `speaker_ids` | (U,) ints (default zeros); `number_speakers` numbers speaker names by first appearance |
| `labels` | (U,) ints, -100 for unscored utterances (optional: the batch has `labels` when a dialogue has them) |

Example:
    >>> import numpy as np
    >>> from modeling_emoje.dialogue_batch import build_dialogue_batch, number_speakers
    >>> number_speakers(["Ann", "Bob", "Ann"]).tolist()
    [0, 1, 0]
    >>> dialogue = {"modality_mask": [[True, False, False, False], [True, True, False, False]],
    ...             "text_features": [np.ones((1, 3)), np.ones((1, 3))],
    ...             "audio_features": [np.zeros((0, 2)), np.ones((5, 2))], "speaker_ids": [0, 1]}
    >>> batch = build_dialogue_batch([dialogue])
    >>> batch["audio_features"].shape, batch["audio_attention_mask"][0].sum(-1).tolist()
    ((1, 2, 5, 2), [0, 5])
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .modalities import MODALITIES, MODALITY_INDEX, MODALITY_TABLE, Scenario, counted_modalities, get_modality

IGNORE_INDEX = -100
_TEXT = MODALITY_INDEX["text"]


def number_speakers(speakers: Iterable[Hashable]) -> np.ndarray:
    """(U,) int64 speaker ids of one dialogue: each name numbered by its first appearance (0, 1, ...)."""
    numbering: dict[Hashable, int] = {}
    return np.asarray([numbering.setdefault(speaker, len(numbering)) for speaker in speakers], dtype=np.int64)


def _locate(dialogue: int, utterance: int) -> str:
    return f"dialogue {dialogue} utterance {utterance}"


def build_dialogue_batch(
    dialogues: Sequence[Mapping[str, Any]],
    scenario: Scenario | None = None,
    max_frames: int | None = None,
    tokenizer: Any = None,
    max_text_length: int = 128,
    locate: Callable[[int, int], str] = _locate,
) -> dict[str, np.ndarray]:
    """Pad `dialogues` into numpy arrays: `{m}_features` (B, U, T, D) float32 and `{m}_attention_mask` (B, U, T)
    for each modality some utterance has, `modality_mask` (B, U, 4) bool, `utterance_mask` and `speaker_ids`
    (B, U) int64, `labels` (B, U) int64 padded with -100 (when a dialogue has labels).

    Args:
        dialogues: see the module docstring.
        scenario: only its modalities count (the others get no key and a False `modality_mask` column).
        max_frames: keep at most this many (the first) frames per utterance and modality.
        tokenizer: a Hugging Face tokenizer: each dialogue's `text` becomes `input_ids` / `attention_mask`
            (B, U, L) instead of `text_features`; an utterance without text has pad ids and a zero mask row.
        max_text_length: tokens per utterance with `tokenizer` (longer texts are truncated).
        locate: names utterance `u` of dialogue `b` in error messages.

    A modality counts for an utterance when `modality_mask` says so, the scenario keeps it and it has a frame
    (a text: a non-blank string).
    """
    if not dialogues:
        raise ValueError("no dialogues to batch")
    lengths = [len(d["labels"]) if "labels" in d else len(d["modality_mask"]) for d in dialogues]
    batch_size, length = len(dialogues), max(lengths)
    utterance_mask = np.zeros((batch_size, length), dtype=np.int64)
    speaker_ids = np.zeros((batch_size, length), dtype=np.int64)
    modality_mask = np.zeros((batch_size, length, len(MODALITIES)), dtype=bool)
    with_labels = any("labels" in d for d in dialogues)
    labels = np.full((batch_size, length), IGNORE_INDEX, dtype=np.int64)
    for b, (dialogue, size) in enumerate(zip(dialogues, lengths)):
        utterance_mask[b, :size] = 1
        if "labels" in dialogue:
            labels[b, :size] = dialogue["labels"]
        if dialogue.get("speaker_ids") is not None:
            speaker_ids[b, :size] = dialogue["speaker_ids"]
        mask = np.asarray(dialogue["modality_mask"], dtype=bool)
        if mask.shape != (size, len(MODALITIES)):
            raise ValueError(f"dialogue {b}: modality_mask has shape {mask.shape}, expected {(size, len(MODALITIES))}")
        modality_mask[b, :size] = mask
    modality_mask = counted_modalities(modality_mask, utterance_mask, scenario)
    batch: dict[str, np.ndarray] = {}
    for index, modality in enumerate(MODALITY_TABLE):
        if scenario is not None and modality.name not in scenario:
            continue
        if index == _TEXT and tokenizer is not None:
            batch.update(_tokens(dialogues, lengths, modality_mask, tokenizer, max_text_length, locate))
            continue
        padded = _pad_frames(dialogues, lengths, modality.name, modality_mask[:, :, index], max_frames, locate)
        if padded is not None:
            batch[modality.features_key], batch[modality.attention_mask_key] = padded
    batch.update(modality_mask=modality_mask, utterance_mask=utterance_mask, speaker_ids=speaker_ids)
    if with_labels:
        batch["labels"] = labels
    return batch


def _pad_frames(
    dialogues: Sequence[Mapping[str, Any]],
    lengths: list[int],
    modality: str,
    present: np.ndarray,
    max_frames: int | None,
    locate: Callable[[int, int], str],
) -> tuple[np.ndarray, np.ndarray] | None:
    """(values (B, U, T, D), frame mask (B, U, T)) of one modality, or None when no utterance has a frame of it.

    Clears `present` (a view of the batch's `modality_mask` column) where the utterance has no frame.
    """
    key = get_modality(modality).features_key
    per_dialogue = [d.get(key) for d in dialogues]
    dim, frames_max = None, 1
    for b, utterances in enumerate(per_dialogue):
        if utterances is None:
            continue
        if len(utterances) != lengths[b]:
            raise ValueError(f"dialogue {b}: {key} has {len(utterances)} utterances, labels have {lengths[b]}")
        for u, frames in enumerate(utterances):
            frames = np.asarray(frames, dtype=np.float32)
            if frames.size == 0:
                continue
            if frames.ndim != 2 or (dim is not None and frames.shape[1] != dim):
                raise ValueError(f"{locate(b, u)}: {key} has shape {frames.shape}, expected (T, {dim or 'D'})")
            dim = frames.shape[1]
            frames_max = max(frames_max, frames.shape[0])
    if dim is None:
        present[:] = False
        return None
    if max_frames is not None:
        frames_max = min(frames_max, max_frames)
    values = np.zeros((len(dialogues), max(lengths), frames_max, dim), dtype=np.float32)
    attention = np.zeros((len(dialogues), max(lengths), frames_max), dtype=np.int64)
    for b, utterances in enumerate(per_dialogue):
        if utterances is None:
            present[b] = False
            continue
        for u, frames in enumerate(utterances):
            count = min(len(frames), frames_max)
            if count and present[b, u]:
                values[b, u, :count] = np.asarray(frames[:count], dtype=np.float32)
                attention[b, u, :count] = 1
            else:
                present[b, u] = False
    return values, attention


def _tokens(
    dialogues: Sequence[Mapping[str, Any]],
    lengths: list[int],
    modality_mask: np.ndarray,
    tokenizer: Any,
    max_text_length: int,
    locate: Callable[[int, int], str],
) -> dict[str, np.ndarray]:
    """`input_ids` / `attention_mask` (B, U, L) from each dialogue's `text`; clears text where it is absent."""
    cells: list[tuple[int, int]] = []
    texts: list[str] = []
    for b, (dialogue, size) in enumerate(zip(dialogues, lengths)):
        utterances = dialogue.get("text")
        if utterances is None:
            if modality_mask[b, :size, _TEXT].any():
                raise ValueError(
                    f"dialogue {b}: modality_mask marks text present but the item has no 'text' to tokenize "
                    "(build the dataset with DialogueDataset(..., raw_text=True))"
                )
            continue
        if len(utterances) != size:
            raise ValueError(f"dialogue {b}: text has {len(utterances)} utterances, labels have {size}")
        for u, text in enumerate(utterances):
            if text is not None and not isinstance(text, str):
                raise ValueError(f"{locate(b, u)}: text must be a string, got {type(text).__name__}")
            if modality_mask[b, u, _TEXT] and text and text.strip():
                cells.append((b, u))
                texts.append(text)
            else:
                modality_mask[b, u, _TEXT] = False
    if not cells:
        return {}
    encoded = tokenizer(texts, truncation=True, max_length=max_text_length, padding="longest", return_tensors="np")
    ids, mask = encoded["input_ids"], encoded["attention_mask"]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = np.full((len(dialogues), max(lengths), ids.shape[1]), pad_id, dtype=np.int64)
    attention = np.zeros(input_ids.shape, dtype=np.int64)
    rows, columns = np.array(cells).T
    input_ids[rows, columns] = ids
    attention[rows, columns] = mask
    return {"input_ids": input_ids, "attention_mask": attention}


__all__ = ["IGNORE_INDEX", "build_dialogue_batch", "number_speakers"]
