"""Bring your own features: a table of utterances plus pre-extracted arrays -> the prepared emoje `DatasetDict`.

Researchers often hold features already (openSMILE, OpenFace, MMSA-FET, pooled wav2vec vectors). This builder
reads one table (`.csv`, `.tsv`, `.jsonl`/`.ndjson` or `.parquet`), one row per utterance:

| column (default name) | required | meaning |
|---|---|---|
| `dialogue_id` | yes | dialogue name; a dialogue never straddles splits (one-utterance "dialogues" are fine) |
| `utterance_id` | no | integer position (gaps allowed, renumbered 0..n-1) or any id (then table order is kept); absent = table order |
| `speaker` | yes | speaker name |
| `label` | yes | class name; empty = unlabeled (skipped and counted, as every builder does) |
| `text` | no | transcript (kept in the `text` column; `""` if absent) |
| `split` | unless `split=` | `train`, `validation` (`dev`, `val`, `valid`) or `test` |

and per-utterance arrays for any subset of `text`/`audio`/`face`/`body`, from either

- **feature columns** of lists (parquet / JSONL; a CSV cell may hold a JSON list): `{m}_features` or, for
  audio/face/body, `{m}` by default; map others with `feature_columns={"audio": "audio_mfcc"}`;
- **array folders**, one per modality (`array_dirs={"audio": "feats/audio"}`), holding `<stem>.npy` or `<stem>.npz`
  per utterance with `stem = file_pattern.format(dialogue=..., utterance=...)` (default `{dialogue}_{utterance}`;
  `utterance` is the table's utterance id as written, or the 0-based position when the table has none). An
  `.npz` holds one array, or one named after the modality.

A 1-D array is one frame (D,), a 2-D array is (T, D) frames; an empty array, an empty list or null means the
modality is absent for that row. The output is the schema of `schema.py` with `{m}_features` (T, D) float32 and
`modality_mask` saying which modalities have features.

Choices (all checked before anything is returned, so a caller that saves afterwards writes nothing on error):
every error names the table, the row (N-th data row, counted from 1; CSV: line N+1), its dialogue and utterance,
and the column. Errors: inconsistent dims within a modality, NaN/inf, a non-numeric or >2-D array, an unknown
label (not in `labels`, or - when the label set comes from train - a validation/test label never seen in train),
a missing array file (unless `allow_missing_arrays`, which makes it an absent modality), a duplicate
(dialogue, utterance), a dialogue in two splits, a row whose split is unknown, and a row with no features at all
(unless `drop_featureless`, which skips and counts it; an evaluation set should not shrink silently).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from datasets import Dataset, DatasetDict, DatasetInfo, NamedSplit

from .conversations import SPLIT_ALIASES
from .protocols import PROTOCOLS, Protocol, build_dataset_dict, get_protocol, natural_key, with_labels
from .schema import (
    MODALITIES,
    SPLITS,
    BuildSummary,
    UtteranceRecord,
    attach_metadata,
    dataset_metadata,
    emoje_features,
    feature_column,
)
from .feature_frames import frames_column

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq")
DEFAULT_FILE_PATTERN = "{dialogue}_{utterance}"
_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


# ------------------------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TableColumns:
    """Names of the table's columns. `None` for `utterance` / `text` = use `utterance_id` / `text` when present.

    Example:
        >>> TableColumns(dialogue="clip", speaker="actor", label="emotion").dialogue
        'clip'
    """

    dialogue: str = "dialogue_id"
    utterance: str | None = None
    speaker: str = "speaker"
    label: str = "label"
    text: str | None = None
    split: str = "split"


def canonical_value(text: str) -> str:
    """How split-rule values compare: digit strings as numbers (`"07"` -> `"7"`), other text as is."""
    return str(int(text)) if text.isdigit() else text


def parse_values(spec: str | int | Iterable[str | int]) -> frozenset[str]:
    """Split-rule values: `"1-16,20,a"` -> {"1", ..., "16", "20", "a"} (integer ranges are inclusive).

    Example:
        >>> sorted(parse_values("1-3,x"), key=str)
        ['1', '2', '3', 'x']
    """
    if isinstance(spec, (str, int)):
        items = [part.strip() for part in str(spec).split(",")]
    else:
        items = [str(part).strip() for part in spec]
    values: set[str] = set()
    for item in items:
        if not item:
            continue
        match = _RANGE.match(item)
        if match:
            low, high = int(match[1]), int(match[2])
            if low > high:
                raise ValueError(f"empty range {item!r} (write low-high)")
            values.update(str(number) for number in range(low, high + 1))
        else:
            values.add(canonical_value(item))
    return frozenset(values)


@dataclass(frozen=True)
class ColumnSplit:
    """A named split rule: rows go to `train` / `validation` / `test` by the value of one column.

    Example (RAVDESS, split by actor):
        >>> rule = ColumnSplit.parse("actor", train="1-16", validation="17-20", test="21-24")
        >>> rule.split_of("17"), rule.split_of("3"), rule.split_of("25")
        ('validation', 'train', None)
    """

    column: str
    train: frozenset[str]
    validation: frozenset[str] = frozenset()
    test: frozenset[str] = frozenset()

    @classmethod
    def parse(
        cls,
        column: str,
        train: str | Iterable[str | int],
        validation: str | Iterable[str | int] = (),
        test: str | Iterable[str | int] = (),
    ) -> ColumnSplit:
        """Build a rule from value lists or specs like `"1-16,18"`; a value may belong to one split only."""
        rule = cls(column, parse_values(train), parse_values(validation), parse_values(test))
        if not rule.train:
            raise ValueError(f"split rule on {column!r}: the train split needs at least one value")
        for first, second in (("train", "validation"), ("train", "test"), ("validation", "test")):
            shared = getattr(rule, first) & getattr(rule, second)
            if shared:
                raise ValueError(
                    f"split rule on {column!r}: value(s) {sorted(shared, key=natural_key)} are in both {first} "
                    f"and {second}"
                )
        return rule

    def split_of(self, value: str) -> str | None:
        """The split of a row whose column holds `value` (`None` when no split lists it)."""
        value = canonical_value(value)
        for split in SPLITS:
            if value in getattr(self, split):
                return split
        return None

    def describe(self) -> str:
        parts = [f"{split} {_compact(getattr(self, split))}" for split in SPLITS if getattr(self, split)]
        return f"by {self.column}: " + ", ".join(parts)


def _compact(values: frozenset[str]) -> str:
    """`{"1", "2", "3", "7"}` -> `"1-3,7"` (for summaries)."""
    numbers = sorted(int(v) for v in values if v.isdigit())
    words = sorted((v for v in values if not v.isdigit()), key=natural_key)
    runs: list[str] = []
    for number in numbers:
        if runs and runs[-1][1] == number - 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    text = [f"{a}-{b}" if a != b else str(a) for a, b in runs]
    return ",".join(text + words)


# --------------------------------------------------------------------------------------------------- reading


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV / TSV (all cells as text), JSONL or parquet table into a DataFrame (row i = data row i+1)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"feature table {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            return pd.read_csv(
                path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False, encoding="utf-8-sig"
            )
        if suffix in (".jsonl", ".ndjson"):
            return pd.read_json(path, lines=True, dtype=False, convert_dates=False)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, pa.ArrowException) as error:
        raise ValueError(f"{path}: cannot read the table ({error})") from None
    raise ValueError(f"{path}: unsupported table type {suffix!r}; use one of {TABLE_SUFFIXES}")


def _is_missing(value: Any) -> bool:
    """An empty cell: None, NaN (JSON null in a list column), or pandas' NA / NaT."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, (float, np.floating)) and math.isnan(value)


