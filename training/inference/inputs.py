"""Conversations to predict, read from a JSONL file or a prepared split, as pipeline turns with an id (a folder of
`.stm`/`.rttm` transcripts beside media: `training.inference.transcripts`).

JSONL: one conversation per line, either `{"id": ..., "turns": [turn, ...]}` or a bare list of turns (its id is
then its line number, `"line-7"`); turns are exactly what `pipeline("emotion-recognition-in-conversation")`
takes (`speaker` and any of `text`, `audio`, `video`, `face`, `body`, `text_features`, `audio_features`; relative
media paths are relative to the working directory). Blank lines are skipped; ids must be unique.

Prepared split (`emoje-prepare` output): each dialogue becomes a conversation whose turns carry the stored
features (or the raw `text` for a model with its own text encoder, or when the split has no text features and a text
encoder can compute them), with the gold label names beside them. Utterances with none of the model's modalities are
left out (as in evaluation); a split with none of them at all is an error naming both lists.

`raw_fields` says which fields of a turn would have to be extracted (raw text, audio, video) rather than used as
given, which is what a model exported without its text encoder or its processor cannot do.

Example:
    >>> import tempfile, pathlib
    >>> from training.inference.inputs import read_jsonl_conversations
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "in.jsonl"
    >>> _ = path.write_text('{"id": "a", "turns": [{"speaker": "Ann", "text": "Hi!"}]}\\n[{"speaker": "Ben", "text": "Oh."}]\\n')
    >>> [(c.id, len(c.turns)) for c in read_jsonl_conversations(path)]
    [('a', 1), ('line-2', 1)]
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeling_emoje.modalities import MODALITIES, MODALITY_TABLE
from modeling_emoje.processing_emoje import is_conversation

from ..evaluation.metrics import IGNORE_INDEX
from ..train.collator import DialogueDataset

# A prepared split's feature column -> the turn key the processor reads it from.
TURN_KEY_OF_MODALITY = {modality.name: modality.turn_key for modality in MODALITY_TABLE}


@dataclass
class Conversation:
    """One conversation to predict: its id, its turns (pipeline format), where it came from and, for a prepared
    split, the gold label name of each turn (None for an unlabelled one)."""

    id: str
    turns: list[dict[str, Any]]
    source: str
    gold: list[str | None] | None = None


def read_jsonl_conversations(path: str | os.PathLike) -> list[Conversation]:
    """Every conversation of a JSONL file, checked: a ValueError names the file and line of the first bad one."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--input {path}: no such file")
    conversations: list[Conversation] = []
    seen: dict[str, int] = {}
    with open(path, "rb") as stream:
        for number, raw in enumerate(stream, start=1):
            where = f"{path} line {number}"
            line = decode_line(raw, where)
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
            identifier, turns = _id_and_turns(value, where, number)
            if identifier in seen:
                raise ValueError(f"{where}: id {identifier!r} was already used on line {seen[identifier]}")
            seen[identifier] = number
            conversations.append(Conversation(identifier, turns, where))
    if not conversations:
        raise ValueError(f"--input {path} holds no conversation")
    return conversations


def decode_line(raw: bytes, where: str) -> str:
    """One line of a text input as UTF-8 (a byte-order mark at the start of a file allowed); other bytes are a
    ValueError naming `where` (the file and line) and the column.

    Example:
        >>> decode_line(b'caf\\xc3\\xa9\\n', "in.jsonl line 1")
        'café\\n'
        >>> decode_line(b'caf\\xe9\\n', "in.jsonl line 2")
        Traceback (most recent call last):
        ...
        ValueError: in.jsonl line 2: not UTF-8 text (byte 0xe9 at column 4); save the file as UTF-8
    """
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{where}: not UTF-8 text (byte 0x{raw[err.start]:02x} at column {err.start + 1}); save the file as UTF-8"
        ) from None


