"""Protocols (label set + split rule + folds) as objects, the split rules, and the leakage check every build passes.

A protocol is an object separate from the corpus reader (as pyannote.audio separates tasks from data): the reader
yields [`UtteranceRecord`]s, the protocol maps raw labels to its label set, splits the records into
`train`/`validation`/`test` and says which splits must not share speakers, sessions or dialogues. This module holds
the machinery only; each corpus module declares its own protocols in its registry entry (`corpora.py`).

Split rules: [`split_official`] (the corpus' own split), [`split_held_out_sessions`] (fixed test sessions),
[`split_session_fold`] (leave one session out), [`split_speaker_fold`] (leave one speaker out, the other speaker of
that session is validation). What must not leak: [`DIALOGUE_SEPARATION`], [`SESSION_SEPARATION`],
[`SPEAKER_SEPARATION`], [`SPEAKER_AND_DIALOGUE_SEPARATION`].

Validation dialogues are drawn with `random.Random(seed)` (seed 0 by default) from the sorted dialogue ids, so a
split is the same on every machine. Speaker folds are numbered in sorted speaker order (`Ses01_F`=1, `Ses01_M`=2, ...).
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from datasets import DatasetDict

from .schema import (
    SCHEMA_VERSION,
    SPLITS,
    BuildSummary,
    UtteranceRecord,
    builder_fingerprint,
    make_dataset_dict,
)

LEAKAGE_KEYS = ("speaker", "session", "dialogue")
_ALL_PAIRS = tuple(itertools.combinations(SPLITS, 2))
_TEST_PAIRS = (("train", "test"), ("validation", "test"))
_TRAIN_PAIRS = (("train", "validation"), ("train", "test"))


class LeakageError(AssertionError):
    """Two splits share a speaker, session or dialogue that their protocol keeps apart."""


def natural_key(text: str) -> tuple:
    """Sort key that orders `session2` before `session10`."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def session_of_speaker(speaker: str) -> str:
    """Session of a speaker named `"<session>_<gender>"` (`"Ses01_F"` -> `"Ses01"`)."""
    if "_" not in speaker:
        raise ValueError(f"speaker {speaker!r} carries no session (expected '<session>_<gender>')")
    return speaker.rsplit("_", 1)[0]


def _group_values(dataset_dict: DatasetDict, split: str, key: str) -> set[str]:
    dataset = dataset_dict[split]
    if key == "dialogue":
        return set(dataset.unique("dialogue_id"))
    if key == "session":
        return {session_of_speaker(speaker) for speaker in dataset.unique("speaker")}
    if key in dataset.column_names:
        return set(dataset.unique(key))
    raise ValueError(f"unknown leakage key {key!r}: use one of {LEAKAGE_KEYS} or a column name")


def assert_no_leakage(
    dataset_dict: DatasetDict, key: str = "speaker", pairs: Iterable[tuple[str, str]] | None = None
) -> None:
    """Raise [`LeakageError`] if two splits share a value of `key` (`speaker`, `session`, `dialogue` or a column).

    Args:
        dataset_dict: a built dataset.
        key: `"speaker"`, `"session"` (from speakers named `<session>_<gender>`), `"dialogue"` or a column name.
        pairs: the split pairs to check (default: every pair of splits present).

    Example:
        >>> from datasets import Dataset, DatasetDict
        >>> dd = DatasetDict(train=Dataset.from_dict({"speaker": ["Ses01_F"]}), test=Dataset.from_dict({"speaker": ["Ses01_F"]}))
        >>> assert_no_leakage(dd, "speaker")
        Traceback (most recent call last):
        ...
        dataset_scripts.protocols.LeakageError: splits 'train' and 'test' share 1 speaker value(s): ['Ses01_F']
    """
    present = [split for split in SPLITS if split in dataset_dict] + [
        split for split in dataset_dict if split not in SPLITS
    ]
    pairs = list(itertools.combinations(present, 2)) if pairs is None else list(pairs)
    cache: dict[str, set[str]] = {}
    for first, second in pairs:
        if first not in dataset_dict or second not in dataset_dict:
            continue
        for split in (first, second):
            if split not in cache:
                cache[split] = _group_values(dataset_dict, split, key)
        shared = cache[first] & cache[second]
        if shared:
            listed = sorted(shared)[:10]
            raise LeakageError(f"splits {first!r} and {second!r} share {len(shared)} {key} value(s): {listed}")


