"""The `emoje-demo` run: the package's main job end to end on a machine with no corpus, in a few minutes on 2 CPU cores.

prepare (`training.demo.corpus`) -> train (checkpoints in ``OUTPUT_DIR/training``) -> evaluate (every
missing-modality scenario) -> export to ``OUTPUT_DIR/model`` (what a Hub repository holds: weights, config, processor,
code, card, evaluation) -> predict one test conversation through the pipeline -> print the next steps, each a command
that runs as printed. A step that fails raises `DemoStepError` naming the step (its cause chained); re-running a
finished demo trains nothing.

Example:
    >>> from training.demo.run import CONFIG_PATH
    >>> CONFIG_PATH.name
    'demo.yaml'
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import CONFIGS_DIR
from .corpus import choose_corpus, prepare_corpus, synthetic_processor, synthetic_warning
from .pictures import PER_CLASS_PICTURE, draw_per_class, model_trained_on, redraw_synthetic_evaluation

CONFIG_PATH = CONFIGS_DIR / "demo.yaml"

# The pipeline's output on the first test conversation, drawn by `training.publishing.charts.plot_conversation`.
CONVERSATION_PICTURE = "conversation.png"
# The conversation the printed next steps run through the pipeline: real sentences, not MELD's.
EXAMPLE_CONVERSATION = [
    {"speaker": "Ann", "text": "Hello? I am so happy to see you!"},
    {"speaker": "Ben", "text": "Oh no. I lost my keys again, I hate this."},
]


def _conversation_turns(split, dialogue_id: str, kind: str) -> list[dict[str, Any]]:
    import numpy as np

    from modeling_emoje.modalities import MODALITY_TABLE

    rows = split.filter(lambda row: row["dialogue_id"] == dialogue_id).sort("utterance_id")
    turns = []
    for row in rows:
        if kind == "meld":
            turns.append({"speaker": row["speaker"], "text": row["text"]})
            continue
        turn: dict[str, Any] = {"speaker": row["speaker"]}
        for modality in MODALITY_TABLE:  # pre-extracted features, under the turn key the processor reads them from
            values = row.get(modality.features_key)
            if values:
                turn[modality.turn_key] = np.asarray(values, dtype=np.float32)
        turns.append(turn)
    return turns


def predict_conversation(
    export_dir: Path, data_dir: Path, kind: str, picture: Path | None = None
) -> tuple[str, list[str]]:
    """Run the exported model on the first test conversation; returns (how, printable lines). With ``picture``, the
    pipeline's output is also drawn there (`training.publishing.charts.plot_conversation`) when matplotlib is installed."""
    from ..train.collator import DialogueDataset
    from ..train.data import load_prepared_data

    test = load_prepared_data(data_dir)["test"]
    dialogues = DialogueDataset(test, name="test")
    dialogue_id = dialogues.dialogue_ids[0]
    turns = _conversation_turns(test, dialogue_id, kind)
    names = test.features["label"].names
    truth = [names[label] if label >= 0 else "?" for label in dialogues[0]["labels"]]
    drawn = None
    if (export_dir / "processor_config.json").is_file():
        import modeling_emoje  # noqa: F401  (registers the pipeline task)
        from transformers import pipeline

        erc = pipeline("emotion-recognition-in-conversation", model=str(export_dir))
        results = erc(turns)
        how = f'transformers.pipeline("emotion-recognition-in-conversation", model="{export_dir}")'
        if picture is not None:
            drawn = _draw_conversation(results, turns, truth, picture, model_trained_on(export_dir))
    else:  # no processor could be saved (no text encoder installed): the model itself on the collated features
        results = _model_results(export_dir, dialogues[0])
        how = "the exported model directly (it has no processor: the offline text encoder is not installed)"
    lines = []
    for turn, result, gold in zip(turns, results, truth):
        shown = turn.get("text", "") if kind == "meld" else "features: " + ", ".join(result.get("modalities", []))
        weights = result.get("modality_weights") or {}
        weight_text = ", ".join(f"{m} {w:.2f}" for m, w in weights.items())
        lines.append(f"  {turn['speaker']:<10} {shown[:48]:<48} -> {result['label']:<9} ({result['score']:.2f})  gold {gold:<9} [{weight_text}]")
    return how, lines + ([drawn] if drawn else [])


def _model_results(export_dir: Path, dialogue: dict[str, Any]) -> list[dict[str, Any]]:
    """The pipeline's per-turn results for one `DialogueDataset` dialogue, from the exported model alone (no processor
    to load): the collated features go through the pipeline's own forward and postprocess."""
    from modeling_emoje.model_folder import load_model
    from modeling_emoje.pipeline_emoje import EmotionRecognitionInConversationPipeline

    from ..train.collator import DialogueCollator

    model = load_model(export_dir).eval()
    collator = DialogueCollator(keep_modalities=list(model.config.modality_dims))
    batch = collator([dialogue])
    batch.pop("labels")
    # The collated batch is already the model's input, so the collator stands in for the pipeline's processor.
    erc = EmotionRecognitionInConversationPipeline(model=model, processor=collator)
    return erc.postprocess(erc.forward(batch))[0]


