"""Real multimodal features: RAVDESS speech clips (OpenFace action units + MFCC statistics), actor split.

    python -m benchmarks.real_features                       # 3 seeds, every model, about 15 minutes on 2 cores
    python -m benchmarks.real_features --seeds 0 --models emoje,concat_zeros --output /tmp/r.json
    python -m benchmarks.real_features --tiny --output /tmp/r.json    # seconds: checks the plumbing only

The corpus is `../shared/data/ravdess/ravdess_features.parquet` (1,440 clips, 8 emotions, pre-extracted features as a
researcher holds them), prepared by the package's own bring-your-own-features builder
(`dataset_scripts.ravdess.build_ravdess`, the same as ``emoje-prepare features``) with the actor split 1-16 / 17-20 /
21-24 (960 / 240 / 240 clips). Each model is trained with the package's Trainer (`training.train.trainer.ERCTrainer`, which
fits the feature normalisation on the training split), with the model and training settings of the shipped
small-corpus recipe (``--config``, default `training/configs/features_small.yaml`), the best checkpoint chosen by
validation weighted-F1. Scenarios: audio, face, audio+face (``privacy`` = audio here: there is no body stream).

Models (``--models``; the reference is measured in the same run):
    linear_probe        standardized logistic regression on the scenario's pooled features (the issue's reference)
    concat_zeros        concatenation fusion with modality dropout (`benchmarks.baselines`)
    emoje               AM^2-EmoJE
    emoje_no_joint      AM^2-EmoJE without the joint embedding (no imputation, none of its losses)
    emoje_unnormalized  AM^2-EmoJE with ``feature_normalization="none"`` (what a user got before normalisation)
    cmarr               CM-ARR

Targets (reported, not asserted): AM^2-EmoJE >= the linear probe in every scenario, and >= the concatenation
baseline on the scenario mean. Model choices were made on the validation actors; test scores are reported.
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
import yaml

from benchmarks.runner import add_run_options, run_from_command_line
from benchmarks.environment import load_average, run_record
from benchmarks.robustness import SIZES, build_model, linear_probe_reference, parse_overrides, train_model, with_overrides
from training.evaluation.evaluate import evaluate_model
from training.evaluation.scenarios import PRIVACY, modality_scenarios
from training.train.collator import DialogueDataset

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PARQUET = REPO_ROOT.parent / "shared" / "data" / "ravdess" / "ravdess_features.parquet"
DEFAULT_CONFIG = REPO_ROOT / "training" / "configs" / "features_small.yaml"
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "real_features.json"
DEFAULT_WORK_DIR = REPO_ROOT / "benchmarks" / "work" / "real_features"
# Models drawn in the chart written next to the JSON (in this order).
CHART_MODELS = ("linear_probe", "concat_zeros", "emoje", "emoje_no_joint", "emoje_unnormalized", "cmarr")
MODEL_NAMES: tuple[str, ...] = ("concat_zeros", "emoje", "emoje_no_joint", "emoje_unnormalized", "cmarr")
PROBE = "linear_probe"
# CM-ARR takes these fields from the recipe's model section; the rest of its settings are the robustness sizes'.
CMARR_SHARED_FIELDS: tuple[str, ...] = ("hidden_size", "dropout", "feature_normalization", "classifier_dropout", "focal_gamma")
# Training-argument keys of a recipe that the benchmark's own Trainer settings replace (it never writes checkpoints to keep).
IGNORED_TRAINING_KEYS: tuple[str, ...] = ("output_dir", "seed", "save_total_limit", "logging_steps", "per_device_eval_batch_size")


def recipe_settings(config_path: str | Path, size: str = "default") -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Model settings (``{"emoje": ..., "cmarr": ...}``) and Trainer settings of an ``emoje-train`` YAML recipe.

    ``size="tiny"`` keeps the tiny plumbing-check sizes of `benchmarks.robustness.SIZES` instead.
    """
    if size == "tiny":
        return {key: dict(SIZES["tiny"][key]) for key in ("emoje", "cmarr")}, dict(SIZES["tiny"]["training"])
    content = yaml.safe_load(Path(config_path).read_text()) or {}
    model = dict(content.get("model") or {})
    cmarr = {**SIZES["default"]["cmarr"], **{key: model[key] for key in CMARR_SHARED_FIELDS if key in model}}
    training = {k: v for k, v in (content.get("training") or {}).items() if k not in IGNORED_TRAINING_KEYS}
    training["patience"] = int(content.get("early_stopping_patience") or 0)
    return {"emoje": model, "cmarr": cmarr}, training