def as_text(value: Any) -> str:
    """A cell as text: `None`/NaN/NA -> `""`, `3.0` -> `"3"`, numpy scalars as Python values.

    Example:
        >>> as_text(3.0), as_text(None), as_text(" a ")
        ('3', '', 'a')
    """
    if _is_missing(value):
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def column_list(columns: Iterable[Any], limit: int = 12) -> str:
    """A table's column names for a message: the first `limit`, then how many more.

    Example:
        >>> column_list(["clip", "actor", "emotion"])
        "'clip', 'actor', 'emotion'"
        >>> column_list([f"f{i}" for i in range(20)], limit=2)
        "'f0', 'f1' and 18 more"
    """
    names = [str(name) for name in columns]
    shown = ", ".join(repr(name) for name in names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


def _as_position(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


@dataclass
class _FrameChecker:
    """Turns cells / files into (T, D) float32 arrays and keeps each modality's dim consistent."""

    dims: dict[str, tuple[int, str]] = field(default_factory=dict)

    def frames(self, value: Any, modality: str, where: str) -> np.ndarray | None:
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError(
                    f"{where}: expected a numeric array (a JSON list in a text cell), got {value[:40]!r}"
                ) from None
        if _is_missing(value):
            return None
        try:
            if isinstance(value, np.ndarray) and value.dtype == object:
                value = value.tolist()
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: not a numeric array ({error})") from None
        if array.ndim == 0:
            raise ValueError(f"{where}: expected a 1-D (D,) or 2-D (T, D) array, got a scalar")
        if array.ndim > 2:
            raise ValueError(f"{where}: expected a 1-D (D,) or 2-D (T, D) array, got shape {array.shape}")
        if array.size == 0:
            return None
        array = array.reshape(1, -1) if array.ndim == 1 else array
        with np.errstate(over="ignore"):  # values beyond float32 become inf and are reported below
            frames = array.astype(np.float32)
        bad = ~np.isfinite(frames)
        if bad.any():
            frame, dim = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{where}: non-finite value {array[frame, dim]} (as float32) at frame {frame}, dim {dim} "
                f"({int(bad.sum())} in all)"
            )
        first = self.dims.setdefault(modality, (frames.shape[1], where))
        if first[0] != frames.shape[1]:
            raise ValueError(
                f"{where}: {modality} has dim {frames.shape[1]} here but dim {first[0]} at {first[1]}"
            )
        return frames


def load_array_file(folder: Path, stem: str, modality: str) -> tuple[np.ndarray | None, Path | None]:
    """The array of `<folder>/<stem>.npy` or `.npz` (`(None, None)` when neither exists)."""
    candidates = [folder / f"{stem}{suffix}" for suffix in (".npy", ".npz")]
    found = [path for path in candidates if path.is_file()]
    if not found:
        return None, None
    if len(found) > 1:
        raise ValueError(f"both {found[0].name} and {found[1].name} exist in {folder}; keep one")
    path = found[0]
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path} ({error})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if modality in names:
                return loaded[modality], path
            if len(names) != 1:
                raise ValueError(f"{path} holds arrays {names}: keep one, or name one {modality!r}")
            return loaded[names[0]], path
    return loaded, path


