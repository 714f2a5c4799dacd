"""RAVDESS speech with pooled face and voice features (`../shared/data/ravdess`), protocols `ravdess/actor` (one
clip per dialogue) and `ravdess/grouped` (one dialogue per actor and statement).

`ravdess_features.parquet` holds one row per clip (1,440): `clip` (file stem), `actor` (1-24), `emotion` (8 names),
`face_au` (35 OpenFace action units) and `audio_mfcc` (259 MFCC statistics), one frame each; no text, no body.
Each clip is a one-utterance dialogue (dialogue id = clip, speaker = actor) and the split is by actor, never by
clip: actors 1-16 train, 17-20 validation, 21-24 test (960 / 240 / 240 clips). The same build from the command
line (see dataset_scripts/README.md, "Bring your own features"):

    emoje-prepare features --table ../shared/data/ravdess/ravdess_features.parquet --corpus ravdess \\
        --dialogue-column clip --speaker-column actor --label-column emotion \\
        --column audio=audio_mfcc --column face=face_au \\
        --split-by actor --train 1-16 --validation 17-20 --test 21-24 --output data/ravdess

The **grouped** protocol (`build_ravdess(..., protocol="grouped")`) makes each actor's 30 clips of one of the two
fixed statements a dialogue (dialogue id ``a{actor:02d}-s{statement}``, 48 dialogues, 32 / 8 / 8 per split), so a
model sees dialogue context that carries the speaker but no emotion. Inside a dialogue the clips are ordered by
the SHA-256 digest of the clip stem (`clip_order_key`), a fixed order that knows nothing about the label. Never
order them by the clip id: the stem ``MM-CC-EE-II-SS-RR-AA`` has the emotion code in its third field, so that order
sorts every dialogue by emotion and a model with context reads the label off the position (measured: audio-only
validation weighted-F1 about 49 with that order against about 20 with the digest order). The split is the same
actor split; actors, hence dialogues, never straddle splits.

``normalize_per_speaker=True`` (either protocol) standardises every feature dimension over each actor's clips before
the build (no label used). It is transductive: at test time it needs a batch of the speaker's clips, so it is an
opt-in for studies, not what a deployed model can assume.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from datasets import DatasetDict

from .corpora import Corpus, register_corpus
from .feature_table import build_feature_table
from .feature_table_reading import read_table
from .feature_table_layout import ColumnSplit, TableColumns
from .protocols import SPEAKER_AND_DIALOGUE_SEPARATION, Protocol, identity_map, split_official
from .schema import save_prepared

RAVDESS_FILE = "ravdess_features.parquet"
# RAVDESS' emotion codes 01-08 in order (../shared/data/ravdess/README.md); order = class index.
RAVDESS_LABELS: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
ACTOR = Protocol(
    "ravdess",
    "actor",
    RAVDESS_LABELS,
    identity_map(RAVDESS_LABELS),
    0,
    split_official,  # the feature-table reader assigns splits from `extra["split"]`
    SPEAKER_AND_DIALOGUE_SEPARATION,
    description="RAVDESS speech clips, 8 emotions, by actor: 1-16 train, 17-20 validation, 21-24 test",
    extra={"split": {"train": "1-16", "validation": "17-20", "test": "21-24"}},
)
GROUPED = Protocol(
    "ravdess",
    "grouped",
    RAVDESS_LABELS,
    identity_map(RAVDESS_LABELS),
    0,
    split_official,
    SPEAKER_AND_DIALOGUE_SEPARATION,
    description="RAVDESS speech clips, 8 emotions, one dialogue per actor and statement (30 clips in SHA-256 order of "
    "the clip stem), by actor: 1-16 train, 17-20 validation, 21-24 test",
    extra={"split": dict(ACTOR.extra["split"])},
)
PROTOCOLS: dict[str, Protocol] = {ACTOR.name: ACTOR, GROUPED.name: GROUPED}
RAVDESS_COLUMNS = TableColumns(dialogue="clip", speaker="actor", label="emotion")
# The grouped table's columns (`grouped_table`); its split column is named after the protocol and holds the actor.
GROUPED_COLUMNS = TableColumns(dialogue="dialogue", utterance="position", speaker="actor", label="emotion")
RAVDESS_FEATURE_COLUMNS = {"audio": "audio_mfcc", "face": "face_au"}


def ravdess_split(protocol: str = ACTOR.name) -> ColumnSplit:
    """The actor split (1-16 / 17-20 / 21-24) of the registered protocol ``protocol`` (``actor`` or ``grouped``)."""
    return ColumnSplit.parse(protocol, **_protocol(protocol).extra["split"])


def _protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"RAVDESS protocol must be one of {sorted(PROTOCOLS)}, got {name!r}")
    return PROTOCOLS[name]


def clip_order_key(clip: str) -> str:
    """Where a clip goes inside its grouped dialogue: the hex SHA-256 digest of its stem (label-independent).

    Example:
        >>> clip_order_key("03-01-05-01-01-01-12")[:12]
        '48ad99885fc4'
    """
    return hashlib.sha256(str(clip).encode("utf-8")).hexdigest()


def grouped_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (one row per clip) with the grouped protocol's columns: ``dialogue`` (``a{actor:02d}-s{statement}``),
    ``position`` (0-29, ascending `clip_order_key`) and the split column ``grouped`` (the actor)."""
    missing = [c for c in ("clip", "actor", "statement") if c not in table.columns]
    if missing:
        raise ValueError(f"the RAVDESS table has no column(s) {missing} needed by the grouped protocol")
    table = table.copy()
    table["dialogue"] = [f"a{int(a):02d}-s{int(s)}" for a, s in zip(table["actor"], table["statement"])]
    table["_order"] = table["clip"].map(clip_order_key)
    table = table.sort_values(["dialogue", "_order"], kind="stable").drop(columns="_order")
    table["position"] = table.groupby("dialogue").cumcount()
    table[GROUPED.name] = table["actor"]
    return table.reset_index(drop=True)


