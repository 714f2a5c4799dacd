"""emoje-demo: the main job end to end (tiny synthetic setting) and the MELD subset it would use."""

from __future__ import annotations

import csv
import io
import json

from tests.synthetic_data import TINY_MODEL_ARGS, one_thread  # noqa: F401  (one_thread: autouse fixture)
from training.demo import find_meld_dir, main, write_meld_subset


def test_demo_runs_end_to_end_and_says_where_everything_went(tmp_path, capsys):
    output = tmp_path / "demo"
    code = main([
        "--output-dir", str(output), "--corpus", "synthetic", "--dialogues", "4,2,2",
        "--max_steps", "2", "--eval_steps", "2", "--save_steps", "2", *TINY_MODEL_ARGS,
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "SYNTHETIC conversations" in printed and "Not real emotion data" in printed
    for artefact in ("data", "model/model.safetensors", "model/config.json", "model/README.md", "model/evaluation.json", "model/checkpoint-2"):
        assert (output / artefact).exists(), artefact
        assert str(output / artefact.split("/")[0]) in printed
    scenarios = json.loads((output / "model" / "evaluation.json").read_text())["scenarios"]
    assert len(scenarios) == 16 and "privacy" in scenarios
    assert "predicting one test conversation" in printed and "gold" in printed


def test_meld_subset_keeps_whole_dialogues_in_the_official_format(meld_dir, tmp_path):
    counts = write_meld_subset(meld_dir, tmp_path, (3, 2, 2))
    assert find_meld_dir(tmp_path) == tmp_path
    for name, count in (("train_sent_emo.csv", counts["train"]), ("test_sent_emo.csv", counts["test"])):
        rows = list(csv.DictReader(io.StringIO((tmp_path / name).read_bytes().decode("utf-8", errors="replace"))))
        assert len(rows) == count > 0
        original = list(csv.DictReader(io.StringIO((meld_dir / name).read_bytes().decode("utf-8", errors="replace"))))
        kept = {int(row["Dialogue_ID"]) for row in rows}
        expected = 3 if name.startswith("train") else 2
        assert sorted(kept) == sorted({int(row["Dialogue_ID"]) for row in original})[:expected]
        assert len(rows) == sum(int(row["Dialogue_ID"]) in kept for row in original)
