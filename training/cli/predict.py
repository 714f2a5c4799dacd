"""`emoje-predict`: per-turn emotions for many conversations, one JSONL line per conversation, resumable.

    emoje-predict --model runs/demo/model --input conversations.jsonl --output predictions.jsonl --causal
    emoje-predict --model runs/demo/model --input calls/ --output calls.jsonl
    emoje-predict --model runs/demo/model --data runs/demo/data --split test --output test.jsonl --batch-size 64
    accelerate launch --num_processes 2 -m training.cli.predict --model runs/demo/model --data runs/demo/data --output test.jsonl

The inputs, the prediction, the output format and resuming are `training.inference`'s (`predict_to_jsonl`); this
module parses the options and checks them before anything runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..inference.predict import DEFAULT_BATCH_SIZE, DEFAULT_TEXT_BATCH_SIZE, predict_to_jsonl
from .errors import add_common_options, check_output_file, run_command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emoje-predict",
        description="Predict the emotion of every turn of many conversations; one JSONL line per conversation.",
        epilog="A re-run of the same command resumes: conversations whose id is already in --output are skipped. "
        "Several processes: accelerate launch --num_processes N -m training.cli.predict ...",
    )
    parser.add_argument("--model", required=True, help="exported model directory (with its processor), e.g. runs/demo/model")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--input", metavar="FILE.jsonl|FOLDER",
        help='a JSONL file of conversations, one per line: {"id": ..., "turns": [turn, ...]} or a bare list of turns '
        '(id "line-N"), turns as the pipeline takes them; or (detected: a folder) a folder of NAME.stm (timed '
        "transcripts) or NAME.rttm (speaker turns) beside NAME.wav / NAME.mp4 media, one conversation per NAME (its id)",
    )
    source.add_argument("--data", metavar="DIR", help="prepared data (emoje-prepare output): predict a split, gold labels beside")
    parser.add_argument("--split", default="test", help="with --data: the split to predict (default: test)")
    parser.add_argument("--output", required=True, metavar="FILE.jsonl", help="predictions, appended one line per conversation")
    parser.add_argument(
        "--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
        help=f"conversations (not turns) padded together into one model forward pass (default {DEFAULT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--text-batch-size", type=int, default=DEFAULT_TEXT_BATCH_SIZE,
        help=f"texts (turns) per text-encoder forward pass (default {DEFAULT_TEXT_BATCH_SIZE})",
    )
    parser.add_argument("--privacy", action="store_true", help="the face is never extracted nor used")
    parser.add_argument("--causal", action="store_true", help="no prediction looks at a later turn (streaming)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar over the conversations")
    return add_common_options(parser)


def _positive(value: int, option: str) -> int:
    if value < 1:
        raise ValueError(f"{option} must be >= 1, got {value}")
    return value


def check_output_path(path: str) -> Path:
    """`--output` must name a file (`training.cli.errors.check_output_file`); its folder is created."""
    output = check_output_file(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    return output


def run_cli(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`emoje-predict` without the exit code: returns what `predict_to_jsonl` returns."""
    args = _parser().parse_args(argv)
    batch_size = _positive(args.batch_size, "--batch-size")
    text_batch_size = _positive(args.text_batch_size, "--text-batch-size")
    output = check_output_path(args.output)
    return predict_to_jsonl(
        args.model, output, input_path=args.input, data_dir=args.data, split=args.split, batch_size=batch_size,
        text_batch_size=text_batch_size, privacy=args.privacy, causal=args.causal,
        progress=False if (args.no_progress or args.quiet) else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `emoje-predict` (also runs under `accelerate launch -m training.cli.predict`)."""
    return run_command("emoje-predict", run_cli, argv)


__all__ = ["check_output_path", "main", "run_cli"]


if __name__ == "__main__":
    sys.exit(main())
