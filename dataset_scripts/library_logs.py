"""Keep the libraries' chatter out of what a person reads: one call at the start of a command.

`quiet_library_logs()` silences, unless ``verbose``:

- the native loggers of mediapipe (glog, absl, TensorFlow Lite): the levels they read from the environment when first
  loaded (``GLOG_minloglevel``, ``TF_CPP_MIN_LOG_LEVEL``, ``ABSL_MIN_LOG_LEVEL``; only those the user has not set,
  so call this before mediapipe is imported), and the lines they print regardless, which the video processor drops
  unless ``verbose`` sets ``EMOJE_NATIVE_LOGS=1``;
- Python loggers of absl/mediapipe/TensorFlow (errors only);
- FutureWarnings raised from inside pyarrow and datasets (about their own internals, nothing the user can change),
  and the routine bookkeeping warnings of `ROUTINE_MESSAGES`;
- the progress bars of transformers ("Loading weights", "Writing model shards"), huggingface_hub (downloads) and
  datasets ("Map"). With ``verbose`` they come back, but only when standard error is a terminal: a bar redrawn in a
  log file is noise.

`warn_once()` logs a warning the first time a given message is seen in the process, and stays silent after.
`report_failure()` ends a failed command with one line; under ``accelerate launch`` only rank 0 prints it and every
rank hands its line to torch-elastic, whose closing block then names the rank that failed first and why.

Of the libraries, only huggingface_hub's small utilities are imported here; transformers and datasets are adjusted
only when already imported (importing them takes seconds), so the call itself is cheap enough for ``--help``.

Example:
    >>> import logging
    >>> from dataset_scripts.library_logs import quiet_library_logs, warn_once
    >>> quiet_library_logs()
    >>> import os
    >>> os.environ["GLOG_minloglevel"] in {"1", "2", "3"}
    True
    >>> log = logging.getLogger("doctest.library_logs")
    >>> warn_once(log, "the model was trained on synthetic features")
    True
    >>> warn_once(log, "the model was trained on synthetic features")
    False
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings

# Native (C++) loggers: mediapipe's glog/absl and TensorFlow Lite. "2" keeps errors and fatal messages.
NATIVE_LOG_LEVELS: dict[str, str] = {
    "GLOG_minloglevel": "2",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "ABSL_MIN_LOG_LEVEL": "2",
}
# Set to "1" with ``verbose``: the video processor then keeps mediapipe's native INFO/WARNING lines, which it
# otherwise drops while a clip is processed (`modeling_emoje.video_processing_emoje.NATIVE_LOGS_VARIABLE`).
NATIVE_LOGS_VARIABLE = "EMOJE_NATIVE_LOGS"
# Python loggers whose INFO/WARNING lines are about the library's own plumbing.
CHATTY_LOGGERS: tuple[str, ...] = ("absl", "mediapipe", "tensorflow", "jax")
# Modules whose FutureWarnings are about their internals (e.g. pyarrow's deprecations seen through datasets).
FUTURE_WARNING_MODULES = r"(pyarrow|datasets)(\.|$)"
# Library warnings about their own bookkeeping, by logger: message prefixes dropped unless ``verbose``. The Trainer
# copies the tokenizer's pad id into the config of a model that generates nothing, and says so on every run.
ROUTINE_MESSAGES: dict[str, tuple[str, ...]] = {
    "transformers.trainer_utils": ("The tokenizer has new PAD/BOS/EOS tokens",),
}


class _DropRoutine(logging.Filter):
    """Drops the records whose message starts with one of ``prefixes``."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def _set_routine_filters(enabled: bool) -> None:
    for name, prefixes in ROUTINE_MESSAGES.items():
        logger = logging.getLogger(name)
        for existing in [f for f in logger.filters if isinstance(f, _DropRoutine)]:
            logger.removeFilter(existing)
        if enabled:
            logger.addFilter(_DropRoutine(prefixes))


# Set by this module (not by the user), so a later ``verbose`` call may take it back.
_ENV_WE_SET: set[str] = set()
_WARNED: set[tuple[str, str]] = set()
_WARNED_LOCK = threading.Lock()


def stderr_is_terminal() -> bool:
    """Whether standard error is an interactive terminal (where a progress bar redraws in place).

    Example:
        >>> stderr_is_terminal() in {True, False}
        True
    """
    stream = sys.stderr
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


def _set_env_default(name: str, value: str) -> None:
    if name not in os.environ:
        os.environ[name] = value
        _ENV_WE_SET.add(name)


def _unset_our_env(name: str) -> None:
    if name in _ENV_WE_SET:
        os.environ.pop(name, None)
        _ENV_WE_SET.discard(name)


