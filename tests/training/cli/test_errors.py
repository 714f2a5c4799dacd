"""training.cli.errors: the one error boundary of emoje-train, emoje-evaluate, emoje-predict and emoje-demo."""

from __future__ import annotations

import pytest

from training.cli import demo, evaluate, predict, train
from training.cli.errors import report_errors, take_debug_flag


def _commands(tmp_path):
    """Each console script with input that cannot work (a prepared-data folder that does not exist)."""
    missing = str(tmp_path / "missing")
    return {
        "emoje-train": (train.main, ["--data", missing, "--output-dir", str(tmp_path / "run")]),
        "emoje-evaluate": (evaluate.main, ["--model", missing, "--data", missing, "--no-progress"]),
        "emoje-predict": (predict.main, ["--model", str(tmp_path), "--data", missing, "--output", str(tmp_path / "p.jsonl")]),
        "emoje-demo": (demo.main, ["--output-dir", str(tmp_path / "demo"), "--corpus", "synthetic", "--dialogues", "1,x,1"]),
    }


@pytest.mark.parametrize("program", ["emoje-train", "emoje-evaluate", "emoje-predict", "emoje-demo"])
def test_bad_input_is_one_line_and_debug_shows_the_traceback(program, tmp_path, capsys):
    main, argv = _commands(tmp_path)[program]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith(f"{program}: error: "), err[-2000:]
    with pytest.raises(ValueError):
        main([*argv, "--debug"])


def test_an_os_error_is_input_too_and_other_errors_keep_their_traceback(capsys):
    def unreadable():
        raise PermissionError(13, "Permission denied", "data/meld")

    assert report_errors("emoje-x", unreadable) == 2
    assert capsys.readouterr().err == "emoje-x: error: [Errno 13] Permission denied: 'data/meld'\n"
    with pytest.raises(PermissionError):
        report_errors("emoje-x", unreadable, debug=True)
    with pytest.raises(KeyError):  # a bug, not bad input
        report_errors("emoje-x", lambda: {}["missing"])


def test_a_failed_step_names_the_step_and_its_cause_with_status_1(capsys):
    class StepFailed(RuntimeError):
        pass

    def failing():
        try:
            raise OSError("disk full")
        except OSError as error:
            raise StepFailed("the export step failed") from error

    assert report_errors("emoje-x", failing, step_errors=(StepFailed,)) == 1
    assert capsys.readouterr().err == (
        "emoje-x: error: the export step failed: OSError: disk full (--debug shows the traceback)\n"
    )
    with pytest.raises(OSError, match="disk full"):
        report_errors("emoje-x", failing, debug=True, step_errors=(StepFailed,))


def test_emoje_train_keeps_training_arguments_debug_value():
    assert take_debug_flag(["--max_steps", "2", "--debug"]) == (["--max_steps", "2"], True)
    assert take_debug_flag(["--debug", "--max_steps", "2"]) == (["--max_steps", "2"], True)
    assert take_debug_flag(["--debug", "underflow_overflow"]) == (["--debug", "underflow_overflow"], False)
