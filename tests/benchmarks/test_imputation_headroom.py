"""benchmarks.imputation_headroom at tiny size: one specialist against the generalist, JSON written."""

from __future__ import annotations

import json

from benchmarks.imputation_headroom import format_summary, main


def test_tiny_run_writes_headroom_per_scenario(tmp_path):
    output = tmp_path / "headroom.json"
    result = main(["--tiny", "--scenarios", "text", "--output", str(output), "--work-dir", str(tmp_path / "work")])
    saved = json.loads(output.read_text())
    row = saved["per_seed"]["0"]["scenarios"]["text"]
    assert 0.0 <= row["generalist"] <= 1.0 and 0.0 <= row["specialist"] <= 1.0
    assert abs(row["headroom"] - (row["specialist"] - row["generalist"])) < 1e-3
    assert saved["headroom_mean"] == {"text": row["headroom"]} == result["headroom_mean"]
    assert "text" in format_summary(saved)
    assert not (tmp_path / "work" / "emoje_no_joint-text-seed0").exists()  # scratch checkpoints removed


def test_full_and_privacy_give_the_specialists_privacy_gap(tmp_path):
    output = tmp_path / "headroom.json"
    result = main(["--tiny", "--scenarios", "text+audio+face+body", "privacy", "--output", str(output),
                   "--work-dir", str(tmp_path / "work")])
    rows = result["per_seed"]["0"]["scenarios"]
    gap = json.loads(output.read_text())["privacy_gap"]
    expected = rows["text+audio+face+body"]["specialist"] - rows["privacy"]["specialist"]
    assert abs(gap["specialist"]["per_seed"][0] - expected) < 1e-3 and gap["specialist"]["mean"] == gap["specialist"]["per_seed"][0]
    assert abs(gap["generalist"]["mean"] - (rows["text+audio+face+body"]["generalist"] - rows["privacy"]["generalist"])) < 1e-3
    assert "full minus privacy: specialists" in format_summary(result)
    single = main(["--tiny", "--scenarios", "text", "--output", str(tmp_path / "single.json"), "--work-dir", str(tmp_path / "w2")])
    assert "privacy_gap" not in single  # needs both scenarios
