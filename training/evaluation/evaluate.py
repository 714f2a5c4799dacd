"""Missing-modality evaluation: a model scored under every scenario (`training.evaluation.scenarios`).

An utterance that has none of a scenario's modalities cannot be predicted in that scenario: it is left out
of its dialogue for that scenario and counted in ``n_skipped`` (present only when non-zero), so ``n`` is
always the number of predictions actually scored.

A model is scored only on data with its own label names (`training.train.labels`; the same names in another order
are remapped), checked before anything runs.

A model with its own text encoder (``config.text_config``, trained with ``emoje-train --text_backbone``) reads
token ids: `evaluate_model` then takes the ``tokenizer`` (and ``max_text_length``) and the data's ``text``
column (``emoje-evaluate`` loads both from the processor, or tokenizer, saved with the model).

Example:
    >>> from training.evaluation.evaluate import format_table
    >>> print(format_table({"scenarios": {"text": {"n": 4, "weighted_f1": 0.5, "macro_f1": 0.5, "accuracy": 0.5, "uar": 0.5}}}))
    scenario       n    w-F1    m-F1     acc     UAR
    ------------------------------------------------
    text           4   50.00   50.00   50.00   50.00
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from modeling_emoje.modalities import Scenario, normalize_modalities

from ..train.collator import DialogueCollator, DialogueDataset
from ..train.labels import model_label_names
from .metrics import IGNORE_INDEX, METRIC_NAMES, compute_erc_metrics, confusion_counts
from .scenarios import ALL, ModalityMatch, ScenarioAggregate, build_scenarios, extra_conditions, model_source

logger = logging.getLogger(__name__)

DEFAULT_MAX_TEXT_LENGTH = DialogueCollator.max_text_length


def with_model_labels(model, dataset: DialogueDataset) -> DialogueDataset:
    """``dataset`` with its label ids in the order of ``model``'s ``id2label`` (`DialogueDataset.with_label_order`);
    other label names raise `training.train.labels.LabelMapError` naming both lists. Unnamed model labels: as it is."""
    model_labels = model_label_names(getattr(model, "config", None))
    if model_labels is None:
        return dataset
    return dataset.with_label_order(model_labels, source=model_source(model))



@torch.no_grad()
def _predict(
    model,
    dataset: DialogueDataset,
    batch_size: int,
    accelerator,
    tokenizer=None,
    max_text_length: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(y_true, y_pred)`` over every labelled utterance of ``dataset``, gathered across processes exactly once."""
    collator = DialogueCollator(keep_modalities=dataset.keep_modalities, tokenizer=tokenizer, max_text_length=max_text_length or DEFAULT_MAX_TEXT_LENGTH)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collator)
    if accelerator is not None:
        loader = accelerator.prepare_data_loader(loader)
        device = accelerator.device
    else:
        device = next(model.parameters()).device
    true_parts, pred_parts = [], []
    for batch in loader:
        labels = batch.pop("labels").to(device)
        batch = {key: value.to(device) for key, value in batch.items()}
        logits = model(**batch).logits
        preds = logits.argmax(-1).masked_fill(labels == IGNORE_INDEX, IGNORE_INDEX)
        if accelerator is not None:
            labels = accelerator.pad_across_processes(labels, dim=1, pad_index=IGNORE_INDEX)
            preds = accelerator.pad_across_processes(preds, dim=1, pad_index=IGNORE_INDEX)
            labels, preds = accelerator.gather_for_metrics((labels, preds))
        labels, preds = labels.cpu().numpy().reshape(-1), preds.cpu().numpy().reshape(-1)
        keep_positions = labels != IGNORE_INDEX
        true_parts.append(labels[keep_positions])
        pred_parts.append(preds[keep_positions])
    y_true = np.concatenate(true_parts) if true_parts else np.zeros(0, dtype=np.int64)
    y_pred = np.concatenate(pred_parts) if pred_parts else np.zeros(0, dtype=np.int64)
    if y_true.size != dataset.num_labelled:
        raise RuntimeError(
            f"evaluation gathered {y_true.size} labelled utterances but the split has {dataset.num_labelled}: "
            "samples were duplicated or lost across processes"
        )
    return y_true, y_pred


