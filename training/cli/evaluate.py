"""`emoje-evaluate`: score a saved model on a split of prepared data under every missing-modality scenario.

    emoje-evaluate --model runs/meld_text/model --data data/meld [--split test] [--scenarios all] \
        [--output results.json] [--plot scenarios.png]
    accelerate launch --num_processes 2 -m training.cli.evaluate --model ... --data ...

The scenarios, the scoring and the table are `training.evaluation`'s; this module parses the options, checks the
output paths before anything runs, and prints (the main process only).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from dataset_scripts.files import write_text_atomic

from ..evaluation.evaluate import evaluate_saved_model, format_table
from ..evaluation.scenarios import ALL
from .errors import add_common_options, check_output_file, run_command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emoje-evaluate", description="Evaluate a saved emoje model under every missing-modality scenario."
    )
    parser.add_argument("--model", required=True, help="saved model directory (emoje-train output)")
    parser.add_argument("--data", required=True, help="prepared data directory (emoje-prepare output)")
    parser.add_argument("--split", default="test", help="split to score (default: test)")
    parser.add_argument(
        "--scenarios", default=ALL,
        help="all | full | privacy | kept modalities such as t,a or text+audio; several separated by ';'",
    )
    parser.add_argument("--output", help="write the results JSON here")
    parser.add_argument(
        "--plot", metavar="PATH",
        help="draw the per-scenario chart here (.png, .svg or .pdf; needs matplotlib: pip install 'emoje[plots]')",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar over the scenarios")
    parser.add_argument("--batch-size", type=int, default=8, help="dialogues per forward pass and process")
    parser.add_argument(
        "--three-mode", choices=("auto", "yes", "no"), default="auto",
        help="add CM-ARR's three-mode conditions to 'all' (auto: for CM-ARR models and the mer4/MSP-IMPROV protocols)",
    )
    return add_common_options(parser)


def run_cli(argv: Sequence[str] | None = None) -> dict:
    """``emoje-evaluate`` without the exit code: returns the results dict (on every process)."""
    args = _parser().parse_args(argv)
    output = check_output_file(args.output) if args.output else None
    plot = check_output_file(args.plot, option="--plot") if args.plot else None
    if plot is not None:
        from ..publishing.charts import INSTALL_HINT, matplotlib_available

        if not matplotlib_available():
            raise ValueError(f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}")
    from accelerate import Accelerator

    from ..train.trainer import several_processes_without_accelerator

    accelerator = Accelerator(cpu=several_processes_without_accelerator())  # several CPU processes: one gloo group
    results = evaluate_saved_model(
        args.model, args.data, args.split, args.scenarios,
        three_mode=None if args.three_mode == "auto" else args.three_mode == "yes",
        batch_size=args.batch_size, accelerator=accelerator,
        progress=False if (args.no_progress or args.quiet) else None,
    )
    if accelerator.is_main_process:
        print(f"{args.model} on {args.data} [{args.split}]")
        print(format_table(results))
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(output, json.dumps(results, indent=2) + "\n")
            print(f"results written to {output}")
        if plot is not None:
            from transformers import AutoConfig

            from ..publishing.charts import plot_evaluation

            trained_on = getattr(AutoConfig.from_pretrained(args.model), "trained_on", None)
            shown = "/".join(Path(args.model).resolve().parts[-2:])
            several = len(results.get("scenarios", {})) > 1
            plot_evaluation(results, plot, title=f"{shown} on {args.split}: weighted-F1 per scenario" if several else None,
                            trained_on=trained_on)
            print(f"chart written to {plot}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``emoje-evaluate`` (also runs under ``accelerate launch -m training.cli.evaluate``)."""
    return run_command("emoje-evaluate", run_cli, argv)


__all__ = ["main", "run_cli"]


if __name__ == "__main__":
    sys.exit(main())
