"""Reading a feature table: the table file, its cells as text or arrays, and per-utterance array files.

Every reader here either returns clean values or raises a ValueError naming the file (and, through `where`, the
row and column) at fault: [`read_table`] (CSV / TSV cells as text, JSONL, parquet), [`as_text`], [`FrameChecker`]
(a cell or file -> a (T, D) float32 array, dims kept consistent per modality, NaN/inf refused) and
[`load_array_file`] (`<stem>.npy` or `.npz`: dtype and size checked from the header, at most `MAX_ARRAY_BYTES`,
before anything is allocated; a stem leading outside its folder is refused by [`array_stem`]). The builder is `feature_table.py`.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq")
MAX_ARRAY_BYTES = 1 << 30  # one utterance's array file (1 GiB): checked from its header before it is read
MAX_HEADER_BYTES = 10_000  # an .npy header (numpy's own default limit)


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


def is_missing(value: Any) -> bool:
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
    if is_missing(value):
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


def as_position(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


@dataclass
class FrameChecker:
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
        if is_missing(value):
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


def array_stem(folder: Path, stem: str, where: str) -> Path:
    """`folder / stem` when it stays inside `folder` (no absolute stem, no `..` leading out, no NUL byte); else a
    ValueError naming the stem and the folder (a dialogue id `../outside/x` must not read files elsewhere).

    Example:
        >>> array_stem(Path("/data/audio"), "d1/0", "--arrays-dir audio=/data/audio").as_posix()
        '/data/audio/d1/0'
        >>> array_stem(Path("/data/audio"), "../secret_0", "--arrays-dir audio=/data/audio")
        Traceback (most recent call last):
        ...
        ValueError: array file stem '../secret_0' leads outside --arrays-dir audio=/data/audio; dialogue and utterance ids must name files inside it
    """
    inside = Path(os.path.normpath(folder))
    if "\0" in stem or not stem.strip():
        raise ValueError(f"array file stem {stem!r} is not a file name (in {where})")
    candidate = Path(os.path.normpath(inside / stem))
    if Path(stem).is_absolute() or candidate == inside or not candidate.is_relative_to(inside):
        raise ValueError(
            f"array file stem {stem!r} leads outside {where}; dialogue and utterance ids must name files inside it"
        )
    return candidate


def byte_size(nbytes: int) -> str:
    """`nbytes` for a message: `"512 bytes"`, `"16.0 KiB"`, `"7,450.6 GiB"`.

    Example:
        >>> byte_size(512), byte_size(16384), byte_size(8 * 10**12)
        ('512 bytes', '16.0 KiB', '7,450.6 GiB')
    """
    for unit, power in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << power:
            return f"{nbytes / (1 << power):,.1f} {unit}"
    return f"{nbytes} bytes"


def _header(stream: Any, path: Path, name: str = "") -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype an `.npy` stream declares (read from its header, nothing allocated)."""
    where = f"{path}{f' member {name!r}' if name else ''}"
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(stream, max_header_size=MAX_HEADER_BYTES)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(stream, max_header_size=MAX_HEADER_BYTES)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, EOFError, OSError, SyntaxError) as error:
        raise ValueError(f"cannot read {where}: not a complete .npy array ({error or type(error).__name__})") from None
    return tuple(int(n) for n in shape), dtype


def check_array_header(shape: tuple[int, ...], dtype: np.dtype, where: str, available: int | None = None) -> int:
    """The bytes an array of `shape` and `dtype` takes, checked before it is allocated: numbers only (no dates,
    text or objects), at most `MAX_ARRAY_BYTES`, and (`available`) no more than the file holds."""
    if dtype.kind not in "biuf":
        raise ValueError(
            f"{where}: dtype {dtype} is not numeric features; give integer or floating-point arrays"
        )
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > MAX_ARRAY_BYTES:
        raise ValueError(
            f"{where}: its header declares shape {shape} of {dtype} ({byte_size(nbytes)}); one utterance's "
            f"array may take at most {byte_size(MAX_ARRAY_BYTES)}"
        )
    if available is not None and nbytes > available:
        raise ValueError(
            f"{where}: truncated: its header declares shape {shape} of {dtype} ({nbytes} bytes) but the file "
            f"holds {available} bytes of data"
        )
    return nbytes


def _checked_load(path: Path, modality: str) -> Any:
    """The array of an `.npy` file, or of the right member of an `.npz` archive, after checking its header."""
    if path.stat().st_size == 0:
        raise ValueError(f"cannot read {path}: the file is empty (0 bytes)")
    with open(path, "rb") as stream:
        magic = stream.read(4)
    if magic.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as archive:
                members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
                names = list(members)
                if modality in members:
                    name = modality
                elif len(names) == 1:
                    name = names[0]
                else:
                    raise ValueError(f"{path} holds arrays {names}: keep one, or name one {modality!r}")
                info = members[name]
                if info.file_size > MAX_ARRAY_BYTES + MAX_HEADER_BYTES:
                    raise ValueError(
                        f"{path} member {name!r}: it declares {byte_size(info.file_size)}; one utterance's "
                        f"array may take at most {byte_size(MAX_ARRAY_BYTES)}"
                    )
                with archive.open(info) as member:
                    shape, dtype = _header(member, path, name)
                    header_size = member.tell()
                check_array_header(shape, dtype, f"{path} member {name!r}", info.file_size - header_size)
                with archive.open(info) as member:
                    return np.lib.format.read_array(member, allow_pickle=False)
        except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
            raise ValueError(f"cannot read {path}: a damaged or truncated .npz archive ({error})") from None
    with open(path, "rb") as stream:
        shape, dtype = _header(stream, path)
        check_array_header(shape, dtype, str(path), path.stat().st_size - stream.tell())
        stream.seek(0)
        try:
            return np.lib.format.read_array(stream, allow_pickle=False)
        except (ValueError, EOFError, OSError) as error:
            raise ValueError(f"cannot read {path} ({error})") from None


def load_array_file(folder: Path, stem: str, modality: str) -> tuple[np.ndarray | None, Path | None]:
    """The array of `<folder>/<stem>.npy` or `.npz` (`(None, None)` when neither exists), its header checked
    first (`check_array_header`): a ValueError names the file, the member and the limit."""
    candidates = [folder / f"{stem}{suffix}" for suffix in (".npy", ".npz")]
    found = [path for path in candidates if path.is_file()]
    if not found:
        return None, None
    if len(found) > 1:
        raise ValueError(f"both {found[0].name} and {found[1].name} exist in {folder}; keep one")
    path = found[0]
    try:
        return _checked_load(path, modality), path
    except OSError as error:
        raise ValueError(f"cannot read {path} ({error.strerror or error})") from None


__all__ = [
    "MAX_ARRAY_BYTES",
    "TABLE_SUFFIXES",
    "FrameChecker",
    "array_stem",
    "as_position",
    "as_text",
    "byte_size",
    "check_array_header",
    "column_list",
    "is_missing",
    "load_array_file",
    "read_table",
]
