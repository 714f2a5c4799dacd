"""MSP-IMPROV builder on a synthetic distribution tree: Evaluation.txt quirks, folds, leakage."""

from __future__ import annotations

import math
from collections import Counter

import pytest

from dataset_scripts import MspImprovBuilder, assert_no_leakage, get_protocol
from dataset_scripts.msp_improv import parse_evaluation_line
from tests.dataset_fixtures import MSP_NO_TRANSCRIPT, MSP_NO_WAV, make_msp_improv_tree


@pytest.fixture(scope="module")
def msp(tmp_path_factory):
    root = tmp_path_factory.mktemp("msp")
    return root, make_msp_improv_tree(root)


def test_master_line_parsing_handles_nan_and_the_space_before_semicolon():
    utterance, label, values = parse_evaluation_line(
        "UTD-IMPROV-S01A-F01-P-FM01.avi; N; A:2.600000; V:NaN; D:2.800000 ; N:4.200000;", "Evaluation.txt:7"
    )
    assert (utterance, label) == ("MSP-IMPROV-S01A-F01-P-FM01", "N")
    assert values["A"] == 2.6 and values["D"] == 2.8 and values["N"] == 4.2 and math.isnan(values["V"])


def test_loso_counts_labels_and_skips(msp):
    root, expected = msp
    builder = MspImprovBuilder(root)
    dataset = builder.build()
    names = dataset["train"].features["label"].names
    assert names == ["angry", "happy", "sad", "neutral"]
    assert sum(dataset[s].num_rows for s in dataset) == expected["total"]
    assert dataset["test"].num_rows == expected["per_session_kept"][1]
    letters = {"angry": "A", "happy": "H", "sad": "S", "neutral": "N"}
    counts = Counter(letters[names[i]] for s in dataset for i in dataset[s]["label"])
    assert counts == Counter({k: v for k, v in expected["labels"].items() if k in "AHSN"})
    assert builder.summary.skipped["unlabeled (X)"] == expected["labels"]["X"]
    assert builder.summary.skipped["label 'O' not in protocol loso"] == expected["labels"]["O"]
    assert any("rater line" in note for note in builder.summary.notes)


def test_rows_paths_speakers_and_missing_files(msp):
    root, _ = msp
    dataset = MspImprovBuilder(root, fold=2).build()
    rows = {r["source_id"]: r for s in dataset for r in dataset[s]}
    row = rows["MSP-IMPROV-S01A-M01-P-FM01"]
    assert row["speaker"] == "session1_M"
    assert row["dialogue_id"] == "session1_S01A_P"
    assert row["audio_path"] == str(root / "Audio/session1/S01A/P/MSP-IMPROV-S01A-M01-P-FM01.wav")
    assert row["video_path"] == str(root / "Video/session1/S01A/P/MSP-IMPROV-S01A-M01-P-FM01.avi")
    assert row["text"] == "words of MSP-IMPROV-S01A-M01-P-FM01"
    if MSP_NO_TRANSCRIPT in rows:
        assert rows[MSP_NO_TRANSCRIPT]["text"] == "" and rows[MSP_NO_TRANSCRIPT]["modality_mask"][0] is False
    if MSP_NO_WAV in rows:
        assert rows[MSP_NO_WAV]["audio_path"] == "" and rows[MSP_NO_WAV]["modality_mask"][1] is False
    dialogue = [r for r in dataset["train"] if r["dialogue_id"] == "session3_S01A_P"]
    assert [r["utterance_id"] for r in dialogue] == list(range(len(dialogue)))
    turns = [int(r["source_id"][-2:]) for r in dialogue]
    assert turns == sorted(turns)


@pytest.mark.parametrize("fold", range(1, 7))
def test_loso_session_folds_do_not_leak(msp, fold):
    root, expected = msp
    dataset = MspImprovBuilder(root, protocol="loso", fold=fold).build()
    get_protocol("msp-improv", "loso").check_leakage(dataset)
    assert {s.split("_")[0] for s in dataset["test"].unique("speaker")} == {f"session{fold}"}
    assert_no_leakage(dataset, "session", [("train", "test"), ("validation", "test")])
    assert_no_leakage(dataset, "dialogue")
    assert dataset["test"].num_rows == expected["per_session_kept"][fold]


@pytest.mark.parametrize("fold", range(1, 13))
def test_loso_speaker_folds_do_not_leak(msp, fold):
    root, expected = msp
    dataset = MspImprovBuilder(root, protocol="loso-speaker", fold=fold).build()
    get_protocol("msp-improv", "loso-speaker").check_leakage(dataset)
    assert_no_leakage(dataset, "speaker")
    assert len(dataset["test"].unique("speaker")) == 1
    assert sum(dataset[s].num_rows for s in dataset) == expected["total"]


def test_malformed_master_line_names_file_and_line(tmp_path):
    make_msp_improv_tree(tmp_path)
    path = tmp_path / "Evaluation.txt"
    lines = path.read_text().splitlines()
    lines[4] = lines[4].replace("A:2.600000", "A=2.6")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{path}:5: malformed attribute 'A=2.6'"):
        MspImprovBuilder(tmp_path).build()
    lines[4] = "UTD-IMPROV-S01A-F01-P-MF02.avi; Q; A:2.6;"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{path}:5: unknown MSP-IMPROV label 'Q'"):
        MspImprovBuilder(tmp_path).build()
    lines[4] = "UTD-IMPROV-S01A-F01-P-MF02; N; A:2.6;"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=rf"{path}:5: malformed Evaluation.txt master line"):
        MspImprovBuilder(tmp_path).build()
