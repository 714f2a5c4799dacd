"""Named evaluation protocols (label set + split rule + folds) and the leakage check every protocol must pass.

A protocol is an object separate from the corpus reader (as pyannote.audio separates tasks from data): the reader
yields [`UtteranceRecord`]s, the protocol maps raw labels to its label set, splits the records into
`train`/`validation`/`test` and says which splits must not share speakers, sessions or dialogues.

| corpus | protocol | labels | splits | folds |
|---|---|---|---|---|
| meld | `emotion` (default) | 7 emotions | official train/dev/test | - |
| meld | `sentiment` | 3 sentiments | official train/dev/test | - |
| meld | `episodes` | 7 emotions | official train/dev/test, one conversation per episode (long dialogues) | - |
| iemocap | `erc6` (default) | hap sad neu ang exc fru | Sessions 1-4 train (10 % of their dialogues -> validation), Session 5 test | - |
| iemocap | `mer4` | neutral happy(+exc) angry sad | test = Session K; validation = 10 % of the other sessions' dialogues | 5 |
| iemocap | `mer4-speaker` | as mer4 | test = speaker K; validation = the other speaker of that session; train = other sessions | 10 |
| msp-improv | `loso` (default) | angry happy sad neutral | test = session K; validation = 10 % of the other sessions' dialogues | 6 |
| msp-improv | `loso-speaker` | as loso | test = speaker K; validation = the other speaker of that session | 12 |
| conversations | `given` | user list or sorted labels found | the file's `split` column | - |
| features | `given` (or the split rule's column) | user list or sorted train labels | the table's `split` column or a value rule | - |
| ravdess | `actor` | neutral calm happy sad angry fearful disgust surprised | actors 1-16 train, 17-20 validation, 21-24 test | - |

Validation dialogues are drawn with `random.Random(seed)` (seed 0 by default) from the sorted dialogue ids, so a
split is the same on every machine. Speaker folds are numbered in sorted speaker order (`Ses01_F`=1, `Ses01_M`=2, ...).
"""

from __future__ import annotations

import itertools
import os
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from datasets import DatasetDict

