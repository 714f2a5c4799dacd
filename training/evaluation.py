"""Missing-modality evaluation: every scenario of SPEC.md's evaluation protocol, and `emoje-evaluate`.

A scenario names the modalities that are *kept*; its name joins them with ``+`` in MODALITIES order
(``text``, ``text+audio``, ..., ``text+audio+face+body``), plus ``privacy`` (every available modality but
face). Only modalities the data has take part: a text-only corpus has only the ``text`` scenario. For the
CM-ARR protocol (three modes audio, text, visual = face + body) the six missing conditions and full are
also reported, with their mean (``three_mode_mean``) and pooled score (``three_mode_pooled``).

An utterance that has none of a scenario's modalities cannot be predicted in that scenario: it is left out
of its dialogue for that scenario and counted in ``n_skipped`` (present only when non-zero), so ``n`` is
always the number of predictions actually scored.

Scenarios use the modalities the model reads *and* the data has features for (`ModalityMatch`); when they share
none, or a scenario keeps one of the others, the error names both lists. A model is scored only on data with its
own label names (`training.labels`; the same names in another order are remapped), checked before anything runs.

A model with its own text encoder (``config.text_config``, trained with ``emoje-train --text_backbone``) reads
token ids: `evaluate_model` then takes the ``tokenizer`` (and ``max_text_length``) and the data's ``text``
column, and `emoje-evaluate` loads both from the processor (or tokenizer) saved with the model.

Example:
    >>> from training.evaluation import build_scenarios
    >>> [s.name for s in build_scenarios(["text", "audio"])]
    ['text', 'audio', 'text+audio']
    >>> [s.name for s in build_scenarios(["text", "face", "body"], "privacy")]
    ['privacy']
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dataset_scripts.cli_logging import add_quiet_option, run_command

from modeling_emoje.modalities import ABBREVIATIONS, MODALITIES, PRIVACY, Scenario, normalize_modalities

from .collator import DialogueCollator, DialogueDataset
from .files import write_text_atomic
from .labels import model_label_names
from .metrics import IGNORE_INDEX, METRIC_NAMES, compute_erc_metrics

logger = logging.getLogger(__name__)

FULL = "full"
ALL = "all"
# CM-ARR protocol: three modes; "visual" is face and body together.
THREE_MODE_GROUPS: dict[str, tuple[str, ...]] = {"audio": ("audio",), "text": ("text",), "visual": ("face", "body")}
THREE_MODE_CONDITIONS: tuple[tuple[str, ...], ...] = (
    ("audio",), ("text",), ("visual",), ("audio", "text"), ("audio", "visual"), ("text", "visual"),
)
THREE_MODE_MEAN = "three_mode_mean"
THREE_MODE_POOLED = "three_mode_pooled"
# Protocols ("corpus/protocol", see training.data.data_protocol) evaluated the CM-ARR way.
THREE_MODE_PROTOCOL_PREFIXES: tuple[str, ...] = ("iemocap/mer4", "msp-improv/")
DEFAULT_MAX_TEXT_LENGTH = DialogueCollator.max_text_length


@dataclass(frozen=True)
class ScenarioAggregate:
    """A score over several scenarios: ``mean`` of their metrics or ``pooled`` (all their predictions at once)."""

    name: str
    kind: str
    members: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ModalityMatch:
    """The modalities a model reads and those its data has features for: an evaluation uses the ones in both.

    Example:
        >>> match = ModalityMatch(("audio", "face"), ("text",), "the model m", "split 'test' of d")
        >>> match.available
        []
        >>> match.describe()
        "the model m reads audio, face, while split 'test' of d has features for text"
    """

    model: tuple[str, ...] | None  # None: the model does not say (every modality)
    data: tuple[str, ...]
    model_source: str = "the model"
    data_source: str = "the data"

    @classmethod
    def of(cls, model, dataset: DialogueDataset) -> ModalityMatch:
        """What ``model`` (its ``config.modality_dims``) reads and what ``dataset`` has."""
        return cls(
            model=None if (reads := _model_modalities(model)) is None else tuple(reads),
            data=tuple(dataset.available_modalities),
            model_source=_model_source(model),
            data_source=f"split {dataset.name}",
        )

    @property
    def available(self) -> list[str]:
        """The modalities in both lists, in MODALITIES order."""
        return [m for m in MODALITIES if m in self.data and (self.model is None or m in self.model)]

    def describe(self) -> str:
        """One clause naming both lists."""
        data = f"has features for {', '.join(self.data)}" if self.data else "has features for no modality"
        if self.model is None:
            return f"{self.data_source} {data}"
        return f"{self.model_source} reads {', '.join(self.model)}, while {self.data_source} {data}"

    def nothing_to_evaluate(self) -> str:
        """The error when the two lists share no modality."""
        if self.model is None:
            return f"nothing to evaluate: {self.describe()}"
        data = f"has features only for {', '.join(self.data)}" if self.data else "has features for no modality"
        hint = f"; evaluate the model on data with features for {' or '.join(self.model)}"
        hint += f", or evaluate a model trained on {', '.join(self.data)}" if self.data else ""
        reads = f"{self.model_source} reads {', '.join(self.model)}"
        return f"nothing to evaluate: {reads}, but {self.data_source} {data}{hint}"

    def why_absent(self, modalities: Sequence[str]) -> str:
        """Why a scenario cannot keep ``modalities``: which the model does not read, which the data lacks."""
        unread = [m for m in modalities if self.model is not None and m not in self.model]
        missing = [m for m in modalities if m not in unread]
        reasons = []
        if unread:
            reasons.append(f"{self.model_source} does not read {', '.join(unread)} (it reads {', '.join(self.model)})")
        if missing:
            has = ", ".join(self.data) or "no modality"
            reasons.append(f"{self.data_source} has no features for {', '.join(missing)} (it has {has})")
        return " and ".join(reasons)

    def unused(self) -> list[str]:
        """The model's modalities the data has no features for."""
        return [m for m in (self.model or ()) if m not in self.data]


