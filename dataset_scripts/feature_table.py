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
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from datasets import Dataset, DatasetDict, DatasetInfo, NamedSplit

from .conversations import SPLIT_ALIASES
from .corpora import Corpus, list_protocols, register_corpus
from .feature_frames import frames_column
from .feature_table_layout import DEFAULT_FILE_PATTERN, ColumnSplit, TableColumns, check_file_pattern
from .feature_table_reading import (
    FrameChecker,
    array_stem,
    as_position,
    as_text,
    column_list,
    load_array_file,
    read_table,
)
from .protocols import (
    DIALOGUE_SEPARATION,
    Protocol,
    build_dataset_dict,
    natural_key,
    split_official,
    with_labels,
)
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

# The template of a table's protocol: the split column as given (`given`), or a split rule named after its column.
GIVEN = Protocol(
    "features",
    "given",
    (),
    {},
    0,
    split_official,
    DIALOGUE_SEPARATION,
    description="feature table (bring your own features), the table's split column or a split rule",
)


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
        corpus: str = GIVEN.corpus,
        drop_featureless: bool = False,
        allow_missing_arrays: bool = False,
    ):
        self.table = Path(table).expanduser().resolve()
        self.columns = columns
        self.feature_columns = dict(feature_columns or {})
        self.array_dirs = {m: Path(p).expanduser().resolve() for m, p in (array_dirs or {}).items()}
        self._check_sources()
        self.file_pattern = check_file_pattern(file_pattern) if self.array_dirs else file_pattern
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
        registered = [p for p in list_protocols() if p.corpus == self.corpus and p.name == name]
        if registered:
            protocol = registered[0]
        else:
            rule = self.split.describe() if self.split is not None else "the table's split column"
            protocol = replace(GIVEN, corpus=self.corpus, name=name, description=f"feature table, split {rule}")
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
        numeric = utterance is not None and all(as_position(as_text(v)) is not None for v in frame[utterance])
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
        checker, tracker = FrameChecker(), _DialogueTracker()
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
        self, row: Mapping[str, Any], sources: Mapping[str, str], checker: FrameChecker, dialogue: str,
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
                array_stem(folder, stem, f"--arrays-dir {modality}={folder}")
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


CORPUS = register_corpus(
    Corpus(
        name=GIVEN.corpus,
        display_name="feature table",
        protocols=(GIVEN,),
        default_protocol=GIVEN.name,
        description="a table of utterances with pre-extracted per-utterance features (list columns or .npy/.npz "
        "folders): bring your own features",
        add_cli="dataset_scripts.feature_table_cli:main",
    )
)

__all__ = ["CORPUS", "GIVEN", "FeatureTableBuilder", "build_feature_table", "describe_features"]
