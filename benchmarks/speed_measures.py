"""The measurements of the speed benchmark (`benchmarks.speed`), each run in its own interpreter by `child_main`.

A measurement (`CHILDREN`) takes the benchmark's arguments and returns a JSON-able dict: throughput over batches
(`measure_inference`), where AM^2-EmoJE's time goes (`measure_inference_profile`), the text-only pipeline against
its bare text encoder (`measure_pipeline`, `measure_text_encoder`), one training epoch (`measure_training`).
`child_main` adds the process's wall time and peak memory and writes the JSON. Models are built by
`modeling_emoje.model_specs.build_model`; inputs come from `benchmarks.speed_shapes`.

Example:
    >>> from benchmarks.speed_measures import throughput
    >>> throughput(lambda index: 10, num_batches=3, min_seconds=0.0)["utterances"]  # 3 timed batches of 10
    30
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.speed_shapes import (
    MELD_DIMS,
    SCALES,
    meld_conversations,
    meld_dialogue_shapes,
    meld_shaped_dialogues,
    meld_text_features,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "training" / "configs"
NUM_LABELS = 7  # MELD's emotions


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


def throughput(
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



def build_fusion_model(name: str, dims: dict[str, int]):
    """A model of the inference measurement: ``emoje``, ``concat``, ``cmarr`` (by `modeling_emoje.model_specs.build_model`,
    AM^2-EmoJE and the baseline with the meld_full.yaml model settings) or ``linear`` (the bare reference)."""
    from benchmarks.baselines import CONCAT_MODEL_TYPE, LinearProbe, concat_options
    from modeling_emoje.model_specs import build_model

    labels = [f"LABEL_{index}" for index in range(NUM_LABELS)]
    if name == "emoje":
        return build_model("emoje", dims, labels, _model_section("meld_full.yaml"))
    if name == "concat":
        return build_model(CONCAT_MODEL_TYPE, dims, labels, concat_options(_model_section("meld_full.yaml")))
    if name == "linear":
        return LinearProbe(dims, num_labels=NUM_LABELS)
    if name == "cmarr":
        return build_model("cmarr", dims, labels, {"use_dialogue_context": True})
    raise ValueError(f"unknown fusion model {name!r}")


def _inference_batches(args: argparse.Namespace) -> tuple[list[dict], int, dict[str, Any]]:
    from training.train.collator import DialogueCollator

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
    model = build_fusion_model(args.model, MELD_DIMS).eval()

    sizes = [int(batch["utterance_mask"].sum()) for batch in batches]

    def run_batch(index: int) -> int:
        with torch.inference_mode():
            model(**batches[index])
        return sizes[index]

    result = {"model": args.model, "frames": args.frames, "data": shape_info, "parameters": sum(p.numel() for p in model.parameters())}
    result.update(throughput(run_batch, len(batches), args.min_seconds))
    return result


def measure_inference_profile(args: argparse.Namespace) -> dict[str, Any]:
    """Where AM^2-EmoJE's inference time goes: per top-level module and per torch operator."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    batches, _, _ = _inference_batches(args)
    order = np.random.default_rng(1).permutation(len(batches))[:4]  # a random sample of 4 batches
    batches = [batches[i] for i in order]
    model = build_fusion_model("emoje", MELD_DIMS).eval()
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


def measure_pipeline(args: argparse.Namespace) -> dict[str, Any]:
    """Pipeline (text only) vs the bare text encoder on the same MELD test texts, interleaved in one process."""
    import cProfile
    import pstats

    import torch
    from transformers import pipeline

    from modeling_emoje.pipeline_emoje import TASK, register_pipeline
    from modeling_emoje.processing_emoje import EmoJEProcessor
    from modeling_emoje.text_encoding_emoje import TextFeatureEncoder, default_text_encoder
    from modeling_emoje.model_specs import build_model

    register_pipeline()
    conversations = meld_conversations(Path(args.meld_dir), SCALES[args.scale]["pipeline_conversations"])
    texts = [turn["text"] for conversation in conversations for turn in conversation]
    encoder_path = default_text_encoder()
    encoder = TextFeatureEncoder(encoder_path, batch_size=args.text_batch_size)
    processor = EmoJEProcessor.from_text_encoder(encoder_path, modalities=["text"])
    labels = [f"LABEL_{index}" for index in range(NUM_LABELS)]
    model = build_model("emoje", {"text": encoder.dim}, labels, _model_section("meld_text.yaml")).eval()
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

    conversations = meld_conversations(Path(args.meld_dir), SCALES[args.scale]["pipeline_conversations"])
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


def measure_training(args: argparse.Namespace) -> dict[str, Any]:
    """One epoch of `ERCTrainer` on MELD train (cached text features), with a training-step profile."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import TrainingArguments, set_seed
    from transformers.trainer_callback import PrinterCallback

    from benchmarks.baselines import CONCAT_MODEL_TYPE, concat_options
    from modeling_emoje.model_specs import build_model
    from training.train.collator import DialogueCollator, DialogueDataset
    from training.train.trainer import ERCTrainer, default_training_arguments

    limit = SCALES[args.scale]["training_dialogues"]
    # "tiny" encodes only the dialogues it uses; "quick" and "full" use (and on first use build) the whole-MELD cache.
    data, cache_info = meld_text_features(
        Path(args.meld_dir), Path(args.work_dir) / "feature_cache", args.text_batch_size,
        max_dialogues=limit if args.scale == "tiny" else None,
    )
    train = DialogueDataset(data["train"], name="train")
    labels = data["train"].features["label"].names
    if limit is not None and limit < len(train):
        train = torch.utils.data.Subset(train, range(limit))
    settings = _training_section("meld_text.yaml")
    options = _model_section("meld_text.yaml")
    if args.model == "concat":
        model = build_model(CONCAT_MODEL_TYPE, {"text": 384}, labels, concat_options(options))
    else:
        model = build_model("emoje", {"text": 384}, labels, options)
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


__all__ = [
    "CHILDREN",
    "build_fusion_model",
    "child_main",
    "measure_inference",
    "measure_inference_profile",
    "measure_pipeline",
    "measure_text_encoder",
    "measure_training",
    "throughput",
]
