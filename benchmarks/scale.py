"""Feature extraction at scale: `emoje-prepare --num-workers` throughput, memory per worker, and resume after a kill.

On a MELD.Raw-style tree of real clips (symlinks to the videos of `../shared/media/video`, in MELD's layout with
its three CSVs), the benchmark runs `python -m dataset_scripts.cli meld ... --features audio,face,body` in fresh
subprocesses, each with an empty feature cache:

(a) ``throughput``: clips per second of the extraction (the command's own "features in X s", which excludes the
    imports and the build) with 1 and with 2 workers; target: 2 workers >= 1.7x of 1. Wall time measures the
    neighbours too on a shared machine, so each run also records its CPU time (command and workers) and the load
    average around it.
(b) ``memory``: the peak RSS (``VmHWM``) of every process of a run, sampled from /proc while it runs: the main
    process and each extraction worker.
(c) ``resume``: a 2-worker run is SIGKILLed (with its workers) once half of the clips are in the cache; the same
    command is run again and timed; target: the re-run takes < 60 % of a full 2-worker run. The runs use
    `--shard-seconds` (default 5 here) so that a kill loses at most that much work per worker.

Text is not extracted (it is encoded in batches by the main process, not by the workers).

    python -m benchmarks.scale                 # 200 clips
    python -m benchmarks.scale --clips 40 --output /tmp/scale.json   # a quick, rough version
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.environment import command_line, load_average, machine_info, write_result

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "scale.json"
DEFAULT_WORK_DIR = REPO_ROOT / "benchmarks" / "work" / "scale"
DEFAULT_MEDIA_DIR = REPO_ROOT.parent / "shared" / "media" / "video"
# per 10 clips: 8 short clips with a face (2.4 s), one without a face, one long clip (19.7 s, capped at 64 frames)
CLIP_CYCLE = ("single_face.mp4",) * 4 + ("no_face.mp4",) + ("single_face.mp4",) * 4 + ("WolfgangLanger_Pexels.mp4",)
MELD_LAYOUT = {  # split -> (CSV, clip folder), as MELD.Raw has them
    "train": ("train_sent_emo.csv", "train_splits"),
    "dev": ("dev_sent_emo.csv", "dev_splits_complete"),
    "test": ("test_sent_emo.csv", "output_repeated_splits_test"),
}
MELD_HEADER = ["Sr No.", "Utterance", "Speaker", "Emotion", "Sentiment", "Dialogue_ID", "Utterance_ID", "Season",
               "Episode", "StartTime", "EndTime"]  # fmt: skip
EMOTIONS = (("neutral", "neutral"), ("joy", "positive"), ("anger", "negative"), ("surprise", "positive"),
            ("sadness", "negative"), ("fear", "negative"), ("disgust", "negative"))  # fmt: skip
UTTERANCES_PER_DIALOGUE = 5


def make_meld_media_tree(root: Path, clips: int, media_dir: Path = DEFAULT_MEDIA_DIR) -> Path:
    """A MELD.Raw-style tree of `clips` real clips (symlinks into `media_dir`): 80 % train, 10 % dev, 10 % test."""
    if clips < 3:
        raise ValueError(f"clips must be >= 3 (one per split), got {clips}")
    shutil.rmtree(root, ignore_errors=True)
    shares = {"dev": max(1, clips // 10), "test": max(1, clips // 10)}
    shares["train"] = clips - shares["dev"] - shares["test"]
    number = 0
    for split, (csv_name, clip_dir) in MELD_LAYOUT.items():
        (root / clip_dir).mkdir(parents=True)
        with open(root / csv_name, "w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream, lineterminator="\r\n")
            writer.writerow(MELD_HEADER)
            for index in range(shares[split]):
                dialogue, utterance = divmod(index, UTTERANCES_PER_DIALOGUE)
                emotion, sentiment = EMOTIONS[number % len(EMOTIONS)]
                speaker = ("Ross", "Rachel")[utterance % 2]
                writer.writerow([index + 1, f"utterance {number}", speaker, emotion, sentiment, dialogue, utterance,
                                 1, 1, "00:00:01,000", "00:00:03,000"])  # fmt: skip
                source = (media_dir / CLIP_CYCLE[number % len(CLIP_CYCLE)]).resolve()
                os.symlink(source, root / clip_dir / f"dia{dialogue}_utt{utterance}.mp4")
                number += 1
    return root


# ------------------------------------------------------------------------------------------------ one run


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _peak_rss_mb(pid: int) -> tuple[str, float] | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        name = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return None
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    return (name, int(match.group(1)) / 1024) if match else None


def _children_cpu_seconds() -> float:
    """User + system CPU time of the finished subprocesses of this process and of their waited-for children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cached_clips(cache_dir: Path) -> int:
    """Clips whose body features are in the cache (written shards only)."""
    count = 0
    for shard in cache_dir.glob("*/body-*/shard-*.npz"):
        try:
            with np.load(shard) as data:
                count += len(data["keys"]) + len(data["failed_keys"])
        except (OSError, ValueError, KeyError):
            continue
    return count