# ---------------------------------------------------------------------------------------------- the builder


@dataclass
class _Row:
    record: UtteranceRecord
    arrays: dict[str, np.ndarray]


@dataclass(frozen=True)
class _Layout:
    """The table columns one build reads (`None` = absent optional column) and its feature sources."""

    dialogue: str
    utterance: str | None
    speaker: str
    label: str
    text: str | None
    split: str
    sources: dict[str, str]
    numeric_ids: bool


@dataclass
class _DialogueTracker:
    """Rejects duplicate utterances and dialogues that change split; numbers dialogues in table order."""

    utterances: dict[tuple[str, Any], int] = field(default_factory=dict)
    dialogues: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # id -> (split, first row, index)
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, dialogue: str) -> int:
        """How many rows of `dialogue` came before this one (the position when the table has no utterance ids)."""
        self.counts[dialogue] = self.counts.get(dialogue, 0) + 1
        return self.counts[dialogue] - 1

    def add_utterance(self, key: tuple[str, Any], index: int, where: str, layout: _Layout) -> None:
        first = self.utterances.setdefault(key, index)
        if first != index:
            column = layout.utterance or layout.dialogue
            raise ValueError(
                f"{where}, column {column!r}: duplicate (dialogue, utterance), already given at row {first}"
            )

    def place_dialogue(self, dialogue: str, split: str, index: int, where: str, column: str) -> int:
        first_split, first_row, number = self.dialogues.setdefault(dialogue, (split, index, len(self.dialogues)))
        if split != first_split:
            raise ValueError(
                f"{where}, column {column!r}: dialogue {dialogue!r} is in {split} here but in {first_split} at "
                f"row {first_row}; a dialogue must stay in one split"
            )
        return number


