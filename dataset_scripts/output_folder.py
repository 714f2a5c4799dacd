"""The output folder of `emoje-prepare`: checked, locked, and replaced atomically.

- **Checked**: an output that is a file, or a non-empty folder that is not a prepared dataset (or a prepared
  dataset holding files of its own), is refused with an [`OutputFolderError`] naming it; nothing is overwritten.
- **Locked**: the writer holds an exclusive `flock` on `.<name>.lock` beside the folder for the whole run, so a
  second writer into the same folder fails at once with a message naming the lock (it does not wait: its result
  would silently replace the first one's). The kernel releases the lock when the process ends, even on SIGKILL.
  (`fcntl.flock`: POSIX systems; on a network file system it is only as good as that system's flock.)
- **Atomic** (`files.write_folder_atomically`): the new dataset is written to a hidden sibling
  (`.<name>.partial-*`); only when it is complete is the previous folder moved aside (`.<name>.previous-*`), the
  new one renamed into place and the previous one deleted. A run killed at any point leaves the previous dataset
  loadable; the next writer (under the lock) deletes unfinished `partial` folders and, if a kill fell between the
  two renames, puts the previous dataset back (`files.recover_folder_writes`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .files import exclusive_lock, recover_folder_writes

DATASET_DICT_FILE = "dataset_dict.json"  # written by `DatasetDict.save_to_disk`
METADATA_FILE = "emoje_meta.json"  # the emoje metadata beside it (`schema.save_prepared`)
_held_locks: dict[Path, int] = {}  # output folder -> nesting depth of `output_lock` in this process


class OutputFolderError(ValueError):
    """An output folder that cannot be (over)written; the message names it and says why."""


def _lock_file(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


def is_prepared_dataset(path: str | os.PathLike) -> bool:
    """True when `path` is a folder written by `save_prepared` (`dataset_dict.json` and `emoje_meta.json`)."""
    path = Path(path)
    return (path / DATASET_DICT_FILE).is_file() and (path / METADATA_FILE).is_file()


def _dataset_entries(path: Path) -> set[str]:
    """Names a prepared dataset folder may hold: its two JSON files and its split folders."""
    try:
        splits = json.loads((path / DATASET_DICT_FILE).read_text()).get("splits", [])
    except (OSError, ValueError, AttributeError):
        splits = []
    return {DATASET_DICT_FILE, METADATA_FILE, *map(str, splits)}


def _listing(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(sorted(names)[:limit])
    return shown + (f", ... ({len(names)} entries)" if len(names) > limit else "")


def check_output_folder(path: str | os.PathLike) -> None:
    """Raise [`OutputFolderError`] unless `path` is absent, an empty folder, or a prepared dataset (replaced whole)."""
    path = Path(path)
    if path.is_file() or (path.exists() and not path.is_dir()):
        raise OutputFolderError(f"{path} is a file, not a folder (a prepared dataset is saved as a folder)")
    if not path.is_dir():
        return
    entries = [entry.name for entry in path.iterdir()]
    if not entries:
        return
    if not is_prepared_dataset(path):
        raise OutputFolderError(
            f"{path} is a non-empty folder that is not a prepared dataset (it holds {_listing(entries)}): choose a new "
            "or empty folder, or remove it first"
        )
    foreign = [name for name in entries if name not in _dataset_entries(path)]
    if foreign:
        raise OutputFolderError(
            f"{path} is a prepared dataset that also holds other files ({_listing(foreign)}), which replacing it "
            "would delete: move them out first"
        )


@contextmanager
def output_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive write lock of output folder `path` (re-entrant within one process).

    On entry: takes the lock (a second writer gets an [`OutputFolderError`] naming the lock file and its holder's
    pid), cleans up interrupted saves, then checks the folder with [`check_output_folder`]. Yields the path.
    """
    path = Path(path).expanduser().resolve()  # through symlinks: the real folder is replaced and locked
    if path in _held_locks:
        _held_locks[path] += 1
        try:
            yield path
        finally:
            _held_locks[path] -= 1
        return
    if path.is_file():  # before creating anything beside it
        check_output_folder(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(_lock_file(path), str(path), error=OutputFolderError):
        _held_locks[path] = 1
        try:
            recover_folder_writes(path)
            check_output_folder(path)
            yield path
        finally:
            del _held_locks[path]


__all__ = [
    "DATASET_DICT_FILE",
    "METADATA_FILE",
    "OutputFolderError",
    "check_output_folder",
    "is_prepared_dataset",
    "output_lock",
]
