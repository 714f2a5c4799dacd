"""Audio feature extractors (issue 26): speed per core, peak memory, the cost of one hour, and the check that the
opensmile route equals openSMILE's own output on the real call (1e-5).

Every extractor is measured in its own subprocess with one thread (`OMP_NUM_THREADS=1`, `torch.set_num_threads(1)`),
which loads `modeling_emoje` as a bare package (without its `__init__`, which imports every model and mediapipe:
about 780 MB of RSS that would hide the extractors' own memory):
- real-time factor per core = CPU-seconds (`time.process_time`) / seconds of audio, on the real call
  (`conversation/sample.wav`, 30 s: the whole file, and its 13 STM turns each cut from the file) and on the audio
  tracks of the face videos (decoded by `media_io`; one is digital silence: an error, timed too);
- peak memory = the subprocess' peak resident set size (`VmHWM`), with its value after start-up and model loading;
- one hour: extrapolated from the call's rate (stated as such), and, with `--hour`, measured on a 1-hour wav made by
  repeating the call 120 times (each extractor in a fresh subprocess, so its peak is the hour's).

The speech-encoder route runs a tiny random WavLM (mechanics) and a base-size WavLM (`WavLMConfig()` defaults,
94 M parameters, random weights: its speed is the real architecture's, its features mean nothing); nothing is
downloaded. The egemaps/compare routes need the `opensmile` extra.

Usage (from the repository root):
    python -m benchmarks.audio_extractors [--hour] [--only NAME ...]
    python -m benchmarks.audio_extractors --span 120 --only NAME ... --output F.json   (long-audio memory only)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUTPUT = REPO_ROOT / "benchmarks" / "results" / "audio_extractors.json"
WORK = Path(os.environ.get("EMOJE_BENCH_WORK", REPO_ROOT / "benchmarks" / "work" / "audio_extractors"))
MEDIA = Path(os.environ.get("EMOJE_SHARED_DIR", REPO_ROOT.parent / "shared")) / "media"
CALL = MEDIA / "conversation" / "sample.wav"
VIDEOS = sorted((MEDIA / "video").glob("*.mp4"))
HOUR = WORK / "hour.wav"

EXTRACTORS: dict[str, dict] = {
    "logmel": {"spec": "logmel"},
    "egemaps-lld": {"spec": {"name": "egemaps", "level": "lld"}},
    "egemaps-functionals": {"spec": {"name": "egemaps", "level": "functionals"}},
    "compare-lld": {"spec": {"name": "compare", "level": "lld"}},
    "compare-functionals": {"spec": {"name": "compare", "level": "functionals"}},
    "wavlm-tiny-frames": {"spec": {"name": "encoder", "model": str(WORK / "wavlm_tiny"), "pooling": "frames"}},
    "wavlm-tiny-frames-batch1": {
        "spec": {"name": "encoder", "model": str(WORK / "wavlm_tiny"), "pooling": "frames", "batch_size": 1}
    },
    "wavlm-base-random-mean": {"spec": {"name": "encoder", "model": str(WORK / "wavlm_base_random"), "layer": -1, "pooling": "mean"}},
    "wavlm-base-random-mean-batch4": {
        "spec": {"name": "encoder", "model": str(WORK / "wavlm_base_random"), "layer": -1, "pooling": "mean", "batch_size": 4}
    },
    "wavlm-base-random-layer6-frames": {
        "spec": {"name": "encoder", "model": str(WORK / "wavlm_base_random"), "layer": 6, "pooling": "frames"}
    },
}


def _overlay() -> None:
    """`modeling_emoje` as a bare package over its installed modules, without running its `__init__`."""
    import types

    locations = importlib.util.find_spec("modeling_emoje").submodule_search_locations
    package = types.ModuleType("modeling_emoje")
    package.__path__ = list(locations)
    sys.modules["modeling_emoje"] = package


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _rss_mb() -> float:
    """Peak resident set size of this process (MB): `VmHWM` of /proc/self/status, which a new program starts afresh
    (`ru_maxrss` keeps the parent's peak through fork + exec on Linux, here the orchestrator's torch)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_encoders() -> None:
    """The tiny and the base-size random WavLM folders (built once, no download)."""
    import torch
    from transformers import Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    torch.set_num_threads(1)
    for name, config in (
        (
            "wavlm_tiny",
            WavLMConfig(
                hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64, conv_dim=(16,) * 7,
                num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, num_buckets=32, max_bucket_distance=100,
            ),
        ),
        ("wavlm_base_random", WavLMConfig()),
    ):
        folder = WORK / name
        if (folder / "config.json").exists():
            continue
        torch.manual_seed(0)
        WavLMModel(config).eval().save_pretrained(folder)
        Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(folder)


