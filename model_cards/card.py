"""Model cards for exported emoje checkpoints (huggingface_hub `ModelCard` with a ``model-index``).

The front matter holds one `EvalResult` per scenario and metric (weighted-F1, macro-F1, accuracy, UAR) on
the test split; the body states protocol, label set, splits, intended use, privacy notes, limitations and the
citations of the methods the registered models implement (`modeling_emoje.model_specs`).

Example:
    >>> from model_cards import build_model_card
    >>> card = build_model_card(
    ...     model_type="emoje", label_names=["neutral", "joy"], modalities=["text"], protocol="meld",
    ...     evaluation={"scenarios": {"text": {"weighted_f1": 0.6, "macro_f1": 0.4, "accuracy": 0.62, "uar": 0.41, "n": 10}}},
    ... )
    >>> card.data.eval_results[0].metric_value
    0.6
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from dataset_scripts.corpora import corpus_of
from dataset_scripts.synthetic import CORPUS as SYNTHETIC_CORPUS
from modeling_emoje.audio_features_emoje import describe_audio_features
from modeling_emoje.modalities import PRIVACY
from modeling_emoje.model_specs import get_model_spec, known_model_types, model_specs

TEMPLATE_PATH = Path(__file__).with_name("template.md")
TASK_TYPE = "emotion-recognition-in-conversation"
TASK_NAME = "Emotion recognition in conversation"
# metric key -> (model-index metric type, metric config, display name)
CARD_METRICS: dict[str, tuple[str, str | None, str]] = {
    "weighted_f1": ("f1", "weighted", "Weighted F1"),
    "macro_f1": ("f1", "macro", "Macro F1"),
    "accuracy": ("accuracy", None, "Accuracy (WAR)"),
    "uar": ("recall", "macro", "UAR"),
}
# Why the card has no `pipeline_tag`: the Hub's tasks classify one text, one clip or one image; this model labels every
# turn of a conversation from whichever modalities each turn has, through its own pipeline (remote code).
NO_PIPELINE_TAG_REASON = (
    "The card sets no `pipeline_tag`: the Hub's tasks (text-, audio-, video-classification) take one input and give "
    "one label, while this model labels every turn of a conversation from whichever of its modalities each turn "
    "has. Its own pipeline comes with the repository (`custom_pipelines` in `config.json`)."
)
SYNTHETIC_NOTICE = (
    "\n> **Demo model trained on synthetic data.** The corpus behind this checkpoint is generated noise around "
    "per-class prototypes (`dataset_scripts.synthetic`, preset \"prototype\"), not recordings of people. Its scores show "
    "that the code path "
    "works; they say nothing about recognising emotions. Do not use this checkpoint for anything else.\n"
)


def eval_results_from_evaluation(
    evaluation: Mapping[str, Any], dataset_type: str, dataset_name: str, protocol: str | None, split: str = "test"
) -> list[EvalResult]:
    """One `EvalResult` per scenario and metric; the scenario is part of the metric name."""
    results = []
    for scenario, scores in evaluation.get("scenarios", {}).items():
        for key, (metric_type, metric_config, display) in CARD_METRICS.items():
            if key not in scores:
                continue
            results.append(
                EvalResult(
                    task_type=TASK_TYPE,
                    task_name=TASK_NAME,
                    dataset_type=dataset_type,
                    dataset_name=dataset_name,
                    dataset_config=protocol,
                    dataset_split=split,
                    metric_type=metric_type,
                    metric_config=metric_config,
                    metric_name=f"{display} [{scenario}]",
                    metric_value=round(float(scores[key]), 6),
                )
            )
    return results


def _evaluation_table(evaluation: Mapping[str, Any] | None) -> str:
    if not evaluation or not evaluation.get("scenarios"):
        return "_No evaluation results were recorded for this checkpoint._"
    lines = ["| scenario | n | weighted-F1 | macro-F1 | accuracy | UAR |", "|---|---:|---:|---:|---:|---:|"]
    for scenario, scores in evaluation["scenarios"].items():
        skipped = f" ({scores['n_skipped']} skipped)" if scores.get("n_skipped") else ""
        lines.append(
            f"| `{scenario}` | {scores['n']}{skipped} | {100 * scores['weighted_f1']:.2f} | {100 * scores['macro_f1']:.2f} "
            f"| {100 * scores['accuracy']:.2f} | {100 * scores['uar']:.2f} |"
        )
    return "\n".join(lines)


def _selection_note(evaluation: Mapping[str, Any] | None) -> str:
    """One sentence on what the best checkpoint was chosen for (``evaluation["selection"]``, written by emoje-train)."""
    selection = (evaluation or {}).get("selection")
    if not selection:
        return ""
    metric = selection.get("metric", "?")
    if selection.get("scenarios"):
        names = ", ".join(f"`{name}`" for name in selection["scenarios"])
        chosen = f"the mean validation weighted-F1 over the scenarios {names} (`{metric}`)"
    else:
        chosen = f"the validation `{metric}` of the complete data"
    best = selection.get("best_validation_value")
    value = f", best value {100 * best:.2f}" if isinstance(best, (int, float)) and metric != "loss" else ""
    return f"\n\nThe best checkpoint was chosen on {chosen}{value}."


def _chart_description(evaluation: Mapping[str, Any] | None) -> str:
    """What the evaluation picture shows: per emotion for a single-modality model whose evaluation has a confusion
    matrix (`training.publishing.charts.plot_evaluation` draws that), else every scenario."""
    scenarios = (evaluation or {}).get("scenarios", {})
    kept = [name for name in scenarios if name != PRIVACY and not name.startswith("three_mode")]
    if len(kept) == 1 and "+" not in kept[0] and "confusion_matrix" in scenarios[kept[0]]:
        return f"F1 per emotion and confusion matrix on the test split ({kept[0]} only)"
    return "Weighted-F1 of every test scenario, grouped by the number of modalities kept"


def _splits_table(splits: Mapping[str, Mapping[str, int]] | None) -> str:
    if not splits:
        return "_Split sizes were not recorded._"
    lines = ["| split | dialogues | utterances |", "|---|---:|---:|"]
    notes = []
    for name, sizes in splits.items():
        lines.append(f"| {name} | {sizes.get('dialogues', '?')} | {sizes.get('utterances', '?')} |")
        if "training windows" in sizes:
            notes.append(f"The {name} dialogues were cut into {sizes['training windows']} training windows (`train_window`).")
    return "\n".join(lines + ([""] + notes if notes else []))


def _audio_features_line(record: Mapping[str, Any] | None, modalities: Sequence[str]) -> str:
    """The card's line naming the audio extractor (only for a model that takes audio)."""
    if record is None or "audio" not in modalities:
        return ""
    line = describe_audio_features(record)
    return f"- **{line.replace('Audio features:', 'Audio features:**', 1)}\n" if line else ""


