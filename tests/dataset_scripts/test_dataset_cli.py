"""`emoje-prepare` end to end, `load_prepared` and `read_prepared_metadata`."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dataset_scripts import METADATA_FILE, emoje_features, load_prepared, read_prepared_metadata
from dataset_scripts.cli import main
from tests.dataset_fixtures import make_conversations_tree, make_meld_tree


def test_prepare_meld_with_text_features(tmp_path, minilm_path, capsys):
    pytest.importorskip("modeling_emoje.text_encoding_emoje")
    make_meld_tree(tmp_path / "meld", clips=False)
    out = tmp_path / "prepared"
    argv = [
        "meld",
        "--data-dir",
        str(tmp_path / "meld"),
        "--output",
        str(out),
        "--features",
        "text",
        "--text-encoder",
        minilm_path,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-progress",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "meld / emotion" in printed and "train" in printed and "text_features: dim 384" in printed
    dataset = load_prepared(out)
    assert list(dataset) == ["train", "validation", "test"]
    assert dataset["test"].features["label"].names[0] == "neutral"
    assert set(dataset["train"].features) == set(emoje_features(dataset["train"].features["label"].names, ["text"]))
    vector = np.asarray(dataset["train"][0]["text_features"])
    assert vector.shape == (1, 384)
    empty_text = [r for r in dataset["test"] if not r["text"]][0]
    assert empty_text["text_features"] == [] and empty_text["modality_mask"] == [False] * 4
    meta = read_prepared_metadata(out)
    assert meta["corpus"] == "meld" and meta["protocol"] == "emotion" and meta["fold"] is None
    assert meta["label_names"] == dataset["train"].features["label"].names
    assert meta["features"]["text"]["extractor"]["name_or_path"] == minilm_path
    assert json.loads((out / METADATA_FILE).read_text()) == meta
    # a second run is served by the cache and gives the same features
    assert main(argv[:4] + [str(tmp_path / "again")] + argv[5:]) == 0
    assert load_prepared(tmp_path / "again")["train"]["text_features"] == dataset["train"]["text_features"]


def test_prepare_conversations_without_features(tmp_path, capsys):
    make_conversations_tree(tmp_path / "corpus")
    out = tmp_path / "prepared"
    code = main(
        [
            "conversations",
            "--data-dir",
            str(tmp_path / "corpus"),
            "--output",
            str(out),
            "--features",
            "none",
            "--labels",
            "neutral,joy,surprise,anger",
        ]
    )
    assert code == 0
    dataset = load_prepared(out)
    assert dataset["train"].features["label"].names == ["neutral", "joy", "surprise", "anger"]
    assert "text_features" not in dataset["train"].column_names
    assert "skipped 1: unlabeled (empty label): 1" in capsys.readouterr().out


def test_prepare_errors_exit_with_a_message(tmp_path, capsys):
    make_conversations_tree(tmp_path / "corpus")
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "conversations",
                "--data-dir",
                str(tmp_path / "corpus"),
                "--output",
                str(tmp_path / "x"),
                "--features",
                "none",
                "--labels",
                "neutral",
            ]
        )
    assert exit_info.value.code == 2
    assert "corpus.csv:3: label 'joy' is not in the given labels" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["meld", "--data-dir", str(tmp_path / "nowhere"), "--output", str(tmp_path / "x")])
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["meld", "--data-dir", str(tmp_path), "--output", str(tmp_path / "x"), "--features", "text,smell"])
    with pytest.raises(SystemExit):
        main(
            [
                "iemocap",
                "--data-dir",
                str(tmp_path),
                "--output",
                str(tmp_path / "x"),
                "--protocol",
                "mer4",
                "--fold",
                "9",
            ]
        )
    assert "folds 1..5" in capsys.readouterr().err