def make_hour() -> None:
    import soundfile as sf

    if HOUR.exists():
        return
    wave, rate = sf.read(CALL, dtype="int16")
    with sf.SoundFile(HOUR, "w", rate, 1, subtype="PCM_16") as out:
        for _ in range(120):
            out.write(wave)


def _turns() -> list[tuple[float, float]]:
    spans = []
    for line in (CALL.with_suffix(".stm")).read_text().splitlines():
        parts = line.split()
        spans.append((float(parts[3]), float(parts[4])))
    return spans


def worker(name: str, hour: bool, span: float | None = None) -> dict:
    """Runs in the subprocess: build, warm up, measure; returns the record."""
    record: dict = {"extractor": name, "rss_python_mb": round(_rss_mb(), 1)}
    _overlay()
    spec = EXTRACTORS[name]["spec"]
    if isinstance(spec, dict) and spec.get("name") == "encoder":
        _one_thread()
    started = time.process_time()
    from modeling_emoje.audio_features_emoje import build_audio_extractor
    from modeling_emoje.media_io import MediaDecodeError, open_audio

    extractor = build_audio_extractor(spec)
    extractor.extract_file(CALL, 6.68, 7.16)  # warm-up: loads the model / builds openSMILE
    record.update(
        settings=extractor.settings,
        feature_dim=extractor.feature_dim,
        version=extractor.version,
        import_and_load_cpu_s=round(time.process_time() - started, 3),
        torch_imported="torch" in sys.modules,
        rss_after_load_mb=round(_rss_mb(), 1),
    )
    runs = []
    if span:
        inputs = [(f"hour.wav, first {span:g} s (the call x {span / 30:g})", HOUR, [(0.0, span)], None, span)]
    elif hour:
        inputs = [("hour.wav (the call x 120)", HOUR, None, None, 3600.0)]
    else:
        inputs = [("call: whole file", CALL, None, None, 30.0)]
        turns = _turns()
        inputs.append(("call: 13 STM turns", CALL, turns, None, sum(e - s for s, e in turns)))
        for video in VIDEOS:
            try:
                audio = open_audio(video)
                seconds = audio.num_samples / 16000
                audio.close()
            except MediaDecodeError:
                seconds = None
            inputs.append((f"video: {video.name}", video, None, None, seconds))
    for label, path, spans, _, seconds in inputs:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        shape, error = None, None
        try:
            if spans is None:
                out = extractor.extract_file(path)
                shape = None if out is None else list(out.shape)
            else:
                shapes = [extractor.extract_file(path, s, e) for s, e in spans]
                shape = list(shapes[0].shape) if len(shapes) == 1 else f"{len(shapes)} x {shapes[0].shape[1]}-d, T {min(x.shape[0] for x in shapes)}..{max(x.shape[0] for x in shapes)}"
        except MediaDecodeError as err:
            error = f"{type(err).__name__}: {err.reason}"
        cpu = time.process_time() - cpu0
        runs.append(
            {
                "input": label,
                "audio_s": None if seconds is None else round(seconds, 3),
                "cpu_s": round(cpu, 3),
                "wall_s": round(time.perf_counter() - wall0, 3),
                "rtf_per_core": None if not seconds or error else round(cpu / seconds, 5),
                "output": shape,
                "error": error,
            }
        )
    record["runs"] = runs
    record["peak_rss_mb"] = round(_rss_mb(), 1)
    return record


def opensmile_check() -> dict:
    """The opensmile route against `Smile.process_file` and `Smile.process_signal` on the real call."""
    _overlay()
    import numpy as np
    import opensmile
    import soundfile as sf

    from modeling_emoje.audio_features_emoje import build_audio_extractor

    wave, rate = sf.read(CALL, dtype="float32")
    results = {}
    for name in ("egemaps", "compare"):
        for level in ("lld", "functionals"):
            options = {"frames_per_second": None, "max_frames": None} if level == "lld" else {}
            ours = build_audio_extractor(name, level=level, **options)
            smile = opensmile.Smile(
                feature_set=opensmile.FeatureSet[ours.feature_set], feature_level="lld" if level == "lld" else "func"
            )
            from_file = smile.process_file(str(CALL)).to_numpy()
            from_signal = smile.process_signal(wave, rate).to_numpy()
            route_file, route_wave = ours.extract_file(CALL), ours(wave, rate)
            chunked = build_audio_extractor(name, level=level, chunk_seconds=11.0, **options).extract_file(CALL) if level == "lld" else route_file
            results[f"{name}-{level}"] = {
                "shape": list(from_file.shape),
                "max_abs_diff_vs_process_file": float(np.abs(route_file - from_file).max()),
                "max_abs_diff_vs_process_signal": float(np.abs(route_wave - from_signal).max()),
                "max_abs_diff_chunked_11s_vs_process_file": float(np.abs(chunked - from_file).max()),
                "within_1e-5": bool(np.abs(route_file - from_file).max() <= 1e-5 and np.abs(chunked - from_file).max() <= 1e-5),
            }
    results["opensmile_version"] = opensmile.__version__
    return results


