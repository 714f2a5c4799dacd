"""What the training benchmarks (robustness, real_features, imputation_headroom) share around their own `run`:
the run options every one of them takes, and the command-line entry that parses, runs and publishes.

Example:
    >>> import argparse
    >>> from benchmarks.runner import add_run_options
    >>> parser = argparse.ArgumentParser()
    >>> add_run_options(parser, "results/x.json", "work/x")
    >>> parser.parse_args(["--threads", "2"]).threads, parser.parse_args([]).output
    (2, 'results/x.json')
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def add_run_options(parser: argparse.ArgumentParser, default_output: str | os.PathLike, default_work_dir: str | os.PathLike) -> None:
    """Add ``--threads``, ``--output`` and ``--work-dir`` (the options every training benchmark takes)."""
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch threads (default 1: these small models gain nothing from a second thread, and on a shared machine "
        "two OpenMP threads can be an order of magnitude slower than one)",
    )
    parser.add_argument("--output", default=str(default_output), help=f"results JSON (default {default_output})")
    parser.add_argument("--work-dir", default=str(default_work_dir), help="scratch directory for Trainer checkpoints")


def run_from_command_line(
    argv: Sequence[str] | None,
    parse_args: Callable[[Sequence[str] | None], argparse.Namespace],
    run: Callable[[argparse.Namespace], dict[str, Any]],
    format_summary: Callable[[Mapping[str, Any]], str],
    chart_models: Sequence[str] | None = None,
    chart: bool = True,
    check: Callable[[argparse.Namespace], None] | None = None,
) -> dict[str, Any]:
    """Parse ``argv``, (``check`` the options), ``run``, then publish: JSON, summary and (``chart``) the chart."""
    from benchmarks.charts import publish

    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    args.argv = None if argv is None else list(argv)
    if check is not None:
        check(args)
    result = run(args)
    publish(result, args.output, format_summary(result), chart_models, chart=chart)
    return result


__all__ = ["add_run_options", "run_from_command_line"]
