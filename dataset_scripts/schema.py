"""The one row schema every emoje builder produces, the utterance record builders fill, and prepared-data metadata.

A prepared corpus is a `datasets.DatasetDict` with the splits `train`, `validation` and `test`, one row per
utterance, rows grouped by dialogue and in dialogue order. Its columns (ARCHITECTURE.md, section 3):

| column | type | meaning |
|---|---|---|
| `dialogue_id` | string | unique across all splits of one build |
| `utterance_id` | int32 | position of the utterance in its dialogue *within the split* (0, 1, 2, ...) |
| `speaker` | string | corpus speaker name; session corpora use `"<session>_<gender>"` (`Ses01_F`, `session1_M`) |
| `text` | string | transcript (`""` if none) |
| `label` | `ClassLabel` | protocol label; unlabeled utterances are dropped by the builders |
| `audio_path`, `video_path` | string | absolute media paths, `""` if none |
| `video_start`, `video_end` | float32 or None | span of the utterance inside `video_path` when that file holds the whole dialogue (IEMOCAP) |
| `source_id` | string | the corpus' own utterance id (`train/dia125_utt3`, `Ses01F_impro01_F000`, `MSP-IMPROV-...`) |
| `modality_mask` | List(bool) of 4 | availability in [`MODALITIES`] order (see below) |
| `{m}_features` | List(List(float32)) | (T, D) features added by `features.extract_features`; `[]` when absent |

`modality_mask` from a builder says which media *exist* (non-empty text; an existing, non-empty file). After
feature extraction it says which modalities have features: an undecodable file turns its modality off, and a
modality that was not extracted is off.

Metadata (corpus, protocol, fold, label names, build summary, extraction summary) travels as JSON in every split's
`info.description` and, on disk, in `emoje_meta.json` beside `dataset_dict.json` (read it with
[`read_prepared_metadata`]).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
from datasets import ClassLabel, Dataset, DatasetDict, DatasetInfo, Features, List, Value

from modeling_emoje.modalities import MODALITIES  # the shared definition (ARCHITECTURE.md section 1)

from .files import write_folder_atomically
from .output_folder import METADATA_FILE, output_lock

SCHEMA_VERSION = 1
SPLITS: tuple[str, ...] = ("train", "validation", "test")
_METADATA_KEY = "emoje"

BASE_COLUMNS: tuple[str, ...] = (
    "dialogue_id",
    "utterance_id",
    "speaker",
    "text",
    "label",
    "audio_path",
    "video_path",
    "video_start",
    "video_end",
    "source_id",
    "modality_mask",
)


def feature_column(modality: str) -> str:
    """Name of the feature column of `modality` (`"text"` -> `"text_features"`)."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}")
    return f"{modality}_features"


def emoje_features(label_names: Sequence[str], feature_modalities: Iterable[str] = ()) -> Features:
    """The `datasets.Features` of an emoje dataset.

    Args:
        label_names: class names, in class-index order.
        feature_modalities: modalities whose `{m}_features` column (List(List(float32)), shape (T, D)) is present.

    Example:
        >>> features = emoje_features(["neutral", "joy"], ["text"])
        >>> features["label"].names, list(features)[-1]
        (['neutral', 'joy'], 'text_features')
    """
    label_names = list(label_names)
    if not label_names or len(set(label_names)) != len(label_names):
        raise ValueError(f"label_names must be a non-empty list of distinct names, got {label_names}")
    columns: dict[str, Any] = {
        "dialogue_id": Value("string"),
        "utterance_id": Value("int32"),
        "speaker": Value("string"),
        "text": Value("string"),
        "label": ClassLabel(names=label_names),
        "audio_path": Value("string"),
        "video_path": Value("string"),
        "video_start": Value("float32"),
        "video_end": Value("float32"),
        "source_id": Value("string"),
        "modality_mask": List(Value("bool"), length=len(MODALITIES)),
    }
    wanted = set(feature_modalities)
    for modality in MODALITIES:  # fixed column order whatever the argument order
        if modality in wanted:
            columns[feature_column(modality)] = List(List(Value("float32")))
    unknown = wanted - set(MODALITIES)
    if unknown:
        raise ValueError(f"unknown modalities {sorted(unknown)}; expected a subset of {MODALITIES}")
    return Features(columns)


