"""What the training console scripts (``emoje-train``, ``emoje-evaluate``, ``emoje-predict``, ``emoje-demo``) add to
the error boundary every command shares (`dataset_scripts.cli_errors`: an error caused by the input is one line
``emoje-x: error: ...`` and exit 2, a failed step exit 1, ``--debug`` shows the traceback, ``--quiet`` logs warnings
only, ``--verbose`` lets the libraries' logs through).

Training-specific: ``emoje-train``'s parser also takes TrainingArguments' ``--debug VALUE``, so only a bare
``--debug`` is the traceback flag (`take_debug_flag`); result files (``--output``, ``--plot``) must name files
(`check_output_file`).

Example:
    >>> check_output_file("results/eval.json").name
    'eval.json'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dataset_scripts import cli_errors
from dataset_scripts.cli_errors import (
    DEBUG_FLAG,
    INPUT_ERROR_STATUS,
    INPUT_ERRORS,
    STEP_ERROR_STATUS,
    add_common_options,
    report_errors,
)


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


def run_command(
    program: str, run: Callable[[list[str]], Any], argv: Sequence[str] | None = None, *, take_flags: bool = False
) -> int:
    """`dataset_scripts.cli_errors.run_command`, where ``take_flags`` takes only a bare ``--debug`` out of ``argv``
    (`take_debug_flag`)."""
    return cli_errors.run_command(program, run, argv, take_flags=take_flags, take_debug=take_debug_flag)


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
