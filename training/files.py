"""Writing files so that a kill never leaves a half-written one behind.

Example:
    >>> import tempfile, pathlib
    >>> from training.files import write_text_atomic
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "a.json"
    >>> write_text_atomic(path, "{}\\n").read_text()
    '{}\\n'
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path`` (old content or new, never half)."""
    path = Path(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return path


__all__ = ["write_text_atomic"]
