"""Throughput of `emoje-predict` on a prepared split: conversations/s and turns/s per batch size and process count.

Each setting is one fresh `emoje-predict` command (`python -m training.cli.predict`, or `accelerate launch
--num_processes N -m training.cli.predict` for N > 1) writing a new output file, one torch thread per process. The
figure is the command's own timing (its last log line): from the first prediction until every process has written
and the parts are merged, i.e. without start-up (imports, model and data loading); the command's wall time, start-up
included, is recorded beside it.

    python -m benchmarks.predict_speed --model runs/demo/model --data data/meld --split test
    python -m benchmarks.predict_speed --model runs/demo/model --data runs/demo/data --batch-sizes 1 16 --processes 1
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.environment import command_line, load_average, machine_info, write_result

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "predict_speed.json"
SUMMARY = re.compile(r"predicted (\d+) conversations \((\d+) turns\) in ([\d.]+) s")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.predict_speed", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="exported model directory")
    parser.add_argument("--data", required=True, help="prepared data directory")
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16, 64], help="conversations per forward pass")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="process counts (accelerate launch for > 1)")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="results JSON")
    return parser.parse_args(argv)


def predict_command(args: argparse.Namespace, batch_size: int, processes: int, output: Path) -> list[str]:
    options = [
        "--model", args.model, "--data", args.data, "--split", args.split, "--output", str(output),
        "--batch-size", str(batch_size), "--no-progress",
    ]
    if processes == 1:
        return [sys.executable, "-m", "training.cli.predict", *options]
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", str(processes)]
    return [*launch, "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "training.cli.predict", *options]


def measure(args: argparse.Namespace, batch_size: int, processes: int) -> dict[str, Any]:
    """One fresh emoje-predict run; its own timing of the predictions and the command's wall time."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false",
               HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO_ROOT))
    with tempfile.TemporaryDirectory() as scratch:
        command = predict_command(args, batch_size, processes, Path(scratch) / "predictions.jsonl")
        started = time.perf_counter()
        completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-3000:]}")
    conversations, turns, seconds = SUMMARY.findall(completed.stderr)[-1]
    conversations, turns, seconds = int(conversations), int(turns), float(seconds)
    return {
        "batch_size": batch_size, "processes": processes, "threads_per_process": 1,
        "conversations": conversations, "turns": turns, "seconds": seconds, "command_wall_seconds": round(wall, 2),
        "conversations_per_second": round(conversations / seconds, 1), "turns_per_second": round(turns / seconds, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] = {"command": command_line("benchmarks.predict_speed", argv), "machine": machine_info(), "runs": []}
    for processes in args.processes:
        for batch_size in args.batch_sizes:
            run = measure(args, batch_size, processes)
            print(
                f"{processes} process(es), batch {batch_size:>3}: {run['conversations_per_second']:8.1f} conversations/s, "
                f"{run['turns_per_second']:8.1f} turns/s ({run['seconds']:.2f} s; command {run['command_wall_seconds']:.1f} s)",
                flush=True,
            )
            result["runs"].append(run)
    result["load_average_end"] = load_average()
    write_result(Path(args.output), result)
    print(f"results written to {args.output}")
    return 0


__all__ = ["main", "measure", "parse_args", "predict_command"]


if __name__ == "__main__":
    sys.exit(main())
