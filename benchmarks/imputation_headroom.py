"""How much can imputing missing modes add? Scenario specialists against one missing-modality generalist.

    python -m benchmarks.imputation_headroom                  # seed 0, the 4 single-mode scenarios, about 12 minutes
    python -m benchmarks.imputation_headroom --scenarios text+audio+face+body privacy --seeds 0 1   # privacy's cost
    python -m benchmarks.imputation_headroom --tiny --output /tmp/h.json     # seconds: checks the plumbing only

An imputed mode is a function of the modes that are present, so it holds no information about the emotion that they
do not hold: a model fed ``(x_S, g(x_S))`` can do no better than the best model of ``x_S`` alone. What imputation can
still change is how well a model trained for every scenario at once (with modality dropout) uses ``x_S``. This
measures that room on the controlled synthetic corpus of `benchmarks.robustness`: per scenario ``S``, a *specialist*
(AM^2-EmoJE without the joint embedding, given only the modes of ``S``, trained and validated on them alone, no
modality dropout) against the *generalist* (the same model with all modes and the benchmark's modality dropout, the
``emoje_no_joint`` of the robustness benchmark, scored with only ``S`` kept). ``headroom = specialist - generalist``:
where it is below 2 points, no missing-mode method built on the generalist (imputation included) can add 2 points
there, short of changing what the generalist learns from the present modes. Test weighted-F1, choices by validation.

With the full scenario and ``privacy`` (every mode but the face) both measured, the run also reports the
*specialists'* full-minus-privacy gap: what the face adds for a model built for each input set alone, i.e. the
privacy cost no model of this family can avoid on the corpus (`privacy_gap`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.environment import load_average, run_record
from benchmarks.runner import add_run_options, run_from_command_line
from benchmarks.robustness import (
    SIZES,
    _load_corpus,
    build_model,
    parse_overrides,
    train_model,
    with_overrides,
)
from training.evaluation.evaluate import evaluate_model
from training.evaluation.scenarios import PRIVACY, modality_scenarios, scenario_name

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "imputation_headroom.json"
DEFAULT_WORK_DIR = REPO_ROOT / "benchmarks" / "work" / "imputation_headroom"
GENERALIST = "emoje_no_joint"


def _train_and_score(args, name: str, dims: dict[str, int], train, validation, test, scenarios, seed: int, **changes):
    """Train model ``name`` (with config ``changes``) on ``train``; test and validation weighted-F1 per scenario."""
    from transformers import set_seed

    set_seed(seed)
    settings = with_overrides(SIZES[args.size], {**parse_overrides(args.set), **changes})
    labels = train.label_names
    model = build_model(name, dims, labels, settings=settings)
    run_dir = Path(args.work_dir) / f"{name}-{'+'.join(dims)}-seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    info = train_model(model, train, validation, seed, run_dir, args.size)
    shutil.rmtree(run_dir, ignore_errors=True)
    scores = {}
    for split, dataset in (("test", test), ("validation", validation)):
        result = evaluate_model(model, dataset, scenarios, batch_size=16)["scenarios"]
        scores[split] = {key: round(value["weighted_f1"], 4) for key, value in result.items()}
    return scores, info


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    load_at_start = load_average()
    corpus, splits = _load_corpus(args)
    dims = dict(splits["train"].feature_dims)
    everything = {s.name: s for s in modality_scenarios(splits["test"].available_modalities)}
    wanted = args.scenarios or [name for name, s in everything.items() if len(s.keep) == 1]
    unknown = sorted(set(wanted) - set(everything))
    if unknown:
        raise ValueError(f"--scenarios has unknown names {unknown}; choose from {sorted(everything)}")
    scenarios = [everything[name] for name in wanted]
    per_seed = {}
    for seed in args.seeds:
        generalist, info = _train_and_score(
            args, GENERALIST, dims, splits["train"], splits["validation"], splits["test"], scenarios, seed
        )
        rows = {}
        for scenario in scenarios:
            keep = [m for m in dims if m in scenario.keep]
            views = {split: dataset.with_scenario(keep) for split, dataset in splits.items()}
            specialist, specialist_info = _train_and_score(
                args, GENERALIST, {m: dims[m] for m in keep}, views["train"], views["validation"], views["test"],
                [scenario], seed, modality_dropout=0.0,
            )
            rows[scenario.name] = {
                "generalist": generalist["test"][scenario.name],
                "specialist": specialist["test"][scenario.name],
                "headroom": round(specialist["test"][scenario.name] - generalist["test"][scenario.name], 4),
                "validation_generalist": generalist["validation"][scenario.name],
                "validation_specialist": specialist["validation"][scenario.name],
                "specialist_best_epoch": specialist_info["best_epoch"],
            }
            print(
                f"[imputation_headroom] seed {seed} {scenario.name}: generalist {100 * rows[scenario.name]['generalist']:.1f} "
                f"specialist {100 * rows[scenario.name]['specialist']:.1f}",
                flush=True,
            )
        per_seed[str(seed)] = {"scenarios": rows, "generalist_best_epoch": info["best_epoch"]}
    headroom = {
        name: round(float(np.mean([per_seed[s]["scenarios"][name]["headroom"] for s in per_seed])), 4) for name in wanted
    }
    return {
        **run_record("imputation_headroom", args.argv, load_at_start, started),
        **privacy_gap(per_seed, scenario_name(dims)),
        "size": args.size,
        "seeds": list(args.seeds),
        "model_overrides": parse_overrides(args.set),
        "generalist": f"{GENERALIST} of benchmarks.robustness (all modes, modality dropout), scored with each scenario's modes",
        "specialist": f"{GENERALIST} given only the scenario's modes, trained and validated on them, modality_dropout=0",
        "metric": "weighted-F1 on the complete test split, each scenario keeping only the named modalities",
        "per_seed": per_seed,
        "headroom_mean": headroom,
        "headroom_over_scenarios": round(float(np.mean(list(headroom.values()))), 4),
    }


def privacy_gap(per_seed: dict[str, Any], full: str) -> dict[str, Any]:
    """``{"privacy_gap": ...}``: full minus privacy test weighted-F1 of the specialists and of the generalist, per
    seed and mean, when both scenarios were measured; ``{}`` otherwise."""
    seeds = list(per_seed.values())
    if not seeds or not {full, PRIVACY} <= set(seeds[0]["scenarios"]):
        return {}
    gap = {}
    for model in ("specialist", "generalist"):
        values = [round(seed["scenarios"][full][model] - seed["scenarios"][PRIVACY][model], 4) for seed in seeds]
        gap[model] = {"per_seed": values, "mean": round(float(np.mean(values)), 4)}
    return {"privacy_gap": {"description": f"{full} minus {PRIVACY} (no face), test weighted-F1", **gap}}


def format_summary(result: dict[str, Any]) -> str:
    """Per scenario: generalist, specialist and headroom (percent, mean over seeds)."""
    width = max([12, *(len(name) + 2 for name in result["headroom_mean"])])
    lines = [f"{'scenario':<{width}}{'generalist':>12}{'specialist':>12}{'headroom':>10}"]
    seeds = list(result["per_seed"].values())
    for name, headroom in result["headroom_mean"].items():
        generalist = np.mean([seed["scenarios"][name]["generalist"] for seed in seeds])
        specialist = np.mean([seed["scenarios"][name]["specialist"] for seed in seeds])
        lines.append(f"{name:<{width}}{100 * generalist:>12.1f}{100 * specialist:>12.1f}{100 * headroom:>+10.1f}")
    lines.append(f"mean headroom over these scenarios: {100 * result['headroom_over_scenarios']:+.2f} points")
    if "privacy_gap" in result:
        gap = result["privacy_gap"]
        lines.append(
            f"full minus privacy: specialists {100 * gap['specialist']['mean']:+.1f} points, "
            f"generalist {100 * gap['generalist']['mean']:+.1f} points"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.imputation_headroom", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", help="scenario names, e.g. text audio+face privacy (default: the single modes)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="training seeds (default 0)")
    parser.add_argument("--corpus-seed", type=int, default=0, help="seed of the synthetic corpus (default 0)")
    parser.add_argument("--num-dialogues", type=int, nargs=3, metavar=("TRAIN", "VALIDATION", "TEST"), help="corpus size")
    parser.add_argument("--size", choices=sorted(SIZES), default="default", help="model/training size (tiny: plumbing check)")
    parser.add_argument("--tiny", action="store_const", const="tiny", dest="size", help="same as --size tiny")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override an AM^2-EmoJE config field")
    add_run_options(parser, DEFAULT_OUTPUT.relative_to(REPO_ROOT), DEFAULT_WORK_DIR)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_from_command_line(argv, parse_args, run, format_summary, chart=False)


__all__ = ["GENERALIST", "format_summary", "main", "privacy_gap", "run"]


if __name__ == "__main__":
    main()
    sys.exit(0)
