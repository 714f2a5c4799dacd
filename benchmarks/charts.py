"""Charts of benchmark results, drawn for a reader: each fits a 1200-px-wide page with text readable at normal size.

- `plot_result`: the per-scenario test weighted-F1 of every model of a results JSON as a heat map (one row per
  scenario, grouped by the number of modalities kept; one column per model; the value in each cell, the best model of
  each row in bold). A same-run reference (the robustness benchmark's linear probe) is one column, set apart, drawn
  once. The title names the corpus, the number of seeds and the training schedule.
- `plot_finetune`: the fine-tuning benchmark (frozen vs fine-tuned MiniLM on MELD), recipes always in one order and one
  colour each, the schedule (e.g. 260 steps) in the title.

A benchmark run writes its chart next to its JSON (``results/robustness.png``, ``results/real_features.png``,
``results/finetune.png``), and a chart can be redrawn from a JSON (no retraining):

    python -m benchmarks.charts benchmarks/results/robustness.json

Example:
    >>> result = {"benchmark": "x", "models": {"emoje": {"summary": {"weighted_f1_mean": {"audio": 0.3, "face": 0.4}}}}}
    >>> scenario_means(result)
    {'emoje': {'audio': 0.3, 'face': 0.4}}
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# What each benchmark measured on, for the chart's title.
TITLES: dict[str, str] = {
    "robustness": "Controlled synthetic conversations (generated features, not emotion data)",
    "real_features": "RAVDESS speech, real face and voice features (test actors 21-24)",
}
# Shown names of the benchmark's model keys (the JSON keeps its own).
DISPLAY_NAMES: dict[str, str] = {
    "concat_zeros_no_dropout": "concat, feed zeros",
    "concat_zeros": "concat + modality dropout",
    "emoje": "AM^2-EmoJE",
    "emoje_no_joint": "AM^2-EmoJE w/o joint emb.",
    "emoje_paper": "AM^2-EmoJE, paper depth (2 ACN layers)",
    "emoje_unnormalized": "AM^2-EmoJE, raw feature scales",
    "emoje/imputation_off_at_test": "AM^2-EmoJE, no imputation at test",
    "cmarr": "CM-ARR",
    "linear_probe": "linear probe (same run)",
    "emoje_specialists": "specialists (AM^2-EmoJE trained per scenario)",
}
# Models measured in the same run as a yardstick, not compared: one column set apart, drawn once.
REFERENCE_MODELS = ("linear_probe",)
# The fine-tuning benchmark's recipes: always in this order, each in its own colour, in every chart.
RECIPES: dict[str, tuple[str, str]] = {
    "frozen": ("frozen features", "#9aa5b1"),
    "frozen_windows": ("frozen, windows 16+4", "#5f6b7a"),
    "finetune": ("fine-tuned MiniLM", "#d55e00"),
}
FINETUNE_CORPORA = {"meld": "MELD, official dialogues", "episodes": "MELD episodes (long dialogues)"}
PAGE_WIDTH_PX = 1200
DPI = 100


def scenario_means(result: Mapping[str, Any], models: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """``{model: {scenario: mean test weighted-F1}}`` of a benchmark result; the robustness benchmark's same-run
    linear probe (``references.linear_probe``) is added as one more model."""
    table = {
        name: dict(entry["summary"]["weighted_f1_mean"])
        for name, entry in result["models"].items()
        if "summary" in entry and (models is None or name in models)
    }
    probe = (result.get("references") or {}).get("linear_probe")
    if probe and (models is None or "linear_probe" in models):
        table["linear_probe"] = dict(probe["weighted_f1"])
    return table


def schedule_text(result: Mapping[str, Any]) -> str:
    """The training schedule of a benchmark result in a few words, for a title.

    Example:
        >>> schedule_text({"training": {"num_train_epochs": 30, "per_device_train_batch_size": 16, "learning_rate": 0.001,
        ...                             "patience": 6}})
        'up to 30 epochs, batch 16, lr 0.001, early stop after 6'
    """
    training = result.get("training") or {}
    parts = []
    if training.get("schedule"):  # a derived schedule (`--schedule auto,...`) says more than the epochs it caps
        rule = dict(item.split("=", 1) for item in str(training["schedule"]).split(",")[1:] if "=" in item)
        if "steps" in rule:
            parts.append(f"{rule['steps']} steps of {rule.get('batch_utterances', '?')} utterances")
        if "window" in rule:
            parts.append(f"windows {rule['window']}+{rule.get('context', 0)}")
        training = {key: value for key, value in training.items() if key not in ("num_train_epochs", "per_device_train_batch_size")}
    if "num_train_epochs" in training:
        parts.append(f"up to {training['num_train_epochs']} epochs")
    if "max_steps" in training and training["max_steps"] not in (None, -1):
        parts.append(f"{training['max_steps']} steps")
    if "per_device_train_batch_size" in training:
        parts.append(f"batch {training['per_device_train_batch_size']}")
    if "learning_rate" in training:
        parts.append(f"lr {training['learning_rate']:g}")
    if training.get("patience"):
        parts.append(f"early stop after {training['patience']}")
    return ", ".join(parts)


def result_title(result: Mapping[str, Any]) -> str:
    """Corpus, metric, seeds and schedule of a benchmark result, as the chart's title (two lines)."""
    name = TITLES.get(result["benchmark"], result["benchmark"])
    protocol = str((result.get("corpus") or {}).get("protocol") or "")
    if "(--protocol" in protocol:  # the real-features benchmark's two RAVDESS protocols
        name += ", " + protocol.split("(--protocol ", 1)[1].split(")", 1)[0] + " protocol"
    overrides = result.get("model_overrides") or {}
    if overrides:
        name += " (" + ", ".join(f"{key}={value}" for key, value in overrides.items()) + ")"
    seeds = result.get("seeds")
    second = "test weighted-F1 (%)" + (f", mean of {len(seeds)} seeds" if seeds else "")
    schedule = schedule_text(result)
    return f"{name}\n{second}" + (f"; {schedule}" if schedule else "")