def file_available(path: str | os.PathLike | None) -> bool:
    """True when `path` names an existing, non-empty regular file."""
    if not path:
        return False
    try:
        return os.path.isfile(path) and os.path.getsize(path) > 0
    except OSError:
        return False


@dataclass
class UtteranceRecord:
    """One utterance as a builder reads it, before a protocol splits and numbers it.

    `label` is the corpus' raw label (`"exc"`, `"A"`, `"joy"`); the protocol maps it to its label set.
    `order` sorts utterances inside a dialogue, `dialogue_order` sorts dialogues; `origin` (`"file:line"`) names
    where the utterance was read, for error messages.
    """

    source_id: str
    dialogue_id: str
    speaker: str
    text: str
    label: str
    session: str = ""
    official_split: str = ""
    audio_path: str = ""
    video_path: str = ""
    video_start: float | None = None
    video_end: float | None = None
    order: tuple = ()
    dialogue_order: tuple = ()
    origin: str = ""

    def availability(self) -> list[bool]:
        """Build-time modality mask: non-empty text, existing non-empty audio / video files."""
        video = file_available(self.video_path)
        return [bool(self.text.strip()), file_available(self.audio_path), video, video]

    def to_row(self, label_id: int, utterance_id: int) -> dict[str, Any]:
        return {
            "dialogue_id": self.dialogue_id,
            "utterance_id": utterance_id,
            "speaker": self.speaker,
            "text": self.text,
            "label": label_id,
            "audio_path": self.audio_path,
            "video_path": self.video_path,
            "video_start": self.video_start,
            "video_end": self.video_end,
            "source_id": self.source_id,
            "modality_mask": self.availability(),
        }