def evaluate_model(
    model,
    dataset,
    scenarios: Sequence[Scenario | ScenarioAggregate | str] | Mapping[str, Iterable[str]] | str | None = None,
    batch_size: int = 8,
    accelerator=None,
    tokenizer=None,
    max_text_length: int | None = None,
    progress: bool | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Score ``model`` on ``dataset`` under each scenario.

    Args:
        model: an emotion-recognition model following the package's input/output contract.
        dataset: a `DialogueDataset` or a prepared `datasets.Dataset` split.
        scenarios: `Scenario`/`ScenarioAggregate` objects, scenario specs (``"all"``, ``"t,a"``, ...), or a
            mapping name -> kept modalities. Default: ``"all"`` over what both data and model have.
        batch_size: dialogues per forward pass (per process).
        accelerator: an `accelerate.Accelerator`; with several processes each scores a shard and the
            predictions are gathered without the duplicated tail samples.
        tokenizer: for a model with its own text encoder (``config.text_config``): tokenizes the ``text`` of
            a ``DialogueDataset(..., raw_text=True)`` (a `datasets.Dataset` is read that way) into ``input_ids``.
        max_text_length: tokens per utterance with ``tokenizer`` (default 128).
        progress: a progress bar over the scenarios (tqdm, on stderr, main process only); None: when stderr is a
            terminal.

    Returns:
        ``{"labels": [class names in id order], "scenarios": {name: {"weighted_f1", "macro_f1", "accuracy", "uar",
        "n", "confusion_matrix"[, "n_skipped"]}}}`` (``confusion_matrix[gold][predicted]`` counts; not for the
        aggregate rows).
    """
    if not isinstance(dataset, DialogueDataset):
        dataset = DialogueDataset(dataset, raw_text=tokenizer is not None)
    elif tokenizer is not None and not dataset.raw_text:
        raise ValueError(f"{dataset.name}: a tokenizer was given but the dataset carries no text; build it with raw_text=True")
    dataset = with_model_labels(model, dataset)
    available = ModalityMatch.of(model, dataset)
    if scenarios is None or isinstance(scenarios, str):
        scenarios = build_scenarios(available, scenarios or ALL)
    elif isinstance(scenarios, Mapping):
        scenarios = [Scenario(normalize_modalities(keep) or frozenset(), name) for name, keep in scenarios.items()]
    else:
        resolved = []
        for scenario in scenarios:
            resolved += build_scenarios(available, scenario) if isinstance(scenario, str) else [scenario]
        scenarios = resolved
    if accelerator is not None:
        model = accelerator.unwrap_model(model)
    was_training = model.training
    model.eval()
    config = getattr(model, "config", None)
    labels = model_label_names(config) or dataset.label_names  # the model's order (the data was mapped to it)
    if labels is None:
        used = dataset.labels[dataset.labels != IGNORE_INDEX]
        labels = [str(index) for index in range(int(getattr(config, "num_labels", 0) or (used.max() + 1 if used.size else 0)))]
    num_labels = len(labels)
    results: dict[str, dict[str, Any]] = {}
    predictions: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    scored = [s for s in scenarios if not isinstance(s, ScenarioAggregate)]
    bar = scenario_progress(len(scored), progress, accelerator)
    try:
        for scenario in scored:
            bar.set_postfix_str(scenario.name, refresh=False)
            bar.update(0)
            if scenario.name in predictions:
                bar.update(1)
                continue
            view = dataset.with_scenario(scenario.keep)  # the scenario, applied once: the view's modality masks
            y_true, y_pred = _predict(model, view, batch_size, accelerator, tokenizer, max_text_length)
            predictions[scenario.name] = (y_true, y_pred)
            scores = compute_erc_metrics(y_true, y_pred)
            scores["confusion_matrix"] = confusion_counts(y_true, y_pred, num_labels)
            if view.num_skipped:
                scores["n_skipped"] = view.num_skipped
            results[scenario.name] = scores
            bar.update(1)
    finally:
        bar.close()
        model.train(was_training)
    for aggregate in scenarios:
        if not isinstance(aggregate, ScenarioAggregate):
            continue
        members = [name for name in aggregate.members if name in results]
        if aggregate.kind == "mean":
            scores = {metric: float(np.mean([results[name][metric] for name in members])) for metric in METRIC_NAMES}
            scores["n"] = int(sum(results[name]["n"] for name in members))
        elif aggregate.kind == "pooled":
            scores = compute_erc_metrics(
                np.concatenate([predictions[name][0] for name in members]),
                np.concatenate([predictions[name][1] for name in members]),
            )
        else:
            raise ValueError(f"unknown aggregate kind {aggregate.kind!r} in {aggregate.name}")
        results[aggregate.name] = scores
    return {"labels": labels, "scenarios": results}


def scenario_progress(total: int, progress: bool | None = None, accelerator=None):
    """A tqdm bar over ``total`` scenarios on stderr, disabled when ``progress`` is False, when it is None and
    stderr is not a terminal, and on every process but the main one."""
    from tqdm.auto import tqdm

    main_process = accelerator is None or accelerator.is_main_process
    enabled = main_process and (progress if progress is not None else sys.stderr.isatty())
    return tqdm(total=total, desc="scenarios", unit="scenario", disable=not enabled, leave=False, file=sys.stderr)


def format_table(results: Mapping[str, Any]) -> str:
    """A fixed-width table of an `evaluate_model` result (scores in percent)."""
    rows = results["scenarios"]
    width = max([len("scenario")] + [len(name) for name in rows])
    lines = [f"{'scenario':<{width}}  {'n':>6}  {'w-F1':>6}  {'m-F1':>6}  {'acc':>6}  {'UAR':>6}"]
    lines.append("-" * len(lines[0]))
    for name, scores in rows.items():
        skipped = f"  ({scores['n_skipped']} without these modalities skipped)" if scores.get("n_skipped") else ""
        lines.append(
            f"{name:<{width}}  {scores['n']:>6d}  {100 * scores['weighted_f1']:6.2f}  {100 * scores['macro_f1']:6.2f}"
            f"  {100 * scores['accuracy']:6.2f}  {100 * scores['uar']:6.2f}{skipped}"
        )
    return "\n".join(lines)


def evaluate_saved_model(
    model_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    split: str = "test",
    scenarios: str = ALL,
    *,
    three_mode: bool | None = None,
    batch_size: int = 8,
    accelerator=None,
    progress: bool | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """`evaluate_model` of a saved model folder on a split of prepared data (what ``emoje-evaluate`` scores).

    The model is loaded with its tokenizer when it has its own text encoder; other label names than the model's, or
    no modality in common, are a ValueError naming both lists before anything runs. ``three_mode``: add CM-ARR's
    three-mode conditions to ``"all"`` (None: the model's own conditions or its protocol's, `extra_conditions`).
    """
    from modeling_emoje.model_folder import load_model

    from ..train.data import check_same_audio_features, data_protocol, load_prepared_data

    data = load_prepared_data(data_dir)
    if split not in data:
        raise ValueError(f"{data_dir} has no split {split!r} (has {sorted(data)})")
    check_same_audio_features(model_dir, data, data_source=f"--data {data_dir}")
    device = accelerator.device if accelerator is not None else None
    model = load_model(model_dir).to(device) if device is not None else load_model(model_dir)
    tokenizer = max_text_length = None
    if getattr(model.config, "text_config", None) is not None:  # trained with its own text encoder: token ids
        from ..train.text_backbone import load_saved_tokenizer

        tokenizer, max_text_length = load_saved_tokenizer(model_dir)
    dataset = DialogueDataset(data[split], name=f"{split!r} of {data_dir}", raw_text=tokenizer is not None)
    dataset = with_model_labels(model, dataset)  # other label names: an error naming both lists, before anything runs
    available = ModalityMatch.of(model, dataset)
    if available.available and available.unused():
        logger.info(
            "%s: scenarios use %s only (the data has no features for %s)",
            available.describe(), ", ".join(available.available), ", ".join(available.unused()),
        )
    if three_mode is None:
        protocol = getattr(model.config, "protocol", None) or data_protocol(data)
        three_mode = extra_conditions(model.config.model_type, protocol)
    chosen = build_scenarios(available, scenarios, three_mode=three_mode)
    return evaluate_model(
        model, dataset, chosen, batch_size=batch_size, accelerator=accelerator,
        tokenizer=tokenizer, max_text_length=max_text_length, progress=progress,
    )


__all__ = [
    "DEFAULT_MAX_TEXT_LENGTH",
    "evaluate_model",
    "evaluate_saved_model",
    "format_table",
    "scenario_progress",
    "with_model_labels",
]
