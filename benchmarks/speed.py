"""Speed and memory: fusion-model inference, text-only pipeline vs bare text encoder, one MELD training epoch.

Every figure is measured in a fresh subprocess (so its peak RSS, ``resource.getrusage().ru_maxrss``, belongs to
that measurement alone) and reported with a reference measured in the same run:

(a) ``inference``: AM^2-EmoJE on pre-extracted features, utterances/s, for MELD-shaped dialogues (the real
    test-split dialogue lengths and utterance durations; text 384, audio 80, face 204, body 88 dims), batches of
    16 dialogues (and of 64, ``--large-batch-size``, for EmoJE and concat), every modality present, with three input
    shapes (`FRAME_MODES`): frame sequences at the
    extractors' rates (audio 10 frames/s, face/body 5 frames/s), sequences capped at 32 frames, and one pooled
    vector per utterance. References: the concatenation baseline with the same encoders
    (`benchmarks.baselines`) and a bare ``nn.Linear`` over mean-pooled features. CM-ARR is measured too.
(b) ``pipeline``: the ``emotion-recognition-in-conversation`` pipeline, text only (MELD test conversations, a
    text-only AM^2-EmoJE) against `TextFeatureEncoder` alone on the same texts, utterances/s.
(c) ``training``: one epoch of `ERCTrainer` on MELD train with cached MiniLM text features and the settings of
    `training/configs/meld_text.yaml`; references: the concatenation baseline's epoch and a collation-only pass.
(d) peak memory of each of the above.

Every measurement is made with 1 and with 2 torch threads (``--threads``), and reported both in wall time and in
process CPU time (with 1 thread, CPU time estimates an otherwise idle core; wall time is what a user on a busy
machine gets). Profiles (torch.profiler operator table, per-stage forward time, cProfile of the pipeline) say
what dominates.

    python -m benchmarks.speed      # ~35 min on 2 cores at load 5 (the first run also caches MELD text features)
    python -m benchmarks.speed --scale quick --output /tmp/speed.json    # a fast, rough version
    python -m benchmarks.speed --scale tiny --in-process --output /tmp/speed.json   # seconds: plumbing only
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.environment import command_line, load_average, machine_info, write_result

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "speed.json"
DEFAULT_WORK_DIR = REPO_ROOT / "benchmarks" / "work" / "speed"
DEFAULT_MELD_DIR = REPO_ROOT.parent / "shared" / "data" / "meld"
CONFIG_DIR = REPO_ROOT / "training" / "configs"
MELD_DIMS: dict[str, int] = {"text": 384, "audio": 80, "face": 204, "body": 88}
AUDIO_FPS, VIDEO_FPS = 10.0, 5.0  # EmoJEFeatureExtractor / EmoJEVideoProcessor defaults
AUDIO_MAX_FRAMES, VIDEO_MAX_FRAMES = 300, 64
# Input sizes: None = everything (MELD test dialogues for inference and the pipeline, MELD train for training).
SCALES: dict[str, dict[str, Any]] = {
    "full": {"inference_dialogues": None, "pipeline_conversations": None, "training_dialogues": None, "min_seconds": 10.0, "repeats": 3},
    "quick": {"inference_dialogues": 64, "pipeline_conversations": 24, "training_dialogues": 128, "min_seconds": 1.0, "repeats": 1},
    "tiny": {"inference_dialogues": 4, "pipeline_conversations": 2, "training_dialogues": 8, "min_seconds": 0.0, "repeats": 1},
}
TARGETS = {"inference_utterances_per_second": 5000.0, "pipeline_to_encoder_ratio": 0.8, "train_epoch_seconds": 30.0}


# ----------------------------------------------------------------------------------------------- helpers


def _rss_mb() -> float:
    """Current resident set size of this process (MB)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MB; Linux reports ru_maxrss in KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _model_section(config_name: str) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load((CONFIG_DIR / config_name).read_text()).get("model") or {})


def _training_section(config_name: str) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load((CONFIG_DIR / config_name).read_text()).get("training") or {})


def _parse_time(stamp: str) -> float | None:
    try:
        clock, millis = stamp.strip().split(",")
        hours, minutes, seconds = (int(part) for part in clock.split(":"))
        return hours * 3600 + minutes * 60 + seconds + int(millis) / 1000
    except ValueError:
        return None