def _default_models(benchmark: str) -> Sequence[str] | None:
    """The models a benchmark draws (its ``CHART_MODELS``), None (all) for an unknown benchmark."""
    import importlib

    try:
        return tuple(importlib.import_module(f"benchmarks.{benchmark}").CHART_MODELS)
    except (ImportError, AttributeError):
        return None


def plot_result(
    result: Mapping[str, Any], path: str | os.PathLike | None = None, models: Sequence[str] | None = None
):
    """Draw `scenario_means` of ``result`` (the models in ``models`` order when given, references last) as a heat
    map at ``path`` and return the path; the figure when ``path`` is None. A fine-tuning result goes to
    `plot_finetune`."""
    if str(result.get("benchmark", "")).startswith("finetune"):
        return plot_finetune(result, path)
    table = scenario_means(result, models)
    if models is not None:
        table = {name: table[name] for name in models if name in table}
    compared = [name for name in table if name not in REFERENCE_MODELS]
    references = [name for name in table if name in REFERENCE_MODELS]
    return plot_score_grid(
        {DISPLAY_NAMES.get(name, name): table[name] for name in compared},
        path,
        title=result_title(result),
        references={DISPLAY_NAMES.get(name, name): table[name] for name in references},
    )


def _text_colour(rgba) -> str:
    red, green, blue = rgba[:3]
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def plot_score_grid(
    table: Mapping[str, Mapping[str, float]],
    path: str | os.PathLike | None = None,
    *,
    title: str = "",
    references: Mapping[str, Mapping[str, float]] | None = None,
):
    """Heat map of scores (0-1, shown in percent): one row per scenario (grouped by the number of modalities kept,
    ``privacy`` last), one column per model of ``table``, then the ``references`` columns set apart; the value is
    written in each cell and the best compared model of each row is bold. Writes ``path`` (at most
    `PAGE_WIDTH_PX` wide) and returns it, or returns the figure when ``path`` is None.

    Example:
        >>> figure = plot_score_grid({"A": {"text": 0.5, "text+audio": 0.8}, "B": {"text": 0.6, "text+audio": 0.7}},
        ...                          references={"probe": {"text": 0.4, "text+audio": 0.6}})
        >>> sorted(t.get_text() for t in figure.axes[0].texts if t.get_fontweight() == "bold")
        ['60.0', '80.0']
    """
    import textwrap

    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.patches import Rectangle

    from training.publishing.charts import _finish, _pyplot, scenario_groups

    plt = _pyplot()
    references = dict(references or {})
    columns = [*table, *references]
    if not columns:
        raise ValueError("no model to draw")
    every = {**table, **references}
    names = list(dict.fromkeys(name for row in every.values() for name in row))
    if not names:
        raise ValueError("no scenario score to draw")
    groups = scenario_groups(names)
    values = [100 * score for row in every.values() for score in row.values()]
    norm = Normalize(vmin=min(values), vmax=max(values))
    cmap = colormaps["cividis"]
    gap_row, gap_column = 0.45, 0.35
    cell_width, cell_height = 1.0, 0.62
    x_of = {}
    x = 0.0
    for index, column in enumerate(columns):
        if index == len(table) and references:
            x += gap_column
        x_of[column] = x
        x += cell_width
    right = x
    rows: list[tuple[str, float]] = []
    headers: list[tuple[str, float]] = []
    y = 0.0
    for group, members in groups:
        headers.append((group, y))
        y += gap_row
        for member in members:
            rows.append((member, y))
            y += cell_height
    bottom = y
    label_width_in = 1.9
    width_in = min(PAGE_WIDTH_PX / DPI - 0.2, label_width_in + 1.25 * len(columns) + 0.4)
    height_in = 1.6 + 0.42 * bottom / cell_height
    figure, axis = plt.subplots(figsize=(width_in, height_in))
    for scenario, top in rows:
        compared = {column: table[column][scenario] for column in table if scenario in table[column]}
        best = max(compared.values()) if compared else None
        for column in columns:
            score = every[column].get(scenario)
            if score is None:
                axis.add_patch(Rectangle((x_of[column], top), cell_width, cell_height, facecolor="0.93", edgecolor="white"))
                continue
            colour = cmap(norm(100 * score))
            axis.add_patch(Rectangle((x_of[column], top), cell_width, cell_height, facecolor=colour, edgecolor="white", linewidth=1.5))
            bold = column in table and best is not None and round(score, 6) == round(best, 6)
            axis.text(x_of[column] + cell_width / 2, top + cell_height / 2, f"{100 * score:.1f}", ha="center", va="center",
                      fontsize=10, color=_text_colour(colour), fontweight="bold" if bold else "normal")
        axis.text(-0.12, top + cell_height / 2, scenario, ha="right", va="center", fontsize=10)
    for group, top in headers:
        axis.text(-0.12, top + gap_row / 2 + 0.04, group, ha="right", va="center", fontsize=9, style="italic", color="0.35")
    for column in columns:
        label = textwrap.fill(column, 14)
        axis.text(x_of[column] + cell_width / 2, -0.12, label, ha="center", va="bottom", fontsize=9.5,
                  style="italic" if column in references else "normal")
    if references:
        first = x_of[columns[len(table)]]
        axis.text((first + right) / 2, bottom + 0.12, "reference", ha="center", va="top", fontsize=9, style="italic", color="0.35")
    axis.set_xlim(0, right)
    axis.axis("off")
    note = "bold: best compared model of the row; colour: the score"
    crowded = references and len(table) < 4  # the note would run into the "reference" label: a line of its own
    note_y = bottom + (0.5 if crowded else 0.12)
    axis.set_ylim(note_y + 0.38, -1.15)
    axis.text(0, note_y, note, ha="left", va="top", fontsize=8.5, color="0.35")
    if title:
        figure.suptitle(title, x=0.02, y=0.995, ha="left", va="top", fontsize=11)
    figure.subplots_adjust(left=label_width_in / width_in, right=0.98, top=1 - 0.75 / height_in, bottom=0.02)
    return _finish(plt, figure, path, dpi=DPI)


