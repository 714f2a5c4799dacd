"""Conversations to predict from a folder of timed transcripts (`.stm`) or speaker turns (`.rttm`) beside media.

Every `NAME.stm` or `NAME.rttm` of the folder (not its subfolders) is one conversation, id `NAME`, over the media
file(s) of the same name: an audio file (`NAME.wav`, `.flac`, `.ogg`, `.aiff`, `.mp3`, `.m4a`) and/or a video
(`NAME.mp4`, `.avi`, `.mkv`, `.mov`, `.webm`, `.ts`). Each line becomes a turn in start-time order, with its
`speaker` and the media span as the pipeline takes it: `{"audio": {"path", "start", "end"}}` for an audio file,
`{"video": {"path", "start", "end"}}` for a video (both when both are there; times in seconds).

- **STM** (NIST): `NAME CHANNEL SPEAKER START END [<LABELS>] TRANSCRIPT`; the turn gets `text` = the transcript (no
  `text` when it is empty). Lines starting with `;;` are comments; TED-LIUM's non-speech segments (speaker
  `inter_segment_gap` or transcript `ignore_time_segment_in_scoring`) are skipped. The channel is not used.
- **RTTM**: `SPEAKER NAME CHANNEL START DURATION <NA> <NA> SPEAKER_ID <NA> <NA>` (a diarization output, no text);
  lines of the other RTTM types (`SPKR-INFO`, `LEXEME`, ...) and `;;` comments are skipped.

When both `NAME.stm` and `NAME.rttm` are there, the STM (which has the words) is read and the RTTM ignored. Media
without a transcript are skipped (a warning counts them). Errors are ValueErrors naming the file and line: a
malformed line, a file field that is not `NAME`, `end <= start`, a turn ending after the media does (its duration is
read from the file header), a transcript without media, two audio (or two video) files of one name.

Example:
    >>> import tempfile, pathlib, numpy as np, soundfile as sf
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> sf.write(folder / "call.wav", np.zeros(16000 * 3, np.float32), 16000)
    >>> _ = (folder / "call.stm").write_text(";; two turns\\ncall 1 Ann 0.0 1.2 Hello?\\ncall 1 Ben 1.3 2.5 Hi.\\n")
    >>> [conversation] = read_transcript_folder(folder)
    >>> conversation.id, conversation.turns[1]["speaker"], conversation.turns[1]["text"]
    ('call', 'Ben', 'Hi.')
    >>> conversation.turns[1]["audio"]["start"], conversation.turns[1]["audio"]["end"]
    (1.3, 2.5)
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modeling_emoje.media_io import SOUNDFILE_EXTENSIONS

from .inputs import Conversation

logger = logging.getLogger(__name__)

AUDIO_SUFFIXES = (*SOUNDFILE_EXTENSIONS, ".mp3", ".m4a")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".ts")
TRANSCRIPT_SUFFIXES = (".stm", ".rttm")
# A turn may end this many seconds after the media's header duration (transcript rounding, the last video frame).
DURATION_TOLERANCE = 0.1
# STM conventions for a non-speech segment (TED-LIUM): not a turn.
STM_GAP_SPEAKER = "inter_segment_gap"
STM_IGNORED_TEXT = "ignore_time_segment_in_scoring"
# The line types of RTTM (NIST RT-09); only SPEAKER lines are turns.
RTTM_TYPES = frozenset(
    "SEGMENT NOSCORE NO_RT_METADATA LEXEME NON-LEX NON-SPEECH FILLER EDIT IP CB A/P SU SPEAKER SPKR-INFO".split()
)


@dataclass
class TimedTurn:
    """One line of a transcript: who spoke from `start` to `end` seconds, the words (None in an RTTM) and the line."""

    speaker: str
    start: float
    end: float
    text: str | None
    line: int


def _seconds(value: str, where: str, field: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{where}: {field} {value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{where}: {field} must be a finite number of seconds >= 0, got {value}")
    return seconds


def _content_lines(path: Path):
    """(line number, stripped line) of every non-blank, non-`;;` line."""
    from .inputs import decode_line

    with open(path, "rb") as stream:
        for number, raw in enumerate(stream, start=1):
            line = decode_line(raw, f"{path} line {number}").strip()
            if line and not line.startswith(";;"):
                yield number, line


def _check_name(name: str, path: Path, where: str) -> None:
    if name != path.stem:
        raise ValueError(
            f"{where}: the file field is {name!r}, not {path.stem!r} (one conversation per file: {path.name} "
            f"describes {path.stem}.wav / {path.stem}.mp4 only)"
        )


def read_stm(path: str | os.PathLike) -> list[TimedTurn]:
    """The turns of an STM file, in file order (non-speech segments left out)."""
    path = Path(path)
    turns = []
    for number, line in _content_lines(path):
        where = f"{path} line {number}"
        fields = line.split(None, 5)
        if len(fields) < 5:
            raise ValueError(f"{where}: expected 'NAME CHANNEL SPEAKER START END [<LABELS>] TRANSCRIPT', got {line!r}")
        name, _, speaker, start, end = fields[:5]
        _check_name(name, path, where)
        text = fields[5] if len(fields) == 6 else ""
        first, _, rest = text.partition(" ")
        if first.startswith("<") and first.endswith(">") and "," in first:  # the optional `<o,f0,male>` labels
            text = rest
        start_s, end_s = _seconds(start, where, "START"), _seconds(end, where, "END")
        if end_s <= start_s:
            raise ValueError(f"{where}: END ({end}) must be greater than START ({start})")
        text = text.strip()
        if speaker == STM_GAP_SPEAKER or text == STM_IGNORED_TEXT:
            continue
        turns.append(TimedTurn(speaker, start_s, end_s, text or None, number))
    return turns


def read_rttm(path: str | os.PathLike) -> list[TimedTurn]:
    """The SPEAKER turns of an RTTM file, in file order (no text)."""
    path = Path(path)
    turns = []
    for number, line in _content_lines(path):
        where = f"{path} line {number}"
        fields = line.split()
        expected = "'SPEAKER NAME CHANNEL START DURATION <NA> <NA> SPEAKER_ID <NA> <NA>'"
        if fields[0] not in RTTM_TYPES:
            raise ValueError(f"{where}: {fields[0]!r} is not an RTTM line type; expected {expected}, got {line!r}")
        if fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise ValueError(f"{where}: expected {expected}, got {line!r}")
        _check_name(fields[1], path, where)
        start = _seconds(fields[3], where, "START")
        duration = _seconds(fields[4], where, "DURATION")
        if duration <= 0:
            raise ValueError(f"{where}: DURATION must be > 0 (the turn would end at or before its start), got {fields[4]}")
        turns.append(TimedTurn(fields[7], start, round(start + duration, 6), None, number))
    return turns


def media_duration(path: str | os.PathLike) -> float | None:
    """The duration in seconds from the file's header (None when the container does not say). A file that cannot be
    opened is a ValueError naming it."""
    path = os.fspath(path)
    try:
        if path.lower().endswith(SOUNDFILE_EXTENSIONS):
            import soundfile

            return float(soundfile.info(path).duration)
        import av

        with av.open(path) as container:
            return container.duration / 1_000_000 if container.duration else None
    except Exception as err:
        raise ValueError(f"{path}: cannot read the media file ({err})") from err


def _media_of(transcript: Path, files: dict[str, list[Path]]) -> dict[str, Path]:
    """{"audio": path, "video": path} of the media named like `transcript`."""
    media = {}
    for key, suffixes in (("audio", AUDIO_SUFFIXES), ("video", VIDEO_SUFFIXES)):
        found = [path for path in files.get(transcript.stem, []) if path.suffix.lower() in suffixes]
        if len(found) > 1:
            raise ValueError(f"{transcript}: several {key} files of that name ({', '.join(p.name for p in found)}); keep one")
        if found:
            media[key] = found[0]
    if not media:
        raise ValueError(
            f"{transcript}: no media beside it (expected {transcript.stem} with one of "
            f"{', '.join(AUDIO_SUFFIXES + VIDEO_SUFFIXES)})"
        )
    return media


def transcript_conversation(transcript: str | os.PathLike, media: dict[str, str | os.PathLike]) -> Conversation:
    """One conversation from a `.stm`/`.rttm` file and its media (`{"audio": path}` and/or `{"video": path}`)."""
    transcript = Path(transcript)
    timed = read_stm(transcript) if transcript.suffix.lower() == ".stm" else read_rttm(transcript)
    if not timed:
        raise ValueError(f"{transcript}: no turn (only comments, blank lines or non-speech segments)")
    durations = {key: media_duration(path) for key, path in media.items()}
    turns: list[dict[str, Any]] = []
    for item in sorted(timed, key=lambda t: (t.start, t.end)):  # stable: equal times keep file order
        for key, duration in durations.items():
            if duration is not None and item.end > duration + DURATION_TOLERANCE:
                raise ValueError(
                    f"{transcript} line {item.line}: the turn ends at {item.end:g} s, after the end of "
                    f"{Path(media[key]).name} ({duration:.3f} s)"
                )
        turn: dict[str, Any] = {"speaker": item.speaker}
        if item.text is not None:
            turn["text"] = item.text
        for key, path in media.items():
            turn[key] = {"path": os.fspath(path), "start": item.start, "end": item.end}
        turns.append(turn)
    return Conversation(transcript.stem, turns, str(transcript))


def read_transcript_folder(folder: str | os.PathLike) -> list[Conversation]:
    """Every conversation of a folder of transcripts and media, ordered by name (see the module docstring)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"--input {folder}: no such folder")
    files: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file():
            files.setdefault(path.stem, []).append(path)
    conversations, unused = [], 0
    for stem, paths in files.items():
        transcripts = {path.suffix.lower(): path for path in paths if path.suffix.lower() in TRANSCRIPT_SUFFIXES}
        if not transcripts:
            unused += any(path.suffix.lower() in AUDIO_SUFFIXES + VIDEO_SUFFIXES for path in paths)
            continue
        transcript = transcripts.get(".stm", transcripts.get(".rttm"))
        if len(transcripts) == 2:
            logger.info("%s: %s is read, %s ignored (the STM has the words)", stem, transcript.name, transcripts[".rttm"].name)
        conversations.append(transcript_conversation(transcript, _media_of(transcript, files)))
    if not conversations:
        raise ValueError(
            f"--input {folder} holds no .stm or .rttm transcript (expected NAME.stm or NAME.rttm beside NAME.wav or "
            "NAME.mp4; or give a JSONL file)"
        )
    if unused:
        logger.warning("%s: %d media file(s) without a NAME.stm/NAME.rttm transcript skipped", folder, unused)
    return conversations


__all__ = [
    "AUDIO_SUFFIXES",
    "TRANSCRIPT_SUFFIXES",
    "VIDEO_SUFFIXES",
    "TimedTurn",
    "media_duration",
    "read_rttm",
    "read_stm",
    "read_transcript_folder",
    "transcript_conversation",
]
