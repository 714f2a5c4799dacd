"""dataset_scripts.library_logs (library chatter silenced unless --verbose, a warning once, a launch failure on one
line) and the video processor's filter of mediapipe's native log lines."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import warnings

import pytest

from dataset_scripts import library_logs
from modeling_emoje.video_processing_emoje import drop_native_chatter, quiet_native_stderr

MEDIAPIPE_LINES = (
    "INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "W0000 00:00:1796576060.451162   19238 inference_feedback_manager.cc:114] Feedback manager requires a model\n"
    "I0000 00:00:1796576060.478329   19237 gl_context.cc:357] GL version: 3.2\n"
)


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    for name in (*library_logs.NATIVE_LOG_LEVELS, library_logs.NATIVE_LOGS_VARIABLE, "HF_DATASETS_DISABLE_PROGRESS_BARS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(library_logs, "_ENV_WE_SET", set())
    with warnings.catch_warnings():
        yield
    from huggingface_hub.utils import enable_progress_bars

    enable_progress_bars()


def test_quiet_sets_native_levels_but_keeps_what_the_user_set(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    library_logs.quiet_library_logs()
    assert os.environ["GLOG_minloglevel"] == "2" and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert logging.getLogger("absl").level == logging.ERROR
    from huggingface_hub.utils import are_progress_bars_disabled

    assert are_progress_bars_disabled()
    library_logs.quiet_library_logs(verbose=True)  # takes back what it set, never what the user set
    assert "GLOG_minloglevel" not in os.environ and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"
    assert os.environ[library_logs.NATIVE_LOGS_VARIABLE] == "1"
    assert are_progress_bars_disabled() == (not library_logs.stderr_is_terminal())  # bars only on a terminal


def test_pyarrow_future_warnings_are_silenced_unless_verbose():
    library_logs.quiet_library_logs()
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit("null_placement is deprecated", FutureWarning, "compute.py", 231, module="pyarrow.compute")
        warnings.warn_explicit("ours", FutureWarning, "x.py", 1, module="training.x")
    assert [str(w.message) for w in caught] == ["ours"]


def test_weight_loading_bars_are_off_in_a_fresh_process():
    """transformers reads huggingface_hub's switch when imported: its "Loading weights" bar is then inactive."""
    code = ("from dataset_scripts.library_logs import quiet_library_logs; quiet_library_logs(); "
            "import transformers.utils.logging as l; print(l.is_progress_bar_enabled())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.stdout.strip() == "False", out.stderr


def test_warn_once_logs_a_message_once_per_logger(caplog):
    log = logging.getLogger("tests.warn_once")
    with caplog.at_level(logging.WARNING, logger="tests.warn_once"):
        results = [library_logs.warn_once(log, "trained on synthetic features") for _ in range(3)]
        library_logs.warn_once(log, "another message")
    assert results == [True, False, False]
    assert [r.getMessage() for r in caplog.records] == ["trained on synthetic features", "another message"]


def test_a_launched_failure_is_printed_by_rank_0_and_recorded_for_the_launcher(monkeypatch, tmp_path, capsys):
    error_file = tmp_path / "error.json"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(error_file))
    monkeypatch.setenv("RANK", "1")
    assert library_logs.report_failure("emoje-train", "no prepared data at d") is None
    assert capsys.readouterr().err == ""  # rank 1 only tells the launcher
    assert json.loads(error_file.read_text())["message"] == "emoje-train: error (rank 1 of 2): no prepared data at d"
    monkeypatch.setenv("RANK", "0")
    library_logs.report_failure("emoje-train", "no prepared data at d")
    assert capsys.readouterr().err == "emoje-train: error (rank 0 of 2): no prepared data at d\n"
    monkeypatch.delenv("RANK")
    library_logs.report_failure("emoje-train", "no prepared data at d")
    assert capsys.readouterr().err == "emoje-train: error: no prepared data at d\n"


def test_mediapipe_routine_lines_are_dropped_and_errors_kept():
    assert drop_native_chatter(MEDIAPIPE_LINES + "E0000 00:00:1796.1 1 graph.cc:1] broken\nplain text\n") == (
        "E0000 00:00:1796.1 1 graph.cc:1] broken\nplain text\n"
    )


def test_quiet_native_stderr_filters_what_native_code_writes_on_descriptor_2():
    code = (
        "import os\n"
        "from modeling_emoje.video_processing_emoje import quiet_native_stderr\n"
        f"with quiet_native_stderr():\n    os.write(2, {MEDIAPIPE_LINES!r}.encode() + b'E0000 00:00:17.1 1 x.cc:1] kept\\n')\n"
        "os.write(2, b'after\\n')\n"
    )
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert quiet.stderr == "E0000 00:00:17.1 1 x.cc:1] kept\nafter\n"
    loud = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "EMOJE_NATIVE_LOGS": "1"})
    assert "Created TensorFlow Lite" in loud.stderr
    with quiet_native_stderr():  # in-process too (pytest's own capture of descriptor 2 survives it)
        pass


def test_routine_library_warnings_are_dropped_unless_verbose(caplog):
    log = logging.getLogger("transformers.trainer_utils")
    library_logs.quiet_library_logs()
    with caplog.at_level(logging.WARNING, logger="transformers.trainer_utils"):
        log.warning("The tokenizer has new PAD/BOS/EOS tokens that differ from the model config")
        log.warning("something else")
        library_logs.quiet_library_logs(verbose=True)
        log.warning("The tokenizer has new PAD/BOS/EOS tokens, again")
    assert [r.getMessage() for r in caplog.records] == ["something else", "The tokenizer has new PAD/BOS/EOS tokens, again"]
