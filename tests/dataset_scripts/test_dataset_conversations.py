"""Generic conversations builder: CSV and JSONL, label lists, and the errors that name file and line."""

from __future__ import annotations

import pytest

from dataset_scripts import ConversationsBuilder, get_protocol
from tests.dataset_fixtures import CONVERSATION_ROWS, make_conversations_tree


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_csv_and_jsonl_build_the_same_dataset(tmp_path, fmt):
    make_conversations_tree(tmp_path, fmt)
    builder = ConversationsBuilder(tmp_path)
    dataset = builder.build()
    assert dataset["train"].features["label"].names == ["anger", "joy", "neutral", "surprise"]  # sorted, found
    assert [dataset[s].num_rows for s in ("train", "validation", "test")] == [4, 2, 1]  # "dev" read as validation
    train = dataset["train"].to_list()
    assert [(r["dialogue_id"], r["utterance_id"], r["text"]) for r in train[:3]] == [
        ("d1", 0, "Hello, how are you?"),
        ("d1", 1, "Really?"),
        ("d1", 2, "Great, thanks!"),
    ]  # ordered by utterance_id, not file order
    assert train[0]["audio_path"] == str(tmp_path / "audio" / "d1_0.wav")
    assert train[0]["modality_mask"] == [True, True, False, False]
    assert train[1]["audio_path"] == ""  # audio/missing.wav does not exist
    assert builder.summary.missing_media and "missing.wav" in builder.summary.missing_media[0]
    assert dataset["validation"][1]["modality_mask"] == [False, False, False, False]  # empty text
    assert builder.summary.skipped["unlabeled (empty label)"] == 1
    get_protocol("conversations").check_leakage(dataset)


def test_user_label_list_sets_the_class_order(tmp_path):
    make_conversations_tree(tmp_path)
    labels = ["neutral", "joy", "surprise", "anger", "sadness"]
    dataset = ConversationsBuilder(tmp_path, labels=labels).build()
    assert dataset["test"].features["label"].names == labels
    assert dataset["test"][0]["label"] == labels.index("joy")


def test_unknown_label_names_file_and_line(tmp_path):
    path = make_conversations_tree(tmp_path)
    with pytest.raises(ValueError, match=rf"{path}:3: label 'joy' is not in the given labels"):
        ConversationsBuilder(tmp_path, labels=["neutral", "anger", "surprise"]).build()


def _rows_with(index, **changes):
    columns = ["dialogue_id", "utterance_id", "speaker", "text", "label", "split", "audio"]
    rows = [list(row) for row in CONVERSATION_ROWS]
    for key, value in changes.items():
        rows[index][columns.index(key)] = value
    return rows


@pytest.mark.parametrize("fmt,line", [("csv", 6), ("jsonl", 5)])
def test_bad_split_names_file_and_line(tmp_path, fmt, line):
    path = make_conversations_tree(tmp_path, fmt, rows=_rows_with(4, split="holdout"))
    with pytest.raises(ValueError, match=rf"{path}:{line}: split 'holdout' is not one of"):
        ConversationsBuilder(tmp_path).build()


def test_bad_utterance_id_and_duplicates_name_file_and_line(tmp_path):
    path = make_conversations_tree(tmp_path, rows=_rows_with(2, utterance_id="two"))
    with pytest.raises(ValueError, match=rf"{path}:4: utterance_id must be an integer"):
        ConversationsBuilder(tmp_path).build()
    path = make_conversations_tree(tmp_path, rows=_rows_with(2, utterance_id=0))
    with pytest.raises(ValueError, match=rf"{path}:4: utterance 0 of dialogue 'd1' already given at {path}:2"):
        ConversationsBuilder(tmp_path).build()
    path = make_conversations_tree(tmp_path, rows=_rows_with(3, dialogue_id="d3", utterance_id=5))
    with pytest.raises(
        ValueError, match=rf"{path}:6: dialogue 'd3' is in split 'validation' here but in 'train' at {path}:5"
    ):
        ConversationsBuilder(tmp_path).build()


def test_missing_required_column_names_the_file(tmp_path):
    path = tmp_path / "corpus.csv"
    path.write_text("dialogue_id,utterance_id,speaker,text,split\nd1,0,ann,hi,train\n")
    with pytest.raises(ValueError, match=rf"{path}:1: missing required column\(s\) \['label'\]"):
        ConversationsBuilder(tmp_path).build()
    path.unlink()
    jsonl = tmp_path / "corpus.jsonl"
    jsonl.write_text(
        '{"dialogue_id": "d1", "utterance_id": 0, "speaker": "a", "text": "x", "label": "joy", "split": "train"}\n'
        '{"dialogue_id": "d1", "utterance_id": 1, "speaker": "a", "label": "joy", "split": "train"}\n'
    )
    with pytest.raises(ValueError, match=rf"{jsonl}:2: missing required field\(s\) \['text'\]"):
        ConversationsBuilder(tmp_path).build()
    jsonl.write_text('{"dialogue_id": "d1", "utterance_id": 0,\n')
    with pytest.raises(ValueError, match=rf"{jsonl}:1: invalid JSON"):
        ConversationsBuilder(tmp_path).build()


def test_a_single_file_and_several_files(tmp_path):
    path = make_conversations_tree(tmp_path / "one")
    assert ConversationsBuilder(path).build()["train"].num_rows == 4
    make_conversations_tree(tmp_path / "two", "csv", rows=CONVERSATION_ROWS[:4])
    make_conversations_tree(tmp_path / "two", "jsonl", rows=CONVERSATION_ROWS[4:])
    dataset = ConversationsBuilder(tmp_path / "two").build()
    assert [dataset[s].num_rows for s in ("train", "validation", "test")] == [4, 2, 1]