# --------------------------------------------------------------------------------------------- split rules

SplitRule = Callable[[list[UtteranceRecord], "Protocol", int | None, int, float], dict[str, list[UtteranceRecord]]]


def _draw_validation(
    train: list[UtteranceRecord], seed: int, fraction: float
) -> tuple[list[UtteranceRecord], list[UtteranceRecord]]:
    """Move `fraction` of the dialogues of `train` (at least one) to validation, drawn with `seed`."""
    dialogues = sorted({record.dialogue_id for record in train}, key=natural_key)
    if len(dialogues) < 2:
        raise ValueError(f"cannot draw a validation split from {len(dialogues)} training dialogue(s)")
    count = min(len(dialogues) - 1, max(1, round(fraction * len(dialogues))))
    chosen = set(random.Random(seed).sample(dialogues, count))
    return [r for r in train if r.dialogue_id not in chosen], [r for r in train if r.dialogue_id in chosen]


def split_official(records, protocol, fold, seed, fraction):
    """Keep the corpus' own split (`official_split` of each record)."""
    out: dict[str, list[UtteranceRecord]] = {split: [] for split in SPLITS}
    for record in records:
        if record.official_split not in out:
            raise ValueError(f"{record.origin}: split {record.official_split!r} is not one of {SPLITS}")
        out[record.official_split].append(record)
    return out


def _sessions(records: Sequence[UtteranceRecord]) -> list[str]:
    return sorted({record.session for record in records}, key=natural_key)


def split_held_out_sessions(test_sessions: Sequence[str]) -> SplitRule:
    """Fixed session split: `test_sessions` are test, the rest train with a dialogue-level validation draw."""

    def rule(records, protocol, fold, seed, fraction):
        sessions = _sessions(records)
        missing = [s for s in test_sessions if s not in sessions]
        if missing:
            raise ValueError(f"protocol {protocol.name}: the corpus has no session {missing} (found {sessions})")
        test = [r for r in records if r.session in test_sessions]
        train, validation = _draw_validation([r for r in records if r.session not in test_sessions], seed, fraction)
        return {"train": train, "validation": validation, "test": test}

    return rule


def split_session_fold(records, protocol, fold, seed, fraction):
    """Leave-one-session-out: fold K tests session K (sorted order); validation = dialogues of the others."""
    sessions = _sessions(records)
    if len(sessions) != protocol.num_folds:
        raise ValueError(f"protocol {protocol.name} needs {protocol.num_folds} sessions, the corpus has {sessions}")
    held_out = sessions[fold - 1]
    train, validation = _draw_validation([r for r in records if r.session != held_out], seed, fraction)
    return {"train": train, "validation": validation, "test": [r for r in records if r.session == held_out]}


def split_speaker_fold(records, protocol, fold, seed, fraction):
    """Leave-one-speaker-out: fold K tests speaker K (sorted), the other speaker of its session is validation."""
    speakers = sorted({record.speaker for record in records}, key=natural_key)
    if len(speakers) != protocol.num_folds:
        raise ValueError(f"protocol {protocol.name} needs {protocol.num_folds} speakers, the corpus has {speakers}")
    test_speaker = speakers[fold - 1]
    session = session_of_speaker(test_speaker)
    out: dict[str, list[UtteranceRecord]] = {split: [] for split in SPLITS}
    for record in records:
        if record.speaker == test_speaker:
            out["test"].append(record)
        elif record.session == session:
            out["validation"].append(record)
        else:
            out["train"].append(record)
    return out


