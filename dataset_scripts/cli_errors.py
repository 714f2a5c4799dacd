"""The one error boundary of every console script (``emoje-prepare``, ``emoje-train``, ``emoje-evaluate``,
``emoje-predict``, ``emoje-demo``).

An exception caused by the command's input (options, files, data, a model folder, the disk it writes to) is printed
as one line ``emoje-x: error: MESSAGE`` on stderr, exit status 2, instead of a traceback: `ValueError` (bad values,
text that is not UTF-8), `OSError` (missing, unreadable or read-only files, a full disk), `EOFError` and damaged
archives or pickles (truncated files), `MemoryError` (an input larger than the machine), a `RuntimeError` of a
writer on a full disk. A failed step of a longer
command (the demo's, a worker's) is one line naming the step and its cause, exit status 1. Anything else is a bug
and keeps its traceback. ``--debug`` lets every error through with its traceback; ``--quiet`` logs warnings only;
``--verbose`` lets the libraries' own logs and progress bars through (`dataset_scripts.library_logs`).

Example:
    >>> from dataset_scripts.cli_errors import run_command
    >>> def broken(argv):
    ...     raise ValueError("--data runs/none: no prepared data")
    >>> import contextlib, io
    >>> with contextlib.redirect_stderr(io.StringIO()) as err:
    ...     run_command("emoje-x", broken, [])
    2
    >>> err.getvalue()
    'emoje-x: error: --data runs/none: no prepared data\\n'
"""

from __future__ import annotations

import argparse
import pickle
import sys
import zipfile
from collections.abc import Callable, Sequence
from typing import Any

from .library_logs import quiet_library_logs, report_failure
from .cli_logging import QUIET_FLAG, add_quiet_option, configure_logging, take_quiet_flag

DEBUG_FLAG = "--debug"
VERBOSE_FLAG = "--verbose"
# What a command's input causes; anything else is a bug and keeps its traceback.
INPUT_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # includes UnicodeDecodeError and the Hub's invalid-id errors
    OSError,
    EOFError,
    MemoryError,
    zipfile.BadZipFile,
    pickle.UnpicklingError,
)
# Input errors of libraries this module does not import (a command's --help must stay fast), by qualified name.
LIBRARY_INPUT_ERRORS = frozenset({"safetensors_rust.SafetensorError", "safetensors.SafetensorError"})
# A RuntimeError with one of these in its message comes from the disk (torch's writer on a full disk), not a bug.
DISK_FULL_SIGNS = ("No space left on device", "failed writing file", "file write failed")
INPUT_ERROR_STATUS = 2
STEP_ERROR_STATUS = 1


def add_common_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--debug``, ``--quiet`` and ``--verbose`` on ``parser`` (returned)."""
    parser.add_argument(DEBUG_FLAG, action="store_true", help="show the full traceback when the command fails")
    parser.add_argument(
        VERBOSE_FLAG, action="store_true", help="let the libraries' own logs and progress bars through"
    )
    return add_quiet_option(parser)


def take_flag(argv: Sequence[str], flag: str) -> tuple[list[str], bool]:
    """``argv`` without ``flag``, and whether it was there (for a parser that does not take it).

    Example:
        >>> take_flag(["features", "--verbose", "--table", "t.csv"], "--verbose")
        (['features', '--table', 't.csv'], True)
    """
    rest = [token for token in argv if token != flag]
    return rest, len(rest) != len(argv)


def is_input_error(error: BaseException) -> bool:
    """Whether ``error`` is caused by a command's input (see the module docstring) rather than by a bug."""
    if isinstance(error, INPUT_ERRORS):
        return True
    if isinstance(error, RuntimeError) and (
        any(sign in str(error) for sign in DISK_FULL_SIGNS) or isinstance(error.__cause__ or error.__context__, OSError)
    ):
        return True  # torch.save on a full disk: "PytorchStreamWriter failed writing file ..."
    return any(f"{kind.__module__}.{kind.__name__}" in LIBRARY_INPUT_ERRORS for kind in type(error).__mro__)


