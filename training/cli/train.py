"""`emoje-train`: train a model on a prepared corpus, evaluate every scenario on test, export the checkpoint.

    emoje-train --config training/configs/meld_text.yaml --data data/meld --output-dir runs/meld_text \
        --max_steps 2000 --learning_rate 3e-4 --hidden_size 256
    accelerate launch --config_file training/configs/accelerate/cpu_2proc.yaml -m training.cli.train --config ...

``emoje-train --help`` lists the options: the command's own, the model fields of ``--model_type``, the common
TrainingArguments (`training.train.options`, which merges package defaults < YAML config < command line). The run
itself is `training.train.run.run`; this module sets up logging (``--quiet``) and the error boundary (``--debug``,
`training.cli.errors`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``emoje-train`` (also runs under ``accelerate launch -m training.cli.train``). A ``--help``
    printed before with the same sources is printed again from the cache, before torch and transformers load."""
    from ..train.options_help import print_cached_help

    if print_cached_help(sys.argv[1:] if argv is None else list(argv)):
        raise SystemExit(0)  # as argparse ends a help
    from ..train.run import run
    from .errors import run_command

    return run_command("emoje-train", run, argv, take_flags=True)


def __getattr__(name: str) -> Any:
    if name == "parse_arguments":  # imported on first use: it loads transformers, which --help need not wait for
        from ..train.options import parse_arguments

        return parse_arguments
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# `parse_arguments` is this command's options parser (what a README's `emoje-train` line is checked with).
__all__ = ["main", "parse_arguments"]

if __name__ == "__main__":
    sys.exit(main())