# ------------------------------------------------------------------------------------------------ protocol


@dataclass(frozen=True)
class Protocol:
    """A named way to turn one corpus into train/validation/test.

    Args:
        corpus: the name of the registered corpus it splits (`corpora.py`).
        name: protocol name (`--protocol`).
        label_names: class names in class-index order.
        label_map: raw corpus label -> protocol label; raw labels not in it are skipped (and counted).
        num_folds: 0 for a single split, else folds `1..num_folds` (`--fold`).
        split_rule: `(records, protocol, fold, seed, validation_fraction) -> {split: records}`.
        separates: `(key, (split_a, split_b))` pairs that must share no `key` value (checked after every build).
        label_field: which raw annotation the reader takes as label (MELD: `emotion` or `sentiment`).
        description: one line for summaries and model cards.
        extra: what readers and evaluation need beyond the split: `group_by` (`"episode"`: the reader joins the
            dialogues of one episode), `split` (feature tables: the values of the split-rule column per split),
            `three_mode` (True: results on it are published in CM-ARR's three modes, audio / text / visual = face +
            body, so evaluation adds those scenarios).
    """

    corpus: str
    name: str
    label_names: tuple[str, ...]
    label_map: Mapping[str, str]
    num_folds: int
    split_rule: SplitRule
    separates: tuple[tuple[str, tuple[str, str]], ...]
    label_field: str = "label"
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.corpus}/{self.name}"

    def check_fold(self, fold: int | None) -> int | None:
        """Validate `fold` (default 1 for fold protocols, `None` otherwise)."""
        if self.num_folds == 0:
            if fold not in (None, 0, 1):
                raise ValueError(f"protocol {self.id} has no folds (got fold {fold})")
            return None
        fold = 1 if fold is None else int(fold)
        if not 1 <= fold <= self.num_folds:
            raise ValueError(f"protocol {self.id} has folds 1..{self.num_folds}, got fold {fold}")
        return fold

    def split(
        self,
        records: Sequence[UtteranceRecord],
        fold: int | None = None,
        summary: BuildSummary | None = None,
        seed: int = 0,
        validation_fraction: float = 0.1,
    ) -> dict[str, list[dict[str, Any]]]:
        """Map labels, split, order and number: `{split: rows}` ready for `make_dataset_dict`."""
        fold = self.check_fold(fold)
        label_ids = {name: index for index, name in enumerate(self.label_names)}
        kept: list[UtteranceRecord] = []
        for record in records:
            mapped = self.label_map.get(record.label)
            if mapped is None:
                if summary is not None:
                    summary.skip(f"label {record.label!r} not in protocol {self.name}", record.origin)
                continue
            kept.append(replace(record, label=mapped))
        parts = self.split_rule(kept, self, fold, seed, validation_fraction)
        rows: dict[str, list[dict[str, Any]]] = {}
        for split in SPLITS:
            rows[split] = _ordered_rows(parts.get(split, []), label_ids)
            if summary is not None:
                summary.rows[split] = len(rows[split])
                summary.dialogues[split] = len({row["dialogue_id"] for row in rows[split]})
                counts = Counter(self.label_names[row["label"]] for row in rows[split])
                summary.label_counts[split] = {name: counts[name] for name in self.label_names if counts[name]}
        return rows

    def check_leakage(self, dataset_dict: DatasetDict) -> None:
        """Run [`assert_no_leakage`] on every (key, split pair) the protocol separates."""
        for key, pair in self.separates:
            assert_no_leakage(dataset_dict, key, [pair])