def _draw_conversation(
    results: list[dict[str, Any]], turns: list[dict[str, Any]], truth: list[str], picture: Path, trained_on: str | None = None
) -> str:
    """Draw the pipeline's output as a timeline at ``picture`` (a synthetic ``trained_on`` says so in the title);
    returns the line that says where (or why not)."""
    from ..publishing.charts import PlottingUnavailable, plot_conversation

    shown = [
        {"speaker": turn.get("speaker", ""), "text": turn.get("text") or "features: " + ", ".join(result.get("modalities", []))}
        for turn, result in zip(turns, results)
    ]
    try:
        plot_conversation(results, picture, turns=shown, gold=[None if gold == "?" else gold for gold in truth],
                          trained_on=trained_on)
    except PlottingUnavailable as error:
        return f"      (no picture: {error})"
    return f"      timeline picture: {picture}"


def _shown_path(path: Path) -> str:
    """``path`` relative to the current directory when it is under it, else absolute."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path.absolute())


def _console_command(script: str, module: str) -> list[str]:
    """How to run console script ``script`` from here: the one beside this interpreter, else ``python -m module``."""
    candidate = Path(sys.executable).parent / script
    if candidate.exists():
        return [_shown_path(candidate)]
    return [_shown_path(Path(sys.executable)), "-m", module]


def next_steps(model_dir: Path, data_dir: Path) -> str:
    """The shell commands printed after the run; each runs as printed, from the directory the demo ran in (the
    tests run them)."""
    model = str(model_dir)
    turns = ",\n    ".join(repr(turn) for turn in EXAMPLE_CONVERSATION)
    return "\n".join([
        "# evaluate the exported model again (every scenario, test split)",
        shlex.join([*_console_command("emoje-evaluate", "training.cli.evaluate"), "--model", model, "--data", str(data_dir)]),
        "# load it, and run the pipeline on a conversation of your own (raw text per turn)",
        f"{shlex.quote(_shown_path(Path(sys.executable)))} - <<'EOF'",
        "import modeling_emoje  # registers the models and the pipeline task",
        "from transformers import AutoModelForSequenceClassification, pipeline",
        f"model = AutoModelForSequenceClassification.from_pretrained({model!r})",
        "print(model.config.id2label, 'trained on:', model.config.trained_on)",
        f"erc = pipeline('emotion-recognition-in-conversation', model={model!r})",
        f"for turn in erc([\n    {turns},\n]):",
        "    print(turn['label'], round(turn['score'], 2), turn['modalities'])",
        "EOF",
    ])


def check_demo_folder(output_dir: Path, trained_on: str) -> None:
    """Refuse, before anything is written, an output folder that holds a demo trained on something else (its data
    would be replaced, then training refused)."""
    from ..train.run_folder import OutputDirError, read_run_record

    record = read_run_record(output_dir / "training") if (output_dir / "training").is_dir() else None
    there = (record or {}).get("run", {}).get("model_options", {}).get("trained_on")
    if there is not None and there != trained_on:
        raise OutputDirError(
            f"--output-dir {output_dir} holds a demo trained on {there!r}, and this one would train on {trained_on!r}: "
            "choose another --output-dir (e.g. runs/demo_mm for --corpus synthetic); nothing was written"
        )


class DemoStepError(RuntimeError):
    """A step of the demo failed; the message names the step."""


class _Step:
    """``with _Step("training"):`` turns any failure inside into a `DemoStepError` naming the step."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if error is not None and isinstance(error, Exception) and not isinstance(error, DemoStepError):
            raise DemoStepError(f"the {self.name} step failed") from error
        return False