@dataclass
class BuildSummary:
    """What a builder read, kept and skipped (and, after extraction, which media could not be decoded)."""

    corpus: str
    protocol: str
    fold: int | None = None
    label_names: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    dialogues: dict[str, int] = field(default_factory=dict)
    label_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)
    skipped_examples: list[str] = field(default_factory=list)
    missing_media: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    undecodable: list[dict[str, str]] = field(default_factory=list)

    max_examples = 20

    def skip(self, reason: str, where: str = "") -> None:
        """Count one skipped annotation line or utterance under `reason` (`where` = `"file:line"`)."""
        self.skipped[reason] += 1
        if where and len(self.skipped_examples) < self.max_examples:
            self.skipped_examples.append(f"{where}: {reason}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = dict(sorted(self.skipped.items()))
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BuildSummary:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        summary = cls(**known)
        summary.skipped = Counter(summary.skipped)
        return summary

    def format(self) -> str:
        """A short human-readable report (what `emoje-prepare` prints)."""
        fold = f" fold {self.fold}" if self.fold is not None else ""
        lines = [f"{self.corpus} / {self.protocol}{fold}: labels {', '.join(self.label_names)}"]
        for split in SPLITS:
            if split in self.rows:
                found = self.label_counts.get(split, {})
                ordered = [name for name in self.label_names if name in found] + sorted(
                    set(found) - set(self.label_names)
                )
                counts = ", ".join(f"{name} {found[name]}" for name in ordered)
                lines.append(
                    f"  {split:<10} {self.rows[split]:>6} utterances  {self.dialogues.get(split, 0):>5} dialogues  ({counts})"
                )
        if self.skipped:
            lines.append(
                f"  skipped {sum(self.skipped.values())}: "
                + "; ".join(f"{k}: {v}" for k, v in sorted(self.skipped.items()))
            )
        if self.missing_media:
            lines.append(
                f"  missing media: {len(self.missing_media)} ("
                + ", ".join(self.missing_media[:5])
                + (", ..." if len(self.missing_media) > 5 else "")
                + ")"
            )
        if self.undecodable:
            lines.append(f"  undecodable media: {len(self.undecodable)}")
            for item in self.undecodable[: self.max_examples]:
                lines.append(f"    {item['modality']}: {item['file']}: {item['reason']}")
            if len(self.undecodable) > self.max_examples:
                lines.append(f"    ... and {len(self.undecodable) - self.max_examples} more")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def builder_fingerprint(corpus: str, data_dir: str | os.PathLike) -> str:
    """A stable key of one local copy of one corpus (names the feature cache; content keys do the rest)."""
    payload = json.dumps({"corpus": corpus, "data_dir": str(Path(data_dir).resolve()), "schema": SCHEMA_VERSION})
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------------------------- metadata


def attach_metadata(dataset_dict: DatasetDict, metadata: Mapping[str, Any]) -> DatasetDict:
    """Store `metadata` (JSON-able) in every split's `info.description`; returns `dataset_dict`."""
    text = json.dumps({_METADATA_KEY: dict(metadata)}, sort_keys=True)
    for dataset in dataset_dict.values():
        dataset.info.description = text
    return dataset_dict


def dataset_metadata(dataset_dict: DatasetDict | Dataset) -> dict[str, Any]:
    """The emoje metadata of a built or loaded dataset (`{}` when there is none)."""
    splits = [dataset_dict] if isinstance(dataset_dict, Dataset) else list(dataset_dict.values())
    for dataset in splits:
        try:
            data = json.loads(dataset.info.description or "")
        except (TypeError, ValueError):
            continue
        if isinstance(data, dict) and _METADATA_KEY in data:
            return dict(data[_METADATA_KEY])
    return {}


def build_summary(dataset_dict: DatasetDict) -> BuildSummary:
    """The [`BuildSummary`] a builder (and `extract_features`) attached to `dataset_dict`."""
    metadata = dataset_metadata(dataset_dict)
    if "summary" not in metadata:
        raise ValueError("this DatasetDict carries no emoje build summary (was it made by a dataset_scripts builder?)")
    return BuildSummary.from_dict(metadata["summary"])


def empty_splits_error(dataset_dict: DatasetDict) -> str | None:
    """Why `dataset_dict` cannot be used as a prepared dataset because of empty splits (None if all have rows)."""
    empty = [split for split in SPLITS if dataset_dict[split].num_rows == 0]
    if not empty:
        return None
    metadata = dataset_metadata(dataset_dict)
    protocol = metadata.get("protocol_id") or "/".join(
        str(metadata[key]) for key in ("corpus", "protocol") if metadata.get(key)
    )
    which = empty[0] if len(empty) == 1 else ", ".join(empty[:-1]) + " and " + empty[-1]
    return (
        f"the {which} split{'s are' if len(empty) > 1 else ' is'} empty"
        + (f" under the protocol {protocol}" if protocol else "")
        + " (training and evaluation need rows in train, validation and test); to save it anyway, pass "
        "allow_empty_splits=True (emoje-prepare --allow-empty-splits)"
    )


def save_prepared(
    dataset_dict: DatasetDict, path: str | os.PathLike, allow_empty_splits: bool = False, **kwargs
) -> None:
    """`save_to_disk` plus `emoje_meta.json`, written atomically under an exclusive lock (`output_folder`).

    `path` must be absent, an empty folder or a prepared dataset (which is replaced only once the new one is
    complete); a second writer into the same `path` fails with an `OutputFolderError`. Empty splits are refused
    unless `allow_empty_splits` (they are then saved loadable, with zero rows). `kwargs` go to `save_to_disk`.
    """
    missing = [split for split in SPLITS if split not in dataset_dict]
    if missing:
        raise ValueError(f"a prepared dataset needs the splits {SPLITS}; missing {missing}")
    problem = empty_splits_error(dataset_dict)
    if problem and not allow_empty_splits:
        raise ValueError(problem)
    if problem and "num_shards" not in kwargs:  # `save_to_disk` writes no data file for 0 rows, unless told 1 shard
        kwargs["num_shards"] = {split: 1 for split in dataset_dict if dataset_dict[split].num_rows == 0}
    metadata = json.dumps(dataset_metadata(dataset_dict), indent=2, sort_keys=True) + "\n"

    def write(folder: Path) -> None:
        dataset_dict.save_to_disk(os.fspath(folder), **kwargs)
        (folder / METADATA_FILE).write_text(metadata)

    with output_lock(path) as locked:
        write_folder_atomically(locked, write)


def read_prepared_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Metadata of a dataset saved by `emoje-prepare`: corpus, protocol, fold, label_names, summary, features.

    Example:
        >>> meta = read_prepared_metadata("runs/meld")  # doctest: +SKIP
        >>> meta["protocol"], meta["label_names"][:2]  # doctest: +SKIP
        ('emotion', ['neutral', 'surprise'])
    """
    meta_path = Path(path) / METADATA_FILE
    if meta_path.is_file():
        return json.loads(meta_path.read_text())
    for split in SPLITS:  # fall back on the copy in dataset_info.json
        info_path = Path(path) / split / "dataset_info.json"
        if info_path.is_file():
            description = json.loads(info_path.read_text()).get("description") or ""
            try:
                data = json.loads(description)
            except ValueError:
                continue
            if isinstance(data, dict) and _METADATA_KEY in data:
                return dict(data[_METADATA_KEY])
    raise FileNotFoundError(f"{path} holds no {METADATA_FILE}: not a dataset saved by emoje-prepare")


def load_prepared(path: str | os.PathLike) -> DatasetDict:
    """Load a dataset saved by `emoje-prepare` (splits train/validation/test, metadata re-attached).

    Example:
        >>> dataset = load_prepared("runs/meld")  # doctest: +SKIP
        >>> dataset["train"].features["label"].names[:3]  # doctest: +SKIP
        ['neutral', 'surprise', 'fear']
    """
    try:
        loaded = datasets.load_from_disk(os.fspath(path))
    except IndexError as error:  # datasets cannot load a split saved with no data file (0 rows, older emoje-prepare)
        folders = [Path(path) / split for split in SPLITS]
        empty = [folder.name for folder in folders if folder.is_dir() and not any(folder.glob("*.arrow"))]
        raise ValueError(
            f"{path}: the split(s) {empty or 'of this dataset'} hold no data file (empty splits saved by an older "
            "emoje-prepare); prepare it again"
        ) from error
    if not isinstance(loaded, DatasetDict):
        raise ValueError(f"{path} holds a single Dataset, not the DatasetDict emoje-prepare writes")
    missing = [split for split in SPLITS if split not in loaded]
    if missing:
        raise ValueError(f"{path} lacks the splits {missing} (a prepared dataset has {SPLITS})")
    try:
        attach_metadata(loaded, read_prepared_metadata(path))
    except FileNotFoundError:
        pass
    return loaded


def make_dataset_dict(
    rows_by_split: Mapping[str, list[dict[str, Any]]], label_names: Sequence[str], metadata: Mapping[str, Any]
) -> DatasetDict:
    """Rows (already in dialogue order) -> `DatasetDict` with the emoje schema and metadata."""
    features = emoje_features(label_names)
    splits = {}
    for split in SPLITS:
        rows = rows_by_split.get(split, [])
        columns = {name: [row[name] for row in rows] for name in features}  # columnar: an empty split works too
        splits[split] = Dataset.from_dict(columns, features=features, info=DatasetInfo(features=features))
    return attach_metadata(DatasetDict(splits), metadata)


__all__ = [
    "BASE_COLUMNS",
    "MODALITIES",
    "SCHEMA_VERSION",
    "SPLITS",
    "BuildSummary",
    "UtteranceRecord",
    "attach_metadata",
    "build_summary",
    "builder_fingerprint",
    "dataset_metadata",
    "emoje_features",
    "empty_splits_error",
    "feature_column",
    "file_available",
    "load_prepared",
    "make_dataset_dict",
    "read_prepared_metadata",
    "save_prepared",
]