def scenario_name(modalities: Iterable[str]) -> str:
    """``+``-joined modality names in MODALITIES order."""
    return Scenario(normalize_modalities(modalities, field="scenario") or frozenset()).name


def modality_scenarios(available: Iterable[str]) -> list[Scenario]:
    """Every non-empty subset of the available modalities (by size, then MODALITIES order), then ``privacy``."""
    ordered = [m for m in MODALITIES if m in set(available)]
    scenarios = [
        Scenario(frozenset(subset))
        for size in range(1, len(ordered) + 1)
        for subset in combinations(ordered, size)
    ]
    if "face" in ordered and len(ordered) > 1:
        scenarios.append(Scenario.privacy(ordered))
    return scenarios


def three_mode_scenarios(available: Iterable[str]) -> list[Scenario | ScenarioAggregate]:
    """CM-ARR's six missing conditions over {audio, text, visual} and full, then their mean and pooled score."""
    available = set(available)
    groups = {mode: [m for m in members if m in available] for mode, members in THREE_MODE_GROUPS.items()}
    scenarios: list[Scenario | ScenarioAggregate] = []
    for condition in THREE_MODE_CONDITIONS:
        if all(groups[mode] for mode in condition):
            keep = frozenset(m for mode in condition for m in groups[mode])
            scenarios.append(Scenario(keep))
    if len(scenarios) < 2:
        return []
    members = tuple(s.name for s in scenarios)
    full = frozenset(m for members_ in groups.values() for m in members_)
    scenarios.append(Scenario(full))
    scenarios.append(ScenarioAggregate(THREE_MODE_MEAN, "mean", members))
    scenarios.append(ScenarioAggregate(THREE_MODE_POOLED, "pooled", members))
    return scenarios


def uses_three_mode_protocol(model_type: str | None = None, protocol: str | None = None) -> bool:
    """Whether the CM-ARR three-mode conditions are part of "all" scenarios (CM-ARR models or its protocols)."""
    return model_type == "cmarr" or (protocol or "").lower().startswith(THREE_MODE_PROTOCOL_PREFIXES)


