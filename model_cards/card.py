"""Model cards for exported emoje checkpoints (huggingface_hub `ModelCard` with a ``model-index``).

The front matter holds one `EvalResult` per scenario and metric (weighted-F1, macro-F1, accuracy, UAR) on
the test split; the body states protocol, label set, splits, intended use, privacy notes, limitations and the
citations of both implemented papers.

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
ARCHITECTURES: dict[str, str] = {
    "emoje": (
        "AM^2-EmoJE (Devulapally et al., 2024): per-modality encoders, an adaptive cross-attended network, a "
        "multimodal joint embedding that imputes missing modalities at test time, query adaptive fusion and "
        "dialogue/speaker context."
    ),
    "cmarr": (
        "CM-ARR (Sun et al., ICASSP 2025): Gaussian modality encoders, distribution-based contrastive alignment, "
        "normalizing-flow reconstruction of missing modalities and supervised contrastive refinement."
    ),
}
DATASET_CITATIONS: dict[str, str] = {
    "meld": (
        "@inproceedings{poria2019meld,\n  title = {{MELD}: A Multimodal Multi-Party Dataset for Emotion Recognition in "
        "Conversations},\n  author = {Poria, Soujanya and Hazarika, Devamanyu and Majumder, Navonil and Naik, Gautam and "
        "Cambria, Erik and Mihalcea, Rada},\n  booktitle = {ACL},\n  year = {2019}\n}"
    ),
    "iemocap": (
        "@article{busso2008iemocap,\n  title = {{IEMOCAP}: Interactive emotional dyadic motion capture database},\n  "
        "author = {Busso, Carlos and Bulut, Murtaza and Lee, Chi-Chun and Kazemzadeh, Abe and Mower, Emily and Kim, "
        "Samuel and Chang, Jeannette N. and Lee, Sungbok and Narayanan, Shrikanth S.},\n  journal = {Language Resources "
        "and Evaluation},\n  volume = {42},\n  pages = {335--359},\n  year = {2008}\n}"
    ),
    "msp": (
        "@article{busso2017mspimprov,\n  title = {{MSP-IMPROV}: An Acted Corpus of Dyadic Interactions to Study Emotion "
        "Perception},\n  author = {Busso, Carlos and Parthasarathy, Srinivas and Burmania, Alec and AbdelWahab, Mohammed "
        "and Sadoughi, Najmeh and Mower Provost, Emily},\n  journal = {IEEE Transactions on Affective Computing},\n  "
        "volume = {8},\n  number = {1},\n  pages = {67--80},\n  year = {2017}\n}"
    ),
}
# Corpus display names, and the Hub dataset ids for the card's `datasets` metadata where the corpus's authors publish
# one (MELD: declare-lab/MELD; IEMOCAP and MSP-IMPROV are licensed per user and have no official Hub copy).
DATASET_NAMES: dict[str, str] = {"meld": "MELD", "iemocap": "IEMOCAP", "msp": "MSP-IMPROV"}
DATASET_HUB_IDS: dict[str, str] = {"meld": "declare-lab/MELD"}
# What each corpus's own terms say, shown in the card so a user picks the card's `license` knowingly.
DATASET_TERMS: dict[str, str] = {
    "meld": "MELD is distributed by its authors under GPL-3.0 (github.com/declare-lab/MELD); its utterances are "
    "transcripts and clips of the TV series Friends. This card's `license` covers the weights as published here: "
    "check that it is compatible with the corpus's terms before you publish.",
    "iemocap": "IEMOCAP is released by USC SAIL to each user under a license agreement; check that it allows "
    "publishing weights trained on it before you push this folder.",
    "msp": "MSP-IMPROV is released by the MSP lab (UT Dallas) to each user under an academic license agreement; check "
    "that it allows publishing weights trained on it before you push this folder.",
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


def _dataset_key(*names: str | None) -> str | None:
    text = " ".join(name or "" for name in names).lower()
    for key in ("meld", "iemocap", "msp"):
        if key in text:
            return key
    return "synthetic" if "synthetic" in text else None


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
) -> ModelCard:
    """Build the README.md model card of an exported checkpoint (``trained_on``: the config's note on the training
    data, shown in the card; one that says synthetic marks the card as a synthetic demo).

    The metadata carries ``base_model`` (the Hub id of the text encoder, when known), ``datasets`` (the corpus's Hub
    id, where its authors publish one: `DATASET_HUB_IDS`) and the ``model-index``; no ``pipeline_tag``
    (`NO_PIPELINE_TAG_REASON`, stated in the card);
    ``evaluation_image`` (a file name in the folder, e.g. ``evaluation.png``) is shown above the evaluation table."""
    dataset_name = dataset_name or protocol or "unknown corpus"
    key = _dataset_key(dataset_name, protocol, trained_on)
    dataset_type = key or (protocol or "custom")
    eval_results = eval_results_from_evaluation(evaluation or {}, dataset_type, dataset_name, protocol) or None
    title = f"{'AM^2-EmoJE' if model_type == 'emoje' else 'CM-ARR' if model_type == 'cmarr' else model_type} emotion recognition in conversation ({dataset_name})"
    card_data = ModelCardData(
        language="en",
        license=license,
        library_name="transformers",
        tags=["emotion-recognition", "emotion-recognition-in-conversation", "multimodal", "missing-modality", "emoje", model_type],
        model_name=title,
        eval_results=eval_results,
        base_model=base_model,
        datasets=[DATASET_HUB_IDS[key]] if key in DATASET_HUB_IDS else None,
    )
    three_mode = evaluation and any(name.startswith("three_mode") for name in evaluation.get("scenarios", {}))
    notes = list(limitations)
    if key == "synthetic":
        notes.append("Trained and evaluated on generated feature vectors: no real text, voice, face or body was involved.")
    if key in DATASET_TERMS:
        notes.append(DATASET_TERMS[key])
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
        "demo_notice": SYNTHETIC_NOTICE if key == "synthetic" else "",
        "architecture": ARCHITECTURES.get(model_type, f"`{model_type}`"),
        "model_type": model_type,
        "modalities": ", ".join(modalities),
        "num_parameters": f"{num_parameters:,}" if num_parameters else "not recorded",
        "num_labels": str(len(label_names)),
        "labels": ", ".join(f"`{name}`" for name in label_names),
        "repo_id": repo_id or "path/to/this/folder",
        "pipeline_note": NO_PIPELINE_TAG_REASON,
        "dataset_name": dataset_name,
        "trained_on_line": f"- **Trained on:** {trained_on} (`config.trained_on`)\n" if trained_on else "",
        "protocol": protocol or "unspecified",
        "splits_table": _splits_table(splits),
        "three_mode_note": (
            " The `three_mode_*` rows follow CM-ARR's protocol over {audio, text, visual = face + body}: the mean and "
            "the pooled score of its six missing-modality conditions."
            if three_mode
            else ""
        ),
        "evaluation_table": _evaluation_table(evaluation),
        "evaluation_chart": (
            f"![Weighted-F1 of every test scenario, grouped by the number of modalities kept]({evaluation_image})\n\n"
            if evaluation_image
            else ""
        ),
        "limitations": "\n".join(f"- {note}" for note in notes),
        "training_summary": "\n".join(f"- {k}: `{v}`" for k, v in (training_summary or {}).items())
        or "_Not recorded._",
        "dataset_citation": (
            f"\nDataset:\n\n```bibtex\n{DATASET_CITATIONS[key]}\n```\n" if key in DATASET_CITATIONS else ""
        ),
    }
    body = Template(TEMPLATE_PATH.read_text()).substitute(values)
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n\n{body}")


__all__ = [
    "CARD_METRICS",
    "DATASET_HUB_IDS",
    "DATASET_NAMES",
    "DATASET_TERMS",
    "NO_PIPELINE_TAG_REASON",
    "build_model_card",
    "eval_results_from_evaluation",
]
