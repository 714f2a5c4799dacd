"""benchmarks.failure_cases: how a case's outcome is classified (clear / handled / traceback / silent / loss /
crash / hang), on tiny commands."""

from __future__ import annotations

import pytest

from benchmarks.failure_cases import Case, classify, python, remember, unchanged


def _case(code: str, **options) -> Case:
    return Case("case", "test", lambda ws: python(code), **options)


@pytest.mark.parametrize(
    ("code", "expected", "options"),
    [
        ("import sys; print('emoje-x: error: bad input', file=sys.stderr); sys.exit(2)", "clear", {}),
        ("pass", "silent", {}),
        ("pass", "handled", {"expect_error": False}),
        ("raise KeyError('bug')", "traceback", {}),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "crash", {}),
        ("import time; time.sleep(30)", "hang", {"timeout": 1.0}),
    ],
    ids=["clear", "silent", "handled", "traceback", "crash", "hang"],
)
def test_outcomes_are_classified(tmp_path, code, expected, options):
    assert classify(_case(code, **options), tmp_path)["class"] == expected


def test_a_changed_user_file_is_loss_even_with_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    remember(tmp_path, "notes.txt")
    code = "import sys; open('notes.txt', 'w').write('keep'); print('x: error: no', file=sys.stderr); sys.exit(2)"
    assert classify(_case(code, check=unchanged("notes.txt")), tmp_path)["class"] == "loss"