def _ordered_rows(records: list[UtteranceRecord], label_ids: Mapping[str, int]) -> list[dict[str, Any]]:
    dialogues: dict[str, list[UtteranceRecord]] = defaultdict(list)
    for record in records:
        dialogues[record.dialogue_id].append(record)
    order = sorted(dialogues, key=lambda d: (dialogues[d][0].dialogue_order, natural_key(d)))
    rows = []
    for dialogue_id in order:
        turns = sorted(dialogues[dialogue_id], key=lambda r: (r.order, r.source_id))
        rows.extend(turn.to_row(label_ids[turn.label], position) for position, turn in enumerate(turns))
    return rows


def identity_map(labels: Iterable[str]) -> dict[str, str]:
    """`{label: label}`: the label map of a protocol that keeps the corpus' own label names."""
    return {label: label for label in labels}


# What each kind of protocol keeps apart: `(key, (split_a, split_b))` pairs (see `assert_no_leakage`).
SESSION_SEPARATION = (
    tuple(("session", pair) for pair in _TEST_PAIRS)
    + tuple(("speaker", pair) for pair in _TEST_PAIRS)
    + tuple(("dialogue", pair) for pair in _ALL_PAIRS)
)
SPEAKER_SEPARATION = (
    tuple(("speaker", pair) for pair in _ALL_PAIRS)
    + tuple(("session", pair) for pair in _TRAIN_PAIRS)
    + tuple(("dialogue", pair) for pair in _TRAIN_PAIRS)
)
DIALOGUE_SEPARATION = tuple(("dialogue", pair) for pair in _ALL_PAIRS)
SPEAKER_AND_DIALOGUE_SEPARATION = tuple(("speaker", pair) for pair in _ALL_PAIRS) + DIALOGUE_SEPARATION


def with_labels(protocol: Protocol, label_names: Sequence[str]) -> Protocol:
    """A copy of `protocol` with a user label list (identity label map), as the conversations reader needs."""
    return replace(protocol, label_names=tuple(label_names), label_map=identity_map(label_names))


def build_dataset_dict(
    records: Sequence[UtteranceRecord],
    protocol: Protocol,
    fold: int | None,
    summary: BuildSummary,
    data_dir: str,
    seed: int = 0,
    validation_fraction: float = 0.1,
) -> DatasetDict:
    """Split `records` with `protocol`, build the `DatasetDict`, check leakage and attach metadata (for builders)."""
    fold = protocol.check_fold(fold)
    summary.fold = fold
    summary.label_names = list(protocol.label_names)
    rows = protocol.split(records, fold, summary, seed=seed, validation_fraction=validation_fraction)
    empty = [split for split in SPLITS if not rows[split]]
    if empty:
        summary.notes.append(f"split(s) {empty} hold no utterance")
    metadata = {
        "schema_version": SCHEMA_VERSION,
        "corpus": protocol.corpus,
        "protocol": protocol.name,
        "protocol_id": protocol.id if fold is None else f"{protocol.id}/fold{fold}",
        "protocol_description": protocol.description,
        "fold": fold,
        "num_folds": protocol.num_folds,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "label_names": list(protocol.label_names),
        "data_dir": str(data_dir),
        "builder_fingerprint": builder_fingerprint(protocol.corpus, data_dir),
        "features": {},
        "summary": summary.to_dict(),
    }
    dataset_dict = make_dataset_dict(rows, protocol.label_names, metadata)
    protocol.check_leakage(dataset_dict)
    return dataset_dict


__all__ = [
    "DIALOGUE_SEPARATION",
    "LEAKAGE_KEYS",
    "SESSION_SEPARATION",
    "SPEAKER_AND_DIALOGUE_SEPARATION",
    "SPEAKER_SEPARATION",
    "LeakageError",
    "Protocol",
    "SplitRule",
    "assert_no_leakage",
    "build_dataset_dict",
    "identity_map",
    "natural_key",
    "session_of_speaker",
    "split_held_out_sessions",
    "split_official",
    "split_session_fold",
    "split_speaker_fold",
    "with_labels",
]