def _parse_one(spec: str, available: list[str], match: ModalityMatch | None = None) -> Scenario:
    possible = f"; the scenarios here can keep {', '.join(available)}"
    if spec == PRIVACY:
        if "face" not in available or len(available) < 2:
            if match is not None:
                raise ValueError(
                    f"scenario 'privacy' needs face and another modality that the model reads and the data has: "
                    f"{match.describe()}{possible}"
                )
            raise ValueError(f"scenario 'privacy' needs face and another modality; the data has {available}")
        return Scenario.privacy(available)
    if spec == FULL:
        return Scenario.full(available)
    names = []
    for token in spec.replace("+", ",").split(","):
        token = token.strip().lower()
        if not token:
            continue
        if token == "visual" or token == "v":
            names += [m for m in ("face", "body") if m in available]
            continue
        names.append(ABBREVIATIONS.get(token, token))
    keep = normalize_modalities(names, field=f"scenario {spec!r}") or frozenset()
    absent = sorted(keep - set(available), key=MODALITIES.index)
    if absent:
        if match is not None:
            raise ValueError(f"scenario {spec!r} keeps {', '.join(absent)}, but {match.why_absent(absent)}{possible}")
        raise ValueError(f"scenario {spec!r} keeps {absent}, which the data/model never has (available: {available})")
    return Scenario(keep)


def build_scenarios(
    available: Iterable[str] | ModalityMatch, spec: str = ALL, three_mode: bool = False
) -> list[Scenario | ScenarioAggregate]:
    """Scenarios for ``--scenarios``: ``all``, ``full``, ``privacy`` or kept modalities like ``t,a`` / ``text+audio``.

    Several specs can be given separated by ``;`` or spaces (``"t;t,a;privacy"``). ``available``: the modalities
    to use, or a `ModalityMatch`, whose errors name what the model reads and what the data has.
    """
    match = available if isinstance(available, ModalityMatch) else None
    available = match.available if match is not None else [m for m in MODALITIES if m in set(available)]
    if not available:
        raise ValueError(match.nothing_to_evaluate() if match is not None else "no modality is available to evaluate")
    if spec.strip().lower() == ALL:
        scenarios: list[Scenario | ScenarioAggregate] = list(modality_scenarios(available))
        if three_mode:
            names = {s.name for s in scenarios}
            scenarios += [s for s in three_mode_scenarios(available) if s.name not in names]
        return scenarios
    scenarios, seen = [], set()
    for part in spec.replace(";", " ").split():
        scenario = _parse_one(part.strip().lower(), available, match)
        if scenario.name not in seen:
            seen.add(scenario.name)
            scenarios.append(scenario)
    if not scenarios:
        raise ValueError(f"no scenario in {spec!r}")
    return scenarios


def _model_source(model) -> str:
    """How messages name a model: its folder when it was loaded from one."""
    path = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", None)
    return f"the model {path}" if path else "the model"


def with_model_labels(model, dataset: DialogueDataset) -> DialogueDataset:
    """``dataset`` with its label ids in the order of ``model``'s ``id2label`` (`DialogueDataset.with_label_order`);
    other label names raise `training.labels.LabelMapError` naming both lists. Unnamed model labels: as it is."""
    model_labels = model_label_names(getattr(model, "config", None))
    if model_labels is None:
        return dataset
    return dataset.with_label_order(model_labels, source=_model_source(model))


def _model_modalities(model) -> list[str] | None:
    dims = getattr(getattr(model, "config", None), "modality_dims", None)
    return [m for m in MODALITIES if m in dims] if dims else None


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
        ``{"scenarios": {name: {"weighted_f1", "macro_f1", "accuracy", "uar", "n"[, "n_skipped"]}}}``.
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
    return {"scenarios": results}


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
    return add_quiet_option(parser)


