"""MELD (Poria et al., 2019) from its official layout: the three `*_sent_emo.csv` files and, optionally, the clips.

Layout read (DATA.md):

    DATA_DIR/train_sent_emo.csv   DATA_DIR/train_splits/dia{D}_utt{U}.mp4
    DATA_DIR/dev_sent_emo.csv     DATA_DIR/dev_splits_complete/dia{D}_utt{U}.mp4
    DATA_DIR/test_sent_emo.csv    DATA_DIR/output_repeated_splits_test/dia{D}_utt{U}.mp4

- The CSVs alone give a text-only dataset (`modality_mask` = text only).
- When a clip folder exists, `audio_path` = `video_path` = the clip. A missing clip (dev `dia110_utt7`) leaves both
  `""` and is listed in the summary's `missing_media`; an empty or corrupt clip keeps its path and is marked absent
  (empty: at build time; corrupt: when feature extraction fails to decode it). No utterance is ever dropped.
- Dialogue ids are `"{train,dev,test}_dia{D}"` (MELD numbers dialogues per split); `source_id` is
  `"{split}/dia{D}_utt{U}"`, the clip name. `utterance_id` is the position in the dialogue: MELD's own
  `Utterance_ID` has gaps (72 train dialogues) and only orders the rows.
- Encoding: the files are read as UTF-8 (BOM stripped; cp1252 as a fallback for re-saved copies). Copies that went
  through a UTF-8 -> cp1252/latin-1 -> UTF-8 round trip show mojibake such as `â€™` for `’`; such fields are
  repaired (count in the summary notes). Typographic quotes are kept as MELD has them (`’` is not turned into `'`).

Protocols (`CORPUS`, all on the official train/dev/test split): `emotion` (default, 7 emotions in MELD's order),
`sentiment` (3 sentiments), `episodes` (7 emotions; the dialogues of one episode joined into one long conversation).
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import replace
from pathlib import Path

from .corpora import Corpus, register_corpus
from .corpus_builder import CorpusBuilder
from .protocols import DIALOGUE_SEPARATION, Protocol, identity_map, split_official
from .schema import UtteranceRecord

# MELD's own order (README of the MELD repository / ../shared/data/README.md); order = class index.
MELD_EMOTIONS: tuple[str, ...] = ("neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger")
MELD_SENTIMENTS: tuple[str, ...] = ("neutral", "positive", "negative")
# The official CSV of each split (the same names in MELD's repository, its download and the demo's subset copy).
MELD_FILES = {"train": "train_sent_emo.csv", "validation": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
MELD_CLIP_DIRS = {"train": "train_splits", "validation": "dev_splits_complete", "test": "output_repeated_splits_test"}
MELD_SPLIT_NAMES = {"train": "train", "validation": "dev", "test": "test"}
MELD_COLUMNS = ("Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID")
# Read as well by the `episodes` protocol, which joins the dialogues of one episode into one long conversation.
EPISODE_COLUMNS = ("Season", "Episode", "StartTime")


def clock_seconds(value: str) -> float:
    """MELD's ``HH:MM:SS,mmm`` time stamp in seconds (``inf`` when it does not parse, so it sorts last).

    Example:
        >>> clock_seconds("00:16:21,940"), clock_seconds("n/a")
        (981.94, inf)
    """
    try:
        hours, minutes, seconds = value.strip().replace(",", ".").split(":")
        return round(int(hours) * 3600 + int(minutes) * 60 + float(seconds), 3)
    except ValueError:
        return float("inf")

# A UTF-8 lead byte read as cp1252/latin-1 followed by a continuation byte read the same way.
_MOJIBAKE = re.compile(
    "[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
    "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]"
)


def _as_cp1252_bytes(text: str) -> bytes:
    out = bytearray()
    for char in text:
        try:
            out += char.encode("cp1252")
        except UnicodeEncodeError:
            if ord(char) > 0xFF:
                raise
            out.append(ord(char))  # the five bytes cp1252 leaves undefined come back through latin-1
    return bytes(out)


def fix_mojibake(text: str) -> str:
    """Undo one UTF-8 -> cp1252 (or latin-1) mis-decoding; text without its traces is returned unchanged.

    Example:
        >>> fix_mojibake("You mustâ€™ve had your hands full.")
        'You must’ve had your hands full.'
        >>> fix_mojibake("Café")
        'Café'
    """
    if not _MOJIBAKE.search(text):
        return text
    try:
        return _as_cp1252_bytes(text).decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def read_csv_text(path: Path) -> tuple[str, str]:
    """Decode a CSV file: `(text, encoding)`; UTF-8 (BOM stripped) else cp1252 else latin-1."""
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for encoding in ("utf-8", "cp1252"):
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1"), "latin-1"


class MeldBuilder(CorpusBuilder):
    """Build MELD from the official CSVs (+ clips if present).

    Args:
        data_dir: folder holding `train_sent_emo.csv`, `dev_sent_emo.csv`, `test_sent_emo.csv` (and clip folders).
        protocol: `"emotion"` (7 classes, default) or `"sentiment"` (3 classes).
        fix_encoding: repair mojibake (see module docstring).

    Example:
        >>> builder = MeldBuilder("../shared/data/meld")  # doctest: +SKIP
        >>> dataset = builder.build()  # doctest: +SKIP
        >>> dataset["test"].num_rows, builder.summary.dialogues["test"]  # doctest: +SKIP
        (2610, 280)
    """

    corpus = "meld"

    def __init__(self, data_dir, protocol=None, fold=None, fix_encoding: bool = True, **kwargs):
        super().__init__(data_dir, protocol, fold, **kwargs)
        self.fix_encoding = fix_encoding

    def read_records(self) -> list[UtteranceRecord]:
        missing = [name for name in MELD_FILES.values() if not (self.data_dir / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"MELD: {self.data_dir} lacks {missing} (expected the official *_sent_emo.csv files)"
            )
        records: list[UtteranceRecord] = []
        for split, name in MELD_FILES.items():
            records.extend(self._read_split(split, self.data_dir / name))
        return records

    def _read_split(self, split: str, path: Path) -> list[UtteranceRecord]:
        text, encoding = read_csv_text(path)
        if encoding != "utf-8":
            self.summary.notes.append(f"{path.name} is not UTF-8; decoded as {encoding}")
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = [column.strip() for column in next(reader)]
        except StopIteration:
            raise ValueError(f"{path}:1: empty file, expected the MELD header") from None
        absent = [column for column in MELD_COLUMNS if column not in header]
        if absent:
            raise ValueError(f"{path}:1: header lacks the MELD columns {absent} (found {header})")
        by_episode = self.protocol.extra.get("group_by") == "episode"
        if by_episode:
            absent = [column for column in EPISODE_COLUMNS if column not in header]
            if absent:
                raise ValueError(f"{path}:1: the episodes protocol needs the MELD columns {absent} (found {header})")
        index = {column: header.index(column) for column in MELD_COLUMNS + (EPISODE_COLUMNS if by_episode else ())}
        label_column = "Sentiment" if self.protocol.label_field == "sentiment" else "Emotion"
        known_labels = set(MELD_SENTIMENTS if label_column == "Sentiment" else MELD_EMOTIONS)

        clip_dir = self.data_dir / MELD_CLIP_DIRS[split]
        has_clips = clip_dir.is_dir()
        if not has_clips:
            self.summary.notes.append(f"no {MELD_CLIP_DIRS[split]}/ folder: {split} is text-only")
        official = MELD_SPLIT_NAMES[split]
        records, seen, repaired = [], {}, 0
        next_line = reader.line_num + 1
        for fields in reader:
            line, next_line = next_line, reader.line_num + 1
            where = f"{path}:{line}"
            if not fields or all(not value.strip() for value in fields):
                continue
            if len(fields) != len(header):
                raise ValueError(f"{where}: expected {len(header)} fields, found {len(fields)}")
            try:
                dialogue, utterance = int(fields[index["Dialogue_ID"]]), int(fields[index["Utterance_ID"]])
            except ValueError:
                raise ValueError(
                    f"{where}: Dialogue_ID/Utterance_ID must be integers, got "
                    f"{fields[index['Dialogue_ID']]!r}/{fields[index['Utterance_ID']]!r}"
                ) from None
            label = fields[index[label_column]].strip().lower()
            if label not in known_labels:
                raise ValueError(f"{where}: unknown {label_column} {label!r}; expected one of {sorted(known_labels)}")
            if (dialogue, utterance) in seen:
                raise ValueError(
                    f"{where}: dia{dialogue}_utt{utterance} already given at line {seen[dialogue, utterance]}"
                )
            seen[dialogue, utterance] = line
            utterance_text = fields[index["Utterance"]].strip()
            speaker = fields[index["Speaker"]].strip()
            if self.fix_encoding:
                fixed_text, fixed_speaker = fix_mojibake(utterance_text), fix_mojibake(speaker)
                repaired += (fixed_text != utterance_text) + (fixed_speaker != speaker)
                utterance_text, speaker = fixed_text, fixed_speaker
            clip = ""
            if has_clips:
                candidate = clip_dir / f"dia{dialogue}_utt{utterance}.mp4"
                if candidate.exists():
                    clip = str(candidate)
                else:
                    self.summary.missing_media.append(f"{MELD_CLIP_DIRS[split]}/{candidate.name}")
            conversation, order, conversation_order = f"{official}_dia{dialogue}", (utterance,), (dialogue,)
            if by_episode:
                season, episode = fields[index["Season"]].strip(), fields[index["Episode"]].strip()
                if not (season.isdigit() and episode.isdigit()):
                    raise ValueError(f"{where}: Season/Episode must be integers, got {season!r}/{episode!r}")
                conversation = f"{official}_s{int(season):02d}e{int(episode):02d}"
                # Ordered by the dialogue's place in the episode (its first start time, set below), then as written.
                order, conversation_order = (clock_seconds(fields[index["StartTime"]]), dialogue, utterance), (int(season), int(episode))
            records.append(
                UtteranceRecord(
                    source_id=f"{official}/dia{dialogue}_utt{utterance}",
                    dialogue_id=conversation,
                    speaker=speaker,
                    text=utterance_text,
                    label=label,
                    official_split=split,
                    audio_path=clip,
                    video_path=clip,
                    order=order,
                    dialogue_order=conversation_order,
                    origin=where,
                )
            )
        if repaired:
            self.summary.notes.append(f"{path.name}: repaired mojibake in {repaired} field(s)")
        if by_episode:
            _order_dialogues_by_start(records)
        return records


def _order_dialogues_by_start(records: list[UtteranceRecord]) -> None:
    """Within an episode, put each MELD dialogue where its earliest utterance starts (utterances keep their order)."""
    starts: dict[tuple[str, int], float] = {}
    for record in records:
        key = (record.dialogue_id, record.order[1])
        starts[key] = min(starts.get(key, float("inf")), record.order[0])
    for record in records:
        _, dialogue, utterance = record.order
        record.order = (starts[record.dialogue_id, dialogue], dialogue, utterance)


def build_meld(data_dir, protocol: str | None = None, **kwargs):
    """Build MELD (see [`MeldBuilder`]); returns a `DatasetDict` whose metadata holds the build summary."""
    return MeldBuilder(data_dir, protocol, **kwargs).build()


_EMOTION = Protocol(
    "meld",
    "emotion",
    MELD_EMOTIONS,
    identity_map(MELD_EMOTIONS),
    0,
    split_official,
    DIALOGUE_SEPARATION,
    label_field="emotion",
    description="MELD, 7 emotions, official train/dev/test",
)

CORPUS = register_corpus(
    Corpus(
        name="meld",
        display_name="MELD",
        protocols=(
            _EMOTION,
            replace(  # the same labels and split; only the grouping of utterances into conversations differs
                _EMOTION,
                name="episodes",
                description="MELD, 7 emotions, official split, the dialogues of one episode joined into one long "
                "conversation",
                extra={"group_by": "episode"},
            ),
            Protocol(
                "meld",
                "sentiment",
                MELD_SENTIMENTS,
                identity_map(MELD_SENTIMENTS),
                0,
                split_official,
                DIALOGUE_SEPARATION,
                label_field="sentiment",
                description="MELD, 3 sentiments, official train/dev/test",
            ),
        ),
        default_protocol="emotion",
        description="Multimodal EmotionLines Dataset: multi-party conversations from the TV series Friends, with "
        "transcripts and clips, 7 emotions and 3 sentiments per utterance",
        citation_bibtex=(
            "@inproceedings{poria2019meld,\n  title = {{MELD}: A Multimodal Multi-Party Dataset for Emotion "
            "Recognition in Conversations},\n  author = {Poria, Soujanya and Hazarika, Devamanyu and Majumder, "
            "Navonil and Naik, Gautam and Cambria, Erik and Mihalcea, Rada},\n  booktitle = {ACL},\n  year = "
            "{2019}\n}"
        ),
        terms="MELD is distributed by its authors under GPL-3.0 (github.com/declare-lab/MELD); its utterances are "
        "transcripts and clips of the TV series Friends. This card's `license` covers the weights as published here: "
        "check that it is compatible with the corpus's terms before you publish.",
        hub_dataset_id="declare-lab/MELD",
        build=build_meld,
    )
)

__all__ = [
    "CORPUS",
    "MELD_CLIP_DIRS",
    "MELD_EMOTIONS",
    "MELD_FILES",
    "MELD_SENTIMENTS",
    "MeldBuilder",
    "build_meld",
    "fix_mojibake",
    "read_csv_text",
]
