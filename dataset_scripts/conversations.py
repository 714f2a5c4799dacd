"""Any corpus of conversations given as CSV or JSONL files: the way a user brings a corpus of their own.

Every `*.csv` / `*.jsonl` file in DATA_DIR (or the one file DATA_DIR names) holds one utterance per row/line with

| column | required | meaning |
|---|---|---|
| `dialogue_id` | yes | dialogue name, unique across the whole corpus (a dialogue may not straddle splits) |
| `utterance_id` | yes | integer giving the order inside the dialogue (gaps allowed; positions are renumbered 0..n-1) |
| `speaker` | yes | speaker name |
| `text` | yes | transcript (may be empty: text absent) |
| `label` | yes | class name; empty = unlabeled (skipped and counted) |
| `split` | yes | `train`, `validation` (or `dev`, `val`, `valid`) or `test` |
| `audio`, `video` | no | media paths, relative to the file's folder (or absolute) |

Other columns are ignored. The label list is the user's (`labels=`, `--labels a,b,c`) else the sorted labels found;
the one protocol, `given`, keeps the files' `split` column.
A missing required column, an unknown label, a bad split or utterance id, a repeated utterance or a dialogue in two
splits raises a ValueError naming the file and line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .corpora import Corpus, register_corpus
from .meld import read_csv_text
from .corpus_builder import CorpusBuilder
from .protocols import DIALOGUE_SEPARATION, Protocol, split_official, with_labels
from .schema import UtteranceRecord

REQUIRED_COLUMNS = ("dialogue_id", "utterance_id", "speaker", "text", "label", "split")
MEDIA_COLUMNS = ("audio", "video")
SPLIT_ALIASES = {
    "train": "train",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
    "test": "test",
}


def _iter_csv(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    text, _ = read_csv_text(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [column.strip().lower() for column in next(reader)]
    except StopIteration:
        raise ValueError(f"{path}:1: empty file, expected a header with {REQUIRED_COLUMNS}") from None
    absent = [column for column in REQUIRED_COLUMNS if column not in header]
    if absent:
        raise ValueError(f"{path}:1: missing required column(s) {absent} (header: {header})")
    next_line = reader.line_num + 1
    for fields in reader:
        line, next_line = next_line, reader.line_num + 1
        if not fields or all(not value.strip() for value in fields):
            continue
        if len(fields) != len(header):
            raise ValueError(f"{path}:{line}: expected {len(header)} fields, found {len(fields)}")
        yield line, dict(zip(header, fields, strict=True))


def _iter_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    text, _ = read_csv_text(path)
    for line, content in enumerate(text.splitlines(), start=1):
        if not content.strip():
            continue
        try:
            row = json.loads(content)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{line}: invalid JSON ({error.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{line}: expected a JSON object per line, got {type(row).__name__}")
        row = {str(key).strip().lower(): value for key, value in row.items()}
        absent = [column for column in REQUIRED_COLUMNS if column not in row]
        if absent:
            raise ValueError(f"{path}:{line}: missing required field(s) {absent}")
        yield line, row


def _as_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{where}: utterance_id must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{where}: utterance_id must be an integer, got {value!r}") from None


class ConversationsBuilder(CorpusBuilder):
    """Build a user corpus from CSV/JSONL files (see the module docstring for the columns).

    Args:
        data_dir: a folder of `*.csv` / `*.jsonl` files, or one such file.
        labels: the label list (class order); default the sorted labels found.

    Example:
        >>> dataset = ConversationsBuilder("my_corpus/", labels=["neutral", "joy", "anger"]).build()  # doctest: +SKIP
        >>> dataset["train"].features["label"].names  # doctest: +SKIP
        ['neutral', 'joy', 'anger']
    """

    corpus = "conversations"

    def __init__(self, data_dir, labels: Sequence[str] | None = None, protocol=None, fold=None, **kwargs):
        super().__init__(data_dir, protocol, fold, **kwargs)
        if labels is not None:
            labels = [str(label).strip() for label in labels if str(label).strip()]
            if not labels or len(set(labels)) != len(labels):
                raise ValueError(f"labels must be a non-empty list of distinct names, got {labels}")
        self.labels = labels

    def files(self) -> list[Path]:
        if self.data_dir.is_file():
            files = [self.data_dir]
        else:
            files = sorted(
                p for p in self.data_dir.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".jsonl")
            )
        if not files:
            raise FileNotFoundError(f"conversations: no *.csv or *.jsonl file in {self.data_dir}")
        return files

    def read_records(self) -> list[UtteranceRecord]:
        records: list[UtteranceRecord] = []
        utterances: dict[tuple[str, int], str] = {}
        dialogues: dict[str, tuple[str, str, int]] = {}  # id -> (split, where, first index)
        for path in self.files():
            rows = _iter_jsonl(path) if path.suffix.lower() == ".jsonl" else _iter_csv(path)
            for line, row in rows:
                where = f"{path}:{line}"
                record = self._record(path, where, row)
                if record is None:
                    continue
                key = (record.dialogue_id, record.order[0])
                if key in utterances:
                    raise ValueError(
                        f"{where}: utterance {key[1]} of dialogue {key[0]!r} already given at {utterances[key]}"
                    )
                utterances[key] = where
                split, first_where, first_index = dialogues.setdefault(
                    record.dialogue_id, (record.official_split, where, len(dialogues))
                )
                if split != record.official_split:
                    raise ValueError(
                        f"{where}: dialogue {record.dialogue_id!r} is in split {record.official_split!r} here but in "
                        f"{split!r} at {first_where}; a dialogue must stay in one split (use distinct dialogue ids)"
                    )
                record.dialogue_order = (first_index,)
                records.append(record)
        found = sorted({record.label for record in records})
        if self.labels is None:
            if not found:
                raise ValueError(f"conversations: no labeled utterance in {self.data_dir}")
            self.protocol = with_labels(self.protocol, found)
        else:
            allowed = set(self.labels)
            for record in records:
                if record.label not in allowed:
                    raise ValueError(
                        f"{record.origin}: label {record.label!r} is not in the given labels {self.labels}"
                    )
            self.protocol = with_labels(self.protocol, self.labels)
        return records

    def _record(self, path: Path, where: str, row: dict[str, Any]) -> UtteranceRecord | None:
        dialogue_id = _as_text(row["dialogue_id"])
        if not dialogue_id:
            raise ValueError(f"{where}: empty dialogue_id")
        utterance_id = _as_int(row["utterance_id"], where)
        split_value = _as_text(row["split"]).lower()
        if split_value not in SPLIT_ALIASES:
            raise ValueError(f"{where}: split {row['split']!r} is not one of train, validation (dev), test")
        label = _as_text(row["label"])
        if not label:
            self.summary.skip("unlabeled (empty label)", where)
            return None
        media = {}
        for column in MEDIA_COLUMNS:
            value = _as_text(row.get(column))
            if not value:
                media[column] = ""
                continue
            media_path = Path(value).expanduser()
            if not media_path.is_absolute():
                media_path = (path.parent / media_path).resolve()
            if media_path.exists():
                media[column] = str(media_path)
            else:
                media[column] = ""
                self.summary.missing_media.append(f"{where}: {value}")
        return UtteranceRecord(
            source_id=f"{dialogue_id}/{utterance_id}",
            dialogue_id=dialogue_id,
            speaker=_as_text(row["speaker"]),
            text=_as_text(row["text"]),
            label=label,
            official_split=SPLIT_ALIASES[split_value],
            audio_path=media["audio"],
            video_path=media["video"],
            order=(utterance_id,),
            origin=where,
        )


def build_conversations(data_dir, labels: Sequence[str] | None = None, **kwargs):
    """Build a user corpus (see [`ConversationsBuilder`]); returns a `DatasetDict` with the build summary."""
    return ConversationsBuilder(data_dir, labels=labels, **kwargs).build()


CORPUS = register_corpus(
    Corpus(
        name="conversations",
        display_name="user conversations",
        protocols=(
            Protocol(
                "conversations",
                "given",
                (),
                {},
                0,
                split_official,
                DIALOGUE_SEPARATION,
                description="user corpus, split column of the files",
            ),
        ),
        default_protocol="given",
        description="a corpus of the user's own: CSV / JSONL files of utterances with dialogue, speaker, text, label "
        "and split columns",
        build=build_conversations,
        data_dir_help="CSV/JSONL folder or file",
    )
)

__all__ = ["CORPUS", "REQUIRED_COLUMNS", "SPLIT_ALIASES", "ConversationsBuilder", "build_conversations"]
