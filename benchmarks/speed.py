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

This module is the orchestration (one subprocess per measurement, ratios, targets, the JSON and its summary); the
inputs are built by `benchmarks.speed_shapes` and measured by `benchmarks.speed_measures`.

    python -m benchmarks.speed      # ~35 min on 2 cores at load 5 (the first run also caches MELD text features)
    python -m benchmarks.speed --scale quick --output /tmp/speed.json    # a fast, rough version
    python -m benchmarks.speed --scale tiny --in-process --output /tmp/speed.json   # seconds: plumbing only
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.environment import command_line, load_average, machine_info, write_result
from benchmarks.speed_measures import CHILDREN, child_main
from benchmarks.speed_shapes import FRAME_MODES, SCALES

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "speed.json"
DEFAULT_WORK_DIR = REPO_ROOT / "benchmarks" / "work" / "speed"
DEFAULT_MELD_DIR = REPO_ROOT.parent / "shared" / "data" / "meld"
TARGETS = {"inference_utterances_per_second": 5000.0, "pipeline_to_encoder_ratio": 0.8, "train_epoch_seconds": 30.0}


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
    sections: dict[str, Any] = {}
    if "inference" in wanted:
        modes = [mode for mode in FRAME_MODES if mode in args.frame_modes.split(",")]
        plan = [(model, "sequence") for model in ("emoje", "concat", "linear")] if "sequence" in modes else []
        plan += [("cmarr", "sequence")] if "sequence" in modes else []
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


__all__ = ["TARGETS", "format_summary", "main", "parse_args", "run", "run_child"]


if __name__ == "__main__":
    main()