def plot_finetune(report: Mapping[str, Any], path: str | os.PathLike | None = None):
    """The fine-tuning benchmark: bars of mean test weighted-F1 (± std over seeds) per corpus and recipe, the
    recipes always in `RECIPES` order and colours, optimiser steps and training CPU-minutes above each bar, the
    fine-tuning schedule and seeds in the title. Writes ``path`` and returns it, or returns the figure.

    Example:
        >>> row = {"weighted_f1": {"mean": 0.6, "std": 0.01}, "optimizer_steps": 260, "training_cpu_minutes": 8, "num_seeds": 2}
        >>> report = {"finetune_schedule": "auto,steps=260", "summary": {"meld": {"recipes": {"finetune": row, "frozen": row}}}}
        >>> figure = plot_finetune(report)
        >>> [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
        ['frozen features', 'fine-tuned MiniLM']
        >>> "260 steps" in figure.axes[0].get_title(loc="left")
        True
    """
    from training.publishing.charts import _finish, _pyplot

    plt = _pyplot()
    summary = report.get("summary") or {}
    figure, axis = plt.subplots(figsize=(9.6, 5.0))
    position, ticks, drawn = 0.0, [], set()
    seeds: dict[str, set[int]] = {}
    for corpus, entry in summary.items():
        start = position
        recipes = entry["recipes"]
        for recipe in [*RECIPES, *(name for name in recipes if name not in RECIPES)]:
            if recipe not in recipes:
                continue
            row = recipes[recipe]
            label, colour = RECIPES.get(recipe, (recipe, "#999999"))
            mean, std = 100 * row["weighted_f1"]["mean"], 100 * row["weighted_f1"]["std"]
            axis.bar(position, mean, 0.8, yerr=std, color=colour, capsize=4, label=label if recipe not in drawn else None)
            drawn.add(recipe)
            axis.text(position, mean + std + 0.4, f"{mean:.1f}\n{row['optimizer_steps']} steps\n{row['training_cpu_minutes']} min",
                      ha="center", va="bottom", fontsize=9)
            seeds.setdefault(recipe, set()).add(row.get("num_seeds", 0))
            position += 1
        ticks.append(((start + position - 1) / 2, FINETUNE_CORPORA.get(corpus, corpus)))
        position += 0.8
    handles, labels = axis.get_legend_handles_labels()
    order = [RECIPES[name][0] for name in RECIPES if RECIPES[name][0] in labels] + [l for l in labels if l not in {v[0] for v in RECIPES.values()}]
    axis.legend([handles[labels.index(label)] for label in order], order, fontsize=10, loc="upper left", ncol=len(order), frameon=False)
    axis.set_xticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=10)
    tops = [100 * (r["weighted_f1"]["mean"] + r["weighted_f1"]["std"]) for e in summary.values() for r in e["recipes"].values()]
    axis.set_ylim(40, max(72.0, max(tops, default=60) + 9))  # one scale for every fine-tuning chart
    axis.set_ylabel("test weighted-F1 (%)", fontsize=10)
    axis.spines[["top", "right"]].set_visible(False)
    schedule = str(report.get("finetune_schedule") or "auto")
    steps = next((part.split("=", 1)[1] for part in schedule.split(",") if part.startswith("steps=")), None)
    finetuned_steps = sorted({r["optimizer_steps"] for e in summary.values() for n, r in e["recipes"].items() if n == "finetune"})
    steps_text = f"{steps} steps" if steps else (f"{'/'.join(map(str, finetuned_steps))} steps" if finetuned_steps else "")
    seed_text = ", ".join(
        f"{RECIPES[name][0]} {'/'.join(map(str, sorted(seeds[name])))}" for name in RECIPES if name in seeds
    )
    axis.set_title(
        "MELD text, frozen vs fine-tuned MiniLM (text-only AM^2-EmoJE): test weighted-F1, mean ± std over seeds\n"
        f"fine-tuning schedule {schedule.split(',')[0]}, {steps_text}; seeds: {seed_text}",
        fontsize=10.5, loc="left",
    )
    axis.text(1.0, -0.1, "above each bar: mean, optimiser steps, training CPU-minutes", transform=axis.transAxes,
              ha="right", va="top", fontsize=8.5, color="0.35")
    figure.tight_layout()
    return _finish(plt, figure, path, dpi=DPI)