def standardize_per_speaker(table: pd.DataFrame, columns=tuple(RAVDESS_FEATURE_COLUMNS.values())) -> pd.DataFrame:
    """A copy of ``table`` whose feature ``columns`` are standardised per actor (each dimension over that actor's
    clips, standard deviation floor 1e-6; no label is used).

    Example:
        >>> t = pd.DataFrame({"actor": [1, 1, 2, 2], "face_au": [[0.0], [2.0], [5.0], [5.0]]})
        >>> [round(float(v[0]), 3) for v in standardize_per_speaker(t, ["face_au"])["face_au"]]
        [-1.0, 1.0, 0.0, 0.0]
    """
    table = table.copy()
    for column in columns:
        values = np.stack([np.asarray(v, dtype=np.float64).reshape(-1) for v in table[column]])
        out = np.empty_like(values)
        for rows in table.groupby("actor").indices.values():
            block = values[rows]
            out[rows] = (block - block.mean(0)) / (block.std(0) + 1e-6)
        table[column] = list(out.astype(np.float32))
    return table


def _parquet(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    return path / RAVDESS_FILE if path.is_dir() else path


def build_ravdess(
    parquet_path: str | os.PathLike, protocol: str = ACTOR.name, normalize_per_speaker: bool = False
) -> DatasetDict:
    """The prepared `DatasetDict` of RAVDESS (`parquet_path`: the parquet file or its folder) under ``protocol``
    (``actor``: one clip per dialogue; ``grouped``: one dialogue per actor and statement, see the module docstring),
    optionally with per-actor standardised features (`standardize_per_speaker`, transductive).

    Example:
        >>> dataset = build_ravdess("../shared/data/ravdess", protocol="grouped")  # doctest: +SKIP
        >>> {split: dataset[split].num_rows for split in dataset}  # doctest: +SKIP
        {'train': 960, 'validation': 240, 'test': 240}
    """
    chosen = _protocol(protocol)
    path = _parquet(parquet_path)
    if chosen is ACTOR and not normalize_per_speaker:
        return _build(path, RAVDESS_COLUMNS, chosen)
    table = read_table(path)
    if normalize_per_speaker:
        table = standardize_per_speaker(table)
    if chosen is GROUPED:
        table, columns = grouped_table(table), GROUPED_COLUMNS
    else:
        columns = RAVDESS_COLUMNS
    with tempfile.TemporaryDirectory() as folder:
        derived = Path(folder) / path.name
        table.to_parquet(derived)
        return _build(derived, columns, chosen)


def _build(path: Path, columns: TableColumns, protocol: Protocol) -> DatasetDict:
    return build_feature_table(
        path, columns=columns, feature_columns=RAVDESS_FEATURE_COLUMNS, split=ravdess_split(protocol.name),
        corpus=protocol.corpus,
    )


def prepare_ravdess(
    parquet_path: str | os.PathLike, output_dir: str | os.PathLike, protocol: str = ACTOR.name,
    normalize_per_speaker: bool = False,
) -> DatasetDict:
    """Build RAVDESS (`build_ravdess`) and save it where `emoje-train --data` reads it; returns the built `DatasetDict`.

    Example:
        >>> dataset = prepare_ravdess("../shared/data/ravdess", "data/ravdess_grouped", protocol="grouped")  # doctest: +SKIP
    """
    dataset = build_ravdess(parquet_path, protocol, normalize_per_speaker)
    save_prepared(dataset, output_dir)
    return dataset


CORPUS = register_corpus(
    Corpus(
        name=ACTOR.corpus,
        display_name="RAVDESS",
        protocols=(ACTOR, GROUPED),
        default_protocol=ACTOR.name,
        description="Ryerson Audio-Visual Database of Emotional Speech and Song: 24 actors, speech clips as pooled "
        "face action units and voice MFCC statistics, 8 emotions",
    )
)

__all__ = [
    "ACTOR",
    "CORPUS",
    "GROUPED",
    "GROUPED_COLUMNS",
    "PROTOCOLS",
    "RAVDESS_COLUMNS",
    "RAVDESS_LABELS",
    "RAVDESS_FEATURE_COLUMNS",
    "RAVDESS_FILE",
    "build_ravdess",
    "clip_order_key",
    "grouped_table",
    "prepare_ravdess",
    "ravdess_split",
    "standardize_per_speaker",
]
