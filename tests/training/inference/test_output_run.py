"""emoje-predict's output belongs to one run: never another file modified, never two models or modes mixed, one
writer at a time (issue 27), all through the command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from modeling_emoje import EmoJEConfig
from tests.modeling_common import save_text_model_with_large_weights
from tests.synthetic_data import TINY_CONFIG, TINY_DIMS, one_thread, write_corpus  # noqa: F401
from training.cli import predict
from training.inference.output_run import output_lock, run_record_path

LABELS = ["neutral", "joy", "sadness", "anger"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("data") / "tiny", num_dialogues=(2, 2, 3))


def _model(directory: Path, corpus: Path, text_encoder: str, seed: int) -> Path:
    from datasets import load_from_disk

    labels = load_from_disk(str(corpus))["test"].features["label"].names
    config = EmoJEConfig(
        modality_dims=TINY_DIMS, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: index for index, label in enumerate(labels)}, **TINY_CONFIG,
    )
    save_text_model_with_large_weights(config, directory, text_encoder)
    if seed:  # other weights: another model
        from safetensors.torch import load_file, save_file

        weights = {name: tensor + 0.1 for name, tensor in load_file(directory / "model.safetensors").items()}
        save_file(weights, directory / "model.safetensors", metadata={"format": "pt"})
    return directory


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, corpus, minilm_path) -> Path:
    return _model(tmp_path_factory.mktemp("model"), corpus, minilm_path, seed=0)


@pytest.fixture(scope="module")
def other_model(tmp_path_factory, corpus, minilm_path) -> Path:
    return _model(tmp_path_factory.mktemp("other"), corpus, minilm_path, seed=1)


@pytest.fixture()
def source(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    lines = [
        json.dumps({"id": f"c{index}", "turns": [{"speaker": "A", "text_features": rng.normal(size=(1, 8)).tolist()}] * 2})
        for index in range(3)
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _argv(model: Path, source: Path, output: Path, *extra: str) -> list[str]:
    return ["--model", str(model), "--input", str(source), "--output", str(output), "--quiet", "--no-progress", *extra]


def _error(capsys) -> str:
    return next(line for line in capsys.readouterr().err.splitlines() if line.startswith("emoje-predict: error:"))


@pytest.mark.parametrize(
    "content",
    [b"line one\nline two, no final newline", json.dumps({"a": 1, "b": [1, 2]}, indent=2).encode(),
     b'{"id": "c0", "turns": []}\n'],
    ids=["notes.txt", "results.json", "conversations-like"],
)
def test_a_file_that_is_not_our_predictions_is_never_modified(model_dir, source, tmp_path, capsys, content):
    output = tmp_path / "notes.txt"
    output.write_bytes(content)
    assert predict.main(_argv(model_dir, source, output)) == 2
    assert output.read_bytes() == content  # the last line is still there
    message = _error(capsys)
    assert "not a predictions file" in message or "no run record" in message


def test_resume_with_another_model_or_options_is_refused_naming_both(model_dir, other_model, source, tmp_path, capsys):
    output = tmp_path / "out.jsonl"
    assert predict.main(_argv(model_dir, source, output)) == 0
    before = output.read_bytes()
    assert json.loads(run_record_path(output).read_text())["options"] == {"privacy": False, "causal": False}
    assert predict.main(_argv(other_model, source, output)) == 2
    message = _error(capsys)
    assert str(model_dir) in message and str(other_model) in message and "another run" in message
    assert predict.main(_argv(model_dir, source, output, "--causal", "--privacy")) == 2
    assert "causal=False privacy=False" in (message := _error(capsys)) and "causal=True privacy=True" in message
    assert output.read_bytes() == before
    assert predict.main(_argv(model_dir, source, output)) == 0 and output.read_bytes() == before  # same run: done


def test_predictions_without_their_run_record_are_refused(model_dir, source, tmp_path, capsys):
    output = tmp_path / "out.jsonl"
    assert predict.main(_argv(model_dir, source, output)) == 0
    run_record_path(output).unlink()
    before = output.read_bytes()
    assert predict.main(_argv(model_dir, source, output)) == 2
    assert "no run record" in _error(capsys) and output.read_bytes() == before


def test_a_second_writer_on_one_output_fails_at_once(model_dir, source, tmp_path, capsys):
    output = tmp_path / "out.jsonl"
    with output_lock(output):  # what a running emoje-predict holds
        assert predict.main(_argv(model_dir, source, output)) == 2
    assert "being written by another process" in _error(capsys) and not output.exists()
    assert predict.main(_argv(model_dir, source, output)) == 0  # released


def test_input_as_output_is_refused(model_dir, source, tmp_path, capsys, monkeypatch):
    before = source.read_bytes()
    monkeypatch.chdir(tmp_path)
    assert predict.main(_argv(model_dir, Path("in.jsonl"), Path(".") / "sub" / ".." / "in.jsonl")) == 2
    assert "is --input" in _error(capsys) and source.read_bytes() == before


def test_data_whose_labels_are_not_the_model_s_is_refused(model_dir, corpus, tmp_path, capsys):
    from datasets import ClassLabel, load_from_disk

    from dataset_scripts import save_prepared

    other = load_from_disk(str(corpus)).cast_column("label", ClassLabel(names=["pos", "neg", "mixed", "none"]))
    save_prepared(other, tmp_path / "posneg")
    argv = ["--model", str(model_dir), "--data", str(tmp_path / "posneg"), "--output", str(tmp_path / "g.jsonl")]
    assert predict.main(argv) == 2
    assert "are not the labels of --model" in _error(capsys) and not (tmp_path / "g.jsonl").exists()


def test_a_full_disk_leaves_no_torn_line(model_dir, source, tmp_path, capsys):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    output = tmp_path / "out.jsonl"
    output.symlink_to("/dev/full")
    assert predict.main(_argv(model_dir, source, output)) == 2
    assert "No space left" in _error(capsys)


def test_text_that_is_not_utf8_or_not_unicode_is_named(model_dir, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"id": "a", "turns": [{"speaker": "A", "text": "ok"}]}\n{"id": "b", "turns": [{"speaker": "A", "text": "caf\xe9"}]}\n')
    assert predict.main(_argv(model_dir, bad, tmp_path / "o1.jsonl")) == 2
    assert f"{bad} line 2: not UTF-8 text (byte 0xe9 at column 52)" in _error(capsys)
    surrogate = tmp_path / "surrogate.jsonl"
    surrogate.write_text(json.dumps({"id": "s", "turns": [{"speaker": "A", "text": "hi \ud800"}]}) + "\n")
    assert predict.main(_argv(model_dir, surrogate, tmp_path / "o2.jsonl")) == 2
    assert "conversation 's'" in (message := _error(capsys)) and "lone surrogate" in message


def test_a_model_folder_with_bad_fields_is_one_line(model_dir, source, tmp_path, capsys):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, "num_labels": "three"}))
    assert predict.main(_argv(broken, source, tmp_path / "o.jsonl")) == 2
    assert '"num_labels" must be a positive integer' in _error(capsys)
    (broken / "config.json").write_text(json.dumps(config))
    processor = json.loads((broken / "processor_config.json").read_text())
    (broken / "processor_config.json").write_text(json.dumps({**processor, "text_encoder_name_or_path": "../x"}))
    raw = tmp_path / "raw.jsonl"
    raw.write_text(json.dumps({"id": "r", "turns": [{"speaker": "A", "text": "hello"}]}) + "\n")
    assert predict.main(_argv(broken, raw, tmp_path / "o.jsonl")) == 2
    assert "text encoder '../x' is written as a path but no such folder exists" in _error(capsys)