def write_chart(result: Mapping[str, Any], path: str | os.PathLike, models: Sequence[str] | None = None) -> Path | None:
    """`plot_result` when matplotlib is installed (a benchmark's chart beside its JSON); otherwise say so, return None."""
    from training.publishing.charts import matplotlib_available

    if not matplotlib_available():
        print(f"[{result['benchmark']}] no chart: matplotlib is not installed (pip install 'emoje[plots]')")
        return None
    written = plot_result(result, path, models)
    print(f"[{result['benchmark']}] chart written to {written}")
    return written


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.charts", description=__doc__.split("\n\n")[0])
    parser.add_argument("result", help="a benchmark results JSON")
    parser.add_argument("--output", help="the picture (default: the JSON's path with .png)")
    parser.add_argument(
        "--models", help="comma-separated models to show, in this order (default: the benchmark's CHART_MODELS)"
    )
    return parser.parse_args(argv)


def publish(
    result: Mapping[str, Any], output: str | os.PathLike, summary: str, models: Sequence[str] | None = None, chart: bool = True
) -> Path:
    """What a benchmark run ends with: its JSON written (`benchmarks.environment.write_result`), its summary table
    printed, and (``chart``) its chart drawn beside the JSON (``.png``). Returns the JSON's path."""
    from benchmarks.environment import write_result

    path = write_result(output, result)
    print(summary)
    print(f"[{result['benchmark']}] results written to {path}")
    if chart:
        write_chart(result, Path(output).with_suffix(".png"), models)
    return path


def main(argv: Sequence[str] | None = None) -> Path:
    args = parse_args(argv)
    result = json.loads(Path(args.result).read_text())
    models = [m.strip() for m in args.models.split(",")] if args.models else _default_models(str(result.get("benchmark")))
    path = plot_result(result, args.output or Path(args.result).with_suffix(".png"), models)
    print(f"chart written to {path}")
    return path


__all__ = [
    "DISPLAY_NAMES",
    "RECIPES",
    "REFERENCE_MODELS",
    "TITLES",
    "main",
    "parse_args",
    "plot_finetune",
    "plot_result",
    "plot_score_grid",
    "publish",
    "result_title",
    "scenario_means",
    "schedule_text",
    "write_chart",
]


if __name__ == "__main__":
    main()
