"""The stored frames format: a `{m}_features` column is Arrow `List(List(float32))`, one (T, D) array per row.

The one owner of that format (ARCHITECTURE.md section 3): writers (`features.extract_features`, the synthetic
corpora, feature tables) build columns with `frames_column` / `frames_to_arrow`; readers (`training.train.collator`)
read them back with `read_frames`. An absent modality is a row with no frame (`[]`; a null row reads the same).

Example:
    >>> import numpy as np, pyarrow as pa
    >>> from dataset_scripts.feature_frames import frames_column, read_frames
    >>> column = frames_column([np.ones((2, 3)), None], dim=3)
    >>> column.to_pylist()
    [[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]], []]
    >>> frames, offsets, dim = read_frames(pa.table({"audio_features": column}), "audio_features", "train")
    >>> frames.shape, offsets.tolist(), dim
    ((2, 3), [0, 2, 2], 3)
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CHUNK_ROWS = 2048  # rows per Arrow chunk of a column written by `frames_column` (keeps int32 list offsets small)
FRAMES_TYPE = pa.list_(pa.list_(pa.float32()))


def frames_to_arrow(frames: Sequence[np.ndarray], dim: int) -> pa.Array:
    """``List(List(float32))`` Arrow array from per-row ``(T, dim)`` arrays (T = 0 for an absent modality).

    Example:
        >>> import numpy as np
        >>> frames_to_arrow([np.ones((2, 3)), np.zeros((0, 3))], 3).to_pylist()
        [[[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]], []]
    """
    if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    for index, array in enumerate(frames):
        if np.ndim(array) != 2 or np.shape(array)[1] != dim:
            raise ValueError(f"frames[{index}] must have shape (T, {dim}), got {np.shape(array)}")
    counts = np.array([len(array) for array in frames], dtype=np.int32)
    row_offsets = np.zeros(len(frames) + 1, dtype=np.int32)
    np.cumsum(counts, out=row_offsets[1:])
    values = np.zeros((0, dim), np.float32)
    if len(frames):
        values = np.concatenate([np.asarray(array, np.float32) for array in frames])
    frame_offsets = np.arange(0, (len(values) + 1) * dim, dim, dtype=np.int32)
    inner = pa.ListArray.from_arrays(pa.array(frame_offsets), pa.array(values.reshape(-1)))
    return pa.ListArray.from_arrays(pa.array(row_offsets), inner)


def frames_column(frames: Sequence[np.ndarray | None], dim: int, chunk_rows: int = CHUNK_ROWS) -> pa.ChunkedArray:
    """A whole column: `frames_to_arrow` in chunks of `chunk_rows` rows; a None row is an absent modality."""
    empty = np.zeros((0, dim), np.float32)
    rows = [empty if array is None else array for array in frames]
    chunks = [frames_to_arrow(rows[i : i + chunk_rows], dim) for i in range(0, max(len(rows), 1), chunk_rows)]
    return pa.chunked_array(chunks, type=FRAMES_TYPE)


def read_frames(table: pa.Table, column: str, where: str) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Read a frames column as ``(frames (F, D) float32, row offsets (N + 1,), D)``; D is None without any frame.

    A row whose frames differ in size is a ValueError naming `where`, the column and the row.
    """
    chunked = table.column(column)
    array = chunked.combine_chunks() if chunked.num_chunks != 1 else chunked.chunk(0)
    # A null row is an absent modality, like [] (list_flatten skips nulls, so offsets stay consistent).
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    frames = pc.list_flatten(array)
    if len(frames) == 0:
        return np.zeros((0, 0), dtype=np.float32), offsets, None
    frame_sizes = pc.list_value_length(frames).to_numpy(zero_copy_only=False)
    dim = int(frame_sizes[0])
    if dim == 0 or (frame_sizes != dim).any():
        bad = int(np.flatnonzero(frame_sizes != dim)[0]) if dim else 0
        row = int(np.searchsorted(offsets, bad, side="right") - 1)
        raise ValueError(
            f"{where}: column '{column}' row {row} has a frame of size {int(frame_sizes[bad])}, "
            f"expected every frame to have size {dim}"
        )
    values = pc.list_flatten(frames).to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(values, dtype=np.float32).reshape(-1, dim), offsets, dim


__all__ = ["CHUNK_ROWS", "FRAMES_TYPE", "frames_column", "frames_to_arrow", "read_frames"]