def run_subprocess(args: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.audio_extractors", *args], capture_output=True, text=True, env=env, check=False,
        cwd=REPO_ROOT,
    )
    if done.returncode != 0:
        return {"failed": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.audio_extractors", description=__doc__.split("\n")[0])
    parser.add_argument("--hour", action="store_true", help="also measure a real hour (the call x 120)")
    parser.add_argument("--only", nargs="*", help=f"extractor names (default: all but the batch variants): {', '.join(EXTRACTORS)}")
    parser.add_argument("--hour-only", nargs="*", help="extractors measured on the real hour (default: all but base WavLM)")
    parser.add_argument("--span", type=float, help="measure only: the first SPAN seconds of the hour, per extractor")
    parser.add_argument("--no-check", action="store_true", help="skip the opensmile equality check")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; an unknown extractor name is an error listing the known ones."""
    parser = _parser()
    args = parser.parse_args(argv)
    unknown = sorted((set(args.only or ()) | set(args.hour_only or ())) - set(EXTRACTORS))
    if unknown:
        parser.error(f"unknown extractors {unknown}; known: {', '.join(EXTRACTORS)}")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.hour, args.span)))
        return {}
    if args.check:
        print(json.dumps(opensmile_check()))
        return {}
    if not CALL.exists():
        raise SystemExit(f"audio_extractors: needs the real media: {CALL} not found (set EMOJE_SHARED_DIR)")
    from .environment import run_record, write_result

    WORK.mkdir(parents=True, exist_ok=True)
    make_encoders()
    started, load = time.perf_counter(), list(os.getloadavg())
    names = args.only or [name for name in EXTRACTORS if name not in ("wavlm-tiny-frames-batch1", "wavlm-base-random-mean-batch4")]
    result: dict = {"threads": 1, "note": "wavlm-base-random: WavLMConfig() defaults (base size, 94M parameters) with random weights: speed only"}
    if args.span:  # long-audio memory: each extractor on the first SPAN seconds of the hour, nothing else
        make_hour()
        result["span_s"] = args.span
        result["extractors"] = {}
        for name in names:
            print(f"measuring {name} on {args.span:g} s ...", file=sys.stderr, flush=True)
            result["extractors"][name] = run_subprocess(["--worker", name, "--span", str(args.span)])
        write_result(args.output, {**run_record("audio_extractors", argv, load, started), **result})
        return result
    result["extractors"] = {}
    for name in names:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        record = run_subprocess(["--worker", name])
        call = next((run for run in record.get("runs", []) if run["input"] == "call: whole file"), None)
        if call and call["rtf_per_core"] is not None:
            record["one_hour_extrapolated"] = {
                "cpu_s": round(call["rtf_per_core"] * 3600, 1),
                "basis": "the whole call's CPU-seconds per second of audio x 3600 (extrapolated, not measured)",
            }
        result["extractors"][name] = record
    if not args.no_check:
        print("checking the opensmile route against openSMILE ...", file=sys.stderr, flush=True)
        result["opensmile_equality"] = run_subprocess(["--check"])
    if args.hour:
        make_hour()
        hour_names = args.hour_only if args.hour_only is not None else [n for n in names if "base" not in n]
        for name in hour_names:
            print(f"measuring {name} on one real hour ...", file=sys.stderr, flush=True)
            result["extractors"].setdefault(name, {})["one_hour_measured"] = run_subprocess(["--worker", name, "--hour"])
    path = write_result(args.output, {**run_record("audio_extractors", argv, load, started), **result})
    print(f"wrote {path}", file=sys.stderr)
    return result


__all__ = ["EXTRACTORS", "main", "opensmile_check", "parse_args", "worker"]


if __name__ == "__main__":
    main()
