"""Charts of benchmark results: the per-scenario weighted-F1 of every model of a results JSON, as one picture.

Uses `training.publishing.charts.plot_scenario_scores` (matplotlib, the ``plots`` extra); a benchmark run writes its chart next
to its JSON (``results/robustness.png``, ``results/real_features.png``), and a chart can be redrawn from a JSON:

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

# Shown names of the benchmark's model keys (the JSON keeps its own).
TITLES: dict[str, str] = {
    "robustness": "Controlled synthetic conversations (missing-modality robustness)",
    "real_features": "RAVDESS, real face and voice features (actor split)",
}
DISPLAY_NAMES: dict[str, str] = {
    "concat_zeros_no_dropout": "concat, feed zeros",
    "concat_zeros": "concat + modality dropout",
    "emoje": "AM^2-EmoJE",
    "emoje_no_joint": "AM^2-EmoJE w/o joint emb.",
    "emoje_paper": "AM^2-EmoJE, paper depth (2 ACN layers)",
    "emoje_unnormalized": "AM^2-EmoJE, raw feature scales",
    "cmarr": "CM-ARR",
    "linear_probe": "linear probe (same run)",
}


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


def plot_result(result: Mapping[str, Any], path: str | os.PathLike, models: Sequence[str] | None = None) -> Path:
    """Draw `scenario_means` of ``result`` (the models in ``models`` order when given) to ``path``; returns it."""
    from training.publishing.charts import plot_scenario_scores

    table = scenario_means(result, models)
    if models is not None:
        table = {name: table[name] for name in models if name in table}
    shown = {DISPLAY_NAMES.get(name, name): scores for name, scores in table.items()}
    seeds = result.get("seeds")
    name = TITLES.get(result["benchmark"], result["benchmark"])
    title = f"{name}: test weighted-F1" + (f", mean of {len(seeds)} seeds" if seeds else "")
    return Path(plot_scenario_scores(shown, path, title=title))


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
    parser.add_argument("--models", help="comma-separated models to show, in this order (default: all)")
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
    models = [m.strip() for m in args.models.split(",")] if args.models else None
    path = plot_result(result, args.output or Path(args.result).with_suffix(".png"), models)
    print(f"chart written to {path}")
    return path


__all__ = ["DISPLAY_NAMES", "TITLES", "main", "parse_args", "plot_result", "publish", "scenario_means", "write_chart"]


if __name__ == "__main__":
    main()
