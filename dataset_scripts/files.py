"""Writing files and folders so that a kill never leaves a half-written one in place.

One rule everywhere: write to a hidden temporary sibling, make it durable (`fsync`), then rename it over the target
(a rename within one folder is atomic), so a reader sees the old content or the new one, never a part. Files get
the usual permissions (`0o666` less the umask, as `open` gives; not `tempfile.mkstemp`'s `0o600`), folders too.

- [`open_atomic`]: a stream onto the temporary file; on success it is flushed, fsynced and renamed over `path`, on
  an exception it is deleted and `path` is untouched (streamed downloads, `numpy.savez`).
- [`write_bytes_atomic`], [`write_text_atomic`]: the same for content held in memory.
- [`write_folder_atomically`]: a whole folder, written by a callback into a hidden sibling `.<name>.partial-*`,
  then swapped in for the previous one (moved aside to `.<name>.previous-*`, then deleted);
  [`recover_folder_writes`] tidies up after a writer killed in the middle (call it where no writer can run, e.g.
  under a lock).
- [`exclusive_lock`]: an exclusive `flock` on a lock file for the life of a block; a second holder fails at once
  with a message naming what is locked, the lock file and the holder's pid.

A temporary file is named `.<name>.<pid>-<random>.tmp` beside its target ([`is_temporary`]): hidden, and never
matched by the target's own pattern (`shard-*.npz`, `*.csv`).

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> write_text_atomic(folder / "a.json", "{}\\n").read_text()
    '{}\\n'
    >>> with open_atomic(folder / "b.bin") as stream:
    ...     _ = stream.write(b"abc")
    >>> (folder / "b.bin").read_bytes(), sorted(p.name for p in folder.iterdir())
    (b'abc', ['a.json', 'b.bin'])
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

TEMPORARY_SUFFIX = ".tmp"


def _unique() -> str:
    """A name part unique across processes (and machines sharing a folder): pid and a random part."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:8]}"


def temporary_sibling(path: str | os.PathLike) -> Path:
    """A fresh name for the temporary file of `path`: `.<name>.<pid>-<random>.tmp` in the same folder."""
    path = Path(path)
    return path.parent / f".{path.name}.{_unique()}{TEMPORARY_SUFFIX}"


def is_temporary(path: str | os.PathLike) -> bool:
    """True for the name of a temporary file of this module (left behind only by a killed writer)."""
    name = Path(path).name
    return name.startswith(".") and name.endswith(TEMPORARY_SUFFIX)


@contextmanager
def open_atomic(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside `path` for writing (`mode` "wb" or "w"); rename it over `path` on success.

    Inside the block, `stream.name` is the temporary file (to check what was written before it replaces `path`).
    An exception in the block deletes the temporary file and leaves `path` as it was.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"open_atomic writes a whole file: mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    temporary = temporary_sibling(path)
    exclusive = "xb" if mode == "wb" else "x"
    stream = open(temporary, exclusive, encoding=encoding if mode == "w" else None)  # noqa: SIM115 - closed below
    try:
        with stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write `data` to `path` atomically (see the module docstring); returns `path`."""
    with open_atomic(path, "wb") as stream:
        stream.write(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (see the module docstring); returns `path`.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> write_text_atomic(path, "one").read_text(), write_text_atomic(path, "two").read_text()
        ('one', 'two')
    """
    with open_atomic(path, "w", encoding=encoding) as stream:
        stream.write(text)
    return Path(path)


# ------------------------------------------------------------------------------------------------- folders


def _sibling_prefix(path: Path, role: str) -> str:
    return f".{path.name}.{role}-"


def _fresh_sibling(path: Path, role: str) -> Path:
    """A new unique hidden name beside `path`, tagged with `role` (`partial`, `previous`)."""
    return path.parent / f"{_sibling_prefix(path, role)}{_unique()}"


def remove_entry(entry: Path) -> None:
    """Delete a file or folder (a symlink is unlinked: the folder it points to is not ours to delete)."""
    if entry.is_symlink() or entry.is_file():
        entry.unlink()
    else:
        shutil.rmtree(entry, ignore_errors=True)


def write_folder_atomically(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call `write(folder)` on a fresh hidden sibling of `path`, then swap it in for `path` (see the module doc).

    If `write` fails, the sibling is removed and `path` is untouched. Two writers into one `path` must be kept
    apart by the caller (e.g. `output_folder.output_lock`).

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out"
        >>> write_folder_atomically(target, lambda folder: (folder / "x.txt").write_text("new"))
        >>> (target / "x.txt").read_text()
        'new'
    """
    path = Path(path).expanduser().resolve()  # through symlinks: the real folder is replaced
    staging = _fresh_sibling(path, "partial")
    staging.mkdir()  # the usual permissions (umask), unlike tempfile.mkdtemp's 0700
    try:
        write(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = None
    if path.exists() or path.is_symlink():
        previous = _fresh_sibling(path, "previous")
        os.rename(path, previous)
    os.rename(staging, path)
    if previous is not None:
        remove_entry(previous)


def recover_folder_writes(path: str | os.PathLike) -> None:
    """Clean up after [`write_folder_atomically`] calls into `path` that were killed (none may be running).

    Unfinished `partial` folders are deleted; a `previous` folder is deleted when the new one is in place, and put
    back into place when the kill fell between the two renames.
    """
    path = Path(path)
    if not path.parent.is_dir():
        return
    partial, previous = _sibling_prefix(path, "partial"), _sibling_prefix(path, "previous")
    for entry in sorted(path.parent.iterdir()):
        if entry.name.startswith(previous):
            if path.exists():  # the new folder was renamed in: this is the superseded one
                remove_entry(entry)
            else:  # killed between the two renames: the previous folder goes back into place
                os.rename(entry, path)
                logger.warning("restored the previous dataset %s from %s (a save was interrupted)", path, entry)
        elif entry.name.startswith(partial):
            logger.warning("deleting %s: the unfinished output of an interrupted save into %s", entry, path)
            remove_entry(entry)


@contextmanager
def exclusive_lock(
    lock_path: str | os.PathLike, what: str, error: type[Exception] = ValueError
) -> Iterator[Path]:
    """Hold an exclusive `flock` on `lock_path` (created if needed, holding the holder's pid) during the block.

    A second holder does not wait: ``error`` (a ValueError by default) says `what` is locked, naming the lock file and
    the holder's pid. The kernel releases the lock when the process ends, even on SIGKILL.

    Example:
        >>> import tempfile, pathlib
        >>> lock = pathlib.Path(tempfile.mkdtemp()) / ".out.jsonl.lock"
        >>> with exclusive_lock(lock, "out.jsonl"):
        ...     try:
        ...         with exclusive_lock(lock, "out.jsonl"):
        ...             pass
        ...     except ValueError as err:
        ...         print(str(err).split(" (")[0])
        out.jsonl is being written by another process
    """
    lock_path = Path(lock_path)
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            raise error(
                f"{what} is being written by another process (pid {holder} holds the lock {lock_path}); wait for it "
                "to finish or choose another output"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        try:
            yield lock_path
        finally:
            os.ftruncate(descriptor, 0)
    finally:
        os.close(descriptor)  # releases the flock


__all__ = [
    "TEMPORARY_SUFFIX",
    "exclusive_lock",
    "is_temporary",
    "open_atomic",
    "recover_folder_writes",
    "remove_entry",
    "temporary_sibling",
    "write_bytes_atomic",
    "write_folder_atomically",
    "write_text_atomic",
]
