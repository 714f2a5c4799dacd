"""benchmarks/audio_extractors.py at tiny size: one extractor, no hour, the JSON it writes."""

from __future__ import annotations

import json

import pytest


def test_audio_extractor_benchmark_writes_its_figures(media_dir, tmp_path, monkeypatch):
    from benchmarks import audio_extractors

    monkeypatch.setattr(audio_extractors, "WORK", tmp_path / "work")
    monkeypatch.setattr(audio_extractors, "make_encoders", lambda: None)  # logmel only: no encoder folders needed
    output = tmp_path / "audio_extractors.json"
    audio_extractors.main(["--only", "logmel", "--no-check", "--output", str(output)])
    result = json.loads(output.read_text())
    assert result["benchmark"] == "audio_extractors" and "--only logmel" in result["command"]
    record = result["extractors"]["logmel"]
    runs = {run["input"]: run for run in record["runs"]}
    call = runs["call: whole file"]
    assert call["audio_s"] == 30.0 and call["output"] == [300, 80] and 0 < call["rtf_per_core"] < 1
    assert runs["video: WolfgangLanger_Pexels.mp4"]["error"].startswith("SilentAudioError")
    assert record["peak_rss_mb"] >= record["rss_after_load_mb"] > 0
    assert record["one_hour_extrapolated"]["cpu_s"] == pytest.approx(call["rtf_per_core"] * 3600, abs=0.1)


def test_unknown_extractor_names_are_refused():
    from benchmarks.audio_extractors import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--only", "mfcc"])