class FeatureTableBuilder:
    """Build the prepared `DatasetDict` from a feature table (see the module docstring).

    Args:
        table: the table file (`.csv`, `.tsv`, `.jsonl`, `.ndjson`, `.parquet`).
        columns: the table's column names ([`TableColumns`]).
        feature_columns: modality -> column of arrays (default: `{m}_features`, or `{m}` for audio/face/body, when
            the table has such a column and the modality has no folder).
        array_dirs: modality -> folder of per-utterance `.npy` / `.npz` files.
        file_pattern: stem of the array files, with `{dialogue}` and `{utterance}` fields.
        split: a [`ColumnSplit`] rule (default: the table's split column).
        labels: the class order; default the registered protocol's, else the sorted (natural order) train labels.
        corpus: the corpus name recorded in the metadata; with the split rule's column (or `given`) it names the
            protocol (`ravdess/actor`). A protocol registered under that name fixes labels and split values.
        drop_featureless: skip (and count) rows without any feature instead of raising.
        allow_missing_arrays: a missing array file means an absent modality instead of an error.

    Example:
        >>> builder = FeatureTableBuilder("feats.parquet", feature_columns={"audio": "audio_mfcc"})  # doctest: +SKIP
        >>> dataset = builder.build()  # doctest: +SKIP
        >>> print(builder.summary.format())  # doctest: +SKIP
    """

    def __init__(
        self,
        table: str | os.PathLike,
        columns: TableColumns = TableColumns(),
        feature_columns: Mapping[str, str] | None = None,
        array_dirs: Mapping[str, str | os.PathLike] | None = None,
        file_pattern: str = DEFAULT_FILE_PATTERN,
        split: ColumnSplit | None = None,
        labels: Sequence[str] | None = None,
        corpus: str = "features",
        drop_featureless: bool = False,
        allow_missing_arrays: bool = False,
    ):
        self.table = Path(table).expanduser().resolve()
        self.columns = columns
        self.feature_columns = dict(feature_columns or {})
        self.array_dirs = {m: Path(p).expanduser().resolve() for m, p in (array_dirs or {}).items()}
        self._check_sources()
        try:
            file_pattern.format(dialogue="d", utterance="u")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(
                f"file_pattern {file_pattern!r} may only use the fields {{dialogue}} and {{utterance}} ({error!r})"
            ) from None
        self.file_pattern = file_pattern
        self.split = split
        self.labels = None if labels is None else [str(label).strip() for label in labels if str(label).strip()]
        if self.labels is not None and (not self.labels or len(set(self.labels)) != len(self.labels)):
            raise ValueError(f"labels must be a non-empty list of distinct names, got {labels}")
        self.corpus = corpus
        self.drop_featureless = drop_featureless
        self.allow_missing_arrays = allow_missing_arrays
        self.protocol = self._protocol()
        self.summary = BuildSummary(corpus=self.protocol.corpus, protocol=self.protocol.name)

    # -- configuration checks

    def _check_sources(self) -> None:
        for modality in list(self.feature_columns) + list(self.array_dirs):
            feature_column(modality)  # raises on an unknown modality name
        both = sorted(set(self.feature_columns) & set(self.array_dirs))
        if both:
            raise ValueError(f"modalities {both} are given both as a column and as an array folder; choose one")
        for modality, folder in self.array_dirs.items():
            if not folder.is_dir():
                raise FileNotFoundError(f"{modality} array folder {folder} does not exist")

    def _protocol(self) -> Protocol:
        """The registered protocol `corpus/name` (name = the split rule's column, else `given`), or a new one."""
        name = self.split.column if self.split is not None else "given"
        protocol = PROTOCOLS.get(f"{self.corpus}/{name}")
        if protocol is None:
            rule = self.split.describe() if self.split is not None else "the table's split column"
            template = get_protocol("features", "given")
            protocol = replace(template, corpus=self.corpus, name=name, description=f"feature table, split {rule}")
        if protocol.label_names and self.labels is not None and tuple(self.labels) != protocol.label_names:
            raise ValueError(f"protocol {protocol.id} fixes the labels {list(protocol.label_names)}; got {self.labels}")
        if not protocol.label_names and self.labels is not None:
            protocol = with_labels(protocol, self.labels)
        expected = protocol.extra.get("split")
        if expected is not None and self.split != ColumnSplit.parse(name, **expected):
            raise ValueError(f"protocol {protocol.id} splits {ColumnSplit.parse(name, **expected).describe()}")
        return protocol

    # -- reading

    def _sources(self, frame: pd.DataFrame) -> dict[str, str]:
        """modality -> where its arrays come from (`column 'x'` or `folder ...`), explicit first, then defaults."""
        for modality, column in self.feature_columns.items():
            if column not in frame.columns:
                raise ValueError(
                    f"{self.table}: no column {column!r} for {modality} features; columns: {column_list(frame.columns)}"
                )
        sources = dict(self.feature_columns)
        for modality in MODALITIES:
            if modality in sources or modality in self.array_dirs:
                continue
            defaults = [feature_column(modality)] + ([] if modality == "text" else [modality])
            found = [name for name in defaults if name in frame.columns]
            if found:
                sources[modality] = found[0]
        if not sources and not self.array_dirs:
            raise ValueError(
                f"{self.table}: no feature column or array folder: name columns with feature_columns / --column "
                f"MODALITY=COLUMN, or folders with array_dirs / --arrays-dir MODALITY=DIR"
            )
        return sources

    def _column(self, frame: pd.DataFrame, name: str | None, default: str, option: str, required: bool) -> str | None:
        """The column `name` (or `default` when `name` is None); an absent required or named column is an error."""
        column = name if name is not None else default
        if column in frame.columns:
            return column
        if required or name is not None:
            raise ValueError(f"{self.table}: no column {column!r} ({option}); columns: {column_list(frame.columns)}")
        return None

    def _split_column(self, frame: pd.DataFrame) -> str:
        """The table's split column; without one, an error saying the two ways to give the split."""
        name = self.columns.split
        if name in frame.columns:
            return name
        raise ValueError(
            f"{self.table} has no column {name!r}, so its rows have no train/validation/test split (its columns: "
            f"{column_list(frame.columns)}). Either add a {name!r} column saying train, validation (dev, val) or test "
            f"for each row (a column of another name: --split-column NAME), or split by the values of one of its "
            f"columns: --split-by COLUMN --train VALUES --validation VALUES --test VALUES (in Python: "
            f"split=ColumnSplit.parse(COLUMN, train=..., validation=..., test=...)); splitting by speaker or session "
            f"keeps the test speakers out of training"
        )

    def _layout(self, frame: pd.DataFrame) -> _Layout:
        """Find every column the build reads (raising on a missing one) and whether utterance ids are integers."""
        names = self.columns
        sources = self._sources(frame)
        text = self._column(frame, names.text, "text", "text column", False)
        if text in sources.values():  # the `text` column holds text features, not a transcript
            text = None
        if self.split is not None:
            split = self._column(frame, self.split.column, self.split.column, "split-by column", True)
        else:
            split = self._split_column(frame)
        utterance = self._column(frame, names.utterance, "utterance_id", "utterance column", False)
        numeric = utterance is not None and all(_as_position(as_text(v)) is not None for v in frame[utterance])
        return _Layout(
            dialogue=self._column(frame, names.dialogue, names.dialogue, "dialogue column", True),
            utterance=utterance,
            speaker=self._column(frame, names.speaker, names.speaker, "speaker column", True),
            label=self._column(frame, names.label, names.label, "label column", True),
            text=text,
            split=split,
            sources=sources,
            numeric_ids=numeric,
        )

    def read_rows(self) -> list[_Row]:
        """Read and check every row (labels are checked afterwards, in `build`)."""
        frame = read_table(self.table)
        layout = self._layout(frame)
        checker, tracker = _FrameChecker(), _DialogueTracker()
        rows: list[_Row] = []
        for index, row in enumerate(frame.to_dict("records"), start=1):
            dialogue, utterance, order = self._identify(row, index, layout, tracker)
            where = f"{self.table}: row {index} (dialogue {dialogue!r}, utterance {utterance!r})"
            tracker.add_utterance((dialogue, order if layout.numeric_ids else utterance), index, where, layout)
            split = self._split_of(row[layout.split], layout.split, where)
            dialogue_index = tracker.place_dialogue(dialogue, split, index, where, layout.split)
            label = as_text(row[layout.label])
            if not label:
                self.summary.skip("unlabeled (empty label)", f"{where}, column {layout.label!r}")
                continue
            arrays = self._arrays(row, layout.sources, checker, dialogue, utterance, where)
            if not arrays:
                if not self.drop_featureless:
                    described = ", ".join(f"{m}: {s}" for m, s in self._describe_sources(layout.sources).items())
                    raise ValueError(
                        f"{where}: no features in any modality ({described}); pass drop_featureless / "
                        f"--drop-featureless to skip such rows"
                    )
                self.summary.skip("no features in any modality", where)
                continue
            record = UtteranceRecord(
                source_id=f"{dialogue}/{utterance}",
                dialogue_id=dialogue,
                speaker=as_text(row[layout.speaker]),
                text=as_text(row[layout.text]) if layout.text is not None else "",
                label=label,
                official_split=split,
                order=(order,),
                dialogue_order=(dialogue_index,),
                origin=f"{where}, column {layout.label!r}",
            )
            rows.append(_Row(record, arrays))
        self.dims = {modality: dim for modality, (dim, _) in checker.dims.items()}
        self.sources = self._describe_sources(layout.sources)
        return rows

    def _identify(
        self, row: Mapping[str, Any], index: int, layout: _Layout, tracker: _DialogueTracker
    ) -> tuple[str, str, int]:
        """(dialogue id, utterance id as written - or the position -, sort key within the dialogue) of a row."""
        dialogue = as_text(row[layout.dialogue])
        if not dialogue:
            raise ValueError(f"{self.table}: row {index}, column {layout.dialogue!r}: empty dialogue id")
        if layout.utterance is None:
            return dialogue, str(tracker.count(dialogue)), index
        utterance = as_text(row[layout.utterance])
        if not utterance:
            raise ValueError(f"{self.table}: row {index}, column {layout.utterance!r}: empty utterance id")
        return dialogue, utterance, int(utterance) if layout.numeric_ids else index

    def _split_of(self, value: Any, column: str, where: str) -> str:
        text = as_text(value)
        if self.split is not None:
            split = self.split.split_of(text)
            if split is None:
                raise ValueError(
                    f"{where}, column {column!r}: value {text!r} is in no split of the rule ({self.split.describe()})"
                )
            return split
        split = SPLIT_ALIASES.get(text.lower())
        if split is None:
            raise ValueError(f"{where}, column {column!r}: split {text!r} is not train, validation (dev, val) or test")
        return split

    def _arrays(
        self, row: Mapping[str, Any], sources: Mapping[str, str], checker: _FrameChecker, dialogue: str,
        utterance: str, where: str,
    ) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for modality, column in sources.items():
            frames = checker.frames(row[column], modality, f"{where}, column {column!r}")
            if frames is not None:
                arrays[modality] = frames
        stem = self.file_pattern.format(dialogue=dialogue, utterance=utterance)
        for modality, folder in self.array_dirs.items():
            try:
                value, path = load_array_file(folder, stem, modality)
            except ValueError as error:
                raise ValueError(f"{where}, {modality} array: {error}") from None
            if path is None:
                if self.allow_missing_arrays:
                    self.summary.missing_media.append(f"{modality}: {folder / stem}.npy")
                    continue
                raise ValueError(
                    f"{where}, {modality} array: missing file {folder / stem}.npy (or .npz); pass "
                    f"allow_missing_arrays / --allow-missing-arrays to treat missing files as absent"
                )
            frames = checker.frames(value, modality, f"{where}, {modality} array {path}")
            if frames is not None:
                arrays[modality] = frames
        return arrays

    def _describe_sources(self, sources: Mapping[str, str]) -> dict[str, str]:
        described = {m: f"column {c!r}" for m, c in sources.items()}
        described.update({m: f"folder {folder}" for m, folder in self.array_dirs.items()})
        return {m: described[m] for m in MODALITIES if m in described}

    # -- labels

    def _resolve_labels(self, rows: Sequence[_Row]) -> None:
        """Fix the label order and reject unknown labels (naming the row and the label column)."""
        if self.protocol.label_names:
            allowed = list(self.protocol.label_names)
            reason = f"the labels {allowed}"
        else:
            allowed = sorted({r.record.label for r in rows if r.record.official_split == "train"}, key=natural_key)
            if not allowed:
                raise ValueError(f"{self.table}: the train split has no labeled row, so there is no label set")
            self.protocol = with_labels(self.protocol, allowed)
            reason = f"the train split's labels {allowed} (give the label list to allow it)"
        known = set(allowed)
        for row in rows:
            if row.record.label not in known:
                raise ValueError(f"{row.record.origin}: label {row.record.label!r} is not in {reason}")

    # -- assembling

    def build(self) -> DatasetDict:
        """Read, check, split and assemble the `DatasetDict` (nothing is written)."""
        self.summary = BuildSummary(corpus=self.protocol.corpus, protocol=self.protocol.name)
        rows = self.read_rows()
        self._resolve_labels(rows)
        protocol = self.protocol
        if self.split is not None and self.split.column == self.columns.speaker:
            speaker_pairs = tuple(("speaker", pair) for pair in itertools.combinations(SPLITS, 2))
            protocol = replace(protocol, separates=tuple(dict.fromkeys(protocol.separates + speaker_pairs)))
        for modality, source in self.sources.items():
            found = f"dim {self.dims[modality]}" if modality in self.dims else "no row has features, no column"
            self.summary.notes.append(f"{modality}: {source}, {found}")
        arrays = {row.record.source_id: row.arrays for row in rows}
        if len(arrays) != len(rows):  # `d/e` + `f` and `d` + `e/f` would share the source id `d/e/f`
            raise ValueError(f"{self.table}: dialogue and utterance ids combine into the same `dialogue/utterance`")
        base = build_dataset_dict([row.record for row in rows], protocol, None, self.summary, str(self.table))
        return self._with_features(base, arrays)

    def _with_features(self, base: DatasetDict, arrays: Mapping[str, Mapping[str, np.ndarray]]) -> DatasetDict:
        modalities = [m for m in MODALITIES if m in self.dims]
        features = emoje_features(self.protocol.label_names, modalities)
        metadata = dataset_metadata(base)
        rows_with: dict[str, dict[str, int]] = {m: {} for m in modalities}
        splits = {}
        for split, dataset in base.items():
            per_row = [arrays[source_id] for source_id in dataset["source_id"]]
            masks = [[m in row for m in MODALITIES] for row in per_row]
            table = dataset.data.table
            table = table.set_column(
                table.schema.get_field_index("modality_mask"),
                "modality_mask",
                pa.array(masks, type=features.arrow_schema.field("modality_mask").type),
            )
            for modality in modalities:
                dim = self.dims[modality]
                frames = [row.get(modality, np.zeros((0, dim), np.float32)) for row in per_row]
                table = table.append_column(feature_column(modality), frames_column(frames, dim))
                rows_with[modality][split] = sum(modality in row for row in per_row)
            info = DatasetInfo(features=features)
            splits[split] = Dataset(table.cast(features.arrow_schema), info=info, split=NamedSplit(split))
        metadata["features"] = {
            m: {
                "dim": self.dims[m],
                "extractor": {"source": self.sources[m], "table": str(self.table)},
                "rows": rows_with[m],
            }
            for m in modalities
        }
        metadata["summary"] = self.summary.to_dict()
        return attach_metadata(DatasetDict(splits), metadata)


