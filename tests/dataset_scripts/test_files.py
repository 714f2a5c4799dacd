"""dataset_scripts.files: the one atomic write (files and folders), its permissions and what a failure leaves."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from dataset_scripts.files import (
    is_temporary,
    open_atomic,
    recover_folder_writes,
    temporary_sibling,
    write_bytes_atomic,
    write_folder_atomically,
    write_text_atomic,
)


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_written_whole_with_the_usual_permissions(tmp_path):
    path = write_text_atomic(tmp_path / "run.json", '{"a": 1}\n')
    assert path.read_text() == '{"a": 1}\n'
    assert _mode(path) == 0o666 & ~_umask()  # not mkstemp's 0o600
    write_bytes_atomic(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01" and _mode(path) == 0o666 & ~_umask()
    assert write_text_atomic(tmp_path / "é.txt", "ü", encoding="latin-1").read_bytes() == "ü".encode("latin-1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "é.txt"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_text_atomic(tmp_path / "shard.npz", "old")
    with pytest.raises(RuntimeError, match="disk full"):
        with open_atomic(target) as stream:
            np.savez(stream, values=np.ones(3))
            assert is_temporary(stream.name) and os.path.dirname(stream.name) == str(tmp_path)
            raise RuntimeError("disk full")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["shard.npz"]
    with open_atomic(target) as stream:
        np.savez(stream, values=np.arange(3))
    assert np.load(target)["values"].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="mode must be 'wb' or 'w'"):
        with open_atomic(target, "ab"):
            pass


def test_temporary_names_are_hidden_unique_and_never_the_targets_pattern(tmp_path):
    first, second = temporary_sibling(tmp_path / "shard-1.npz"), temporary_sibling(tmp_path / "shard-1.npz")
    assert first != second and first.parent == tmp_path and is_temporary(first)
    assert first.name.startswith(".shard-1.npz.") and not first.match("shard-*.npz")
    assert not is_temporary(tmp_path / "shard-1.npz") and not is_temporary(tmp_path / ".lock")


def test_folder_swapped_in_whole_and_kept_on_failure(tmp_path):
    target = tmp_path / "model"
    write_folder_atomically(target, lambda folder: (folder / "a.txt").write_text("one"))
    assert (target / "a.txt").read_text() == "one" and _mode(target) == 0o777 & ~_umask()

    def failing(folder):
        (folder / "a.txt").write_text("half")
        raise OSError("killed")

    with pytest.raises(OSError, match="killed"):
        write_folder_atomically(target, failing)
    assert (target / "a.txt").read_text() == "one" and [p.name for p in tmp_path.iterdir()] == ["model"]
    write_folder_atomically(target, lambda folder: (folder / "b.txt").write_text("two"))
    assert [p.name for p in target.iterdir()] == ["b.txt"] and [p.name for p in tmp_path.iterdir()] == ["model"]


def test_recovery_after_a_killed_folder_write(tmp_path):
    target = tmp_path / "prepared"
    (tmp_path / ".prepared.partial-1-aa").mkdir()  # killed while writing
    previous = tmp_path / ".prepared.previous-1-bb"  # killed between the two renames: the old folder is aside
    previous.mkdir()
    (previous / "x").write_text("old")
    recover_folder_writes(target)
    assert (target / "x").read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["prepared"]
    (tmp_path / ".prepared.previous-2-cc").mkdir()  # the new one is in place: the superseded copy goes
    recover_folder_writes(target)
    assert [p.name for p in tmp_path.iterdir()] == ["prepared"]
    recover_folder_writes(tmp_path / "absent" / "folder")  # nothing to do, no error