def _set_progress_bars(enabled: bool) -> None:
    """Turn the bars of huggingface_hub (cheap to import), transformers and datasets (only if already imported; else
    through the environment variable datasets reads at import) on or off."""
    from huggingface_hub import utils as hub_utils

    if enabled:
        hub_utils.enable_progress_bars()
    else:
        hub_utils.disable_progress_bars()  # transformers reads this state when it is imported
    transformers_logging = sys.modules.get("transformers.utils.logging")
    if transformers_logging is not None:
        (transformers_logging.enable_progress_bar if enabled else transformers_logging.disable_progress_bar)()
    datasets_tqdm = sys.modules.get("datasets.utils.tqdm")
    if datasets_tqdm is not None:
        (datasets_tqdm.enable_progress_bars if enabled else datasets_tqdm.disable_progress_bars)()
    elif enabled:
        _unset_our_env("HF_DATASETS_DISABLE_PROGRESS_BARS")
    else:
        _set_env_default("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")


def quiet_library_logs(verbose: bool = False) -> None:
    """Silence library chatter (native mediapipe/TFLite logs, pyarrow FutureWarnings, weight-loading and download
    progress bars); with ``verbose`` restore what this module silenced, bars only on a terminal.

    Call it before mediapipe is imported (the native loggers read the environment once). Safe to call again.

    Example:
        >>> from huggingface_hub.utils import are_progress_bars_disabled
        >>> quiet_library_logs(verbose=False)
        >>> are_progress_bars_disabled()
        True
    """
    if verbose:
        for name in NATIVE_LOG_LEVELS:
            _unset_our_env(name)
        _set_env_default(NATIVE_LOGS_VARIABLE, "1")
        for name in CHATTY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
        warnings.filterwarnings("default", category=FutureWarning, module=FUTURE_WARNING_MODULES)
        _set_routine_filters(False)
        _set_progress_bars(stderr_is_terminal())
        return
    for name, value in NATIVE_LOG_LEVELS.items():
        _set_env_default(name, value)
    _unset_our_env(NATIVE_LOGS_VARIABLE)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    absl_logging = sys.modules.get("absl.logging")
    if absl_logging is not None:
        absl_logging.set_verbosity(absl_logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module=FUTURE_WARNING_MODULES)
    _set_routine_filters(True)
    _set_progress_bars(False)


def launched_rank() -> int | None:
    """This process' global rank under ``accelerate launch`` / ``torchrun`` (``RANK``), None when not launched so.

    Example:
        >>> import os
        >>> launched_rank() == (int(os.environ["RANK"]) if os.environ.get("RANK", "").isdigit() else None)
        True
    """
    rank = os.environ.get("RANK", "")
    return int(rank) if rank.isdigit() else None


def report_failure(program: str, message: str, stream=None) -> str | None:
    """Report a command's failure so a multi-process launch ends readably; returns the line printed (None if none).

    Alone, the line ``PROGRAM: error: MESSAGE`` is printed. Under ``accelerate launch`` every process fails alike, so
    only rank 0 prints it (``PROGRAM: error (rank 0 of N): MESSAGE``); every rank also writes its line to the error
    file torch-elastic gives it (``TORCHELASTIC_ERROR_FILE``), so the launcher's closing "Root Cause" block names the
    rank that failed first and its one-line reason instead of a link to the elastic documentation.

    Example:
        >>> import io, os
        >>> os.environ.pop("RANK", None) and None
        >>> report_failure("emoje-x", "no prepared data at d", stream=io.StringIO())
        'emoje-x: error: no prepared data at d'
    """
    import json
    import time

    stream = sys.stderr if stream is None else stream
    rank = launched_rank()
    world = os.environ.get("WORLD_SIZE", "?")
    line = f"{program}: error: {message}" if rank is None else f"{program}: error (rank {rank} of {world}): {message}"
    error_file = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if rank is not None and error_file:
        try:
            with open(error_file, "w", encoding="utf-8") as handle:
                json.dump({"message": line, "timestamp": str(int(time.time()))}, handle)
        except OSError:
            pass  # the launcher then shows its own generic block
    if rank in (None, 0):
        print(line, file=stream, flush=True)
        return line
    return None


def warn_once(logger: logging.Logger, message: str) -> bool:
    """Log ``message`` as a warning on ``logger`` the first time this process sees it (per logger); return whether it
    was logged now.

    Example:
        >>> import logging
        >>> log = logging.getLogger("doctest.warn_once")
        >>> [warn_once(log, "synthetic features"), warn_once(log, "synthetic features"), warn_once(log, "other")]
        [True, False, True]
    """
    key = (logger.name, message)
    with _WARNED_LOCK:
        if key in _WARNED:
            return False
        _WARNED.add(key)
    logger.warning(message)
    return True


__all__ = [
    "CHATTY_LOGGERS",
    "FUTURE_WARNING_MODULES",
    "NATIVE_LOGS_VARIABLE",
    "NATIVE_LOG_LEVELS",
    "ROUTINE_MESSAGES",
    "launched_rank",
    "quiet_library_logs",
    "report_failure",
    "stderr_is_terminal",
    "warn_once",
]
