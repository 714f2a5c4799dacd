"""emoje-predict: JSONL or a prepared split in, one JSONL line of per-turn predictions per conversation out."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from transformers import pipeline

import modeling_emoje  # noqa: F401  (registers the task)
from modeling_emoje import EmoJEConfig
from modeling_emoje.pipeline_emoje import TASK
from tests.modeling_common import save_text_model_with_large_weights
from tests.synthetic_data import (  # noqa: F401
    REPO_ROOT,
    TINY_CONFIG,
    TINY_DIMS,
    free_port,
    one_thread,
    subprocess_env,
    write_corpus,
)
from training.cli import predict
from training.inference import predict as prediction

pytestmark = pytest.mark.compat  # `make test-newest` runs these at the newest allowed versions

LABELS = ["anger", "joy", "neutral", "sadness"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("data") / "tiny", num_dialogues=(2, 2, 7))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, corpus, minilm_path) -> Path:
    """A tiny AM^2-EmoJE on TINY_DIMS with the corpus's labels and a processor (turns give their features)."""
    from datasets import load_from_disk

    labels = load_from_disk(str(corpus))["test"].features["label"].names
    config = EmoJEConfig(
        modality_dims=TINY_DIMS, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: index for index, label in enumerate(labels)}, **TINY_CONFIG,
    )
    return save_text_model_with_large_weights(config, tmp_path_factory.mktemp("model"), minilm_path)


@pytest.fixture(scope="module")
def erc(model_dir):
    return pipeline(TASK, model=str(model_dir))


def _conversation(rng: np.random.Generator, turns: int) -> list[dict]:
    """Turns with some of text/audio/face/body given as feature lists (what a JSONL line can hold)."""
    keys = {"text": "text_features", "audio": "audio_features", "face": "face", "body": "body"}
    result = []
    for index in range(turns):
        turn = {"speaker": f"s{index % 2}"}
        present = [name for name in keys if rng.random() < 0.6] or ["text"]
        for name in present:
            frames = 1 if name == "text" else int(rng.integers(1, 4))
            turn[keys[name]] = rng.normal(size=(frames, TINY_DIMS[name])).round(4).tolist()
        result.append(turn)
    return result


@pytest.fixture(scope="module")
def conversations() -> list[tuple[str, list[dict]]]:
    rng = np.random.default_rng(0)
    return [(f"c{index}", _conversation(rng, int(rng.integers(1, 7)))) for index in range(7)]