def summarize(per_seed: dict[int, dict[str, float]]) -> dict[str, Any]:
    """Mean and standard deviation over seeds of each scenario's weighted-F1, and of the scenario mean."""
    scenarios = list(next(iter(per_seed.values())))
    table = {name: [per_seed[seed][name] for seed in per_seed] for name in scenarios}
    means = [float(np.mean([per_seed[seed][name] for name in scenarios])) for seed in per_seed]
    return {
        "weighted_f1_mean": {name: round(float(np.mean(v)), 4) for name, v in table.items()},
        "weighted_f1_std": {name: round(float(np.std(v)), 4) for name, v in table.items()},
        "scenario_mean": round(float(np.mean(means)), 4),
        "scenario_mean_std": round(float(np.std(means)), 4),
        "scenario_mean_per_seed": [round(v, 4) for v in means],
    }


def target_checks(models: dict[str, dict[str, Any]], scenarios: Sequence[str]) -> dict[str, Any]:
    """AM^2-EmoJE against the linear probe per scenario and against the concatenation baseline on the mean."""
    checks: dict[str, Any] = {}
    if "emoje" not in models:
        return checks
    emoje = models["emoje"]["summary"]
    if PROBE in models:
        probe = models[PROBE]["summary"]["weighted_f1_mean"]
        for name in scenarios:
            gap = round(emoje["weighted_f1_mean"][name] - probe[name], 4)
            checks[f"emoje_vs_linear_probe_{name}"] = {"value": gap, "target": ">= 0 points", "met": gap >= 0}
    if "concat_zeros" in models:
        gap = round(emoje["scenario_mean"] - models["concat_zeros"]["summary"]["scenario_mean"], 4)
        checks["emoje_vs_concat_scenario_mean"] = {"value": gap, "target": ">= 0 points", "met": gap >= 0}
    return checks


def load_corpus(parquet: Path):
    """The RAVDESS actor-split DatasetDict, built by the package's bring-your-own-features route."""
    from dataset_scripts.ravdess import build_ravdess

    return build_ravdess(parquet)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from transformers import set_seed

    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    load_at_start = load_average()
    requested = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = sorted(set(requested) - set(MODEL_NAMES) - {PROBE})
    if unknown:
        raise ValueError(f"--models has unknown names {unknown}; choose from {(PROBE, *MODEL_NAMES)}")
    corpus = load_corpus(Path(args.parquet))
    labels = corpus["train"].features["label"].names
    splits = {name: DialogueDataset(corpus[name], name=name) for name in ("train", "validation", "test")}
    dims = dict(splits["train"].feature_dims)
    scenarios = [s for s in modality_scenarios(splits["test"].available_modalities) if s.name != PRIVACY]
    names = [s.name for s in scenarios]
    model_settings, training_settings = recipe_settings(args.config, args.size)
    model_settings = with_overrides(model_settings, parse_overrides(args.set))

    models: dict[str, dict[str, Any]] = {}
    if PROBE in requested:
        per_seed, validation = {}, {}
        for seed in args.seeds:
            scores = linear_probe_reference(splits["train"], splits["test"], scenarios, seed=seed)
            dev = linear_probe_reference(splits["train"], splits["validation"], scenarios, seed=seed)
            per_seed[seed] = {name: scores[name]["weighted_f1"] for name in names}
            validation[seed] = {name: dev[name]["weighted_f1"] for name in names}
        models[PROBE] = {
            "scenarios": {str(s): v for s, v in per_seed.items()},
            "validation_scenarios": {str(s): v for s, v in validation.items()},
            "summary": summarize(per_seed),
            "validation_summary": summarize(validation),
        }
    for name in [n for n in requested if n != PROBE]:
        per_seed, validation, runs = {}, {}, {}
        config = None
        for seed in args.seeds:
            set_seed(seed)
            model = build_model(name, dims, labels, settings=model_settings)
            config = model.config.to_diff_dict()
            run_dir = Path(args.work_dir) / f"{name}-seed{seed}"
            shutil.rmtree(run_dir, ignore_errors=True)
            info = train_model(model, splits["train"], splits["validation"], seed, run_dir, args.size, **training_settings)
            test = evaluate_model(model, splits["test"], scenarios, batch_size=64)["scenarios"]
            dev = evaluate_model(model, splits["validation"], scenarios, batch_size=64)["scenarios"]
            per_seed[seed] = {n: test[n]["weighted_f1"] for n in names}
            validation[seed] = {n: dev[n]["weighted_f1"] for n in names}
            runs[seed] = info
            shutil.rmtree(run_dir, ignore_errors=True)
            print(
                f"[real_features] {name} seed {seed}: "
                + " ".join(f"{n} {100 * per_seed[seed][n]:.1f}" for n in names)
                + f" ({info['train_seconds']} s, best epoch {info['best_epoch']})",
                flush=True,
            )
        models[name] = {
            "config": {k: v for k, v in config.items() if k not in ("id2label", "label2id")},
            "runs": {str(seed): runs[seed] for seed in args.seeds},
            "scenarios": {str(seed): per_seed[seed] for seed in args.seeds},
            "validation_scenarios": {str(seed): validation[seed] for seed in args.seeds},
            "summary": summarize(per_seed),
            "validation_summary": summarize(validation),
        }
    return {
        **run_record("real_features", args.argv, load_at_start, started),
        "corpus": {
            "name": "RAVDESS speech (OpenFace action units + MFCC statistics per clip)",
            "parquet": str(args.parquet),
            "protocol": "actors 1-16 train, 17-20 validation, 21-24 test",
            "utterances": {split: dataset.num_utterances for split, dataset in splits.items()},
            "dims": dims,
            "labels": list(labels),
        },
        "recipe": str(args.config) if args.size != "tiny" else "tiny",
        "model_overrides": parse_overrides(args.set),
        "training": training_settings,
        "seeds": list(args.seeds),
        "metric": "weighted-F1 on the test actors, each scenario keeping only the named modalities",
        "scenarios": names,
        "models": models,
        "targets": target_checks(models, names),
    }