def run_prepare(
    tree: Path, output: Path, cache_dir: Path, workers: int, shard_seconds: float, kill_at: int | None = None
) -> dict[str, Any]:
    """One `emoje-prepare meld` subprocess: wall time, "features in X s", peak RSS per process; SIGKILLed at `kill_at`
    cached clips when given."""
    command = [sys.executable, "-m", "dataset_scripts.cli", "meld", "--data-dir", str(tree), "--output", str(output),
               "--features", "audio,face,body", "--cache-dir", str(cache_dir), "--num-workers", str(workers),
               "--shard-seconds", str(shard_seconds), "--no-progress"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    output.parent.mkdir(parents=True, exist_ok=True)
    log_path = output.parent / f"prepare-{time.time_ns()}.log"  # a file, not a pipe: mediapipe logs a lot
    started, cpu_before = time.perf_counter(), _children_cpu_seconds()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
    peaks: dict[int, tuple[str, float]] = {}
    killed, load_before = False, load_average()
    while process.poll() is None:
        for pid in [process.pid, *_descendants(process.pid)]:
            peak = _peak_rss_mb(pid)
            if peak is not None:
                peaks[pid] = peak
        if kill_at is not None and _cached_clips(cache_dir) >= kill_at:
            os.killpg(process.pid, signal.SIGKILL)  # the command and its workers, as a machine crash would
            killed = True
            break
        time.sleep(0.2)
    process.wait()
    wall, cpu = time.perf_counter() - started, _children_cpu_seconds() - cpu_before
    stdout = stderr = log_path.read_text(errors="replace")
    if process.returncode != 0 and not killed:
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}):\n{stderr[-3000:]}")
    match = re.search(r"features in ([\d.]+) s", stdout)
    cached = re.search(r"face: (\d+) inputs, (\d+) cached", stderr)
    main_pid = process.pid
    return {
        "workers": workers,
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),  # user + system of the command and its workers (imports included)
        "features_seconds": float(match.group(1)) if match else None,
        "killed": killed,
        "load_average_before_after": [load_before, load_average()],
        "cached_at_start": int(cached.group(2)) if cached else None,
        "peak_rss_mb": {
            "main": round(peaks[main_pid][1], 1) if main_pid in peaks else None,
            "workers": sorted(round(mb, 1) for pid, (name, mb) in peaks.items() if pid != main_pid and "spawn" in name),
        },
    }


# --------------------------------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=200, help="clips in the MELD.Raw-style tree (default 200)")
    parser.add_argument("--media-dir", type=Path, default=DEFAULT_MEDIA_DIR, help="folder of the real videos")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK_DIR, help="tree, caches and outputs")
    parser.add_argument("--shard-seconds", type=float, default=5.0, help="--shard-seconds of the runs")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    started = time.time()
    result: dict[str, Any] = {
        "benchmark": "scale",
        "command": command_line("benchmarks.scale", argv),
        "machine": machine_info(),
        "clips": args.clips,
        "shard_seconds": args.shard_seconds,
    }
    tree = make_meld_media_tree(args.work_dir / "MELD.Raw", args.clips, args.media_dir)
    runs = {}
    for workers in (1, 2):
        run_dir = args.work_dir / f"workers{workers}"
        shutil.rmtree(run_dir, ignore_errors=True)
        run = run_prepare(tree, run_dir / "out", run_dir / "cache", workers, args.shard_seconds)
        run["clips_per_second"] = round(args.clips / run["features_seconds"], 3)
        runs[str(workers)] = run
        print(f"{workers} worker(s): {run['clips_per_second']} clips/s, {run}", flush=True)
    result["throughput"] = runs
    result["speedup_2_vs_1"] = round(runs["2"]["clips_per_second"] / runs["1"]["clips_per_second"], 3)
    result["speedup_target_met"] = result["speedup_2_vs_1"] >= 1.7

    resume_dir = args.work_dir / "resume"
    shutil.rmtree(resume_dir, ignore_errors=True)
    killed = run_prepare(tree, resume_dir / "out", resume_dir / "cache", 2, args.shard_seconds, args.clips // 2)
    cached = _cached_clips(resume_dir / "cache")
    rerun = run_prepare(tree, resume_dir / "out", resume_dir / "cache", 2, args.shard_seconds)
    full = runs["2"]
    result["resume"] = {
        "killed_run": killed,
        "clips_in_cache_after_kill": cached,
        "rerun": rerun,
        "rerun_vs_full_features": round(rerun["features_seconds"] / full["features_seconds"], 3),
        "rerun_vs_full_wall": round(rerun["wall_seconds"] / full["wall_seconds"], 3),
    }
    result["resume_target_met"] = result["resume"]["rerun_vs_full_features"] < 0.6
    result["load_average_end"] = load_average()
    result["minutes"] = round((time.time() - started) / 60, 1)
    write_result(args.output, result)
    print(f"wrote {args.output}")
    return result


__all__ = ["make_meld_media_tree", "parse_args", "run_prepare"]


if __name__ == "__main__":
    main()
