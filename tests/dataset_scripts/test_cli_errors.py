"""dataset_scripts.cli_errors: the one error boundary of every command, emoje-prepare included (issue 27)."""

from __future__ import annotations

import pickle
import zipfile

import pytest

from dataset_scripts.cli import main as prepare_main
from dataset_scripts.cli_errors import error_message, is_input_error, report_errors, run_command


def test_emoje_prepare_reports_bad_input_in_one_line_and_debug_shows_the_traceback(tmp_path, capsys):
    argv = ["features", "--table", str(tmp_path / "missing.csv"), "--column", "audio=a", "--output", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exit_info:
        prepare_main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert [line for line in err.splitlines() if "error:" in line] == [
        f"emoje-prepare features: error: feature table {tmp_path / 'missing.csv'} does not exist"
    ]
    with pytest.raises(FileNotFoundError):
        prepare_main([*argv, "--debug"])


@pytest.mark.parametrize(
    "error",
    [zipfile.BadZipFile("File is not a zip file"), pickle.UnpicklingError("Weights only load failed"), EOFError(),
     MemoryError(), UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid"), PermissionError(13, "Permission denied")],
    ids=lambda error: type(error).__name__,
)
def test_input_caused_errors_are_one_line(error, capsys):
    def failing():
        raise error

    assert report_errors("emoje-x", failing) == 2
    line = capsys.readouterr().err
    assert line.startswith("emoje-x: error: ") and line.count("\n") == 1 and line.strip() != "emoje-x: error:"


def test_bugs_keep_their_traceback():
    assert not is_input_error(KeyError("x")) and not is_input_error(AttributeError("x"))
    assert not is_input_error(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert is_input_error(RuntimeError("[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file data/0: file write failed"))
    with pytest.raises(AttributeError):
        report_errors("emoje-x", lambda: None.missing)


def test_messages_are_one_line_and_memory_errors_say_what_they_mean():
    assert error_message(ValueError("first\n   second")) == "first second"
    assert error_message(MemoryError()).startswith("out of memory: an input is larger than this machine can hold")


def test_the_boundary_quiets_the_libraries_unless_verbose(monkeypatch):
    calls = []
    monkeypatch.setattr("dataset_scripts.cli_errors.quiet_library_logs", lambda verbose=False: calls.append(verbose))
    assert run_command("emoje-x", lambda argv: 0, ["--quiet"], take_flags=True) == 0
    assert run_command("emoje-x", lambda argv: argv, ["--verbose", "a"], take_flags=True) == 0
    assert calls == [False, True]