def format_summary(result: dict[str, Any]) -> str:
    """A model x scenario table of mean ± std test weighted-F1 (percent), the scenario mean and the targets."""
    names = result["scenarios"]
    lines = [f"{'model':<20}" + "".join(f"{n:>16}" for n in [*names, "mean"])]
    for model, entry in result["models"].items():
        summary = entry["summary"]
        cells = [f"{100 * summary['weighted_f1_mean'][n]:.1f} ± {100 * summary['weighted_f1_std'][n]:.1f}" for n in names]
        cells.append(f"{100 * summary['scenario_mean']:.1f} ± {100 * summary['scenario_mean_std']:.1f}")
        lines.append(f"{model:<20}" + "".join(f"{c:>16}" for c in cells))
    for key, check in result["targets"].items():
        lines.append(f"{key}: {100 * check['value']:+.2f} points (target {check['target']}) -> {'met' if check['met'] else 'NOT met'}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_features", description=__doc__.split("\n\n")[0])
    parser.add_argument("--parquet", default=str(DEFAULT_PARQUET), help="the RAVDESS features parquet (default: ../shared)")
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), help="emoje-train recipe whose model/training settings are used")
    parser.add_argument("--models", default=",".join((PROBE, *MODEL_NAMES)), help="comma-separated subset of the models")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE",
        help="override a model field of the recipe (repeatable), e.g. --set acn_layers=2: how the recipe was chosen",
    )
    parser.add_argument("--size", choices=("default", "tiny"), default="default", help="tiny: plumbing check only")
    parser.add_argument("--tiny", action="store_const", const="tiny", dest="size", help="same as --size tiny")
    add_run_options(parser, DEFAULT_OUTPUT.relative_to(REPO_ROOT), DEFAULT_WORK_DIR)
    return parser.parse_args(argv)


def _check_parquet(args: argparse.Namespace) -> None:
    if not Path(args.parquet).is_file():
        raise SystemExit(f"the RAVDESS features parquet {args.parquet} was not found (pass --parquet PATH)")


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_from_command_line(argv, parse_args, run, format_summary, CHART_MODELS, check=_check_parquet)


__all__ = ["MODEL_NAMES", "format_summary", "main", "recipe_settings", "run", "summarize", "target_checks"]


if __name__ == "__main__":
    main()
    sys.exit(0)