def check_output_file(path: str, option: str = "--output") -> Path:
    """``--output`` (or ``option``) must name a file (checked before the evaluation runs, not after)."""
    output = Path(path)
    example = "scenarios.png" if option == "--plot" else "results.json"
    if output.is_dir():
        raise ValueError(f"{option} {output} is a folder; give a file name such as {output / example}")
    blocking = next((parent for parent in output.parents if parent.exists() and not parent.is_dir()), None)
    if blocking is not None:
        raise ValueError(f"{option} {output}: {blocking} is a file, not a folder")
    return output


def run_cli(argv: Sequence[str] | None = None) -> dict:
    """``emoje-evaluate`` without the exit code: returns the results dict (on every process)."""
    args = _parser().parse_args(argv)
    output = check_output_file(args.output) if args.output else None
    plot = check_output_file(args.plot, option="--plot") if args.plot else None
    if plot is not None:
        from .plots import INSTALL_HINT, matplotlib_available

        if not matplotlib_available():
            raise ValueError(f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}")
    from accelerate import Accelerator

    from .data import data_protocol, load_prepared_data
    from .registry import load_model
    from .trainer import several_processes_without_accelerator

    data = load_prepared_data(args.data)
    if args.split not in data:
        raise ValueError(f"{args.data} has no split {args.split!r} (has {sorted(data)})")
    accelerator = Accelerator(cpu=several_processes_without_accelerator())  # several CPU processes: one gloo group
    model = load_model(args.model).to(accelerator.device)
    tokenizer = max_text_length = None
    if getattr(model.config, "text_config", None) is not None:  # trained with its own text encoder: token ids
        from .text_backbone import load_saved_tokenizer

        tokenizer, max_text_length = load_saved_tokenizer(args.model)
    dataset = DialogueDataset(data[args.split], name=f"{args.split!r} of {args.data}", raw_text=tokenizer is not None)
    dataset = with_model_labels(model, dataset)  # other label names: an error naming both lists, before anything runs
    available = ModalityMatch.of(model, dataset)
    if available.available and available.unused():
        logger.info(
            "%s: scenarios use %s only (the data has no features for %s)",
            available.describe(), ", ".join(available.available), ", ".join(available.unused()),
        )
    if args.three_mode == "auto":
        protocol = getattr(model.config, "protocol", None) or data_protocol(data)
        three_mode = uses_three_mode_protocol(model.config.model_type, protocol)
    else:
        three_mode = args.three_mode == "yes"
    scenarios = build_scenarios(available, args.scenarios, three_mode=three_mode)
    results = evaluate_model(
        model, dataset, scenarios, batch_size=args.batch_size, accelerator=accelerator,
        tokenizer=tokenizer, max_text_length=max_text_length, progress=False if (args.no_progress or args.quiet) else None,
    )
    if accelerator.is_main_process:
        print(f"{args.model} on {args.data} [{args.split}]")
        print(format_table(results))
        if output is not None:
            output.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(output, json.dumps(results, indent=2) + "\n")
            print(f"results written to {output}")
        if plot is not None:
            from .plots import plot_scenario_scores

            shown = "/".join(Path(args.model).resolve().parts[-2:])
            plot_scenario_scores(results, plot, title=f"{shown} on {args.split}: weighted-F1 per scenario")
            print(f"chart written to {plot}")
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``emoje-evaluate`` (also runs under ``accelerate launch -m training.evaluation``)."""
    return run_command("emoje-evaluate", run_cli, argv)



__all__ = [
    "ModalityMatch",
    "PRIVACY",
    "THREE_MODE_MEAN",
    "THREE_MODE_POOLED",
    "Scenario",
    "ScenarioAggregate",
    "build_scenarios",
    "evaluate_model",
    "format_table",
    "main",
    "modality_scenarios",
    "run_cli",
    "scenario_progress",
    "scenario_name",
    "three_mode_scenarios",
    "uses_three_mode_protocol",
    "with_model_labels",
]


if __name__ == "__main__":
    sys.exit(main())