def run_demo(
    output_dir: str | Path,
    *,
    corpus: str = "auto",
    meld_dir: str | None = None,
    download: bool = True,
    seed: int = 0,
    dialogues: Sequence[int] | None = None,
    threads: int | None = None,
    train_options: Sequence[str] = (),
) -> dict[str, Any]:
    """Run the demo into ``output_dir`` (see the module docstring) and return the training summary (`training.train.run.run`).

    ``corpus``: ``auto``, ``meld`` or ``synthetic`` (`training.demo.corpus.choose_corpus`); ``download``: whether the
    MELD CSVs may be downloaded; ``dialogues``: dialogues in train, validation, test; ``threads``: torch CPU threads
    (default 1); ``train_options``: more ``emoje-train`` options (e.g. ``["--max_steps", "50"]``).
    """
    started = time.perf_counter()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(threads or 1)
    sizes = list(dialogues) if dialogues else None

    print("[1/5] preparing the demo corpus ...", flush=True)
    choice = choose_corpus(corpus, meld_dir, download=download)
    kind = choice.kind
    if choice.fallback:
        print(synthetic_warning(choice.note), file=sys.stderr, flush=True)
    source = f"fallback to synthetic, {choice.note}" if choice.fallback else choice.note
    from modeling_emoje.configuration_emoje import SYNTHETIC_TRAINED_ON

    overrides = [a for a in train_options if a != "--"]
    if "--trained_on" not in overrides:
        overrides += ["--trained_on", SYNTHETIC_TRAINED_ON if kind == "synthetic" else "MELD text annotations (demo subset)"]
    check_demo_folder(output_dir, overrides[overrides.index("--trained_on") + 1])
    with _Step("prepare"):
        data_dir, description = prepare_corpus(kind, output_dir, choice.meld_dir, seed, sizes)
    prepared = time.perf_counter()
    print(f"      corpus: {description}\n      source: {source}\n      prepared data: {data_dir} ({prepared - started:.0f} s)", flush=True)

    print("[2/5] training, [3/5] evaluating every scenario on test, [4/5] exporting ...", flush=True)
    from ..publishing.export import EVALUATION_CHART_FILE
    from ..train.run import run

    model_dir = output_dir / "model"
    training_dir = output_dir / "training"
    if kind == "synthetic" and "--processor" not in overrides:
        with _Step("processor"):
            processor_dir = synthetic_processor(output_dir)
        if processor_dir is not None:
            overrides += ["--processor", str(processor_dir)]
    with _Step("training"):
        summary = run(
            ["--config", str(CONFIG_PATH), "--data", str(data_dir), "--output-dir", str(training_dir),
             "--export-dir", str(model_dir), "--seed", str(seed),
             "--dataset_name", "MELD (demo subset, text only)" if kind == "meld" else "emoje synthetic conversations (demo)",
             "--disable_tqdm", "true", *overrides]
        )
    trained = time.perf_counter()

    print("[5/5] predicting one test conversation ...", flush=True)
    with _Step("pipeline"):
        how, lines = predict_conversation(model_dir, data_dir, kind, picture=output_dir / CONVERSATION_PICTURE)
    print(f"      with {how}:")
    print("\n".join(lines))
    with _Step("pictures"):
        per_class = draw_per_class(model_dir, data_dir, output_dir / PER_CLASS_PICTURE, summary["evaluation"])
        redraw_synthetic_evaluation(model_dir, summary["evaluation"], EVALUATION_CHART_FILE)
    if per_class:
        print(per_class)
    finished = time.perf_counter()

    scores = summary["evaluation"]["scenarios"]
    full_name = max((name for name in scores if not name.startswith(("privacy", "three_mode"))), key=lambda n: n.count("+"))
    headline = ", ".join(f"{name} {100 * scores[name]['weighted_f1']:.1f}" for name in (full_name, "privacy") if name in scores)
    print("\nArtefacts")
    print(f"  corpus             {description}")
    print(f"  corpus source      {source}")
    print(f"  prepared data      {data_dir}  (datasets.load_from_disk / dataset_scripts.load_prepared)")
    if summary.get("already_finished"):
        print(f"  checkpoints        {training_dir}/checkpoint-*  (this run had already finished: nothing was trained again)")
    else:
        print(f"  checkpoints        {training_dir}/checkpoint-*  (best: {summary['best_checkpoint']}; a killed run resumes)")
    print(f"  exported model     {model_dir}  (what a Hub repository holds: model.safetensors, config.json with labels + protocol + trained_on, processor, code, card)")
    print(f"  evaluation         {model_dir / 'evaluation.json'}  ({len(summary['evaluation']['scenarios'])} scenarios)")
    pictures = (("per-class chart", output_dir / PER_CLASS_PICTURE),) if per_class else (("scenario chart", model_dir / EVALUATION_CHART_FILE),)
    for label, picture in (*pictures, ("conversation", output_dir / CONVERSATION_PICTURE)):
        if picture.is_file():
            print(f"  {label:<18} {picture}")
    print(f"  model card         {model_dir / 'README.md'}")
    print(f"\nNext steps (shell commands, run as printed from {Path.cwd()}):")
    print(next_steps(model_dir, data_dir))
    print(
        f"\nDone in {finished - started:.0f} s (prepare {prepared - started:.0f} s, train+evaluate+export "
        f"{trained - prepared:.0f} s, predict {finished - trained:.0f} s); {summary['global_step']} optimiser steps; "
        f"trained on {'MELD text' if kind == 'meld' else 'SYNTHETIC features (not for real input)'}; test weighted-F1: {headline}."
    )
    if choice.fallback:  # again, after the long output
        print(synthetic_warning(choice.note), file=sys.stderr, flush=True)
    return summary


__all__ = [
    "CONFIG_PATH",
    "CONVERSATION_PICTURE",
    "DemoStepError",
    "EXAMPLE_CONVERSATION",
    "check_demo_folder",
    "next_steps",
    "predict_conversation",
    "run_demo",
]
