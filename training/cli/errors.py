"""The one error boundary of the console scripts (``emoje-train``, ``emoje-evaluate``, ``emoje-predict``, ``emoje-demo``).

A `ValueError` or `OSError` raised while a command runs is caused by its input (options, files, data, a model
folder): it is printed as one line ``emoje-x: error: MESSAGE`` on stderr, exit status 2, instead of a traceback. A
failed step of a longer command (the demo's) is one line naming the step and its cause, exit status 1. ``--debug``
lets the error through with its traceback. ``--quiet`` logs warnings only.

Example:
    >>> from training.cli.errors import run_command
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
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dataset_scripts.cli_logging import QUIET_FLAG, add_quiet_option, configure_logging, take_quiet_flag

DEBUG_FLAG = "--debug"
# What a command's input causes; anything else is a bug and keeps its traceback.
INPUT_ERRORS: tuple[type[Exception], ...] = (ValueError, OSError)
INPUT_ERROR_STATUS = 2
STEP_ERROR_STATUS = 1


def add_common_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``--debug`` and ``--quiet`` on ``parser`` (returned)."""
    parser.add_argument(DEBUG_FLAG, action="store_true", help="show the full traceback when the command fails")
    return add_quiet_option(parser)


def take_debug_flag(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` without a bare ``--debug`` (one not followed by a value), and whether it was there.

    For ``emoje-train``, whose parser also takes TrainingArguments' ``--debug VALUE``, which is left in place.

    Example:
        >>> take_debug_flag(["--data", "d", "--debug"])
        (['--data', 'd'], True)
        >>> take_debug_flag(["--debug", "underflow_overflow"])
        (['--debug', 'underflow_overflow'], False)
    """
    argv = list(argv)
    for index, token in enumerate(argv):
        bare = index + 1 == len(argv) or argv[index + 1].startswith("--")
        if token == DEBUG_FLAG and bare:
            return argv[:index] + argv[index + 1:], True
    return argv, False


def report_errors(
    program: str,
    call: Callable[[], Any],
    *,
    debug: bool = False,
    step_errors: tuple[type[Exception], ...] = (),
) -> int:
    """Run ``call()`` and return the exit status: 0; `STEP_ERROR_STATUS` for one of ``step_errors`` (the message
    names the step, its ``__cause__`` is added); `INPUT_ERROR_STATUS` for one of `INPUT_ERRORS`. Each error is one
    line on stderr; with ``debug`` it propagates (a step error as its cause) with its traceback."""
    try:
        call()
    except step_errors as error:
        if debug:
            raise (error.__cause__ or error)
        cause = error.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else ""
        print(f"{program}: error: {error}{': ' + detail if detail else ''} ({DEBUG_FLAG} shows the traceback)", file=sys.stderr)
        return STEP_ERROR_STATUS
    except INPUT_ERRORS as error:
        if debug:
            raise
        print(f"{program}: error: {error}", file=sys.stderr)
        return INPUT_ERROR_STATUS
    return 0


def run_command(
    program: str, run: Callable[[list[str]], Any], argv: Sequence[str] | None = None, *, take_flags: bool = False
) -> int:
    """A console script's ``main``: logging set up (``--quiet``: warnings only), ``run(argv)`` called inside
    `report_errors` (``--debug``: tracebacks). ``take_flags``: ``--quiet`` and a bare ``--debug`` are taken out of
    ``argv`` first (for a parser that cannot take them); else the command's parser has them (`add_common_options`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if take_flags:
        argv, debug = take_debug_flag(argv)
        argv, quiet = take_quiet_flag(argv)
    else:
        debug, quiet = DEBUG_FLAG in argv, QUIET_FLAG in argv
    configure_logging(quiet)
    return report_errors(program, lambda: run(argv), debug=debug)


def check_output_file(path: str, option: str = "--output") -> Path:
    """``--output`` (or ``option``) must name a file: checked before the command runs, not after."""
    output = Path(path)
    example = "scenarios.png" if option == "--plot" else "results.json"
    if output.is_dir():
        raise ValueError(f"{option} {output} is a folder; give a file name such as {output / example}")
    blocking = next((parent for parent in output.parents if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise ValueError(f"{option} {output}: {blocking} is a file, not a folder")
    return output


__all__ = [
    "DEBUG_FLAG",
    "INPUT_ERRORS",
    "INPUT_ERROR_STATUS",
    "STEP_ERROR_STATUS",
    "add_common_options",
    "check_output_file",
    "report_errors",
    "run_command",
    "take_debug_flag",
]
