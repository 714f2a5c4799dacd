"""Append-only JSONL files that survive a kill: one record per line, written whole, resumable by id.

A record is appended with a single `write` of the full line followed by flush + fsync, so after a kill the file
holds complete lines plus at most one partial last line; `finished_ids` (run before appending again) cuts that
partial tail off and returns the ids of the complete lines, which a resumed run skips.

Example:
    >>> import tempfile, pathlib
    >>> from training.inference.jsonl_output import append_record, finished_ids
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
    >>> with open(path, "ab") as stream:
    ...     append_record(stream, {"id": "d1", "turns": []})
    >>> _ = open(path, "ab").write(b'{"id": "d2", "tu')  # a kill in the middle of a line
    >>> finished_ids(path), path.read_text()
    ({'d1'}, '{"id": "d1", "turns": []}\\n')
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

logger = logging.getLogger(__name__)


def encode_record(record: Mapping[str, Any]) -> bytes:
    """One JSONL line (UTF-8, ending in a newline) for `record`."""
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def append_record(stream: BinaryIO, record: Mapping[str, Any] | bytes) -> None:
    """Append one whole line (a record or an already encoded line) and force it to disk."""
    stream.write(record if isinstance(record, bytes) else encode_record(record))
    stream.flush()
    os.fsync(stream.fileno())


def read_records(path: str | os.PathLike) -> dict[str, bytes]:
    """`{id: line}` of the complete lines of `path` (after `repair_tail`); `{}` when it does not exist.

    A complete line that is not a JSON object with an `id` means the file is not one of ours: a ValueError naming
    the file and the line number.
    """
    path = Path(path)
    if not path.exists():
        return {}
    repair_tail(path)
    records: dict[str, bytes] = {}
    with open(path, "rb") as stream:
        for number, line in enumerate(stream, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path} line {number}: not a JSON line ({err.msg}); is this a predictions file?") from None
            if not isinstance(record, dict) or "id" not in record:
                raise ValueError(f"{path} line {number}: not a prediction record (a JSON object with an 'id')")
            records[str(record["id"])] = line
    return records


def finished_ids(path: str | os.PathLike) -> set[str]:
    """Ids of the complete records of `path` (its partial last line, if any, is removed first)."""
    return set(read_records(path))


def repair_tail(path: str | os.PathLike) -> int:
    """Cut a partial last line (bytes after the last newline: a write cut short) off `path`; the bytes removed."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb+") as stream:
        keep = _end_of_last_line(stream, size)
        if keep < size:
            stream.truncate(keep)
            stream.flush()
            os.fsync(stream.fileno())
            logger.warning("%s: removed a partial last line (%d bytes) left by an interrupted run", path, size - keep)
    return size - keep


def _end_of_last_line(stream: BinaryIO, size: int, block: int = 1 << 16) -> int:
    """Offset just after the last newline of the file (0 when it has none)."""
    end = size
    while end > 0:
        start = max(0, end - block)
        stream.seek(start)
        index = stream.read(end - start).rfind(b"\n")
        if index >= 0:
            return start + index + 1
        end = start
    return 0


def merge_parts(output: str | os.PathLike, parts: Iterable[str | os.PathLike], order: Iterable[str]) -> int:
    """Append the records of the part files to `output` in the order of the ids `order` (skipping ids `output`
    already has), then delete the parts. Returns how many records were appended."""
    parts = [Path(part) for part in parts]
    pending: dict[str, bytes] = {}
    for part in parts:
        pending.update(read_records(part))
    done = finished_ids(output)
    appended = 0
    with open(output, "ab") as stream:
        for identifier in order:
            line = pending.get(identifier)
            if line is not None and identifier not in done:
                append_record(stream, line)
                done.add(identifier)
                appended += 1
    for part in parts:
        part.unlink()
    return appended


__all__ = ["append_record", "encode_record", "finished_ids", "merge_parts", "read_records", "repair_tail"]
