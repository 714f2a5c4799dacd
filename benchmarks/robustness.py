"""Missing-modality robustness on the controlled synthetic corpus (`dataset_scripts.synthetic`, preset "controlled").

Trains each model with the package's own training code (`training.train.trainer.ERCTrainer`, `DialogueDataset`,
`DialogueCollator`, best checkpoint by validation weighted-F1, early stopping) and scores the complete test
split under every evaluation scenario of `training.evaluation.scenarios` (the 15 non-empty subsets of
text/audio/face/body plus ``privacy``) with `training.evaluation.evaluate.evaluate_model`.

Models (``--models``):
    concat_zeros     same mode encoders + attention pooling + dialogue context as AM^2-EmoJE, concatenation
                     fusion, absent modes as zero vectors (`benchmarks.baselines`), trained with modality
                     dropout (0.3, its better setting on validation)
    concat_zeros_no_dropout   the same without training-time modality dropout: the plain "feed zeros" practice
                     (it only sees the corpus' naturally missing modalities while training)
    emoje            AM^2-EmoJE, joint embedding on (missing modes imputed at test time), with the settings chosen
                     on this corpus's validation split: no cross-attended layers (``acn_layers=0``) and modality
                     dropout 0.5 (`SIZES`; the grid and its scores are in benchmarks/README.md)
    emoje_no_joint   AM^2-EmoJE without the joint embedding: ``use_joint_embedding=False`` (no mode switching)
                     and ``joint_weight=0`` (none of its losses train the model); everything else identical
    emoje_paper      AM^2-EmoJE with the paper's depth: two cross-attended layers, modality dropout 0.3
    cmarr            CM-ARR (default three modes: text, audio, visual = face + body), with dialogue context

The trained ``emoje`` model is also re-scored with imputation switched off at test time only (same weights),
reported as ``emoje/imputation_off_at_test``: it says whether the imputed modes help the model that was trained with them.

Targets (reported, not asserted): the joint embedding adds >= 2 points of weighted-F1 averaged over the
missing scenarios (every subset but the full one); privacy mode within 2 points of full.

    python -m benchmarks.robustness --jobs 2                        # 3 seeds, about 15 minutes on 2 cores
    python -m benchmarks.robustness --seeds 0 --models emoje,emoje_no_joint --output /tmp/r.json
    python -m benchmarks.robustness --tiny --output /tmp/r.json      # seconds: checks the plumbing only
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

from benchmarks.runner import add_run_options, run_from_command_line
from benchmarks.environment import load_average, run_record
from dataset_scripts.synthetic import make_controlled_corpus
from dataset_scripts.schema import dataset_metadata
from benchmarks.baselines import CONCAT_MODEL_TYPE, SHARED_FIELDS, concat_options
from modeling_emoje import MODALITIES, EmoJEForEmotionRecognition, model_specs
from training.evaluation.evaluate import evaluate_model
from training.evaluation.metrics import IGNORE_INDEX, compute_erc_metrics
from training.evaluation.scenarios import PRIVACY, modality_scenarios, scenario_name
from training.train.collator import DialogueCollator, DialogueDataset

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "robustness.json"
DEFAULT_WORK_DIR = REPO_ROOT / "benchmarks" / "work" / "robustness"
# Models drawn in the chart written next to the JSON (in this order).
CHART_MODELS = ("concat_zeros", "emoje", "emoje_no_joint", "emoje_paper", "cmarr", "linear_probe")
MODEL_NAMES: tuple[str, ...] = ("concat_zeros_no_dropout", "concat_zeros", "emoje", "emoje_no_joint", "emoje_paper", "cmarr")
TEST_TIME_OFF = "emoje/imputation_off_at_test"
TARGET_POINTS = 0.02

# Model sizes. "default" is what the committed results use; "tiny" only checks the plumbing. "emoje" holds
# AM^2-EmoJE's settings, which the concatenation baselines share (`concat_options`) except where "concat" says
# otherwise. Each model's modality dropout (0.3 or 0.5) and AM^2-EmoJE's number of cross-attended layers (0, 1, 2)
# were chosen on the validation split, seeds 0 and 1 (benchmarks/README.md, "What was tried").
SIZES: dict[str, dict[str, Any]] = {
    "default": {
        "emoje": dict(
            hidden_size=64, encoder_layers=1, encoder_heads=4, acn_layers=0, acn_heads=4, joint_embedding_size=32,
            context_hidden_size=64, context_layers=1, modality_dropout=0.5,
        ),
        "concat": dict(modality_dropout=0.3),
        "cmarr": dict(
            hidden_size=64, latent_size=32, flow_blocks=4, flow_hidden_size=64, fusion_layers=1, fusion_heads=4,
            use_dialogue_context=True, context_hidden_size=64, context_layers=1,
        ),
        "training": dict(num_train_epochs=30, per_device_train_batch_size=16, learning_rate=1e-3, weight_decay=2e-4, patience=6),
        "corpus": dict(num_dialogues=(240, 60, 80)),
    },
    "tiny": {
        "emoje": dict(
            hidden_size=16, encoder_layers=1, encoder_heads=2, acn_layers=1, acn_heads=2, joint_embedding_size=8,
            context_hidden_size=8, context_layers=1, modality_dropout=0.3,
        ),
        "cmarr": dict(
            hidden_size=16, latent_size=8, flow_blocks=1, flow_hidden_size=16, fusion_layers=1, fusion_heads=2,
            use_dialogue_context=True, context_hidden_size=8, context_layers=1,
        ),
        "training": dict(num_train_epochs=1, per_device_train_batch_size=4, learning_rate=1e-3, weight_decay=0.0, patience=0),
        "corpus": dict(num_dialogues=(6, 3, 3), dims={"text": 8, "audio": 4, "face": 6, "body": 5}),
    },
}


# Variants of a model: name -> (base model, config changes). The base names are built by `build_model`.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "emoje_paper": ("emoje", dict(acn_layers=2, modality_dropout=0.3)),
    "emoje_no_joint": ("emoje", dict(use_joint_embedding=False, joint_weight=0.0, reconstruction_weight=0.0)),
    "emoje_unnormalized": ("emoje", dict(feature_normalization="none")),
    "concat_zeros_no_dropout": ("concat_zeros", dict(modality_dropout=0.0)),
}


def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as a dict, values read as YAML (``0.5`` -> float, ``subsets`` -> str).

    Example:
        >>> parse_overrides(["acn_layers=1", "modality_masking=subsets"])
        {'acn_layers': 1, 'modality_masking': 'subsets'}
    """
    import yaml

    overrides = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def with_overrides(settings: dict[str, dict[str, Any]], overrides: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Model settings with ``overrides`` applied to AM^2-EmoJE (and so to the concatenation baselines, which copy its
    shared fields); the ones CM-ARR also has apply to it too."""
    from modeling_emoje.configuration_cmarr import CMARRConfig

    cmarr_fields = set(CMARRConfig().to_dict())
    return {
        **settings,
        "emoje": {**settings["emoje"], **overrides},
        "concat": {**settings.get("concat", {}), **{k: v for k, v in overrides.items() if k in SHARED_FIELDS}},
        "cmarr": {**settings["cmarr"], **{k: v for k, v in overrides.items() if k in cmarr_fields}},
    }


# Base model names -> (registered model_type (`modeling_emoje.model_specs`), the settings section their options come from).
BASE_MODELS: dict[str, tuple[str, str]] = {
    "emoje": ("emoje", "emoje"),
    "concat_zeros": (CONCAT_MODEL_TYPE, "emoje"),  # the baseline copies AM^2-EmoJE's shared settings
    "cmarr": ("cmarr", "cmarr"),
}


def build_model(
    name: str, dims: dict[str, int], labels: Sequence[str], size: str = "default",
    settings: dict[str, dict[str, Any]] | None = None,
):
    """The model called ``name`` (see the module docstring and `VARIANTS`) for data with ``dims`` and ``labels``,
    built by `modeling_emoje.model_specs.build_model`.

    ``settings`` (``{"emoje": {...}, "cmarr": {...}}``) replaces the size's model settings (a training recipe's)."""
    settings = settings or SIZES[size]
    base, changes = VARIANTS.get(name, (name, {}))
    if base not in BASE_MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {MODEL_NAMES + tuple(VARIANTS)}")
    model_type, section = BASE_MODELS[base]
    if model_type == CONCAT_MODEL_TYPE:  # AM^2-EmoJE's shared settings, then the baseline's own choices
        options = concat_options({**settings[section], **settings.get("concat", {}), **changes})
    else:
        options = {**settings[section], **changes}
    return model_specs.build_model(model_type, dims, labels, options)


def train_model(
    model, train: DialogueDataset, validation: DialogueDataset, seed: int, output_dir: Path, size: str = "default",
    **overrides: Any,
) -> dict[str, Any]:
    """Train ``model`` in place with `ERCTrainer` (the package's Trainer); returns what the run did.

    ``overrides`` replace entries of ``SIZES[size]["training"]`` (``num_train_epochs``, ``patience``, ...).
    """
    from transformers import TrainingArguments, set_seed
    from transformers.trainer_callback import PrinterCallback

    from training.train.trainer import ERCTrainer, default_training_arguments, early_stopping

    settings = {**SIZES[size]["training"], **{k: v for k, v in overrides.items() if v is not None}}
    patience = settings.pop("patience")
    set_seed(seed)
    arguments = {
        **default_training_arguments(),
        "output_dir": str(output_dir),
        "per_device_eval_batch_size": 16,
        "lr_scheduler_type": "linear",
        "warmup_steps": 0.05,
        "logging_strategy": "epoch",
        "save_total_limit": 1,
        "save_only_model": True,
        "use_cpu": True,
        "seed": seed,
        "disable_tqdm": True,
        **settings,
    }
    trainer = ERCTrainer(
        model=model,
        args=TrainingArguments(**arguments),
        train_dataset=train,
        eval_dataset=validation,
        data_collator=DialogueCollator(keep_modalities=list(model.config.modality_dims)),
        callbacks=early_stopping(patience),
    )
    trainer.remove_callback(PrinterCallback)  # per-epoch log dicts; the summary line per run is enough
    started = time.perf_counter()
    output = trainer.train()
    best_step = None
    if trainer.state.best_model_checkpoint:
        best_step = int(Path(trainer.state.best_model_checkpoint).name.rsplit("-", 1)[-1])
    steps_per_epoch = max(1, trainer.state.max_steps // max(1, int(arguments["num_train_epochs"])))
    train_logs = [entry for entry in trainer.state.log_history if "loss" in entry and "eval_loss" not in entry]
    last_terms = {k: v for k, v in (train_logs[-1] if train_logs else {}).items() if k == "loss" or k.startswith("loss_")}
    validation_curve = [round(entry["eval_weighted_f1"], 4) for entry in trainer.state.log_history if "eval_weighted_f1" in entry]
    return {
        "train_seconds": round(time.perf_counter() - started, 1),
        "epochs_run": round(trainer.state.epoch or 0.0, 2),
        "best_epoch": round(best_step / steps_per_epoch, 2) if best_step else None,
        "best_validation_weighted_f1": trainer.state.best_metric,
        "train_loss": output.training_loss,
        "last_epoch_loss_terms": last_terms,
        "validation_weighted_f1_per_epoch": validation_curve,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def summarize(per_seed: dict[int, dict[str, dict[str, Any]]], full: str) -> dict[str, Any]:
    """Mean/std over seeds of each scenario's weighted-F1, and the mean over the missing scenarios."""
    names = list(next(iter(per_seed.values())))
    missing = [name for name in names if name not in (full, PRIVACY)]
    table = {name: [per_seed[seed][name]["weighted_f1"] for seed in per_seed] for name in names}
    missing_means = [float(np.mean([per_seed[seed][name]["weighted_f1"] for name in missing])) for seed in per_seed]
    return {
        "weighted_f1_mean": {name: round(float(np.mean(values)), 4) for name, values in table.items()},
        "weighted_f1_std": {name: round(float(np.std(values)), 4) for name, values in table.items()},
        "macro_f1_mean": {
            name: round(float(np.mean([per_seed[seed][name]["macro_f1"] for seed in per_seed])), 4) for name in names
        },
        "missing_scenarios": missing,
        "missing_mean_weighted_f1": round(float(np.mean(missing_means)), 4),
        "missing_mean_weighted_f1_per_seed": [round(value, 4) for value in missing_means],
        "full_weighted_f1": round(float(np.mean(table[full])), 4),
        "privacy_weighted_f1": round(float(np.mean(table[PRIVACY])), 4) if PRIVACY in table else None,
    }


def target_checks(models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The issue's two targets, computed from the summaries (None where a needed model was not run)."""
    checks: dict[str, Any] = {}
    if "emoje" in models and "emoje_no_joint" in models:
        with_joint, without = models["emoje"]["summary"], models["emoje_no_joint"]["summary"]
        per_seed = [
            round(a - b, 4)
            for a, b in zip(with_joint["missing_mean_weighted_f1_per_seed"], without["missing_mean_weighted_f1_per_seed"])
        ]
        gain = round(with_joint["missing_mean_weighted_f1"] - without["missing_mean_weighted_f1"], 4)
        checks["joint_embedding_gain_on_missing"] = {
            "description": "emoje minus emoje_no_joint, weighted-F1 averaged over the missing scenarios (same seeds)",
            "value": gain,
            "per_seed": per_seed,
            "target": f">= {100 * TARGET_POINTS:g} points",
            "met": gain >= TARGET_POINTS,
        }
    if "emoje" in models and TEST_TIME_OFF in models:
        gain = round(
            models["emoje"]["summary"]["missing_mean_weighted_f1"] - models[TEST_TIME_OFF]["summary"]["missing_mean_weighted_f1"], 4
        )
        checks["test_time_imputation_gain_on_missing"] = {
            "description": "emoje minus the same emoje weights without imputation at test time (diagnostic, no target)",
            "value": gain,
        }
    for name, model in models.items():
        summary = model["summary"]
        if summary.get("privacy_weighted_f1") is None or name == TEST_TIME_OFF:
            continue
        drop = round(summary["full_weighted_f1"] - summary["privacy_weighted_f1"], 4)
        checks[f"privacy_drop_{name}"] = {
            "description": f"{name}: full minus privacy weighted-F1",
            "value": drop,
            "target": f"<= {100 * TARGET_POINTS:g} points",
            "met": drop <= TARGET_POINTS,
        }
    return checks


@torch.no_grad()
def joint_embedding_diagnostics(model, dataset: DialogueDataset, batch_size: int = 16) -> dict[str, Any]:
    """What the joint embedding of a trained AM^2-EmoJE gives on ``dataset`` (complete modalities), per mode.

    For every present mode of every labelled utterance, the mode is imputed from the others (leave-one-out, as the
    Jensen-Shannon term does in training) and compared with its real descriptor: their cosine similarity, the
    accuracy of the per-mode descriptor classifier on the real and on the imputed descriptor, and how often the two
    predictions agree. ``imputed_weight`` is the mean fusion weight the model gives an imputed mode when that mode
    alone is withheld. Imputed descriptors that a classifier reads as well as the real ones would carry the
    missing mode's evidence; ones near chance carry none.
    """
    model.eval()
    collator = DialogueCollator(keep_modalities=list(model.config.modality_dims))
    sums: dict[str, dict[str, float]] = {}
    weight_sums: dict[str, list[float]] = {}
    for start in range(0, len(dataset), batch_size):
        batch = collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        labels = batch["labels"].flatten()
        outputs = model.emoje(**{k: v for k, v in batch.items() if k != "labels"}, compute_leave_one_out=True)
        real = outputs.descriptors.flatten(0, 1)
        loo = outputs.leave_one_out_descriptors.flatten(0, 1)
        loo_mask = outputs.leave_one_out_mask.flatten(0, 1).bool() & (labels != IGNORE_INDEX)[:, None]
        for index, modality in enumerate(MODALITIES):
            rows = loo_mask[:, index]
            if not rows.any():
                continue
            real_logits = model.descriptor_classifier(real[rows, index])
            imputed_logits = model.descriptor_classifier(loo[rows, index])
            entry = sums.setdefault(modality, dict.fromkeys(("n", "cosine", "real_correct", "imputed_correct", "agree"), 0.0))
            entry["n"] += int(rows.sum())
            entry["cosine"] += float(torch.nn.functional.cosine_similarity(real[rows, index], loo[rows, index], dim=-1).sum())
            entry["real_correct"] += float((real_logits.argmax(-1) == labels[rows]).sum())
            entry["imputed_correct"] += float((imputed_logits.argmax(-1) == labels[rows]).sum())
            entry["agree"] += float((real_logits.argmax(-1) == imputed_logits.argmax(-1)).sum())
        # Fusion weight of a mode when it alone is withheld (so it is imputed).
        for index, modality in enumerate(MODALITIES):
            if modality not in model.config.modality_dims or len(model.config.modality_dims) < 2:
                continue
            mask = batch["modality_mask"].clone()
            mask[..., index] = False
            usable = mask.any(-1) & batch["utterance_mask"].bool() & batch["modality_mask"][..., index]
            if not usable.any():
                continue
            mask = mask | (~mask.any(-1, keepdim=True))  # utterances left empty keep their modes; not counted
            withheld = model(**{k: v for k, v in batch.items() if k not in ("labels", "modality_mask")}, modality_mask=mask)
            weights = withheld.modality_weights[..., index][usable]
            weight_sums.setdefault(modality, []).extend(weights.tolist())
    result = {}
    for modality, entry in sums.items():
        n = max(entry["n"], 1.0)
        result[modality] = {
            "n": int(entry["n"]),
            "cosine_real_vs_imputed": round(entry["cosine"] / n, 4),
            "descriptor_accuracy_real": round(entry["real_correct"] / n, 4),
            "descriptor_accuracy_imputed": round(entry["imputed_correct"] / n, 4),
            "prediction_agreement": round(entry["agree"] / n, 4),
            "imputed_weight": round(float(np.mean(weight_sums[modality])), 4) if weight_sums.get(modality) else None,
        }
    return result


def pooled_utterances(dataset: DialogueDataset) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Per labelled utterance and modality of ``dataset``: the frame mean (zeros where absent) and whether the
    modality is present, as ``{modality: ((N, D) means, (N,) present)}``, and the (N,) labels."""
    blocks: dict[str, tuple[list, list]] = {modality: ([], []) for modality in dataset.feature_dims}
    labels = []
    for item in dataset:
        keep = item["labels"] != IGNORE_INDEX
        for modality, (means, present) in blocks.items():
            here = item["modality_mask"][:, MODALITIES.index(modality)]
            zeros = np.zeros(dataset.feature_dims[modality], np.float32)
            means.append(np.stack([f.mean(0) if h and len(f) else zeros for f, h in zip(item[f"{modality}_features"], here)])[keep])
            present.append(here[keep])
        labels.append(item["labels"][keep])
    pooled = {modality: (np.concatenate(means), np.concatenate(present)) for modality, (means, present) in blocks.items()}
    return pooled, np.concatenate(labels)


def scenario_columns(blocks, modalities: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The scenario's pooled features (`pooled_utterances` blocks) side by side and, per column, whether its modality
    is present."""
    x = np.concatenate([blocks[m][0] for m in modalities], 1)
    present = np.concatenate([np.repeat(blocks[m][1][:, None], blocks[m][0].shape[1], 1) for m in modalities], 1)
    return x, present


def fit_standardizer(x: np.ndarray, present: np.ndarray):
    """Standardization fitted on the present values of ``x``: returns ``f(values, present) -> standardized values``,
    absent values at 0 (the training mean)."""
    counts = np.maximum(present.sum(0), 1)
    mean = (x * present).sum(0) / counts
    std = np.sqrt((((x - mean) * present) ** 2).sum(0) / counts) + 1e-6
    return lambda values, where: np.where(where, (values - mean) / std, 0.0)


def linear_probe_reference(train: DialogueDataset, test: DialogueDataset, scenarios, seed: int = 0) -> dict[str, Any]:
    """A reference measured in the same run: for each scenario, a logistic regression trained on the scenario's
    modalities alone (standardized frame means of single utterances, no dialogue context, absent modes as the
    training mean) and scored on the complete test split. Its full-minus-privacy drop says how much of the facial
    evidence the body stream can stand in for on this corpus, for any model."""
    from sklearn.linear_model import LogisticRegression

    (train_blocks, y_train_all), (test_blocks, y_test) = pooled_utterances(train), pooled_utterances(test)
    scores = {}
    for scenario in scenarios:
        modalities = [m for m in MODALITIES if m in scenario.keep]
        x_train, present = scenario_columns(train_blocks, modalities)
        usable = present.any(1)
        x_train, present, y_train = x_train[usable], present[usable], y_train_all[usable]
        standardize = fit_standardizer(x_train, present)
        probe = LogisticRegression(C=0.1, max_iter=2000, random_state=seed)
        probe.fit(standardize(x_train, present), y_train)
        metrics = compute_erc_metrics(y_test, probe.predict(standardize(*scenario_columns(test_blocks, modalities))))
        scores[scenario.name] = {key: round(float(metrics[key]), 4) for key in ("weighted_f1", "macro_f1")}
    return scores


def _load_corpus(args: argparse.Namespace):
    """The controlled corpus of ``args`` and its three `DialogueDataset` splits (deterministic in the arguments)."""
    corpus_kwargs = dict(SIZES[args.size]["corpus"])
    if args.num_dialogues:
        corpus_kwargs["num_dialogues"] = tuple(args.num_dialogues)
    corpus = make_controlled_corpus(seed=args.corpus_seed, **corpus_kwargs)
    return corpus, {name: DialogueDataset(corpus[name], name=name) for name in ("train", "validation", "test")}


def _train_and_score(args: argparse.Namespace, name: str, seed: int, corpus_and_splits=None) -> dict[str, Any]:
    """Train model ``name`` with ``seed`` and score it on the test split under every scenario (one benchmark task;
    a worker process of ``--jobs`` rebuilds the same corpus from the arguments)."""
    from transformers import set_seed

    torch.set_num_threads(args.threads)
    corpus, splits = corpus_and_splits or _load_corpus(args)
    labels = corpus["train"].features["label"].names
    scenarios = modality_scenarios(splits["test"].available_modalities)
    full = scenario_name(splits["test"].available_modalities)
    set_seed(seed)  # model initialisation depends only on the seed, not on what ran before
    settings = with_overrides(SIZES[args.size], parse_overrides(getattr(args, "set", None)))
    model = build_model(name, dict(splits["train"].feature_dims), labels, settings=settings)
    run_dir = Path(args.work_dir) / f"{name}-seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    info = train_model(
        model, splits["train"], splits["validation"], seed, run_dir, args.size, num_train_epochs=args.epochs, patience=args.patience
    )
    evaluated = time.perf_counter()
    scores = evaluate_model(model, splits["test"], scenarios, batch_size=16)["scenarios"]
    info["evaluate_seconds"] = round(time.perf_counter() - evaluated, 1)
    # Model choices are made on validation: every run records its validation scenarios too.
    validation = evaluate_model(model, splits["validation"], scenarios, batch_size=16)["scenarios"]
    info["validation_weighted_f1"] = {name: round(value["weighted_f1"], 4) for name, value in validation.items()}
    info["validation_missing_mean_weighted_f1"] = round(
        float(np.mean([v["weighted_f1"] for k, v in validation.items() if k not in (full, PRIVACY)])), 4
    )
    if isinstance(model, EmoJEForEmotionRecognition) and model.emoje.joint_embedding is not None:
        info["joint_embedding_diagnostics"] = joint_embedding_diagnostics(model, splits["test"])
    switched_off = None
    if name == "emoje":
        model.config.use_joint_embedding = False  # same weights, no imputation at test time
        switched_off = evaluate_model(model, splits["test"], scenarios, batch_size=16)["scenarios"]
        model.config.use_joint_embedding = True
    shutil.rmtree(run_dir, ignore_errors=True)
    print(
        f"[robustness] {name} seed {seed}: full {scores[full]['weighted_f1']:.4f} "
        f"privacy {scores.get(PRIVACY, {}).get('weighted_f1', float('nan')):.4f} "
        f"({info['train_seconds']} s training, best epoch {info['best_epoch']})",
        flush=True,
    )
    return {"scores": scores, "info": info, "switched_off": switched_off, "config": model.config.to_diff_dict()}


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    load_at_start = load_average()
    requested = [name.strip() for name in args.models.split(",") if name.strip()]
    unknown = sorted(set(requested) - set(MODEL_NAMES) - set(VARIANTS))
    if unknown:
        raise ValueError(f"--models has unknown names {unknown}; choose from {MODEL_NAMES + tuple(VARIANTS)}")

    corpus, splits = _load_corpus(args)
    scenarios = modality_scenarios(splits["test"].available_modalities)
    full = scenario_name(splits["test"].available_modalities)

    tasks = [(name, seed) for name in requested for seed in args.seeds]
    if args.jobs > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            outcomes = list(pool.map(_train_and_score, [args] * len(tasks), *zip(*tasks)))
    else:
        outcomes = [_train_and_score(args, name, seed, corpus_and_splits=(corpus, splits)) for name, seed in tasks]
    results = dict(zip(tasks, outcomes))

    models: dict[str, dict[str, Any]] = {}
    switched_off: dict[int, dict[str, dict[str, Any]]] = {}
    for name in requested:
        per_seed = {seed: results[name, seed]["scores"] for seed in args.seeds}
        for seed in args.seeds:
            if results[name, seed]["switched_off"] is not None:
                switched_off[seed] = results[name, seed]["switched_off"]
        config = results[name, args.seeds[0]]["config"]
        models[name] = {
            "config": {key: value for key, value in config.items() if key not in ("id2label", "label2id")},
            "runs": {str(seed): results[name, seed]["info"] for seed in args.seeds},
            "scenarios": {str(seed): per_seed[seed] for seed in args.seeds},
            "summary": summarize(per_seed, full),
            "validation_missing_mean_weighted_f1": round(
                float(np.mean([results[name, seed]["info"]["validation_missing_mean_weighted_f1"] for seed in args.seeds])), 4
            ),
        }
    probe = linear_probe_reference(splits["train"], splits["test"], scenarios)
    if switched_off:
        models[TEST_TIME_OFF] = {
            "description": "the trained emoje models re-scored with use_joint_embedding=False at test time only",
            "scenarios": {str(seed): scores for seed, scores in switched_off.items()},
            "summary": summarize(switched_off, full),
        }

    return {
        **run_record("robustness", args.argv, load_at_start, started),
        "size": args.size,
        "seeds": list(args.seeds),
        "model_overrides": parse_overrides(args.set),
        "training": {**SIZES[args.size]["training"], **{k: v for k, v in (("num_train_epochs", args.epochs), ("patience", args.patience)) if v is not None}},
        "corpus": {
            **dataset_metadata(corpus),
            "utterances": {split: dataset.num_utterances for split, dataset in splits.items()},
            "dialogues": {split: len(dataset) for split, dataset in splits.items()},
        },
        "metric": "weighted-F1 on the complete test split, each scenario keeping only the named modalities",
        "scenarios": [s.name for s in scenarios],
        "full_scenario": full,
        "privacy_keeps": sorted(next(s.keep for s in scenarios if s.name == PRIVACY)) if any(s.name == PRIVACY for s in scenarios) else None,
        "models": models,
        "references": {
            "linear_probe": {
                "description": linear_probe_reference.__doc__.split("\n\n")[0].replace("\n    ", " "),
                "weighted_f1": {name: value["weighted_f1"] for name, value in probe.items()},
                "macro_f1": {name: value["macro_f1"] for name, value in probe.items()},
                "privacy_drop": round(probe[full]["weighted_f1"] - probe[PRIVACY]["weighted_f1"], 4) if PRIVACY in probe else None,
            }
        },
        "targets": target_checks(models),
    }


def format_summary(result: dict[str, Any]) -> str:
    """A scenario x model table of mean weighted-F1 (percent) with the missing-scenario mean and the targets."""
    names = list(result["models"])
    width = max(len(s) for s in result["scenarios"] + ["missing mean"])
    short = {TEST_TIME_OFF: "emoje/off@test", "concat_zeros_no_dropout": "concat_no_drop"}
    lines = [f"{'scenario':<{width}}  " + "  ".join(f"{short.get(n, n):>14}" for n in names)]
    for scenario in result["scenarios"]:
        cells = [100 * result["models"][n]["summary"]["weighted_f1_mean"][scenario] for n in names]
        lines.append(f"{scenario:<{width}}  " + "  ".join(f"{c:14.2f}" for c in cells))
    cells = [100 * result["models"][n]["summary"]["missing_mean_weighted_f1"] for n in names]
    lines.append(f"{'missing mean':<{width}}  " + "  ".join(f"{c:14.2f}" for c in cells))
    for key, check in result["targets"].items():
        verdict = f" (target {check['target']}) -> {'met' if check['met'] else 'NOT met'}" if "target" in check else ""
        lines.append(f"{key}: {100 * check['value']:+.2f} points{verdict}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.robustness", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(MODEL_NAMES), help=f"comma-separated subset of {MODEL_NAMES}")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds (default 0 1 2)")
    parser.add_argument("--corpus-seed", type=int, default=0, help="seed of the synthetic corpus (default 0)")
    parser.add_argument("--num-dialogues", type=int, nargs=3, metavar=("TRAIN", "VALIDATION", "TEST"), help="corpus size")
    parser.add_argument("--size", choices=sorted(SIZES), default="default", help="model/training size (tiny: plumbing check)")
    parser.add_argument("--tiny", action="store_const", const="tiny", dest="size", help="same as --size tiny")
    parser.add_argument("--epochs", type=int, help="override the size's number of training epochs")
    parser.add_argument("--patience", type=int, help="override the early-stopping patience (epochs; 0 = none)")
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE",
        help="override an AM^2-EmoJE config field for every model that has it (repeatable), e.g. --set acn_layers=1",
    )
    parser.add_argument("--jobs", type=int, default=1, help="(model, seed) runs trained side by side in worker processes")
    add_run_options(parser, DEFAULT_OUTPUT.relative_to(REPO_ROOT), DEFAULT_WORK_DIR)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_from_command_line(argv, parse_args, run, format_summary, CHART_MODELS)


__all__ = ["MODEL_NAMES", "SIZES", "build_model", "fit_standardizer", "format_summary", "linear_probe_reference", "main", "pooled_utterances", "run", "scenario_columns", "summarize", "target_checks", "train_model"]


if __name__ == "__main__":
    main()
    sys.exit(0)