from .schema import (
    LABEL_SETS,
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
        corpus: `meld`, `iemocap`, `msp-improv` or `conversations`.
        name: protocol name (`--protocol`).
        label_names: class names in class-index order.
        label_map: raw corpus label -> protocol label; raw labels not in it are skipped (and counted).
        num_folds: 0 for a single split, else folds `1..num_folds` (`--fold`).
        split_rule: `(records, protocol, fold, seed, validation_fraction) -> {split: records}`.
        separates: `(key, (split_a, split_b))` pairs that must share no `key` value (checked after every build).
        label_field: which raw annotation the reader takes as label (MELD: `emotion` or `sentiment`).
        description: one line for summaries and model cards.
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


def _identity(labels: Iterable[str]) -> dict[str, str]:
    return {label: label for label in labels}


_SESSION_SEPARATION = (
    tuple(("session", pair) for pair in _TEST_PAIRS)
    + tuple(("speaker", pair) for pair in _TEST_PAIRS)
    + tuple(("dialogue", pair) for pair in _ALL_PAIRS)
)
_SPEAKER_SEPARATION = (
    tuple(("speaker", pair) for pair in _ALL_PAIRS)
    + tuple(("session", pair) for pair in _TRAIN_PAIRS)
    + tuple(("dialogue", pair) for pair in _TRAIN_PAIRS)
)
_DIALOGUE_SEPARATION = tuple(("dialogue", pair) for pair in _ALL_PAIRS)
_SPEAKER_AND_DIALOGUE_SEPARATION = tuple(("speaker", pair) for pair in _ALL_PAIRS) + _DIALOGUE_SEPARATION

_MER4_MAP = {"neu": "neutral", "hap": "happy", "exc": "happy", "ang": "angry", "sad": "sad"}
_MSP_MAP = {"A": "angry", "H": "happy", "S": "sad", "N": "neutral"}

_MELD_EMOTION = Protocol(
    "meld",
    "emotion",
    LABEL_SETS["meld/emotion"],
    _identity(LABEL_SETS["meld/emotion"]),
    0,
    split_official,
    _DIALOGUE_SEPARATION,
    label_field="emotion",
    description="MELD, 7 emotions, official train/dev/test",
)

PROTOCOLS: dict[str, Protocol] = {
    p.id: p
    for p in (
        _MELD_EMOTION,
        replace(  # the same labels and split; only the grouping of utterances into conversations differs
            _MELD_EMOTION,
            name="episodes",
            description="MELD, 7 emotions, official split, the dialogues of one episode joined into one long conversation",
            extra={"group_by": "episode"},
        ),
        Protocol(
            "meld",
            "sentiment",
            LABEL_SETS["meld/sentiment"],
            _identity(LABEL_SETS["meld/sentiment"]),
            0,
            split_official,
            _DIALOGUE_SEPARATION,
            label_field="sentiment",
            description="MELD, 3 sentiments, official train/dev/test",
        ),
        Protocol(
            "iemocap",
            "erc6",
            LABEL_SETS["iemocap/erc6"],
            _identity(LABEL_SETS["iemocap/erc6"]),
            0,
            split_held_out_sessions(["Ses05"]),
            _SESSION_SEPARATION,
            description="IEMOCAP ERC: 6 classes, Sessions 1-4 train/validation (dialogue draw), Session 5 test",
        ),
        Protocol(
            "iemocap",
            "mer4",
            LABEL_SETS["iemocap/mer4"],
            _MER4_MAP,
            5,
            split_session_fold,
            _SESSION_SEPARATION,
            description="IEMOCAP 4 classes (exc merged into happy), leave-one-session-out",
        ),
        Protocol(
            "iemocap",
            "mer4-speaker",
            LABEL_SETS["iemocap/mer4"],
            _MER4_MAP,
            10,
            split_speaker_fold,
            _SPEAKER_SEPARATION,
            description="IEMOCAP 4 classes, leave-one-speaker-out (validation: the other speaker of the test session)",
        ),
        Protocol(
            "msp-improv",
            "loso",
            LABEL_SETS["msp-improv/loso"],
            _MSP_MAP,
            6,
            split_session_fold,
            _SESSION_SEPARATION,
            description="MSP-IMPROV 4 classes (O, X dropped), leave-one-session-out",
        ),
        Protocol(
            "msp-improv",
            "loso-speaker",
            LABEL_SETS["msp-improv/loso"],
            _MSP_MAP,
            12,
            split_speaker_fold,
            _SPEAKER_SEPARATION,
            description="MSP-IMPROV 4 classes, leave-one-speaker-out (validation: the other speaker of the test session)",
        ),
        Protocol(
            "conversations",
            "given",
            (),
            {},
            0,
            split_official,
            _DIALOGUE_SEPARATION,
            description="user corpus, split column of the files",
        ),
        Protocol(
            "features",
            "given",
            (),
            {},
            0,
            split_official,
            _DIALOGUE_SEPARATION,
            description="feature table (bring your own features), the table's split column or a split rule",
        ),
        Protocol(
            "ravdess",
            "actor",
            LABEL_SETS["ravdess/actor"],
            _identity(LABEL_SETS["ravdess/actor"]),
            0,
            split_official,  # the feature-table reader assigns splits from `extra["split"]`
            _SPEAKER_AND_DIALOGUE_SEPARATION,
            description="RAVDESS speech clips, 8 emotions, by actor: 1-16 train, 17-20 validation, 21-24 test",
            extra={"split": {"train": "1-16", "validation": "17-20", "test": "21-24"}},
        ),
    )
}

DEFAULT_PROTOCOLS = {
    "meld": "emotion",
    "iemocap": "erc6",
    "msp-improv": "loso",
    "conversations": "given",
    "features": "given",
    "ravdess": "actor",
}


def get_protocol(corpus: str, name: str | None = None) -> Protocol:
    """The protocol `name` of `corpus` (its default when `name` is None).

    Example:
        >>> protocol = get_protocol("iemocap", "mer4")
        >>> protocol.label_names, protocol.num_folds
        (('neutral', 'happy', 'angry', 'sad'), 5)
    """
    corpus = corpus.replace("_", "-")
    name = name or DEFAULT_PROTOCOLS.get(corpus)
    key = f"{corpus}/{name}"
    if key not in PROTOCOLS:
        names = sorted(p.name for p in PROTOCOLS.values() if p.corpus == corpus)
        raise ValueError(f"unknown protocol {name!r} for corpus {corpus!r}; choose one of {names}")
    return PROTOCOLS[key]


def list_protocols(corpus: str | None = None) -> list[Protocol]:
    """All named protocols (of one corpus if given)."""
    return [p for p in PROTOCOLS.values() if corpus is None or p.corpus == corpus.replace("_", "-")]


def with_labels(protocol: Protocol, label_names: Sequence[str]) -> Protocol:
    """A copy of `protocol` with a user label list (identity label map), as the conversations reader needs."""
    return replace(protocol, label_names=tuple(label_names), label_map=_identity(label_names))


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


class CorpusBuilder:
    """Base of the corpus builders: read records, split them with a protocol, return a `DatasetDict`.

    Subclasses set `corpus` and implement `read_records()`; after `build()`, `summary` holds the
    [`BuildSummary`] (also attached to the dataset's metadata).
    """

    corpus: str = ""

    def __init__(
        self,
        data_dir: str | os.PathLike,
        protocol: str | Protocol | None = None,
        fold: int | None = None,
        seed: int = 0,
        validation_fraction: float = 0.1,
    ):
        self.data_dir = Path(data_dir).expanduser().resolve()
        if not self.data_dir.exists():
            raise FileNotFoundError(f"{self.corpus} data directory {self.data_dir} does not exist")
        self.protocol = protocol if isinstance(protocol, Protocol) else get_protocol(self.corpus, protocol)
        self.fold = self.protocol.check_fold(fold)
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
        self.seed = seed
        self.validation_fraction = validation_fraction
        self.summary = BuildSummary(corpus=self.corpus, protocol=self.protocol.name, fold=self.fold)

    def read_records(self) -> list[UtteranceRecord]:
        raise NotImplementedError

    def build(self) -> DatasetDict:
        """Read the corpus and return the `train`/`validation`/`test` `DatasetDict`."""
        self.summary = BuildSummary(corpus=self.corpus, protocol=self.protocol.name, fold=self.fold)
        records = self.read_records()
        return build_dataset_dict(
            records, self.protocol, self.fold, self.summary, str(self.data_dir), self.seed, self.validation_fraction
        )


__all__ = [
    "DEFAULT_PROTOCOLS",
    "LEAKAGE_KEYS",
    "CorpusBuilder",
    "PROTOCOLS",
    "LeakageError",
    "Protocol",
    "assert_no_leakage",
    "build_dataset_dict",
    "get_protocol",
    "list_protocols",
    "natural_key",
    "session_of_speaker",
    "split_held_out_sessions",
    "split_official",
    "split_session_fold",
    "split_speaker_fold",
    "with_labels",
]
