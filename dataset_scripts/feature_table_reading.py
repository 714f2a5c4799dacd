"""Reading a feature table: the table file, its cells as text or arrays, and per-utterance array files.

Every reader here either returns clean values or raises a ValueError naming the file (and, through `where`, the
row and column) at fault: [`read_table`] (CSV / TSV cells as text, JSONL, parquet), [`as_text`], [`FrameChecker`]
(a cell or file -> a (T, D) float32 array, dims kept consistent per modality, NaN/inf refused) and
[`load_array_file`] (`<stem>.npy` or `.npz`). The builder is `feature_table.py`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq")


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


def load_array_file(folder: Path, stem: str, modality: str) -> tuple[np.ndarray | None, Path | None]:
    """The array of `<folder>/<stem>.npy` or `.npz` (`(None, None)` when neither exists)."""
    candidates = [folder / f"{stem}{suffix}" for suffix in (".npy", ".npz")]
    found = [path for path in candidates if path.is_file()]
    if not found:
        return None, None
    if len(found) > 1:
        raise ValueError(f"both {found[0].name} and {found[1].name} exist in {folder}; keep one")
    path = found[0]
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read {path} ({error})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            names = list(loaded.files)
            if modality in names:
                return loaded[modality], path
            if len(names) != 1:
                raise ValueError(f"{path} holds arrays {names}: keep one, or name one {modality!r}")
            return loaded[names[0]], path
    return loaded, path


__all__ = [
    "TABLE_SUFFIXES",
    "FrameChecker",
    "as_position",
    "as_text",
    "column_list",
    "is_missing",
    "load_array_file",
    "read_table",
]
