"""`emoje-demo`: the package's main job end to end on a machine with no corpus, in a few minutes on 2 CPU cores.

    emoje-demo --output-dir runs/demo [--corpus auto|meld|synthetic] [--meld-dir DIR] [--no-download]

prepare -> train (checkpoints in ``OUTPUT_DIR/training``) -> evaluate (every missing-modality scenario) -> export to
``OUTPUT_DIR/model`` -> predict one test conversation through the pipeline -> print the next steps
(`training.demo.run`). The corpus is MELD's text annotations when they can be had, else synthetic features, said
loudly (`training.demo.corpus`). A step that fails ends the demo with one line naming the step (``--debug`` shows the
traceback) and exit status 1; bad options or folders are one line and exit status 2 (`training.cli.errors`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dataset_scripts.cli_errors import quiet_libraries
from dataset_scripts.cli_logging import configure_logging
from dataset_scripts.meld_download import download_allowed

from ..demo.corpus import MELD_SUBSET, MELD_URL_VARIABLE, SYNTHETIC_SIZES
from ..demo.run import CONFIG_PATH, DemoStepError, run_demo
from .errors import add_common_options, report_errors


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emoje-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default="runs/demo", help="where every artefact goes; the model goes to OUTPUT_DIR/model (default runs/demo)")
    parser.add_argument(
        "--corpus", choices=("auto", "meld", "synthetic"), default="auto",
        help="auto: MELD's text annotations (local, cached or downloaded) with the offline text encoder, else synthetic",
    )
    parser.add_argument("--meld-dir", default=None, help="folder with the official MELD *_sent_emo.csv files")
    parser.add_argument(
        "--no-download", action="store_true",
        help=f"never download the MELD CSVs (also: HF_DATASETS_OFFLINE=1 or EMOJE_OFFLINE=1); ${MELD_URL_VARIABLE} sets a mirror",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dialogues", default=None,
        help=f"dialogues in train,validation,test (default {','.join(map(str, MELD_SUBSET))} for MELD, "
        f"{','.join(map(str, SYNTHETIC_SIZES))} synthetic)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: 1 per process, fastest for this size)")
    parser.epilog = "Any other option goes to emoje-train (e.g. --max_steps 50 --hidden_size 32)."
    return add_common_options(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``emoje-demo``: runs the steps; a failing step is one line on stderr and exit status 1."""
    args, train_options = _parser().parse_known_args(argv)
    configure_logging(args.quiet)
    quiet_libraries(args.verbose)

    def demo() -> None:
        sizes = [int(n) for n in args.dialogues.split(",")] if args.dialogues else None
        if sizes is not None and (len(sizes) != 3 or min(sizes) < 1):
            raise SystemExit(f"emoje-demo: --dialogues needs three positive counts (train,validation,test), got {args.dialogues!r}")
        run_demo(
            args.output_dir, corpus=args.corpus, meld_dir=args.meld_dir, download=not args.no_download and download_allowed(),
            seed=args.seed, dialogues=sizes, threads=args.threads, train_options=train_options,
        )

    return report_errors("emoje-demo", demo, debug=args.debug, step_errors=(DemoStepError,))


# `CONFIG_PATH` is the emoje-train config the demo trains with (what a README's `emoje-demo` line is checked with).
__all__ = ["CONFIG_PATH", "main"]

if __name__ == "__main__":
    sys.exit(main())
