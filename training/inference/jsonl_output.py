"""Append-only JSONL files that survive a kill: one record per line, written whole, resumable by id.

A record is appended with a single `write` of the full line followed by flush + fsync, so after a kill the file
holds complete lines plus at most one partial last line; `finished_ids` (run before appending again) checks that
every complete line is a prediction record and the partial tail the start of one (else the file is not ours: an
error, and nothing is changed), cuts that tail off and returns the ids of the complete lines, which a resumed run
skips.

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

RECORD_START = b'{"id": '  # how every line `encode_record` writes begins


def encode_record(record: Mapping[str, Any]) -> bytes:
    """One JSONL line (UTF-8, ending in a newline) for `record`, its `id` first."""
    record = {"id": record["id"], **{key: value for key, value in record.items() if key != "id"}}
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def append_record(stream: BinaryIO, record: Mapping[str, Any] | bytes) -> None:
    """Append one whole line (a record or an already encoded line) and force it to disk.

    A write that fails (a full disk, a file made read-only) is undone: the file is cut back to where the line began,
    so no torn line is left, and the OSError is raised naming the file.
    """
    line = record if isinstance(record, bytes) else encode_record(record)
    stream.flush()
    descriptor = stream.fileno()
    start = os.lseek(descriptor, 0, os.SEEK_END)
    try:
        view = memoryview(line)
        while view:  # straight to the file (no buffer left to flush later)
            view = view[os.write(descriptor, view):]
        os.fsync(descriptor)
    except OSError as err:
        try:
            os.ftruncate(descriptor, start)
        except OSError:
            pass
        raise OSError(err.errno, f"cannot write to {stream.name}: {err.strerror or err}") from None


def scan_records(path: str | os.PathLike) -> tuple[dict[str, bytes], int]:
    """`({id: line}, tail)`: the complete lines of the predictions file `path` and the size of its partial last
    line (0 when it ends with a newline); `({}, 0)` when it does not exist. Reads only: nothing is changed.

    A complete line that is not a prediction record (a JSON object with an `id` and a list of `turns`), or a partial
    last line that is not the start of one, means the file is not one of ours: a ValueError naming the file and the
    line, and the file is left as it is.
    """
    path = Path(path)
    if not path.exists():
        return {}, 0
    size = path.stat().st_size
    records: dict[str, bytes] = {}
    with open(path, "rb") as stream:
        complete = _end_of_last_line(stream, size)
        stream.seek(0)
        number = 0
        while stream.tell() < complete:
            number += 1
            line = stream.readline()
            where = f"{path} line {number}"
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as err:
                problem = err.msg if isinstance(err, json.JSONDecodeError) else "not UTF-8"
                raise ValueError(f"{where}: not a JSON line ({problem}); this is not a predictions file") from None
            if not isinstance(record, dict) or "id" not in record or not isinstance(record.get("turns"), list):
                raise ValueError(
                    f"{where}: not a prediction record (a JSON object with an 'id' and its 'turns'); this is not a "
                    "predictions file"
                )
            records[str(record["id"])] = line
        tail = stream.read(min(size - complete, len(RECORD_START)))
    if size > complete and not RECORD_START.startswith(tail[: len(RECORD_START)]):
        raise ValueError(
            f"{path} line {number + 1}: its last line is neither complete nor the start of a prediction record; "
            "this is not a predictions file"
        )
    return records, size - complete


def read_records(path: str | os.PathLike) -> dict[str, bytes]:
    """`{id: line}` of the complete lines of `path` (checked by `scan_records`, then its partial last line, the
    start of a record cut short by a kill, is removed); `{}` when it does not exist."""
    records, tail = scan_records(path)
    if tail:
        repair_tail(path)
    return records


def finished_ids(path: str | os.PathLike) -> set[str]:
    """Ids of the complete records of `path` (checked first; its partial last line, if any, is then removed)."""
    return set(read_records(path))


def repair_tail(path: str | os.PathLike) -> int:
    """Cut a partial last line (bytes after the last newline: a write cut short) off `path`; the bytes removed.

    Only for a file known to be a predictions file (`scan_records` checks it): call `read_records` instead.
    """
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


__all__ = [
    "RECORD_START",
    "append_record",
    "encode_record",
    "finished_ids",
    "merge_parts",
    "read_records",
    "repair_tail",
    "scan_records",
]