def meld_dialogue_shapes(meld_dir: Path, split_file: str = "test_sent_emo.csv") -> list[dict[str, Any]]:
    """Per dialogue of a MELD CSV: speakers, texts and utterance durations (s, clipped to [0.3, 30])."""
    dialogues: dict[str, dict[str, list]] = {}
    with open(meld_dir / split_file, encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            start, end = _parse_time(row["StartTime"]), _parse_time(row["EndTime"])
            duration = end - start if start is not None and end is not None else 3.0
            entry = dialogues.setdefault(row["Dialogue_ID"], {"speakers": [], "texts": [], "durations": [], "order": []})
            entry["speakers"].append(row["Speaker"])
            entry["texts"].append(row["Utterance"])
            entry["durations"].append(float(np.clip(duration, 0.3, 30.0)))
            entry["order"].append(int(row["Utterance_ID"]))
    shapes = []
    for entry in dialogues.values():
        order = np.argsort(entry["order"], kind="stable")
        shapes.append({key: [entry[key][i] for i in order] for key in ("speakers", "texts", "durations")})
    return shapes


FRAME_MODES: dict[str, str] = {
    "sequence": "frame sequences at the extractors' rates (audio 10/s up to 300, face/body 5/s up to 64), padded per batch",
    "capped": "frame sequences pooled/capped to at most 32 frames per utterance and modality",
    "pooled": "one vector per utterance and modality (T = 1), like the utterance-level MELD features of the literature",
}
FRAME_CAP = 32


def meld_shaped_dialogues(
    shapes: list[dict[str, Any]], dims: dict[str, int], seed: int = 0, frames: str = "sequence"
) -> list[dict[str, Any]]:
    """`DialogueDataset`-style items with random features of MELD's shapes, every modality present.

    ``frames`` is one of `FRAME_MODES`.
    """
    if frames not in FRAME_MODES:
        raise ValueError(f"frames must be one of {sorted(FRAME_MODES)}, got {frames!r}")
    mode = frames
    rng = np.random.default_rng(seed)
    items = []
    for shape in shapes:
        durations = np.asarray(shape["durations"])
        count = len(durations)
        numbering: dict[str, int] = {}
        lengths = {
            "text": np.ones(count, dtype=int),
            "audio": np.clip(np.round(durations * AUDIO_FPS), 1, AUDIO_MAX_FRAMES).astype(int),
            "face": np.clip(np.round(durations * VIDEO_FPS), 1, VIDEO_MAX_FRAMES).astype(int),
            "body": np.clip(np.round(durations * VIDEO_FPS), 1, VIDEO_MAX_FRAMES).astype(int),
        }
        if mode != "sequence":
            cap = 1 if mode == "pooled" else FRAME_CAP
            lengths = {name: np.minimum(values, cap) for name, values in lengths.items()}
        item = {
            "labels": rng.integers(0, 7, count),
            "speaker_ids": np.asarray([numbering.setdefault(s, len(numbering)) for s in shape["speakers"]]),
            "modality_mask": np.ones((count, 4), dtype=bool),
        }
        for name, dim in dims.items():
            item[f"{name}_features"] = [rng.standard_normal((t, dim)).astype(np.float32) for t in lengths[name]]
        items.append(item)
    return items


def _throughput(
    run_batch: Callable[[int], int], num_batches: int, min_seconds: float, min_batches: int = 6, seed: int = 0
) -> dict[str, float]:
    """Throughput of ``run_batch(index)`` (returns utterances processed) over batches in a seeded random order.

    After one warm-up batch, batches are run (cycling through a shuffled order) until both ``min_seconds`` have
    passed and ``min(num_batches, min_batches)`` batches were run; a slow model thus gets a random sample of the
    batches rather than the first ones.
    """
    order = np.random.default_rng(seed).permutation(num_batches)
    run_batch(int(order[0]))  # warm-up (allocator, lazy init)
    utterances, done, started, cpu_started = 0, 0, time.perf_counter(), time.process_time()
    while done < min(num_batches, min_batches) or time.perf_counter() - started < min_seconds:
        utterances += run_batch(int(order[done % num_batches]))
        done += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {
        "utterances": utterances, "batches_run": done, "seconds": round(elapsed, 3), "cpu_seconds": round(cpu, 3),
        "utterances_per_second": round(utterances / elapsed, 1),
        "utterances_per_cpu_second": round(utterances / max(cpu, 1e-9), 1),
    }


def _module_times(groups: dict[str, list[Any]]) -> tuple[Callable[[], dict[str, float]], Callable[[], None]]:
    """Sum wall time per group of modules (forward hooks) or bound methods (wrapped); returns (read, remove).

    A group is a list of `nn.Module`s and/or ``(object, method_name)`` pairs; times of nested members add up,
    so a group should not hold a module and one of its own submodules.
    """
    from torch import nn

    totals: dict[str, float] = {}
    handles, restores = [], []
    for label, members in groups.items():
        for member in members:
            if isinstance(member, nn.Module):
                starts: list[float] = []

                def pre(_module, _inputs, starts=starts):
                    starts.append(time.perf_counter())

                def post(_module, _inputs, _output, label=label, starts=starts):
                    totals[label] = totals.get(label, 0.0) + time.perf_counter() - starts.pop()

                handles += [member.register_forward_pre_hook(pre), member.register_forward_hook(post)]
            else:
                owner, name = member
                original = getattr(owner, name)

                def timed(*args, _original=original, _label=label, **kwargs):
                    started = time.perf_counter()
                    try:
                        return _original(*args, **kwargs)
                    finally:
                        totals[_label] = totals.get(_label, 0.0) + time.perf_counter() - started

                setattr(owner, name, timed)
                restores.append((owner, name))

    def read() -> dict[str, float]:
        return dict(totals)

    def remove() -> None:
        for handle in handles:
            handle.remove()
        for owner, name in restores:
            delattr(owner, name)  # drop the instance attribute: the class method shows through again

    return read, remove


def _emoje_groups(model) -> dict[str, list[Any]]:
    """AM^2-EmoJE's stages as timing groups (see `_module_times`)."""
    core = model.emoje
    groups: dict[str, list[Any]] = {
        "mode encoders": list(core.encoders.values()),
        "visual face/body attention": [core.visual_attention] if core.visual_attention is not None else [],
        "cross-attended network (ACN)": list(core.cross_attention),
        "attention pooling": list(core.pooling.values()),
        "query adaptive fusion": [core.fusion],
        "dialogue + speaker context (LSTMs)": [core.context],
        "classifier": [model.classifier],
    }
    if core.joint_embedding is not None:
        groups["joint embedding: embed"] = [(core.joint_embedding, "embed")]
        groups["joint embedding: impute (incl. matrix_exp maps)"] = [(core.joint_embedding, "impute")]
    return {label: members for label, members in groups.items() if members}


def _operator_table(profiler, limit: int = 12) -> list[dict[str, Any]]:
    events = profiler.key_averages()
    total = sum(event.self_cpu_time_total for event in events) or 1.0
    rows = sorted(events, key=lambda event: event.self_cpu_time_total, reverse=True)[:limit]
    return [
        {
            "op": event.key,
            "self_cpu_ms": round(event.self_cpu_time_total / 1000, 2),
            "share": round(event.self_cpu_time_total / total, 3),
            "calls": event.count,
        }
        for event in rows
    ]


# ----------------------------------------------------------------------------------------------- measurements (children)


def _build_fusion_model(name: str, dims: dict[str, int]):
    from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition

    config = EmoJEConfig(modality_dims=dims, num_labels=7, **_model_section("meld_full.yaml"))
    if name == "emoje":
        return EmoJEForEmotionRecognition(config)
    if name == "concat":
        from benchmarks.baselines import ConcatFusionConfig, ConcatFusionForEmotionRecognition

        return ConcatFusionForEmotionRecognition(ConcatFusionConfig.from_emoje_config(config))
    if name == "linear":
        from benchmarks.baselines import LinearProbe

        return LinearProbe(dims, num_labels=7)
    if name == "cmarr":
        from modeling_emoje.configuration_cmarr import CMARRConfig
        from modeling_emoje.modeling_cmarr import CMARRForEmotionRecognition

        return CMARRForEmotionRecognition(CMARRConfig(modality_dims=dims, num_labels=7, use_dialogue_context=True))
    raise ValueError(f"unknown fusion model {name!r}")


def _inference_batches(args: argparse.Namespace) -> tuple[list[dict], int, dict[str, Any]]:
    from training.collator import DialogueCollator

    shapes = meld_dialogue_shapes(Path(args.meld_dir))[: SCALES[args.scale]["inference_dialogues"]]
    items = meld_shaped_dialogues(shapes, MELD_DIMS, seed=0, frames=args.frames)
    collate = DialogueCollator()
    started = time.perf_counter()
    batches = [collate(items[i : i + args.batch_size]) for i in range(0, len(items), args.batch_size)]
    collate_seconds = time.perf_counter() - started
    for batch in batches:
        batch.pop("labels")
    utterances = sum(len(item["labels"]) for item in items)
    frames = {name: float(np.mean([len(f) for item in items for f in item[f"{name}_features"]])) for name in MELD_DIMS}
    shape_info = {
        "frames": args.frames,
        "dialogues": len(items),
        "utterances": utterances,
        "utterances_per_dialogue": round(utterances / len(items), 2),
        "mean_frames": {name: round(value, 1) for name, value in frames.items()},
        "batch_size_dialogues": args.batch_size,
        "batches": len(batches),
        "padded_frames_per_batch_mean": {
            name: round(float(np.mean([b[f"{name}_features"].shape[2] for b in batches])), 1) for name in MELD_DIMS
        },
        "collate_seconds": round(collate_seconds, 3),
        "collate_utterances_per_second": round(utterances / collate_seconds, 1),
    }
    return batches, utterances, shape_info


def measure_inference(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    batches, _, shape_info = _inference_batches(args)
    model = _build_fusion_model(args.model, MELD_DIMS).eval()

    sizes = [int(batch["utterance_mask"].sum()) for batch in batches]

    def run_batch(index: int) -> int:
        with torch.inference_mode():
            model(**batches[index])
        return sizes[index]

    result = {"model": args.model, "frames": args.frames, "data": shape_info, "parameters": sum(p.numel() for p in model.parameters())}
    result.update(_throughput(run_batch, len(batches), args.min_seconds))
    return result


def measure_inference_profile(args: argparse.Namespace) -> dict[str, Any]:
    """Where AM^2-EmoJE's inference time goes: per top-level module and per torch operator."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    batches, _, _ = _inference_batches(args)
    order = np.random.default_rng(1).permutation(len(batches))[:4]  # a random sample of 4 batches
    batches = [batches[i] for i in order]
    model = _build_fusion_model("emoje", MELD_DIMS).eval()
    with torch.inference_mode():
        for batch in batches[:1]:
            model(**batch)
        read, remove = _module_times({"model (total)": [model], **_emoje_groups(model)})
        for batch in batches:
            model(**batch)
        stage_seconds = read()
        remove()
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            for batch in batches:
                model(**batch)
    total = stage_seconds.pop("model (total)")
    stage_seconds["other (glue: masks, stacking, indexing)"] = total - sum(stage_seconds.values())
    return {
        "batches": len(batches),
        "total_seconds": round(total, 3),
        "stage_share": {name: round(value / total, 3) for name, value in sorted(stage_seconds.items(), key=lambda kv: -kv[1])},
        "top_operators": _operator_table(profiler),
    }


def _meld_texts(meld_dir: Path, limit: int | None) -> list[list[dict[str, str]]]:
    conversations = []
    for shape in meld_dialogue_shapes(meld_dir):
        turns = [{"speaker": s, "text": t} for s, t in zip(shape["speakers"], shape["texts"]) if t.strip()]
        if turns:
            conversations.append(turns)
    return conversations[:limit] if limit else conversations


def measure_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    """Pipeline (text only) vs the bare text encoder on the same MELD test texts, interleaved in one process."""
    import cProfile
    import pstats

    import torch
    from transformers import pipeline

    from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition
    from modeling_emoje.pipeline_emoje import TASK, register_pipeline
    from modeling_emoje.processing_emoje import EmoJEProcessor
    from modeling_emoje.text_encoding_emoje import TextFeatureEncoder, default_text_encoder

    register_pipeline()
    conversations = _meld_texts(Path(args.meld_dir), SCALES[args.scale]["pipeline_conversations"])
    texts = [turn["text"] for conversation in conversations for turn in conversation]
    encoder_path = default_text_encoder()
    encoder = TextFeatureEncoder(encoder_path, batch_size=args.text_batch_size)
    processor = EmoJEProcessor.from_text_encoder(encoder_path, modalities=["text"])
    model = EmoJEForEmotionRecognition(
        EmoJEConfig(modality_dims={"text": encoder.dim}, num_labels=7, **_model_section("meld_text.yaml"))
    ).eval()
    erc = pipeline(TASK, model=model, processor=processor)
    erc(conversations[:2], batch_size=args.text_batch_size)  # warm-up, loads the processor's encoder
    encoder(texts[:64])

    def run_encoder() -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        encoder(texts)
        return time.perf_counter() - started, time.process_time() - cpu

    def run_pipeline() -> tuple[float, float]:
        started, cpu = time.perf_counter(), time.process_time()
        outputs = erc(conversations, batch_size=args.text_batch_size)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if sum(len(o) for o in outputs) != len(texts):
            raise RuntimeError("the pipeline returned a different number of turns than it was given")
        return elapsed, cpu

    # Interleave (encoder, pipeline, encoder, pipeline, ...) so that load changes hit both alike.
    encoder_times, pipeline_times, encoder_cpu, pipeline_cpu = [], [], [], []
    for _ in range(args.repeats):
        wall, cpu = run_encoder()
        encoder_times.append(wall)
        encoder_cpu.append(cpu)
        wall, cpu = run_pipeline()
        pipeline_times.append(wall)
        pipeline_cpu.append(cpu)
    profiler = cProfile.Profile()
    profiler.enable()
    run_pipeline()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = max(stats.total_tt, 1e-9)
    watched = {
        "text encoder model forward (BertModel)": ("modeling_bert.py", "forward"),
        "tokenizer": ("tokenization_utils_base.py", "__call__"),
        "TextFeatureEncoder.__call__": ("text_encoding_emoje.py", "__call__"),
        "EmoJEProcessor.__call__ (per conversation)": ("processing_emoje.py", "__call__"),
        "EmoJEProcessor._collate": ("processing_emoje.py", "_collate"),
        "emotion model forward": ("modeling_emoje.py", "forward"),
        "Pipeline.postprocess": ("pipeline_emoje.py", "postprocess"),
    }
    breakdown = {}
    for label, (file_part, function) in watched.items():
        cumulative = [
            value[3] for (filename, _, name), value in stats.stats.items() if filename.endswith(file_part) and name == function
        ]
        breakdown[label] = round(max(cumulative, default=0.0) / total, 3)
    encoder_best, pipeline_best = min(encoder_times), min(pipeline_times)
    return {
        "conversations": len(conversations),
        "utterances": len(texts),
        "text_batch_size": args.text_batch_size,
        "encoder_seconds": [round(t, 3) for t in encoder_times],
        "pipeline_seconds": [round(t, 3) for t in pipeline_times],
        "encoder_utterances_per_second": round(len(texts) / encoder_best, 1),
        "pipeline_utterances_per_second": round(len(texts) / pipeline_best, 1),
        "ratio_pipeline_to_encoder": round(encoder_best / pipeline_best, 3),
        "encoder_cpu_seconds": [round(t, 3) for t in encoder_cpu],
        "pipeline_cpu_seconds": [round(t, 3) for t in pipeline_cpu],
        "ratio_pipeline_to_encoder_cpu": round(min(encoder_cpu) / max(min(pipeline_cpu), 1e-9), 3),
        "ratio_note": "best of the interleaved repeats for each (least disturbed by other processes)",
        "pipeline_profile_share_of_wall_time": breakdown,
        "torch_threads": torch.get_num_threads(),
    }


def measure_text_encoder(args: argparse.Namespace) -> dict[str, Any]:
    """The bare text encoder alone (its own peak memory), same texts as the pipeline measurement."""
    from modeling_emoje.text_encoding_emoje import TextFeatureEncoder

    conversations = _meld_texts(Path(args.meld_dir), SCALES[args.scale]["pipeline_conversations"])
    texts = [turn["text"] for conversation in conversations for turn in conversation]
    encoder = TextFeatureEncoder(batch_size=args.text_batch_size)
    encoder(texts[:64])
    started, cpu = time.perf_counter(), time.process_time()
    encoder(texts)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {
        "utterances": len(texts), "seconds": round(elapsed, 3), "cpu_seconds": round(cpu, 3),
        "utterances_per_second": round(len(texts) / elapsed, 1),
    }


def _display_path(path: Path) -> str:
    """``path`` relative to the repository when inside it (results JSON stay machine-independent)."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def cached_meld_text(meld_dir: Path, work_dir: Path, batch_size: int = 64, max_dialogues: int | None = None):
    """MELD (CSV) as a prepared DatasetDict with MiniLM ``text_features``, encoded once and cached under ``work_dir``.

    ``max_dialogues`` keeps only the first dialogues of each split (small runs and tests).
    """
    import datasets

    from dataset_scripts.synthetic import frames_to_arrow
    from dataset_scripts.meld import build_meld

    data = build_meld(meld_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {}
    splits = {}
    for split, dataset in data.items():
        if max_dialogues is not None:
            first = list(dict.fromkeys(dataset["dialogue_id"]))[:max_dialogues]
            wanted = set(first)
            dataset = dataset.select([i for i, d in enumerate(dataset["dialogue_id"]) if d in wanted])
            dataset = dataset.flatten_indices()
        texts = dataset["text"]
        key = hashlib.sha1("\n".join(texts).encode()).hexdigest()[:16]
        path = work_dir / f"meld_{split}_minilm_{key}.npy"
        if path.is_file():
            vectors = np.load(path)
            info[split] = {"cached": True, "path": _display_path(path)}
        else:
            from modeling_emoje.text_encoding_emoje import TextFeatureEncoder

            encoder = TextFeatureEncoder(batch_size=batch_size)
            started = time.perf_counter()
            vectors = encoder([t if t.strip() else "." for t in texts])
            elapsed = time.perf_counter() - started
            np.save(path, vectors)
            info[split] = {
                "cached": False, "encode_seconds": round(elapsed, 1),
                "encode_utterances_per_second": round(len(texts) / elapsed, 1), "path": _display_path(path),
            }
        column = frames_to_arrow([row[None] for row in vectors], vectors.shape[1])
        table = dataset.data.table.append_column("text_features", column)
        features = dataset.features.copy()
        features["text_features"] = datasets.List(datasets.List(datasets.Value("float32")))
        splits[split] = datasets.Dataset(table.cast(features.arrow_schema), info=datasets.DatasetInfo(features=features))
    return datasets.DatasetDict(splits), info


def measure_training(args: argparse.Namespace) -> dict[str, Any]:
    """One epoch of `ERCTrainer` on MELD train (cached text features), with a training-step profile."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import TrainingArguments, set_seed
    from transformers.trainer_callback import PrinterCallback

    from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition
    from training.collator import DialogueCollator, DialogueDataset
    from training.trainer import ERCTrainer, default_training_arguments

    limit = SCALES[args.scale]["training_dialogues"]
    # "tiny" encodes only the dialogues it uses; "quick" and "full" use (and on first use build) the whole-MELD cache.
    data, cache_info = cached_meld_text(
        Path(args.meld_dir), Path(args.work_dir), args.text_batch_size, max_dialogues=limit if args.scale == "tiny" else None
    )
    train = DialogueDataset(data["train"], name="train")
    labels = data["train"].features["label"].names
    if limit is not None and limit < len(train):
        train = torch.utils.data.Subset(train, range(limit))
    settings = _training_section("meld_text.yaml")
    config = EmoJEConfig(
        modality_dims={"text": 384}, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={l: i for i, l in enumerate(labels)}, **_model_section("meld_text.yaml"),
    )
    if args.model == "concat":
        from benchmarks.baselines import ConcatFusionConfig, ConcatFusionForEmotionRecognition

        model = ConcatFusionForEmotionRecognition(ConcatFusionConfig.from_emoje_config(config))
    else:
        model = EmoJEForEmotionRecognition(config)
    collator = DialogueCollator(keep_modalities=["text"])
    batch_size = int(settings.get("per_device_train_batch_size", 16))

    # Reference: the data path alone (sampling + collation of one epoch).
    started = time.perf_counter()
    for first in range(0, len(train), batch_size):
        collator([train[i] for i in range(first, min(first + batch_size, len(train)))])
    collate_seconds = time.perf_counter() - started

    set_seed(0)
    with tempfile.TemporaryDirectory() as output_dir:
        arguments = {
            **default_training_arguments(),
            "output_dir": output_dir,
            "num_train_epochs": 1,
            "per_device_train_batch_size": batch_size,
            "learning_rate": float(settings.get("learning_rate", 5e-4)),
            "weight_decay": float(settings.get("weight_decay", 2e-4)),
            "eval_strategy": "no",
            "save_strategy": "no",
            "load_best_model_at_end": False,
            "logging_strategy": "no",
            "use_cpu": True,
            "disable_tqdm": True,
            "seed": 0,
        }
        trainer = ERCTrainer(model=model, args=TrainingArguments(**arguments), train_dataset=train, data_collator=collator)
        trainer.remove_callback(PrinterCallback)
        started, cpu_started = time.perf_counter(), time.process_time()
        trainer.train()
        epoch_seconds, epoch_cpu = time.perf_counter() - started, time.process_time() - cpu_started

    # Profile a few training steps (forward + backward + optimizer), outside the timed epoch.
    profile_info: dict[str, Any] = {}
    if args.model == "emoje":
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
        size = min(batch_size, len(train))
        batches = [collator([train[i] for i in range(first, first + size)]) for first in range(0, min(4 * size, len(train) - size + 1), size)]
        read, remove = _module_times({"model forward (total)": [model], **_emoje_groups(model)})
        timings = {"forward": 0.0, "backward": 0.0, "optimizer": 0.0}
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            for batch in batches:
                t0 = time.perf_counter()
                loss = model(**batch).loss
                t1 = time.perf_counter()
                loss.backward()
                t2 = time.perf_counter()
                optimizer.step()
                optimizer.zero_grad()
                t3 = time.perf_counter()
                timings["forward"] += t1 - t0
                timings["backward"] += t2 - t1
                timings["optimizer"] += t3 - t2
        module_seconds = read()
        remove()
        step_total = sum(timings.values())
        profile_info = {
            "steps": len(batches),
            "phase_share": {name: round(value / step_total, 3) for name, value in timings.items()},
            "forward_stage_seconds": {name: round(value, 3) for name, value in sorted(module_seconds.items(), key=lambda kv: -kv[1])},
            "top_operators": _operator_table(profiler),
        }
    utterances = sum(len(train[i]["labels"]) for i in range(len(train)))
    return {
        "model": args.model,
        "config": "training/configs/meld_text.yaml (model section; batch size, learning rate)",
        "dialogues": len(train),
        "utterances": utterances,
        "steps": -(-len(train) // batch_size),
        "epoch_seconds": round(epoch_seconds, 2),
        "epoch_cpu_seconds": round(epoch_cpu, 2),
        "train_utterances_per_second": round(utterances / epoch_seconds, 1),
        "collate_only_seconds": round(collate_seconds, 2),
        "feature_cache": cache_info,
        "step_profile": profile_info,
    }


CHILDREN: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "inference": measure_inference,
    "inference_profile": measure_inference_profile,
    "pipeline": measure_pipeline,
    "text_encoder": measure_text_encoder,
    "training": measure_training,
}


def child_main(args: argparse.Namespace, set_threads: bool = True) -> None:
    import torch

    threads = args.threads[0] if isinstance(args.threads, list) else int(args.threads)
    if set_threads:
        torch.set_num_threads(threads)
    setup_rss = _rss_mb()
    started = time.perf_counter()
    result = CHILDREN[args.measure](args)
    result["wall_seconds"] = round(time.perf_counter() - started, 2)
    result["rss_after_imports_mb"] = round(setup_rss, 1)
    result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    result["torch_threads"] = torch.get_num_threads()
    Path(args.child_output).write_text(json.dumps(result))


# ----------------------------------------------------------------------------------------------- orchestration


def run_child(measure: str, args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; returns its JSON plus the load average around it."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        output = handle.name
    command = [
        sys.executable, "-m", "benchmarks.speed", "--measure", measure, "--child-output", output,
        "--meld-dir", str(args.meld_dir), "--work-dir", str(args.work_dir),
        "--batch-size", str(args.batch_size), "--text-batch-size", str(args.text_batch_size),
        "--min-seconds", str(args.min_seconds), "--repeats", str(args.repeats), "--scale", args.scale,
    ]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    load_before = load_average()
    print(f"[speed] {measure} {' '.join(f'{k}={v}' for k, v in extra.items())} ...", flush=True)
    if args.in_process:  # tests: no subprocess, so no per-measurement memory figure of its own
        child_args = argparse.Namespace(**{**vars(args), **extra, "measure": measure, "child_output": output})
        child_main(child_args, set_threads=False)
        result = json.loads(Path(output).read_text())
        Path(output).unlink(missing_ok=True)
        result.update(load_average_before=load_before, load_average_after=load_average(), in_process=True)
        return result
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    completed = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        Path(output).unlink(missing_ok=True)
        tail = "\n".join(completed.stderr.strip().splitlines()[-15:])
        print(f"[speed] {measure} failed:\n{tail}", flush=True)
        return {"error": tail, "load_average_before": load_before, "load_average_after": load_average()}
    result = json.loads(Path(output).read_text())
    Path(output).unlink(missing_ok=True)
    result["load_average_before"] = load_before
    result["load_average_after"] = load_average()
    return result


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)


def measure_sections(args: argparse.Namespace, threads: int, wanted: set[str], profile: bool) -> dict[str, Any]:
    """The inference, pipeline and training sections, every measurement with ``threads`` torch threads."""
    from benchmarks.robustness import cmarr_available

    sections: dict[str, Any] = {}
    if "inference" in wanted:
        modes = [mode for mode in FRAME_MODES if mode in args.frame_modes.split(",")]
        plan = [(model, "sequence") for model in ("emoje", "concat", "linear")] if "sequence" in modes else []
        plan += [("cmarr", "sequence")] if cmarr_available() and "sequence" in modes else []
        plan += [("emoje", "capped")] if "capped" in modes else []
        plan += [(model, "pooled") for model in ("emoje", "concat", "linear")] if "pooled" in modes else []
        runs = {
            f"{model}/{frames}": run_child("inference", args, model=model, frames=frames, threads=threads) for model, frames in plan
        }
        large = args.large_batch_size
        if large and large != args.batch_size:  # the same models with larger batches (throughput-oriented serving)
            for model, frames in plan:
                if model in ("emoje", "concat") and frames in ("sequence", "pooled"):
                    runs[f"{model}/{frames}/batch{large}"] = run_child(
                        "inference", args, model=model, frames=frames, threads=threads, batch_size=large
                    )
        speed_of = {name: run_.get("utterances_per_second") for name, run_ in runs.items()}
        by_frames = {}
        for frames in modes:
            emoje = speed_of.get(f"emoje/{frames}")
            by_frames[frames] = {
                "batch_size_dialogues": args.batch_size,
                "emoje_utterances_per_second": emoje,
                "meets_target": bool(emoje and emoje >= TARGETS["inference_utterances_per_second"]),
                "ratio_to_concat_baseline": _ratio(emoje, speed_of.get(f"concat/{frames}")),
                "ratio_to_linear_probe": _ratio(emoje, speed_of.get(f"linear/{frames}")),
            }
            emoje_large = speed_of.get(f"emoje/{frames}/batch{large}")
            if emoje_large:
                by_frames[frames]["large_batch"] = {
                    "batch_size_dialogues": large,
                    "emoje_utterances_per_second": emoje_large,
                    "meets_target": emoje_large >= TARGETS["inference_utterances_per_second"],
                    "ratio_to_concat_baseline": _ratio(emoje_large, speed_of.get(f"concat/{frames}/batch{large}")),
                }
        sections["inference"] = {
            "description": "AM^2-EmoJE (meld_full.yaml model settings) on pre-extracted features, MELD test dialogue shapes, "
            "all four modalities present, model forward only (batches pre-collated; collation reported apart)",
            "frame_modes": {mode: FRAME_MODES[mode] for mode in modes},
            "runs": runs,
            "target_utterances_per_second": TARGETS["inference_utterances_per_second"],
            "by_frames": by_frames,
        }
        if profile:
            sections["inference"]["profile"] = {
                frames: run_child("inference_profile", args, frames=frames, threads=threads)
                for frames in ("sequence", "pooled")
                if frames in modes
            }
    if "pipeline" in wanted:
        pipeline_run = run_child("pipeline", args, threads=threads)
        encoder_run = run_child("text_encoder", args, threads=threads)
        ratio = pipeline_run.get("ratio_pipeline_to_encoder")
        sections["pipeline"] = {
            "description": "pipeline('emotion-recognition-in-conversation') on MELD test conversations, text only, "
            "vs TextFeatureEncoder on the same texts (interleaved in one process)",
            "runs": {"pipeline_and_encoder": pipeline_run, "text_encoder_alone": encoder_run},
            "ratio_pipeline_to_encoder": ratio,
            "target_ratio": TARGETS["pipeline_to_encoder_ratio"],
            "meets_target": bool(ratio and ratio >= TARGETS["pipeline_to_encoder_ratio"]),
        }
    if "training" in wanted:
        runs = {name: run_child("training", args, model=name, threads=threads) for name in ("emoje", "concat")}
        seconds = runs["emoje"].get("epoch_seconds")
        sections["training"] = {
            "description": "one ERCTrainer epoch on MELD train (1,038 dialogues) with cached MiniLM text features, "
            "text-only AM^2-EmoJE with training/configs/meld_text.yaml settings",
            "runs": runs,
            "epoch_seconds": seconds,
            "target_seconds": TARGETS["train_epoch_seconds"],
            "meets_target": bool(seconds and seconds <= TARGETS["train_epoch_seconds"]),
            "ratio_to_target": _ratio(seconds, TARGETS["train_epoch_seconds"]),
            "ratio_to_concat_baseline_epoch": _ratio(seconds, runs["concat"].get("epoch_seconds")),
            "ratio_to_collation_only": _ratio(seconds, runs["emoje"].get("collate_only_seconds")),
        }
    return sections


def target_table(by_threads: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per thread setting: each target's measured value and whether it is met."""
    table: dict[str, dict[str, Any]] = {}
    for threads, sections in by_threads.items():
        row: dict[str, Any] = {}
        for frames, values in sections.get("inference", {}).get("by_frames", {}).items():
            row[f"inference_{frames}_utterances_per_second"] = values["emoje_utterances_per_second"]
            row[f"inference_{frames}_utterances_per_cpu_second"] = sections["inference"]["runs"][f"emoje/{frames}"].get(
                "utterances_per_cpu_second"
            )
            row[f"inference_{frames}_met"] = values["meets_target"]
            if "large_batch" in values:
                large = values["large_batch"]
                row[f"inference_{frames}_batch{large['batch_size_dialogues']}_utterances_per_second"] = large["emoje_utterances_per_second"]
                row[f"inference_{frames}_batch{large['batch_size_dialogues']}_met"] = large["meets_target"]
        if "pipeline" in sections:
            row["pipeline_to_encoder_ratio"] = sections["pipeline"]["ratio_pipeline_to_encoder"]
            row["pipeline_to_encoder_ratio_cpu"] = sections["pipeline"]["runs"]["pipeline_and_encoder"].get("ratio_pipeline_to_encoder_cpu")
            row["pipeline_met"] = sections["pipeline"]["meets_target"]
        if "training" in sections:
            row["train_epoch_seconds"] = sections["training"]["epoch_seconds"]
            row["train_epoch_cpu_seconds"] = sections["training"]["runs"]["emoje"].get("epoch_cpu_seconds")
            row["train_epoch_met"] = sections["training"]["meets_target"]
        table[threads] = row
    return table


def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    load_start = load_average()
    wanted = set(args.only.split(",")) if args.only else {"inference", "pipeline", "training"}
    result: dict[str, Any] = {
        "benchmark": "speed",
        "command": command_line("benchmarks.speed", args.argv),
        "machine": machine_info(),
        "load_average_start": load_start,
        "scale": args.scale,
        "scale_settings": SCALES[args.scale],
        "threads": args.threads,
        "targets": TARGETS,
        "memory_note": "peak_rss_mb is ru_maxrss of the measuring subprocess (interpreter, libraries, model and data included); "
        "rss_after_imports_mb is its RSS once torch/transformers are imported",
        "cpu_note": "*_cpu_* figures use the process CPU time (time.process_time) instead of wall time: with 1 thread they "
        "estimate what an otherwise idle core would do; with 2 threads they include OpenMP spin-waiting",
        "threads_note": "each thread setting is a complete set of measurements; on a machine shared with other jobs, "
        "OpenMP threads that wait for each other can make 2 threads much slower than 1 (compare load_average_*)",
    }
    by_threads = {}
    for index, threads in enumerate(args.threads):
        by_threads[str(threads)] = measure_sections(args, threads, wanted, profile=index == 0)
    result["by_threads"] = by_threads
    result["target_summary"] = target_table(by_threads)
    result["load_average_end"] = load_average()
    result["duration_seconds"] = round(time.perf_counter() - started, 1)
    return result


def format_summary(result: dict[str, Any]) -> str:
    lines = [f"machine: {result['machine']['cpu_model']}, {result['machine']['cpus_usable']} CPUs, torch {result['machine']['torch']}, "
             f"load {result['load_average_start']} -> {result['load_average_end']}"]
    for threads, sections in result["by_threads"].items():
        lines.append(f"--- {threads} torch thread(s)")
        if "inference" in sections:
            section = sections["inference"]
            for name, run_ in section["runs"].items():
                lines.append(
                    f"inference {name:>16}: {run_.get('utterances_per_second')} utt/s ({run_.get('utterances_per_cpu_second')} "
                    f"per CPU-s), peak RSS {run_.get('peak_rss_mb')} MB"
                )
            for frames, row in section["by_frames"].items():
                lines.append(
                    f"  {frames} (batch {row['batch_size_dialogues']}): EmoJE vs concat x{row['ratio_to_concat_baseline']}, "
                    f"vs linear x{row['ratio_to_linear_probe']}; target >= {section['target_utterances_per_second']:.0f} utt/s: "
                    f"{'met' if row['meets_target'] else 'NOT met'}"
                )
                if "large_batch" in row:
                    large = row["large_batch"]
                    lines.append(
                        f"  {frames} (batch {large['batch_size_dialogues']}): {large['emoje_utterances_per_second']} utt/s, "
                        f"vs concat x{large['ratio_to_concat_baseline']}; target: {'met' if large['meets_target'] else 'NOT met'}"
                    )
        if "pipeline" in sections:
            section = sections["pipeline"]
            run_ = section["runs"]["pipeline_and_encoder"]
            lines.append(
                f"pipeline {run_.get('pipeline_utterances_per_second')} utt/s vs encoder {run_.get('encoder_utterances_per_second')} "
                f"utt/s: ratio {section['ratio_pipeline_to_encoder']} (CPU time: {run_.get('ratio_pipeline_to_encoder_cpu')}; "
                f"target >= {section['target_ratio']}): "
                f"{'met' if section['meets_target'] else 'NOT met'}; peak RSS {run_.get('peak_rss_mb')} MB "
                f"(encoder alone {section['runs']['text_encoder_alone'].get('peak_rss_mb')} MB)"
            )
        if "training" in sections:
            section = sections["training"]
            for name, run_ in section["runs"].items():
                lines.append(
                    f"training epoch {name:>6}: {run_.get('epoch_seconds')} s ({run_.get('epoch_cpu_seconds')} CPU-s), "
                    f"peak RSS {run_.get('peak_rss_mb')} MB"
                )
            lines.append(f"  target <= {section['target_seconds']:.0f} s: {'met' if section['meets_target'] else 'NOT met'}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated subset of inference,pipeline,training")
    parser.add_argument("--scale", choices=sorted(SCALES), default="full", help="input sizes (quick: rough numbers; tiny: plumbing)")
    parser.add_argument("--in-process", action="store_true", help="measure in this process (tests; no per-measurement memory)")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2],
        help="torch thread settings, each a full set of measurements (default: 1 2; profiles with the first)",
    )
    parser.add_argument("--meld-dir", default=str(DEFAULT_MELD_DIR), help="folder with MELD's *_sent_emo.csv")
    parser.add_argument("--work-dir", default=str(DEFAULT_WORK_DIR), help="cache of encoded MELD text features")
    parser.add_argument(
        "--frame-modes", default=",".join(FRAME_MODES), help=f"inference input shapes to measure (default all: {', '.join(FRAME_MODES)})"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="dialogues per inference batch (default 16)")
    parser.add_argument(
        "--large-batch-size", type=int, default=64,
        help="also measure EmoJE and concat (sequence, pooled) with this many dialogues per batch (default 64; 0: off)",
    )
    parser.add_argument("--text-batch-size", type=int, default=64, help="texts per text-encoder call (default 64)")
    parser.add_argument("--min-seconds", type=float, help="minimum timed duration of an inference run (default: the scale's)")
    parser.add_argument("--repeats", type=int, help="interleaved pipeline/encoder repeats (default: the scale's)")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help=f"results JSON (default {DEFAULT_OUTPUT.relative_to(REPO_ROOT)})")
    parser.add_argument("--measure", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--child-output", help=argparse.SUPPRESS)
    parser.add_argument("--model", default="emoje", help=argparse.SUPPRESS)
    parser.add_argument("--frames", choices=sorted(FRAME_MODES), default="sequence", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("min_seconds", "repeats"):
        if getattr(args, name) is None:
            setattr(args, name, SCALES[args.scale][name])
    return args


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    args = parse_args(argv)
    args.argv = None if argv is None else list(argv)
    if args.measure:
        child_main(args)
        return None
    result = run(args)
    path = write_result(args.output, result)
    print(format_summary(result))
    print(f"[speed] results written to {path}")
    return result


__all__ = ["CHILDREN", "TARGETS", "cached_meld_text", "main", "meld_dialogue_shapes", "meld_shaped_dialogues", "run", "run_child"]


if __name__ == "__main__":
    main()