def build_feature_table(table: str | os.PathLike, **kwargs: Any) -> DatasetDict:
    """Build the prepared `DatasetDict` of a feature table (arguments of [`FeatureTableBuilder`]).

    Example:
        >>> dataset = build_feature_table(  # doctest: +SKIP
        ...     "feats.parquet", feature_columns={"audio": "audio_mfcc"},
        ...     split=ColumnSplit.parse("actor", train="1-16", validation="17-20", test="21-24"))
        >>> from dataset_scripts import save_prepared; save_prepared(dataset, "data/mine")  # doctest: +SKIP
    """
    return FeatureTableBuilder(table, **kwargs).build()


def describe_features(metadata: Mapping[str, Any]) -> list[str]:
    """One line per feature column of a build's metadata: dim and rows with features per split."""
    lines = []
    for modality, info in metadata.get("features", {}).items():
        rows = ", ".join(f"{split} {info['rows'][split]}" for split in SPLITS if split in info.get("rows", {}))
        lines.append(f"  {modality}_features: dim {info['dim']} ({rows} rows with features)")
    return lines


__all__ = [
    "DEFAULT_FILE_PATTERN",
    "TABLE_SUFFIXES",
    "ColumnSplit",
    "FeatureTableBuilder",
    "TableColumns",
    "as_text",
    "build_feature_table",
    "canonical_value",
    "column_list",
    "describe_features",
    "load_array_file",
    "parse_values",
    "read_table",
]
