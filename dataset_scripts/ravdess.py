"""RAVDESS speech with pooled face and voice features (`../shared/data/ravdess`), protocol `ravdess/actor`.

`ravdess_features.parquet` holds one row per clip (1,440): `clip` (file stem), `actor` (1-24), `emotion` (8 names),
`face_au` (35 OpenFace action units) and `audio_mfcc` (259 MFCC statistics), one frame each; no text, no body.
Each clip is a one-utterance dialogue (dialogue id = clip, speaker = actor) and the split is by actor, never by
clip: actors 1-16 train, 17-20 validation, 21-24 test (960 / 240 / 240 clips). The same build from the command
line (see dataset_scripts/README.md, "Bring your own features"):

    emoje-prepare features --table ../shared/data/ravdess/ravdess_features.parquet --corpus ravdess \\
        --dialogue-column clip --speaker-column actor --label-column emotion \\
        --column audio=audio_mfcc --column face=face_au \\
        --split-by actor --train 1-16 --validation 17-20 --test 21-24 --output data/ravdess
"""

from __future__ import annotations

import os
from pathlib import Path

from datasets import DatasetDict

from .corpora import Corpus, register_corpus
from .feature_table import build_feature_table
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
RAVDESS_COLUMNS = TableColumns(dialogue="clip", speaker="actor", label="emotion")
RAVDESS_FEATURE_COLUMNS = {"audio": "audio_mfcc", "face": "face_au"}


def ravdess_split() -> ColumnSplit:
    """The actor split of the registered protocol `ravdess/actor` (1-16 / 17-20 / 21-24)."""
    return ColumnSplit.parse(ACTOR.name, **ACTOR.extra["split"])


def _parquet(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    return path / RAVDESS_FILE if path.is_dir() else path


def build_ravdess(parquet_path: str | os.PathLike) -> DatasetDict:
    """The prepared `DatasetDict` of RAVDESS (`parquet_path`: the parquet file or its folder).

    Example:
        >>> dataset = build_ravdess("../shared/data/ravdess")  # doctest: +SKIP
        >>> {split: dataset[split].num_rows for split in dataset}  # doctest: +SKIP
        {'train': 960, 'validation': 240, 'test': 240}
    """
    return build_feature_table(
        _parquet(parquet_path),
        columns=RAVDESS_COLUMNS,
        feature_columns=RAVDESS_FEATURE_COLUMNS,
        split=ravdess_split(),
        corpus=ACTOR.corpus,
    )


def prepare_ravdess(parquet_path: str | os.PathLike, output_dir: str | os.PathLike) -> DatasetDict:
    """Build RAVDESS and save it where `emoje-train --data` reads it; returns the built `DatasetDict`.

    Example:
        >>> dataset = prepare_ravdess("../shared/data/ravdess", "data/ravdess")  # doctest: +SKIP
    """
    dataset = build_ravdess(parquet_path)
    save_prepared(dataset, output_dir)
    return dataset


CORPUS = register_corpus(
    Corpus(
        name=ACTOR.corpus,
        display_name="RAVDESS",
        protocols=(ACTOR,),
        default_protocol=ACTOR.name,
        description="Ryerson Audio-Visual Database of Emotional Speech and Song: 24 actors, speech clips as pooled "
        "face action units and voice MFCC statistics, 8 emotions",
    )
)

__all__ = [
    "ACTOR",
    "CORPUS",
    "RAVDESS_COLUMNS",
    "RAVDESS_LABELS",
    "RAVDESS_FEATURE_COLUMNS",
    "RAVDESS_FILE",
    "build_ravdess",
    "prepare_ravdess",
    "ravdess_split",
]
