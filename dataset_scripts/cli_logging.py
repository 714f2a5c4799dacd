"""Logging of the command-line tools (emoje-prepare, emoje-train, emoje-evaluate, emoje-demo): INFO by default,
WARNING with ``--quiet``, one format for all.

Example:
    >>> import argparse
    >>> from dataset_scripts.cli_logging import add_quiet_option, configure_logging, take_quiet_flag
    >>> add_quiet_option(argparse.ArgumentParser()).parse_args(["--quiet"]).quiet
    True
    >>> take_quiet_flag(["--data", "d", "--quiet"])
    (['--data', 'd'], True)
    >>> configure_logging(quiet=True)
    30
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
QUIET_FLAG = "--quiet"


def add_quiet_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--quiet`` (log warnings only) to ``parser`` and return it."""
    parser.add_argument(QUIET_FLAG, action="store_true", help="log warnings only (default: INFO: what is done and why)")
    return parser


def take_quiet_flag(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` without ``--quiet``, and whether it was there (for parsers that cannot take the option)."""
    rest = [token for token in argv if token != QUIET_FLAG]
    return rest, len(rest) != len(argv)


def configure_logging(quiet: bool = False) -> int:
    """Log at INFO (WARNING with ``quiet``) to stderr (handlers already installed, e.g. by a test, are kept);
    returns the level."""
    level = logging.WARNING if quiet else logging.INFO
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(format=LOG_FORMAT)
    root.setLevel(level)
    for noisy in ("httpx", "urllib3", "filelock", "fsspec"):  # their INFO lines are per-request noise
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    return level


__all__ = ["LOG_FORMAT", "add_quiet_option", "configure_logging", "take_quiet_flag"]