def build_model_card(
    *,
    model_type: str,
    label_names: Sequence[str],
    modalities: Sequence[str],
    evaluation: Mapping[str, Any] | None = None,
    protocol: str | None = None,
    dataset_name: str | None = None,
    splits: Mapping[str, Mapping[str, int]] | None = None,
    num_parameters: int | None = None,
    repo_id: str | None = None,
    training_summary: Mapping[str, Any] | None = None,
    limitations: Sequence[str] = (),
    license: str = "apache-2.0",
    trained_on: str | None = None,
    base_model: str | None = None,
    evaluation_image: str | None = None,
    audio_features: Mapping[str, Any] | None = None,
) -> ModelCard:
    """Build the README.md model card of an exported checkpoint (``trained_on``: the config's note on the training
    data, shown in the card; one that says synthetic marks the card as a synthetic demo).

    The metadata carries ``base_model`` (the Hub id of the text encoder, when known), ``datasets`` (the corpus's Hub
    id, where its authors publish one: the corpus registry's ``hub_dataset_id``) and the ``model-index``; no ``pipeline_tag``
    (`NO_PIPELINE_TAG_REASON`, stated in the card);
    ``evaluation_image`` (a file name in the folder, e.g. ``evaluation.png``) is shown above the evaluation table;
    ``audio_features`` (the processor's extractor record) names the audio extractor, its version and settings."""
    dataset_name = dataset_name or protocol or "unknown corpus"
    corpus = corpus_of(dataset_name, protocol, trained_on)  # the registered corpus they name, if any
    synthetic = corpus is not None and corpus.name == SYNTHETIC_CORPUS.name
    dataset_type = corpus.name if corpus is not None else (protocol or "custom")
    eval_results = eval_results_from_evaluation(evaluation or {}, dataset_type, dataset_name, protocol) or None
    spec = get_model_spec(model_type) if model_type in known_model_types() else None
    title = f"{spec.display_name if spec is not None else model_type} emotion recognition in conversation ({dataset_name})"
    card_data = ModelCardData(
        language="en",
        license=license,
        library_name="transformers",
        tags=["emotion-recognition", "emotion-recognition-in-conversation", "multimodal", "missing-modality", "emoje", model_type],
        model_name=title,
        eval_results=eval_results,
        base_model=base_model,
        datasets=[corpus.hub_dataset_id] if corpus is not None and corpus.hub_dataset_id else None,
    )
    three_mode = evaluation and any(name.startswith("three_mode") for name in evaluation.get("scenarios", {}))
    notes = list(limitations)
    if synthetic:
        notes.append("Trained and evaluated on generated feature vectors: no real text, voice, face or body was involved.")
    if corpus is not None and corpus.terms:
        notes.append(corpus.terms)
    notes += [
        "Scores are for the listed protocol and test split only; other corpora, languages, recording conditions "
        "and label sets need re-evaluation.",
        "Text features come from a frozen sentence encoder; the model inherits its biases and language coverage.",
        "Missing modalities are handled natively, but a scenario the training data rarely contained (e.g. body "
        "only) is weaker than the full setting; see the evaluation table.",
        "Annotated emotion categories are ambiguous and imbalanced (macro-F1 and UAR show the minority classes).",
    ]
    summary = (
        f"Emotion recognition in conversation that keeps working when modalities are missing, trained with the "
        f"`emoje` package on **{dataset_name}** (protocol `{protocol or 'unspecified'}`). "
        f"It predicts one of {len(label_names)} emotions per utterance from any subset of {', '.join(modalities)}."
    )
    values = {
        "title": title,
        "summary": summary,
        "demo_notice": SYNTHETIC_NOTICE if synthetic else "",
        "architecture": spec.description if spec is not None and spec.description else f"`{model_type}`",
        "model_type": model_type,
        "modalities": ", ".join(modalities),
        "num_parameters": f"{num_parameters:,}" if num_parameters else "not recorded",
        "num_labels": str(len(label_names)),
        "labels": ", ".join(f"`{name}`" for name in label_names),
        "repo_id": repo_id or "path/to/this/folder",
        "pipeline_note": NO_PIPELINE_TAG_REASON,
        "dataset_name": dataset_name,
        "trained_on_line": (f"- **Trained on:** {trained_on} (`config.trained_on`)\n" if trained_on else "")
        + _audio_features_line(audio_features, modalities),
        "protocol": protocol or "unspecified",
        "splits_table": _splits_table(splits),
        "three_mode_note": (
            " The `three_mode_*` rows follow CM-ARR's protocol over {audio, text, visual = face + body}: the mean and "
            "the pooled score of its six missing-modality conditions."
            if three_mode
            else ""
        ),
        "evaluation_table": _evaluation_table(evaluation) + _selection_note(evaluation),
        "evaluation_chart": f"![{_chart_description(evaluation)}]({evaluation_image})\n\n" if evaluation_image else "",
        "limitations": "\n".join(f"- {note}" for note in notes),
        "training_summary": "\n".join(f"- {k}: `{v}`" for k, v in (training_summary or {}).items())
        or "_Not recorded._",
        "model_citations": "\n\n".join(s.citation_bibtex for s in model_specs() if s.citation_bibtex),
        "dataset_citation": (
            f"\nDataset:\n\n```bibtex\n{corpus.citation_bibtex}\n```\n" if corpus is not None and corpus.citation_bibtex else ""
        ),
    }
    body = Template(TEMPLATE_PATH.read_text()).substitute(values)
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n{body}")


__all__ = [
    "CARD_METRICS",
    "NO_PIPELINE_TAG_REASON",
    "build_model_card",
    "eval_results_from_evaluation",
]
