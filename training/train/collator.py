"""Dialogue-level batching: utterance rows of a prepared split -> the model input contract.

`DialogueDataset` groups the utterance rows of one split (one row per utterance, ARCHITECTURE.md section 3)
into dialogues once, reading every feature column straight from Arrow into a few contiguous numpy arrays,
so an epoch never converts Python lists. `DialogueCollator` pads a list of dialogues into the tensors of
the models' shared input contract with `modeling_emoje.dialogue_batch.build_dialogue_batch`, the batch builder the
processor (and so the pipeline) uses too.

For a model with its own text encoder (`EmoJEConfig.text_config`), ``DialogueDataset(split, raw_text=True)``
carries each utterance's ``text`` instead of ``text_features``, and ``DialogueCollator(tokenizer=...)``
tokenizes it into ``input_ids`` / ``attention_mask`` (B, U, L).

Example:
    >>> from dataset_scripts.synthetic import make_prototype_corpus as make_synthetic_corpus
    >>> from training.train.collator import DialogueCollator, DialogueDataset
    >>> split = make_synthetic_corpus(num_dialogues=(4, 2, 2), seed=0)["train"]
    >>> dialogues = DialogueDataset(split)
    >>> batch = DialogueCollator()([dialogues[0], dialogues[1]])
    >>> batch["text_features"].shape[0], batch["modality_mask"].shape[-1]
    (2, 4)
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from dataset_scripts.feature_frames import read_frames
from modeling_emoje.dialogue_batch import build_dialogue_batch, number_speakers
from modeling_emoje.modalities import (
    MODALITIES,
    Scenario,
    counted_modalities,
    normalize_modalities,
)

from ..evaluation.metrics import IGNORE_INDEX

REQUIRED_COLUMNS: tuple[str, ...] = ("dialogue_id", "utterance_id", "speaker", "label")
_TEXT = MODALITIES.index("text")


class DialogueDataset(torch.utils.data.Dataset):
    """The utterance rows of one prepared split, grouped into dialogues in utterance order.

    Args:
        split: a `datasets.Dataset` with the columns of ARCHITECTURE.md section 3.
        modalities: modalities to read (default: every ``{m}_features`` column the split has).
        keep_modalities: an evaluation scenario: only these modalities count as present. Utterances left
            with no present modality cannot be predicted; they are removed from their dialogue (the rest of
            the dialogue keeps its order) and counted in `num_skipped`. Dialogues left empty are removed.
        name: used in error messages (e.g. ``"test"``).
        raw_text: read the ``text`` column instead of ``text_features`` (for a collator with a tokenizer):
            text counts as present where the text is not blank and ``modality_mask`` does not mark it absent
            (a ``modality_mask`` written by a feature extraction that skipped text is ignored). ``feature_dims``
            then has no ``text`` entry, but ``available_modalities`` lists text.

    Each item is a dict of numpy arrays: ``labels`` (U,), ``speaker_ids`` (U,), ``modality_mask`` (U, 4)
    and, per read modality, ``{m}_features``: a list of U ``(T, D)`` arrays (``T = 0`` when absent); with
    ``raw_text``, also ``text``: a list of U strings.
    """

    def __init__(
        self,
        split,
        modalities: Iterable[str] | None = None,
        keep_modalities: Iterable[str] | str | None = None,
        name: str | None = None,
        raw_text: bool = False,
    ) -> None:
        self.name = name or getattr(split, "split", None) or "split"
        self.name = str(self.name)
        missing = [column for column in REQUIRED_COLUMNS if column not in split.column_names]
        if missing:
            raise ValueError(f"{self.name}: missing required columns {missing} (have {split.column_names})")
        requested = normalize_modalities(modalities, field="modalities")
        label_feature = split.features["label"]
        self.label_names: list[str] | None = list(getattr(label_feature, "names", None) or []) or None
        table = split.with_format("arrow")[:]
        num_rows = table.num_rows

        dialogue_ids = np.asarray(table.column("dialogue_id").to_pylist(), dtype=object).astype(str)
        utterance_ids = table.column("utterance_id").to_numpy(zero_copy_only=False).astype(np.int64)
        speakers = np.asarray(table.column("speaker").to_pylist(), dtype=object).astype(str)
        labels = table.column("label").to_numpy(zero_copy_only=False).astype(np.int64)
        self.labels = np.where(labels < 0, IGNORE_INDEX, labels)

        self.features: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.feature_dims: dict[str, int] = {}
        presence = np.zeros((num_rows, len(MODALITIES)), dtype=bool)
        declared = None
        if "modality_mask" in table.column_names:
            declared = np.asarray(table.column("modality_mask").to_pylist(), dtype=bool).reshape(num_rows, -1)
            if declared.shape[1] != len(MODALITIES):
                raise ValueError(f"{self.name}: modality_mask must hold {len(MODALITIES)} booleans {MODALITIES}")
        self.raw_text = bool(raw_text) and (requested is None or "text" in requested)
        self._texts: np.ndarray | None = None
        if self.raw_text:
            presence[:, _TEXT] = self._read_texts(table, declared)
        for index, modality in enumerate(MODALITIES):
            column = f"{modality}_features"
            if column not in table.column_names or (requested is not None and modality not in requested):
                continue
            if modality == "text" and self.raw_text:
                continue
            frames, offsets, dim = read_frames(table, column, self.name)
            has_frames = np.diff(offsets) > 0
            if declared is not None:
                claimed = declared[:, index] & ~has_frames
                if claimed.any():
                    row = int(np.flatnonzero(claimed)[0])
                    raise ValueError(
                        f"{self.name}: dialogue {dialogue_ids[row]!r} utterance {utterance_ids[row]}: modality_mask marks "
                        f"'{modality}' present but {column} is empty"
                    )
                has_frames &= declared[:, index]
            if dim is None or not has_frames.any():
                continue
            self.features[modality] = (frames, offsets)
            self.feature_dims[modality] = dim
            presence[:, index] = has_frames
        if requested is not None and not requested & set(self._modalities_with_data(presence)):
            raise ValueError(f"{self.name}: none of the requested modalities {sorted(requested)} has features in this split")
        self.presence = presence
        self._speakers = speakers

        # Group rows by dialogue (first-appearance order), sorted by utterance_id inside each dialogue.
        order = np.lexsort((utterance_ids, dialogue_ids))
        sorted_dialogues = dialogue_ids[order]
        boundaries = np.flatnonzero(sorted_dialogues[1:] != sorted_dialogues[:-1]) + 1
        groups = np.split(order, boundaries) if num_rows else []
        groups.sort(key=lambda rows: int(rows.min()))
        for rows in groups:
            ids = utterance_ids[rows]
            repeated = ids[1:][ids[1:] == ids[:-1]]
            if repeated.size:
                raise ValueError(f"{self.name}: dialogue {dialogue_ids[rows[0]]!r} has utterance_id {int(repeated[0])} twice")
        self._groups: list[tuple[str, np.ndarray]] = [(str(dialogue_ids[rows[0]]), rows) for rows in groups]
        self._apply_scenario(keep_modalities)

    def _read_texts(self, table: pa.Table, declared: np.ndarray | None) -> np.ndarray:
        """Store the ``text`` column and return where text is present (not blank, not masked off)."""
        if "text" not in table.column_names:
            raise ValueError(f"{self.name}: raw_text=True needs a 'text' column (have {table.column_names})")
        texts = np.asarray(["" if t is None else str(t) for t in table.column("text").to_pylist()], dtype=object)
        present = np.fromiter((bool(t.strip()) for t in texts), dtype=bool, count=len(texts))
        # A builder's modality_mask says where text exists; after a feature extraction that skipped text (no
        # text_features column, text off everywhere) it says nothing about the transcripts, so it is ignored.
        if declared is not None and ("text_features" in table.column_names or declared[:, _TEXT].any()):
            present &= declared[:, _TEXT]
        self._texts = texts
        return present

    def _modalities_with_data(self, presence: np.ndarray) -> list[str]:
        names = set(self.features)
        if self.raw_text and presence[:, _TEXT].any():
            names.add("text")
        return [m for m in MODALITIES if m in names]

    def _apply_scenario(self, keep_modalities: Iterable[str] | str | None) -> None:
        self.keep_modalities = normalize_modalities(keep_modalities, field="keep_modalities")
        scenario = None if self.keep_modalities is None else Scenario(self.keep_modalities)
        self.usable = usable = counted_modalities(self.presence, scenario=scenario)
        self.dialogue_ids: list[str] = []
        self._rows: list[np.ndarray] = []
        self._speaker_ids: list[np.ndarray] = []
        self._scored_from: list[int] = []
        self.num_skipped = 0
        for dialogue_id, rows in self._groups:
            keep = usable[rows].any(1)
            self.num_skipped += int((self.labels[rows][~keep] != IGNORE_INDEX).sum())
            rows = rows[keep]
            if rows.size == 0:
                continue
            self._add_item(dialogue_id, rows)

    def _add_item(self, dialogue_id: str, rows: np.ndarray, scored_from: int = 0) -> None:
        """One item: ``rows`` in order, speakers numbered by first appearance, labels scored from ``scored_from`` on."""
        self.dialogue_ids.append(dialogue_id)
        self._rows.append(rows)
        self._speaker_ids.append(number_speakers(self._speakers[rows]))
        self._scored_from.append(scored_from)

    @property
    def available_modalities(self) -> list[str]:
        """Modalities with features (or, with ``raw_text``, text) for at least one utterance, in MODALITIES order."""
        return self._modalities_with_data(self.presence)

    @property
    def num_utterances(self) -> int:
        """Distinct utterances the items carry (a context utterance shown in two windows counts once)."""
        return int(len(np.unique(np.concatenate(self._rows)))) if self._rows else 0

    @property
    def num_dialogues(self) -> int:
        """Distinct dialogues the items come from (`len` counts items: windows, with `windows`)."""
        return len(set(self.dialogue_ids))

    @property
    def num_labelled(self) -> int:
        """Number of labelled utterances that items of this dataset carry (what a full evaluation scores)."""
        return int(
            sum((self.labels[rows[start:]] != IGNORE_INDEX).sum() for rows, start in zip(self._rows, self._scored_from))
        )

    def windows(self, length: int, context: int = 0) -> DialogueDataset:
        """A view in which every dialogue longer than ``length`` utterances is cut into consecutive windows of
        ``length`` scored utterances, each preceded by up to ``context`` earlier utterances of its dialogue that the
        model sees but that carry no label (``-100``): every utterance is scored exactly once, and a long dialogue
        gives as many training items as its length asks for (``per_device_train_batch_size`` then counts windows of
        at most ``length + context`` utterances, whatever the corpus' dialogue lengths). Apply a scenario first
        (`with_scenario`), windows second.

        Example:
            >>> from dataset_scripts.synthetic import make_prototype_corpus
            >>> dialogues = DialogueDataset(make_prototype_corpus(num_dialogues=(2, 1, 1), seed=0)["train"])
            >>> view = dialogues.windows(3, context=1)
            >>> len(view) > len(dialogues), view.num_labelled == dialogues.num_labelled
            (True, True)
        """
        if length < 1 or context < 0:
            raise ValueError(f"windows need length >= 1 and context >= 0, got length={length}, context={context}")
        view = object.__new__(DialogueDataset)
        view.__dict__.update(self.__dict__)
        view.dialogue_ids, view._rows, view._speaker_ids, view._scored_from = [], [], [], []
        for dialogue_id, rows, start in zip(self.dialogue_ids, self._rows, self._scored_from):
            scored = rows[start:]
            for first in range(0, len(scored), length):
                begin = max(0, start + first - context)
                view._add_item(dialogue_id, rows[begin : start + first + length], scored_from=start + first - begin)
        return view

    def modality_frames(self, modality: str) -> np.ndarray:
        """Every real ``(F, D)`` frame of ``modality`` over the utterances this dataset carries where it is usable.

        What feature normalisation is fitted on (`training.train.trainer.fit_feature_normalization`); empty ``(0, 0)``
        when the modality has no features here.
        """
        if modality not in self.features:
            return np.zeros((0, 0), dtype=np.float32)
        frames, offsets = self.features[modality]
        rows = np.unique(np.concatenate(self._rows)) if self._rows else np.zeros(0, dtype=np.int64)  # windows overlap
        rows = rows[self.usable[rows, MODALITIES.index(modality)]]
        if rows.size == 0:
            return np.zeros((0, frames.shape[1]), dtype=np.float32)
        counts = offsets[rows + 1] - offsets[rows]
        starts = np.repeat(offsets[rows] - np.cumsum(counts) + counts, counts) + np.arange(int(counts.sum()))
        return frames[starts]

    def with_scenario(self, keep_modalities: Iterable[str] | str | None) -> DialogueDataset:
        """A view of the same rows for an evaluation scenario (see the class docstring); no data is copied."""
        view = object.__new__(DialogueDataset)
        view.__dict__.update(self.__dict__)
        view._apply_scenario(keep_modalities)
        return view

    def with_label_order(self, label_names: Sequence[str], source: str = "the model") -> DialogueDataset:
        """A view whose label ids index ``label_names`` (a model's ``id2label`` order); no data is copied.

        The same names in another order are remapped (with a log line); other names raise a
        `training.train.labels.LabelMapError` naming both lists. A split without label names must have as many
        label ids as ``label_names``.
        """
        from .labels import LabelMapError, label_order_mapping

        label_names = [str(name) for name in label_names]
        if self.label_names is None:
            used = self.labels[self.labels != IGNORE_INDEX]
            if used.size and int(used.max()) >= len(label_names):
                raise LabelMapError(
                    f"{self.name}: label id {int(used.max())} has no name and lies outside {source}'s labels {label_names}"
                )
            return self
        mapping = label_order_mapping(self.label_names, label_names, data_source=f"split {self.name}", model_source=source)
        if mapping is None:
            return self
        view = object.__new__(DialogueDataset)
        view.__dict__.update(self.__dict__)
        labelled = self.labels != IGNORE_INDEX
        view.labels = np.where(labelled, mapping[np.where(labelled, self.labels, 0)], IGNORE_INDEX)
        view.label_names = label_names
        return view

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rows = self._rows[index]
        labels = self.labels[rows]
        if self._scored_from[index]:
            labels = labels.copy()
            labels[: self._scored_from[index]] = IGNORE_INDEX  # context utterances: seen, not scored
        item: dict[str, Any] = {
            "labels": labels,
            "speaker_ids": self._speaker_ids[index],
            "modality_mask": self.usable[rows],
        }
        for modality, (frames, offsets) in self.features.items():
            item[f"{modality}_features"] = [frames[offsets[r] : offsets[r + 1]] for r in rows]
        if self._texts is not None:
            item["text"] = self._texts[rows].tolist()
        return item


@dataclass
class DialogueCollator:
    """Pads dialogues (items of `DialogueDataset`, or dicts of the same shape) into the model input contract.

    Output: ``{m}_features`` (B, U, T, D) float32 and ``{m}_attention_mask`` (B, U, T) long for every modality
    some item carries, ``modality_mask`` (B, U, 4) bool, ``utterance_mask`` (B, U) long, ``speaker_ids``
    (B, U) long and ``labels`` (B, U) long padded with -100.

    Args:
        keep_modalities: only these modalities are passed on (an evaluation scenario); the others' features
            are dropped from the batch and their ``modality_mask`` column is False.
        max_frames: keep at most this many frames per utterance and modality (the first ones).
        tokenizer: a Hugging Face tokenizer, for a model with its own text encoder. Each dialogue's ``text``
            (items of ``DialogueDataset(..., raw_text=True)``) becomes ``input_ids`` and ``attention_mask``
            (B, U, L) long, L the batch's longest tokenized utterance; an utterance whose text is absent
            (``modality_mask`` text False, blank text, or text not kept) has an all-zero attention row and pad
            ids. The batch then has no ``text_features``; when no utterance has text, no ``input_ids`` either.
        max_text_length: with ``tokenizer``: tokens per utterance, special tokens included (longer texts are
            truncated).

    Example:
        >>> from transformers import AutoTokenizer  # doctest: +SKIP
        >>> collate = DialogueCollator(tokenizer=AutoTokenizer.from_pretrained(path), max_text_length=64)  # doctest: +SKIP
        >>> batch = collate([{"labels": [0, 1], "modality_mask": [[1, 0, 0, 0], [0, 0, 0, 0]],
        ...                   "text": ["Hi!", ""]}])  # doctest: +SKIP
        >>> batch["input_ids"].shape, batch["attention_mask"][0, 1].sum().item()  # doctest: +SKIP
        (torch.Size([1, 2, 4]), 0)
    """

    keep_modalities: Collection[str] | str | None = None
    max_frames: int | None = None
    tokenizer: Any = None
    max_text_length: int = 128

    def __post_init__(self) -> None:
        self.keep_modalities = normalize_modalities(self.keep_modalities, field="keep_modalities")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}")
        if self.tokenizer is not None:
            if not callable(self.tokenizer):
                raise ValueError(f"tokenizer must be a Hugging Face tokenizer, got {type(self.tokenizer).__name__}")
            if self.max_text_length is None or self.max_text_length < 2:
                raise ValueError(f"max_text_length must be >= 2 (room for the special tokens), got {self.max_text_length}")

    def __call__(self, dialogues: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        if not dialogues:
            raise ValueError("DialogueCollator got an empty list of dialogues")
        batch = build_dialogue_batch(
            dialogues,
            scenario=None if self.keep_modalities is None else Scenario(self.keep_modalities),
            max_frames=self.max_frames,
            tokenizer=self.tokenizer,
            max_text_length=self.max_text_length,
        )
        return {key: torch.from_numpy(value) for key, value in batch.items()}


__all__ = ["MODALITIES", "DialogueCollator", "DialogueDataset", "normalize_modalities"]
