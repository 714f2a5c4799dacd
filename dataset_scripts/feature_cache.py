"""The feature cache: content-keyed per-utterance features in atomically written shards, and the keys it uses.

Layout: `cache_dir/<builder fingerprint>/<modality>-<extractor key>/shard-*.npz`. The builder fingerprint names the
local corpus copy, the extractor key ([`extractor_key`]) hashes the extractor's name and config, and each row is
looked up by a content key: the text itself ([`text_key`]), or a media file's path, size, mtime and segment
([`file_key`]). So a second run does no work, all folds of one corpus share the cache, and identical texts are
encoded once. A [`FeatureCache`] entry is a float32 array (T, D) or a failure reason (str), so an undecodable clip
is reported, not retried. Shards are written whole by [`ShardWriter`] (every `shard_rows` rows or `shard_seconds`
seconds) with an atomic rename; a shard that cannot be read is set aside as `shard-*.npz.damaged` and only its rows
are extracted again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
import uuid
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .files import open_atomic

logger = logging.getLogger(__name__)

DAMAGED_SUFFIX = ".damaged"  # a shard that cannot be read is renamed `shard-*.npz.damaged`
# what reading a truncated, corrupted or foreign .npz raises (zip structure, CRC, deflate stream, npy header, keys)
_DAMAGED_SHARD_ERRORS = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


def default_cache_dir() -> Path:
    """`$EMOJE_CACHE_DIR`, else `$XDG_CACHE_HOME/emoje/features` (`~/.cache/emoje/features`)."""
    if os.environ.get("EMOJE_CACHE_DIR"):
        return Path(os.environ["EMOJE_CACHE_DIR"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser()
    return base / "emoje" / "features"


# ------------------------------------------------------------------------------------------------------ keys


def content_hash(payload: Any) -> str:
    """The SHA-1 hex digest of a string, or of any other value as sorted JSON."""
    data = payload if isinstance(payload, str) else json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha1(data.encode("utf-8")).hexdigest()


def text_key(text: str) -> str:
    """The cache key of a text (the same text, the same key, whichever row or corpus it comes from)."""
    return content_hash("text\0" + text)


def file_key(path: str, *segment: Any) -> str:
    """The cache key of a media file (path, size, mtime) and the `segment` cut from it; a missing file has one too."""
    try:
        stat = os.stat(path)
    except OSError:
        return content_hash(["missing", path, *segment])
    return content_hash([os.path.abspath(path), stat.st_size, stat.st_mtime_ns, *segment])


def _config_of(obj: Any) -> Any:
    for attribute in ("to_dict", "to_diff_dict"):
        method = getattr(obj, attribute, None)
        if callable(method):
            try:
                return method()
            except Exception:  # noqa: BLE001 - a config that does not serialise just leaves the key coarser
                pass
    return None


def extractor_key(obj: Any, **extra: Any) -> tuple[str, dict[str, Any]]:
    """`(short hash, description)` identifying an extractor for the cache.

    Uses, in order: a `cache_key` attribute, the model's `name_or_path` (or `config._name_or_path`), the
    extractor's `to_dict()` config, and the class name; plus `extra` (e.g. privacy) and the output `dim`.
    """
    description: dict[str, Any] = {"class": f"{type(obj).__module__}.{type(obj).__qualname__}", **extra}
    key = getattr(obj, "cache_key", None)
    if isinstance(key, str):
        description["cache_key"] = key
    else:
        name = (
            getattr(obj, "model_name_or_path", None)
            or getattr(obj, "name_or_path", None)
            or getattr(getattr(obj, "config", None), "_name_or_path", None)
        )
        if name:
            description["name_or_path"] = str(name)
        for attribute in ("max_length", "pooling"):  # settings that change a text encoder's output
            value = getattr(obj, attribute, None)
            if isinstance(value, (int, str)):
                description[attribute] = value
        config = _config_of(obj)
        if config is not None:
            description["config"] = config
    dim = getattr(obj, "dim", None)
    if isinstance(dim, int):
        description["dim"] = dim
    return content_hash(description)[:16], json.loads(json.dumps(description, default=str))


# ----------------------------------------------------------------------------------------------------- cache


class FeatureCache:
    """Content-keyed store of per-utterance features: a folder of atomically written `.npz` shards.

    An entry is a float32 array (T, D) or a failure reason (str).

    Example:
        >>> import tempfile, numpy as np
        >>> cache = FeatureCache(tempfile.mkdtemp())
        >>> shard = cache.write({"k1": np.ones((1, 3), np.float32), "k2": "cannot decode: empty file"})
        >>> entries = FeatureCache(cache.root).load()
        >>> entries["k1"].shape, entries["k2"]
        ((1, 3), 'cannot decode: empty file')
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def shards(self) -> list[Path]:
        return sorted(self.root.glob("shard-*.npz")) if self.root.is_dir() else []

    def load(self) -> dict[str, np.ndarray | str]:
        """All entries of all shards; a damaged shard is set aside ([`set_aside`]) and costs only its rows."""
        entries: dict[str, np.ndarray | str] = {}
        for shard in self.shards():
            try:
                entries.update(self.read_shard(shard))
            except _DAMAGED_SHARD_ERRORS as error:
                self.set_aside(shard, error)
        return entries

    @staticmethod
    def read_shard(shard: Path) -> dict[str, np.ndarray | str]:
        """The entries of one shard, read whole (a shard that fails anywhere contributes nothing)."""
        entries: dict[str, np.ndarray | str] = {}
        with np.load(shard, allow_pickle=False) as data:
            keys, offsets, values = data["keys"], data["offsets"], data["values"]
            if values.ndim != 2 or offsets.shape != (len(keys) + 1,) or offsets[-1] != values.shape[0]:
                raise ValueError(f"inconsistent arrays: {len(keys)} keys, offsets {offsets.shape}, values {values.shape}")
            for index, key in enumerate(keys.tolist()):
                entries[key] = values[offsets[index] : offsets[index + 1]]
            for key, reason in zip(data["failed_keys"].tolist(), data["failed_reasons"].tolist(), strict=True):
                entries[key] = str(reason)
        return entries

    @staticmethod
    def set_aside(shard: Path, error: BaseException) -> Path:
        """Rename a damaged shard to `<name>.damaged` (kept for inspection, no longer read) and warn, naming it."""
        target = shard.with_name(shard.name + DAMAGED_SUFFIX)
        if target.exists():  # never replace an earlier damaged copy
            target = shard.with_name(f"{shard.name}{DAMAGED_SUFFIX}-{time.time_ns()}")
        try:
            os.replace(shard, target)
        except OSError as rename_error:
            target = shard
            logger.warning("could not set aside the damaged shard %s (%s)", shard, rename_error)
        logger.warning(
            "damaged feature cache shard %s (%s: %s): set aside as %s; its rows will be extracted again",
            shard,
            type(error).__name__,
            error,
            target.name,
        )
        return target

    def write(self, entries: dict[str, np.ndarray | str]) -> Path | None:
        """Write `entries` as one new shard (atomic: `files.open_atomic`). Returns the shard path."""
        if not entries:
            return None
        self.root.mkdir(parents=True, exist_ok=True)
        ok = [(k, v) for k, v in entries.items() if not isinstance(v, str)]
        failed = [(k, v) for k, v in entries.items() if isinstance(v, str)]
        dim = ok[0][1].shape[1] if ok else 0
        offsets = np.zeros(len(ok) + 1, dtype=np.int64)
        for index, (_, array) in enumerate(ok):
            offsets[index + 1] = offsets[index] + array.shape[0]
        values = (
            np.concatenate([a for _, a in ok], axis=0).astype(np.float32) if ok else np.zeros((0, dim), np.float32)
        )
        arrays = {
            "keys": np.array([k for k, _ in ok], dtype=str),
            "offsets": offsets,
            "values": values,
            "failed_keys": np.array([k for k, _ in failed], dtype=str),
            "failed_reasons": np.array([v for _, v in failed], dtype=str),
        }
        # unique across the processes and machines that share a cache: time, host, pid and a random part
        name = f"shard-{time.time_ns():020d}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.npz"
        with open_atomic(self.root / name) as stream:
            np.savez(stream, **arrays)
        return self.root / name


class ShardWriter:
    """Buffers finished entries and flushes them to a [`FeatureCache`] by row count or elapsed time."""

    def __init__(self, cache: FeatureCache, entries: dict | None, shard_rows: int, shard_seconds: float):
        self.cache, self.entries = cache, entries
        self.shard_rows, self.shard_seconds = max(1, shard_rows), shard_seconds
        self.pending: dict[str, np.ndarray | str] = {}
        self.last = time.monotonic()

    def add(self, key: str, value: np.ndarray | str) -> None:
        self.pending[key] = value
        if self.entries is not None:
            self.entries[key] = value
        if len(self.pending) >= self.shard_rows or time.monotonic() - self.last >= self.shard_seconds:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.cache.write(self.pending)
            self.pending = {}
        self.last = time.monotonic()


__all__ = [
    "DAMAGED_SUFFIX",
    "FeatureCache",
    "ShardWriter",
    "content_hash",
    "default_cache_dir",
    "extractor_key",
    "file_key",
    "text_key",
]