def _write_jsonl(path: Path, conversations, bare: tuple[int, ...] = (3,)) -> Path:
    lines = [
        json.dumps(turns if index in bare else {"id": identifier, "turns": turns})
        for index, (identifier, turns) in enumerate(conversations)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _same_scores(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x["label"] == y["label"] and x["modalities"] == y["modalities"] and x["imputed"] == y["imputed"]
        for label, score in x["scores"].items():
            assert math.isclose(score, y["scores"][label], abs_tol=1e-5)


def test_help_says_what_batch_size_counts(capsys):
    with pytest.raises(SystemExit):
        predict.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "conversations (not turns) padded together into one model forward pass" in text


@pytest.mark.parametrize("causal", [False, True], ids=["bidirectional", "causal"])
def test_jsonl_predictions_match_the_pipeline(erc, model_dir, conversations, tmp_path, causal):
    source = _write_jsonl(tmp_path / "in.jsonl", conversations)
    flags = ["--causal"] if causal else []
    batched, alone = tmp_path / "batched.jsonl", tmp_path / "alone.jsonl"
    for output, size in ((batched, "3"), (alone, "1")):
        argv = ["--model", str(model_dir), "--input", str(source), "--output", str(output), "--batch-size", size, "--quiet"]
        assert predict.main(argv + flags) == 0
    records = _read(batched)
    assert [record["id"] for record in records] == ["c0", "c1", "c2", "line-4", "c4", "c5", "c6"]  # input order
    for record, (_, turns) in zip(records, conversations):
        _same_scores(record["turns"], erc(turns, causal=causal))
        assert set(record["turns"][0]) == {"label", "score", "scores", "modality_weights", "modalities", "imputed"}
    for one_forward, one_by_one in zip(records, _read(alone)):  # batched forward passes equal one-by-one ones
        _same_scores(one_forward["turns"], one_by_one["turns"])


def test_resume_skips_finished_ids_and_repairs_a_cut_last_line(model_dir, conversations, tmp_path, monkeypatch):
    source = _write_jsonl(tmp_path / "in.jsonl", conversations)
    output = tmp_path / "out.jsonl"
    argv = ["--model", str(model_dir), "--input", str(source), "--output", str(output), "--batch-size", "2", "--quiet"]
    assert predict.main(argv) == 0
    complete = output.read_text().splitlines(keepends=True)
    output.write_text("".join(complete[:4]) + complete[4][: len(complete[4]) // 2])  # a kill in the middle of line 5
    predicted = []
    original = prediction.predict_records
    monkeypatch.setattr(
        prediction, "predict_records",
        lambda erc, chunk, options: predicted.extend(c.id for c in chunk) or original(erc, chunk, options),
    )
    assert predict.main(argv) == 0
    assert predicted == ["c4", "c5", "c6"]  # only what was not complete
    assert output.read_text().splitlines(keepends=True)[:4] == complete[:4]
    assert [record["id"] for record in _read(output)] == [record["id"] for record in map(json.loads, complete)]
    for again, before in zip(_read(output), map(json.loads, complete)):
        _same_scores(again["turns"], before["turns"])
    predicted.clear()
    assert predict.main(argv) == 0 and predicted == []  # all done: nothing to predict


def test_prepared_split_writes_gold_labels(model_dir, corpus, erc, tmp_path):
    from datasets import load_from_disk

    from training.train.collator import DialogueDataset

    output = tmp_path / "test.jsonl"
    argv = ["--model", str(model_dir), "--data", str(corpus), "--split", "test", "--output", str(output), "--quiet"]
    assert predict.main(argv) == 0
    dataset = DialogueDataset(load_from_disk(str(corpus))["test"])
    records = _read(output)
    assert [record["id"] for record in records] == dataset.dialogue_ids
    for index, record in enumerate(records):
        gold = [dataset.label_names[label] for label in dataset[index]["labels"]]
        assert [turn["gold"] for turn in record["turns"]] == gold
        assert all(turn["label"] in dataset.label_names for turn in record["turns"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "x", "turns": [{"speaker": "A", "text_features": [1, 2', r"line 2: not valid JSON"),
        ('{"id": "x", "turns": "hello"}', r"line 2: the turns are not a non-empty list of dicts"),
        ('{"id": "x", "turn": []}', r"line 2: unknown keys \['turn'\]"),
        ('{"id": "a", "turns": [{"speaker": "A", "text_features": [0.5]}]}', r"line 2: id 'a' was already used on line 1"),
    ],
    ids=["json", "turns", "keys", "duplicate"],
)
def test_bad_jsonl_lines_are_named(model_dir, tmp_path, capsys, line, message):
    source = tmp_path / "in.jsonl"
    source.write_text('{"id": "a", "turns": [{"speaker": "A", "text_features": [0.5]}]}\n' + line + "\n")
    argv = ["--model", str(model_dir), "--input", str(source), "--output", str(tmp_path / "out.jsonl")]
    assert predict.main(argv) == 2
    error = capsys.readouterr().err
    assert "emoje-predict: error:" in error and str(source) in error
    import re

    assert re.search(message, error), error


def test_a_bad_conversation_is_named_by_id(model_dir, conversations, tmp_path, capsys):
    bad = [("good", conversations[0][1]), ("broken", [{"speaker": "A", "audio_features": [[1.0, 2.0]]}])]
    source = _write_jsonl(tmp_path / "in.jsonl", bad, bare=())
    argv = ["--model", str(model_dir), "--input", str(source), "--output", str(tmp_path / "out.jsonl"), "--quiet"]
    assert predict.main(argv) == 2
    error = capsys.readouterr().err
    assert "conversation 'broken'" in error and "line 2" in error and "features per frame" in error


def test_two_processes_write_the_same_lines_as_one(model_dir, conversations, tmp_path):
    source = _write_jsonl(tmp_path / "in.jsonl", conversations)
    single, double = tmp_path / "single.jsonl", tmp_path / "double.jsonl"
    options = ["--model", str(model_dir), "--input", str(source), "--batch-size", "2", "--quiet"]
    assert predict.main(options + ["--output", str(single)]) == 0
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(REPO_ROOT / "training" / "configs" / "accelerate" / "cpu_2proc.yaml"),
        "--main_process_port", str(free_port()),
        "-m", "training.cli.predict", *options, "--output", str(double),
    ]
    completed = subprocess.run(command, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert not list(tmp_path.glob("double.jsonl.part-*"))  # merged, then removed
    one, two = _read(single), _read(double)
    assert [record["id"] for record in two] == [record["id"] for record in one]
    for a, b in zip(one, two):
        _same_scores(a["turns"], b["turns"])


def test_privacy_never_uses_the_face(model_dir, tmp_path):
    turns = [{"speaker": f"s{i % 2}", "text_features": [[0.1 * i] * 8], "face": [[0.5] * 6] * 2} for i in range(3)]
    source = _write_jsonl(tmp_path / "in.jsonl", [("faces", turns)], bare=())
    output = tmp_path / "out.jsonl"
    argv = ["--model", str(model_dir), "--input", str(source), "--output", str(output), "--quiet"]
    assert predict.main(argv) == 0 and "face" in _read(output)[0]["turns"][0]["modalities"]
    output.unlink()
    assert predict.main(argv + ["--privacy"]) == 0
    assert all(turn["modalities"] == ["text"] for turn in _read(output)[0]["turns"])


def test_the_summary_line_is_what_the_speed_benchmark_reads(model_dir, conversations, tmp_path, caplog):
    import logging

    from benchmarks.predict_speed import SUMMARY, parse_args, predict_command

    source = _write_jsonl(tmp_path / "in.jsonl", conversations)
    with caplog.at_level(logging.INFO, logger="training.inference.predict"):
        assert predict.main(["--model", str(model_dir), "--input", str(source), "--output", str(tmp_path / "o.jsonl")]) == 0
    found = SUMMARY.findall(caplog.text)
    assert found and found[-1][:2] == (str(len(conversations)), str(sum(len(turns) for _, turns in conversations)))
    args = parse_args(["--model", "m", "--data", "d"])
    assert predict_command(args, 16, 2, tmp_path / "p.jsonl")[1:3] == ["-m", "accelerate.commands.launch"]


def test_output_must_be_a_file(model_dir, tmp_path, capsys):
    argv = ["--model", str(model_dir), "--input", str(tmp_path / "none.jsonl"), "--output", str(tmp_path)]
    assert predict.main(argv) == 2 and "is a folder" in capsys.readouterr().err
    assert predict.main(argv[:-1] + [str(tmp_path / "out.jsonl"), "--batch-size", "0"]) == 2
    assert "--batch-size must be >= 1" in capsys.readouterr().err


# ------------------------------------------------------------------ models that read features only


def _features_model(directory: Path, corpus: Path, dims: dict[str, int]) -> Path:
    """A tiny AM^2-EmoJE on `dims` saved with no processor (what a features-only emoje-train run exports)."""
    from datasets import load_from_disk

    from tests.synthetic_data import save_tiny_model

    return save_tiny_model(directory, dims, load_from_disk(str(corpus))["test"].features["label"].names)


def _error_line(stderr: str) -> str:
    """The `emoje-predict: error: ...` line of stderr (loading progress bars may come before it)."""
    return next(line for line in stderr.splitlines() if line.startswith("emoje-predict: error:"))


@pytest.fixture(scope="module")
def audio_face_model(tmp_path_factory, corpus) -> Path:
    return _features_model(tmp_path_factory.mktemp("audio_face"), corpus, {"audio": 4, "face": 6})


@pytest.fixture(scope="module")
def text_audio_model(tmp_path_factory, corpus) -> Path:
    """Reads text features, but was saved with no text encoder (and no processor)."""
    return _features_model(tmp_path_factory.mktemp("text_audio"), corpus, {"text": 8, "audio": 4})


def test_a_features_only_model_predicts_a_prepared_split_from_its_features(audio_face_model, corpus, tmp_path):
    """No processor, or a processor without tokenizer or text encoder: the split's features are all it needs."""
    from modeling_emoje import EmoJEProcessor
    from modeling_emoje.feature_extraction_emoje import EmoJEFeatureExtractor
    from modeling_emoje.video_processing_emoje import EmoJEVideoProcessor
    from training.inference.predict import features_only_tokenizer

    bare = tmp_path / "bare.jsonl"
    argv = ["--data", str(corpus), "--split", "test", "--quiet"]
    assert predict.main(["--model", str(audio_face_model), "--output", str(bare), *argv]) == 0
    records = _read(bare)
    assert len(records) == 7 and all(turn["gold"] is not None for record in records for turn in record["turns"])
    assert {m for record in records for turn in record["turns"] for m in turn["modalities"]} <= {"audio", "face"}
    # the same model with a processor_config.json but no tokenizer files (it used to fail on sentencepiece)
    with_processor = tmp_path / "with_processor"
    shutil.copytree(audio_face_model, with_processor)
    processor = EmoJEProcessor(EmoJEFeatureExtractor(), EmoJEVideoProcessor(), features_only_tokenizer())
    processor.save_pretrained(with_processor)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (with_processor / name).unlink(missing_ok=True)
    again = tmp_path / "again.jsonl"
    assert predict.main(["--model", str(with_processor), "--output", str(again), *argv]) == 0
    for a, b in zip(records, _read(again), strict=True):
        _same_scores(a["turns"], b["turns"])


def test_a_model_without_text_encoder_says_to_give_text_features(text_audio_model, tmp_path, capsys):
    good = [{"speaker": "A", "text_features": [0.1] * 8}, {"speaker": "B", "audio_features": [[0.2] * 4]}]
    raw = [{"speaker": "A", "text_features": [0.1] * 8}, {"speaker": "B", "text": "Oh no."}]
    source = _write_jsonl(tmp_path / "in.jsonl", [("good", good), ("call-7", raw)], bare=())
    output = tmp_path / "out.jsonl"
    argv = ["--model", str(text_audio_model), "--input", str(source), "--output", str(output)]
    assert predict.main(argv) == 2
    assert _error_line(capsys.readouterr().err) == (
        f"emoje-predict: error: --model {text_audio_model} has no text encoder: give text features (`text_features`, 8 "
        "values per turn from the encoder the model was trained with) or use a model exported with its text encoder; "
        f"{source} line 2, turn 1 gives 'text' without 'text_features'"
    )
    assert not output.exists()  # refused before anything was predicted
    _write_jsonl(source, [("good", good)], bare=())
    assert predict.main(argv + ["--quiet"]) == 0 and _read(output)[0]["id"] == "good"


def test_a_model_without_processor_refuses_raw_media(audio_face_model, tmp_path, capsys):
    source = _write_jsonl(tmp_path / "in.jsonl", [("call-8", [{"speaker": "A", "video": "a.mp4"}])], bare=())
    argv = ["--model", str(audio_face_model), "--input", str(source), "--output", str(tmp_path / "out.jsonl")]
    assert predict.main(argv) == 2
    assert _error_line(capsys.readouterr().err) == (
        f"emoje-predict: error: --model {audio_face_model} was exported without a processor "
        "(no processor_config.json), so it reads pre-extracted features only: give 'face' arrays instead of 'video', or use a model exported with "
        f"its processor; {source} line 1, turn 0 gives 'video'"
    )


def test_a_split_without_the_model_modalities_names_both(audio_face_model, tmp_path, capsys):
    text_only = write_corpus(tmp_path / "text_only", num_dialogues=(2, 2, 2), dims={"text": 8})
    argv = ["--model", str(audio_face_model), "--data", str(text_only), "--output", str(tmp_path / "out.jsonl")]
    assert predict.main(argv) == 2
    assert _error_line(capsys.readouterr().err) == (
        f"emoje-predict: error: split 'test' of {text_only} has no features --model {audio_face_model} can read: the "
        "model reads audio, face, the split has features for text only; prepare the data with features for audio or "
        "face, or use a model trained on text"
    )