def error_message(error: BaseException) -> str:
    """``error`` as one line: its message (lines joined), or its type when it has none; a MemoryError says what it
    means.

    Example:
        >>> error_message(ValueError("a\\n  b"))
        'a b'
        >>> error_message(EOFError())
        'EOFError (an input file ends too early: is it truncated?)'
    """
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if isinstance(error, MemoryError):
        return f"out of memory{f' ({text})' if text else ''}: an input is larger than this machine can hold"
    if isinstance(error, EOFError) and not text:
        return "EOFError (an input file ends too early: is it truncated?)"
    return text or type(error).__name__


def report_errors(
    program: str,
    call: Callable[[], Any],
    *,
    debug: bool = False,
    step_errors: tuple[type[Exception], ...] = (),
) -> int:
    """Run ``call()`` and return the exit status: its own integer, or 0; `STEP_ERROR_STATUS` for one of
    ``step_errors`` (the message names the step, its ``__cause__`` is added); `INPUT_ERROR_STATUS` for an input
    error (`is_input_error`). Each error is one line on stderr; with ``debug`` it propagates (a step error as its
    cause) with its traceback."""
    try:
        result = call()
    except step_errors as error:
        if debug:
            raise (error.__cause__ or error)
        cause = error.__cause__
        detail = f"{type(cause).__name__}: {error_message(cause)}" if cause is not None else ""
        cause_text = f": {detail}" if detail else ""
        report_failure(program, f"{error_message(error)}{cause_text} ({DEBUG_FLAG} shows the traceback)")
        return STEP_ERROR_STATUS
    except Exception as error:  # noqa: BLE001 - sorted into input errors and bugs below
        if debug or not is_input_error(error):
            raise
        report_failure(program, error_message(error))
        return INPUT_ERROR_STATUS
    except MemoryError as error:
        if debug:
            raise
        report_failure(program, error_message(error))
        return INPUT_ERROR_STATUS
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def quiet_libraries(verbose: bool) -> None:
    """Library chatter (native logs, progress bars, routine warnings) silenced unless ``verbose``
    (`dataset_scripts.library_logs.quiet_library_logs`)."""
    quiet_library_logs(verbose)


def run_command(
    program: str,
    run: Callable[[list[str]], Any],
    argv: Sequence[str] | None = None,
    *,
    take_flags: bool = False,
    take_debug: Callable[[Sequence[str]], tuple[list[str], bool]] | None = None,
) -> int:
    """A console script's ``main``: logging set up (``--quiet``: warnings only; libraries quiet unless
    ``--verbose``), ``run(argv)`` called inside `report_errors` (``--debug``: tracebacks).

    ``take_flags``: ``--quiet``, ``--verbose`` and a bare ``--debug`` are taken out of ``argv`` first (for a parser
    that cannot take them; ``take_debug`` replaces the plain removal of ``--debug``); else the command's parser has
    them (`add_common_options`).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if take_flags:
        argv, debug = (take_debug or (lambda tokens: take_flag(tokens, DEBUG_FLAG)))(argv)
        argv, quiet = take_quiet_flag(argv)
        argv, verbose = take_flag(argv, VERBOSE_FLAG)
    else:
        debug, quiet, verbose = DEBUG_FLAG in argv, QUIET_FLAG in argv, VERBOSE_FLAG in argv
    configure_logging(quiet)
    quiet_libraries(verbose)
    return report_errors(program, lambda: run(argv), debug=debug)


__all__ = [
    "DEBUG_FLAG",
    "DISK_FULL_SIGNS",
    "INPUT_ERRORS",
    "INPUT_ERROR_STATUS",
    "LIBRARY_INPUT_ERRORS",
    "STEP_ERROR_STATUS",
    "VERBOSE_FLAG",
    "add_common_options",
    "error_message",
    "is_input_error",
    "quiet_libraries",
    "report_errors",
    "run_command",
    "take_flag",
]
