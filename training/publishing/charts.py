"""Pictures of results: a per-scenario chart and a conversation timeline (matplotlib, an optional dependency).

- `plot_scenario_scores`: weighted-F1 (or another metric) of every modality subset and ``privacy``, grouped by the
  number of modalities kept, with each model's full-modality score as a dashed reference line. It takes one
  `training.evaluation.evaluate.evaluate_model` result or ``{model name: {scenario: score}}`` (several models side by side).
- `plot_per_class`: for a single-modality model, F1 per emotion and the confusion matrix (one bar and a reference
  line equal to it would say nothing); `plot_evaluation` picks it or the per-scenario chart for an evaluation.
- `plot_conversation`: the pipeline's output on one conversation, one row per turn: speaker and text, the stacked
  modality weights (imputed modes hatched; for a single-modality model the prediction's score instead), the
  predicted emotion and its score, and the gold label when known.

Every picture of a model trained on synthetic features says so in its title (``trained_on=``, `synthetic_title`).

matplotlib is imported only when a picture is drawn (never by ``modeling_emoje``); without it these functions raise
`PlottingUnavailable`, whose message says how to install it.

Example:
    >>> import tempfile, os
    >>> from training.publishing.charts import plot_scenario_scores
    >>> path = os.path.join(tempfile.mkdtemp(), "scenarios.png")
    >>> plot_scenario_scores({"scenarios": {"text": {"weighted_f1": 0.5}, "audio": {"weighted_f1": 0.4},
    ...                                     "text+audio": {"weighted_f1": 0.6}}}, path)  # doctest: +ELLIPSIS
    PosixPath('.../scenarios.png')
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from modeling_emoje.configuration_emoje import is_trained_on_synthetic
from modeling_emoje.modalities import ABBREVIATIONS, MODALITIES, MODALITY_TABLE, PRIVACY

MODALITY_ORDER = MODALITIES
# Colour-blind-safe (Okabe-Ito) colours: each modality's from the modality table, and, in order, one per compared model.
MODALITY_COLOURS = {modality.name: modality.colour for modality in MODALITY_TABLE}
MODEL_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")
METRIC_LABELS = {"weighted_f1": "weighted-F1", "macro_f1": "macro-F1", "accuracy": "accuracy", "uar": "UAR"}
_ABBREVIATION = {name: abbreviation for abbreviation, name in ABBREVIATIONS.items()}
INSTALL_HINT = "pip install matplotlib (or: pip install 'emoje[plots]')"


class PlottingUnavailable(ImportError):
    """matplotlib is not installed; the message says how to install it."""


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise PlottingUnavailable(f"drawing a picture needs matplotlib, which is not installed: {INSTALL_HINT}") from error
    return plt


def matplotlib_available() -> bool:
    """True when matplotlib can be imported (pictures can be drawn)."""
    try:
        _pyplot()
    except PlottingUnavailable:
        return False
    return True


def scenario_scores(results: Mapping[str, Any], metric: str = "weighted_f1") -> dict[str, dict[str, float]]:
    """``{model: {scenario: score}}`` from an `evaluate_model` result (one model, named ``"model"``) or from such a
    mapping already (values may be floats or score dicts holding ``metric``). CM-ARR's ``three_mode_*``
    aggregates are left out (they are not one set of kept modalities)."""
    models = {"model": results["scenarios"]} if "scenarios" in results else results
    table: dict[str, dict[str, float]] = {}
    for model, scenarios in models.items():
        row = {}
        for name, value in scenarios.items():
            if name.startswith("three_mode"):
                continue
            score = value.get(metric) if isinstance(value, Mapping) else value
            if score is not None:
                row[name] = float(score)
        table[model] = row
    return table


def _modalities_kept(scenario: str) -> int:
    return len(scenario.split("+"))


def scenario_groups(names: Sequence[str]) -> list[tuple[str, list[str]]]:
    """Scenarios grouped by the number of modalities kept (MODALITIES order inside a group), ``privacy`` last.

    Example:
        >>> scenario_groups(["text+audio", "audio", "privacy", "text"])
        [('1 modality', ['text', 'audio']), ('2 modalities', ['text+audio']), ('privacy (no face)', ['privacy'])]
    """
    subsets = [name for name in names if name != PRIVACY]
    order = {name: index for index, name in enumerate(MODALITY_ORDER)}
    groups = []
    for size in sorted({_modalities_kept(name) for name in subsets}):
        members = sorted(
            (name for name in subsets if _modalities_kept(name) == size),
            key=lambda name: [order.get(part, len(order)) for part in name.split("+")],
        )
        groups.append((f"{size} modalit{'y' if size == 1 else 'ies'}", members))
    if PRIVACY in names:
        groups.append(("privacy (no face)", [PRIVACY]))
    return groups


def _full_scenario(names: Sequence[str]) -> str | None:
    subsets = [name for name in names if name != PRIVACY]
    return max(subsets, key=_modalities_kept) if subsets else None


def plot_scenario_scores(
    results: Mapping[str, Any],
    path: str | os.PathLike | None = None,
    *,
    metric: str = "weighted_f1",
    title: str | None = None,
    trained_on: str | None = None,
):
    """Bar chart of ``metric`` (in percent) per scenario, grouped by the number of modalities kept; each model's
    full-modality score is a dashed line in its colour. Writes ``path`` (PNG, SVG, PDF by suffix) and returns it,
    or returns the matplotlib figure when ``path`` is None.

    ``results``: an `evaluate_model` result, or ``{model name: {scenario: score or score dict}}`` for several
    models (e.g. the robustness benchmark), scenarios named as `training.evaluation.scenarios` names them.

    Example:
        >>> figure = plot_scenario_scores({"AM^2-EmoJE": {"text": 0.58, "audio": 0.46, "text+audio": 0.79},
        ...                                "CM-ARR": {"text": 0.57, "audio": 0.46, "text+audio": 0.77}})
        >>> [text.get_text() for text in figure.axes[0].get_xticklabels()]
        ['text', 'audio', 'text+audio']
    """
    plt = _pyplot()
    table = scenario_scores(results, metric)
    names = list(dict.fromkeys(name for row in table.values() for name in row))
    if not names:
        raise ValueError(f"no scenario with a {metric!r} score to plot")
    groups = scenario_groups(names)
    models = list(table)
    width = 0.8 / len(models)
    gap = 0.6  # extra space between groups
    positions, labels, group_spans = [], [], []
    x = 0.0
    for group, members in groups:
        start = x
        for member in members:
            positions.append(x)
            labels.append(member)
            x += 1.0
        group_spans.append((group, start, x - 1.0))
        x += gap
    figure_width = min(9.0, max(6.0, 0.55 * len(labels) * max(1.0, len(models) ** 0.5) + 2.0))  # <= 1200 px at 120 dpi
    # Few scenarios and several models: the legend goes under the plot, so the bars keep the figure's width.
    legend_below = len(models) > 1 and len(labels) <= 4
    legend_rows = len(models) if legend_below else 0  # two columns: each model's bar and its full-score line
    figure, axis = plt.subplots(figsize=(figure_width, 4.8 + 0.22 * legend_rows))
    full = _full_scenario(names)
    for index, model in enumerate(models):
        colour = MODEL_COLOURS[index % len(MODEL_COLOURS)]
        offset = (index - (len(models) - 1) / 2) * width
        xs = [p + offset for p, name in zip(positions, labels) if name in table[model]]
        ys = [100 * table[model][name] for name in labels if name in table[model]]
        bars = axis.bar(xs, ys, width=width * 0.95, color=colour, label=model if len(models) > 1 else None)
        if len(models) == 1:
            axis.bar_label(bars, fmt="%.1f", fontsize=8, padding=2)
        if full is not None and full in table[model]:
            axis.axhline(100 * table[model][full], color=colour, linestyle="--", linewidth=1.2,
                         label=f"{model + ' ' if len(models) > 1 else ''}full: {100 * table[model][full]:.1f}")
    axis.set_xticks(positions)
    axis.set_xticklabels(labels, rotation=35, ha="right", fontsize=9)
    top = max(100 * score for row in table.values() for score in row.values())
    axis.set_ylim(0, min(100.0, top * 1.18 + 2))
    shown = METRIC_LABELS.get(metric, metric)
    axis.set_ylabel(f"{shown} (%)")
    for group, start, end in group_spans:
        if abs(start - end) < 1e-6:  # a one-bar group: its label on two lines
            group = group.replace(" ", "\n", 1)
        axis.text((start + end) / 2, 1.01, group, transform=axis.get_xaxis_transform(), ha="center", va="bottom", fontsize=9)
        if start > 0:
            axis.axvline(start - (1.0 + gap) / 2, color="0.75", linewidth=0.8)
    padding = max(0.7, (4.0 - (positions[-1] - positions[0])) / 2)  # a few scenarios: slim bars, not wide blocks
    axis.set_xlim(positions[0] - padding, positions[-1] + padding)
    axis.spines[["top", "right"]].set_visible(False)
    if legend_below:
        handles, names_ = axis.get_legend_handles_labels()
        bars_first = [i for i, h in enumerate(handles) if not hasattr(h, "get_linestyle")] + [
            i for i, h in enumerate(handles) if hasattr(h, "get_linestyle")
        ]
        axis.legend([handles[i] for i in bars_first], [names_[i] for i in bars_first], loc="upper center",
                    bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8, frameon=False)
    else:
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)  # outside: never over a bar
    heading = synthetic_title(title or f"Test {shown} per missing-modality scenario", trained_on)
    axis.set_title(textwrap.fill(heading, width=max(40, int(figure_width * 9))), pad=30)
    figure.tight_layout()
    return _finish(plt, figure, path)


SYNTHETIC_TITLE_PREFIX = "SYNTHETIC-feature model (generated data, not emotions)"


def synthetic_title(title: str, trained_on: str | None) -> str:
    """``title``, led by `SYNTHETIC_TITLE_PREFIX` when ``trained_on`` (a config's ``trained_on``) says synthetic.

    Example:
        >>> synthetic_title("Predicted emotion per turn", "synthetic features — not for real input")
        'SYNTHETIC-feature model (generated data, not emotions): Predicted emotion per turn'
        >>> synthetic_title("Predicted emotion per turn", "MELD text")
        'Predicted emotion per turn'
    """
    if is_trained_on_synthetic(SimpleNamespace(trained_on=trained_on)) and not title.startswith(SYNTHETIC_TITLE_PREFIX):
        return f"{SYNTHETIC_TITLE_PREFIX}: {title}"
    return title


def per_class_f1(confusion: Sequence[Sequence[int]]) -> list[float]:
    """F1 of each class from a confusion matrix (rows: gold, columns: predicted); 0.0 for a class never seen.

    Example:
        >>> per_class_f1([[3, 1], [0, 2]])
        [0.8571428571428571, 0.8]
    """
    size = len(confusion)
    scores = []
    for index in range(size):
        hits = confusion[index][index]
        gold = sum(confusion[index])
        predicted = sum(row[index] for row in confusion)
        scores.append(2 * hits / (gold + predicted) if gold + predicted else 0.0)
    return scores


def single_scenario(evaluation: Mapping[str, Any]) -> str | None:
    """The name of the one scored scenario of an evaluation of a single-modality model (aggregates and a
    ``privacy`` row that equals it left aside), else None.

    Example:
        >>> single_scenario({"scenarios": {"text": {"weighted_f1": 0.6}}})
        'text'
        >>> single_scenario({"scenarios": {"text": {}, "audio": {}, "text+audio": {}}}) is None
        True
    """
    names = [name for name in evaluation.get("scenarios", {}) if name != PRIVACY and not name.startswith("three_mode")]
    return names[0] if len(names) == 1 and "+" not in names[0] else None


def plot_per_class(
    confusion: Sequence[Sequence[int]],
    labels: Sequence[str],
    path: str | os.PathLike | None = None,
    *,
    title: str | None = None,
    trained_on: str | None = None,
):
    """What a single-modality model gets right and wrong: F1 per emotion (bars, the number of gold utterances beside
    each) and the confusion matrix (rows: gold, columns: predicted; colour: share of the row, the count in each
    cell). Writes ``path`` and returns it, or returns the figure when ``path`` is None.

    Example:
        >>> figure = plot_per_class([[5, 1, 0], [2, 3, 0], [0, 1, 4]], ["neutral", "joy", "anger"])
        >>> [round(float(bar.get_width()), 1) for bar in figure.axes[0].patches]
        [76.9, 60.0, 88.9]
    """
    plt = _pyplot()
    import numpy as np

    matrix = np.asarray(confusion, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] != len(labels):
        raise ValueError(f"a {len(labels)}x{len(labels)} confusion matrix is needed for {len(labels)} labels, got shape {matrix.shape}")
    f1 = [100 * value for value in per_class_f1(matrix.tolist())]
    support = matrix.sum(axis=1).astype(int)
    size = len(labels)
    figure, (bars_axis, matrix_axis) = plt.subplots(
        1, 2, figsize=(9.6, 1.6 + 0.5 * size), gridspec_kw={"width_ratios": [1.0, 1.15]}
    )
    ys = list(range(size))[::-1]
    bars_axis.barh(ys, f1, height=0.65, color="#0072B2")
    for y, value in zip(ys, f1):
        bars_axis.text(value + 1.0, y, f"{value:.1f}", va="center", fontsize=10)
    bars_axis.set_yticks(ys, [f"{label} (n={count})" for label, count in zip(labels, support)], fontsize=10)
    bars_axis.set_xlim(0, 112)
    bars_axis.set_xlabel("F1 (%) on the test split", fontsize=10)
    bars_axis.spines[["top", "right"]].set_visible(False)
    bars_axis.set_title("F1 per emotion", fontsize=11)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    matrix_axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(size):
        for column in range(size):
            count = int(matrix[row, column])
            matrix_axis.text(column, row, str(count), ha="center", va="center", fontsize=10,
                             color="white" if shares[row, column] > 0.55 else "black")
    matrix_axis.set_xticks(range(size), labels, rotation=35, ha="right", fontsize=10)
    matrix_axis.set_yticks(range(size), labels, fontsize=10)
    matrix_axis.set_xlabel("predicted", fontsize=10)
    matrix_axis.set_ylabel("gold", fontsize=10)
    matrix_axis.set_title("confusion matrix (colour: share of the gold row)", fontsize=11)
    heading = synthetic_title(title or "What the model gets right, per emotion (test split)", trained_on)
    figure.suptitle(heading, x=0.01, ha="left", fontsize=12)
    figure.tight_layout()
    return _finish(plt, figure, path)


def plot_evaluation(
    evaluation: Mapping[str, Any],
    path: str | os.PathLike | None = None,
    *,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    trained_on: str | None = None,
):
    """The picture of an `evaluate_model` result that says the most: for a single-modality model whose scenario
    carries a ``confusion_matrix`` (and ``labels``, here or in ``evaluation["labels"]``), `plot_per_class`; else the
    per-scenario chart `plot_scenario_scores`. ``trained_on`` (the config's) marks a synthetic model in the title.

    Example:
        >>> evaluation = {"labels": ["neutral", "joy"],
        ...               "scenarios": {"text": {"weighted_f1": 0.7, "confusion_matrix": [[3, 1], [1, 2]]}}}
        >>> len(plot_evaluation(evaluation).axes)
        2
    """
    scenario = single_scenario(evaluation)
    labels = labels or evaluation.get("labels")
    confusion = evaluation["scenarios"][scenario].get("confusion_matrix") if scenario is not None else None
    if confusion is not None and labels:
        scores = evaluation["scenarios"][scenario]
        heading = title or (
            f"{scenario} only: test weighted-F1 {100 * scores.get('weighted_f1', 0):.1f}, macro-F1 "
            f"{100 * scores.get('macro_f1', 0):.1f} ({scores.get('n', int(sum(map(sum, confusion))))} utterances)"
        )
        return plot_per_class(confusion, labels, path, title=heading, trained_on=trained_on)
    return plot_scenario_scores(evaluation, path, title=title, trained_on=trained_on)


def _finish(plt, figure, path, dpi: int = 120):
    if path is None:
        return figure
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return path


def _shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _turn_weights(prediction: Mapping[str, Any]) -> dict[str, float]:
    """A turn's modality weights; without them, the modalities it had, equally weighted (text when none is named)."""
    if prediction.get("modality_weights"):
        return dict(prediction["modality_weights"])
    modes = list(prediction.get("modalities") or ["text"])
    return {mode: 1.0 / len(modes) for mode in modes}


def plot_conversation(
    predictions: Sequence[Mapping[str, Any]],
    path: str | os.PathLike | None = None,
    *,
    turns: Sequence[Mapping[str, Any]] | None = None,
    gold: Sequence[str | None] | None = None,
    title: str | None = None,
    trained_on: str | None = None,
):
    """Timeline of the pipeline's output on one conversation (``predictions``: one dict per turn, as
    ``pipeline("emotion-recognition-in-conversation")`` returns them): one row per turn with the speaker and text
    (from ``turns``, the pipeline's input), the modality weights as a stacked bar (imputed modes hatched), the
    predicted emotion and score, and the gold label when ``gold`` gives it (✓ / ✗). When every turn has one and the
    same modality (a text-only model), the weight bars would all read "1.00" and are replaced by the score of the
    predicted emotion. ``trained_on`` (the config's) marks a synthetic model in the title. Writes ``path`` and returns
    it, or returns the figure when ``path`` is None.

    Example:
        >>> figure = plot_conversation(
        ...     [{"label": "joy", "score": 0.8, "modality_weights": {"text": 0.7, "audio": 0.3}, "imputed": ["audio"]}],
        ...     turns=[{"speaker": "Ann", "text": "So happy to see you!"}], gold=["joy"])
        >>> len(figure.axes[0].patches)
        2
    """
    plt = _pyplot()
    from matplotlib.patches import Patch

    if not predictions:
        raise ValueError("no turn to plot")
    turns = list(turns) if turns is not None else [{} for _ in predictions]
    gold = list(gold) if gold is not None else [None] * len(predictions)
    if len(turns) != len(predictions) or len(gold) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions but {len(turns)} turns and {len(gold)} gold labels")
    rows = len(predictions)
    all_weights = [_turn_weights(prediction) for prediction in predictions]
    modes_seen = {mode for weights in all_weights for mode in weights}
    single_mode = next(iter(modes_seen)) if len(modes_seen) == 1 and not any(p.get("imputed") for p in predictions) else None
    figure, axis = plt.subplots(figsize=(9.0, 0.55 * rows + 1.6))
    used_modes: list[str] = []
    for row, prediction in enumerate(predictions):
        y = rows - 1 - row
        weights = all_weights[row]
        imputed = set(prediction.get("imputed") or ())
        left = 0.0
        if single_mode is not None:  # one modality: its weight is always 1; the bar shows the prediction's score
            right = None if gold[row] is None else gold[row] == prediction["label"]
            axis.barh(y, float(prediction["score"]), height=0.6, color={True: "#009E73", False: "#D55E00"}.get(right, "0.55"))
            weights = {}
        for mode in [m for m in MODALITY_ORDER if m in weights] + [m for m in weights if m not in MODALITY_ORDER]:
            value = float(weights[mode])
            colour = MODALITY_COLOURS.get(mode, "0.6")
            axis.barh(y, value, left=left, height=0.6, color=colour, hatch="///" if mode in imputed else None,
                      edgecolor="white", linewidth=0.8)
            if value >= 0.12:  # on a plain patch of the bar's colour, so hatching never hides it
                axis.text(left + value / 2, y, f"{_ABBREVIATION.get(mode, mode[0])} {value:.2f}", ha="center", va="center", fontsize=8, color="white",
                          bbox={"boxstyle": "round,pad=0.15", "facecolor": colour, "edgecolor": "none"})
            left += value
            if mode not in used_modes:
                used_modes.append(mode)
        turn = turns[row]
        speaker = _shorten(turn.get("speaker", f"turn {row}"), 12)
        said = _shorten(turn.get("text", "") or "(no text)", 44)
        axis.text(-0.03, y, f"{speaker}: {said}", ha="right", va="center", fontsize=9)
        verdict = ""
        if gold[row] is not None:
            verdict = f"   gold {gold[row]} {'✓' if gold[row] == prediction['label'] else '✗'}"
        axis.text(1.03, y, f"{prediction['label']} ({prediction['score']:.2f}){verdict}", ha="left", va="center", fontsize=9,
                  fontweight="bold")
    axis.set_xlim(0, 1)
    axis.set_ylim(-0.6, rows - 0.4)
    axis.set_yticks([])
    axis.spines[["top", "right", "left"]].set_visible(False)
    if single_mode is not None:
        axis.set_xlabel("score of the predicted emotion (green: matches gold, orange: does not)" if any(gold) else
                        "score of the predicted emotion")
        heading = title or f"Predicted emotion per turn and its score ({single_mode} only)"
        axis.set_title(textwrap.fill(synthetic_title(heading, trained_on), 90), fontsize=11, pad=10)
    else:
        axis.set_xlabel("modality weight (hatched: imputed, not observed)")
        handles = [Patch(facecolor=MODALITY_COLOURS.get(m, "0.6"), label=m) for m in used_modes]
        handles.append(Patch(facecolor="white", edgecolor="0.3", hatch="///", label="imputed"))
        axis.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(handles), fontsize=8, frameon=False)
        heading = title or "Predicted emotion per turn, with the weight each modality got"
        axis.set_title(textwrap.fill(synthetic_title(heading, trained_on), 90), fontsize=11, pad=24)
    figure.subplots_adjust(left=0.36, right=0.74)
    return _finish(plt, figure, path)


__all__ = [
    "MODALITY_COLOURS",
    "PlottingUnavailable",
    "SYNTHETIC_TITLE_PREFIX",
    "matplotlib_available",
    "per_class_f1",
    "plot_conversation",
    "plot_evaluation",
    "plot_per_class",
    "plot_scenario_scores",
    "scenario_groups",
    "scenario_scores",
    "single_scenario",
    "synthetic_title",
]