def _id_and_turns(value: Any, where: str, number: int) -> tuple[str, list[dict]]:
    expected = 'expected {"id": ..., "turns": [turn, ...]} or a list of turns (dicts with "speaker", "text", ...)'
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - {"id", "turns"})
        if "turns" not in value or unknown:
            problem = f"unknown keys {unknown}" if unknown else "no 'turns'"
            raise ValueError(f"{where}: {problem}; {expected}")
        identifier, turns = value.get("id", f"line-{number}"), value["turns"]
        if not isinstance(identifier, (str, int)) or isinstance(identifier, bool):
            raise ValueError(f"{where}: 'id' must be a string or an integer, got {type(identifier).__name__}")
    else:
        identifier, turns = f"line-{number}", value
    if not is_conversation(turns):
        raise ValueError(f"{where}: the turns are not a non-empty list of dicts; {expected}")
    return str(identifier), [dict(turn) for turn in turns]


def split_conversations(
    split, model_modalities: Sequence[str], raw_text: bool, name: str, model_source: str = "the model"
) -> list[Conversation]:
    """The dialogues of a prepared split as conversations of pipeline turns, with gold label names.

    `raw_text`: give turns their `text` (the processor tokenizes or encodes it) instead of `text_features`.
    A split without a feature column (or, with `raw_text`, a `text` column) for any of `model_modalities` is a
    ValueError naming what `model_source` reads and what the split has.
    """
    wanted = [m for m in MODALITIES if m in model_modalities]
    has = [
        m for m in MODALITIES
        if f"{m}_features" in split.column_names or (m == "text" and raw_text and "text" in split.column_names)
    ]
    if not set(wanted) & set(has):
        found = f"features for {', '.join(has)} only" if has else "no feature column"
        raise ValueError(
            f"{name} has no features {model_source} can read: the model reads {', '.join(wanted)}, the split has "
            f"{found}; prepare the data with features for {' or '.join(wanted)}"
            + (f", or use a model trained on {', '.join(has)}" if has else "")
        )
    dataset = DialogueDataset(split, modalities=wanted, name=name, raw_text=raw_text)
    names = dataset.label_names
    conversations = []
    for index, identifier in enumerate(dataset.dialogue_ids):
        item = dataset[index]
        turns, gold = [], []
        for u, speaker in enumerate(item["speaker_ids"].tolist()):
            turn: dict[str, Any] = {"speaker": speaker}
            for position, modality in enumerate(MODALITIES):
                if not item["modality_mask"][u, position]:
                    continue
                if modality == "text" and "text" in item:
                    turn["text"] = item["text"][u]
                elif f"{modality}_features" in item:
                    turn[TURN_KEY_OF_MODALITY[modality]] = item[f"{modality}_features"][u]
            label = int(item["labels"][u])
            gold.append(None if label == IGNORE_INDEX else (names[label] if names else str(label)))
            turns.append(turn)
        conversations.append(Conversation(identifier, turns, f"{name} dialogue {identifier!r}", gold))
    return conversations


def raw_fields(turn: Mapping[str, Any], modalities: Sequence[str]) -> list[str]:
    """The fields of a pipeline turn that a model reading `modalities` would have extracted rather than used as
    given: `text` (without `text_features`), `audio` (without `audio_features`), `video` (for face or body not given
    as arrays). Pre-extracted arrays win over the raw field of the same modality, as in the processor.

    Example:
        >>> raw_fields({"speaker": "A", "text": "Hi", "audio_features": [[0.1]], "video": "a.mp4", "body": [0.2]},
        ...            ["text", "audio", "body"])
        ['text']
    """
    fields = []
    for modality in MODALITY_TABLE:  # the raw field of each modality (its source), in table order, each once
        if modality.name not in modalities or turn.get(modality.turn_key) is not None or modality.source in fields:
            continue
        raw = turn.get(modality.source)
        given = isinstance(raw, str) and bool(raw.strip()) if modality.source == "text" else raw is not None
        if given:
            fields.append(modality.source)
    return fields


__all__ = [
    "TURN_KEY_OF_MODALITY",
    "Conversation",
    "decode_line",
    "raw_fields",
    "read_jsonl_conversations",
    "split_conversations",
]
