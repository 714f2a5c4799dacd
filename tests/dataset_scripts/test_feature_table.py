"""`emoje-prepare features`: tables of pre-extracted features (list columns, .npy/.npz folders) -> prepared data."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataset_scripts import (
    ColumnSplit,
    FeatureTableBuilder,
    TableColumns,
    build_feature_table,
    build_ravdess,
    get_protocol,
    load_prepared,
    prepare_ravdess,
    read_prepared_metadata,
)
from dataset_scripts.cli import main as prepare_main
from dataset_scripts.feature_table_layout import parse_values

AUDIO = {("d1", 0): [0.1, 0.2, 0.3], ("d1", 2): [1.0, 2.0, 3.0], ("d3", 0): [0.0, 0.5, 1.0], ("d4", 0): [3.0, 2.0, 1.0]}
FACE = {("d1", 2): [[1.0, 1.5], [2.0, 2.5]], ("d2", 5): [[4.0, 4.5]], ("d3", 0): [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]}
# table order is not dialogue order: d1's utterance 2 comes first, and utterance ids have gaps
BASE_ROWS = [
    {"dialogue_id": "d1", "utterance_id": 2, "speaker": "A", "label": "sad", "split": "train", "text": "bye"},
    {"dialogue_id": "d1", "utterance_id": 0, "speaker": "B", "label": "happy", "split": "train", "text": "hi"},
    {"dialogue_id": "d2", "utterance_id": 5, "speaker": "A", "label": "happy", "split": "train", "text": ""},
    {"dialogue_id": "d3", "utterance_id": 0, "speaker": "B", "label": "sad", "split": "dev", "text": "so"},
    {"dialogue_id": "d4", "utterance_id": 0, "speaker": "A", "label": "happy", "split": "test", "text": "ok"},
]


def table_rows() -> list[dict]:
    rows = copy.deepcopy(BASE_ROWS)
    for row in rows:
        key = (row["dialogue_id"], row["utterance_id"])
        row["audio"], row["face"] = AUDIO.get(key), FACE.get(key)
    return rows


def write_table(folder: Path, rows: list[dict], fmt: str = "parquet") -> Path:
    path = folder / f"table.{fmt}"
    if fmt == "parquet":
        pd.DataFrame(rows).to_parquet(path)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:  # CSV: arrays as JSON lists in their cells
        def cell(value):
            return json.dumps(value) if isinstance(value, list) else ("" if value is None else value)

        pd.DataFrame([{key: cell(value) for key, value in row.items()} for row in rows]).to_csv(path, index=False)
    return path


def write_arrays(folder: Path, rows: list[dict], fmt: str = "npy") -> dict[str, Path]:
    """`audio` as 1-D .npy (or .npz) files, `face` as 2-D files, named `<dialogue>_<utterance>`."""
    dirs = {m: folder / m for m in ("audio", "face")}
    for modality, folder_path in dirs.items():
        folder_path.mkdir()
        for row in rows:
            if row[modality] is None:
                continue
            stem = folder_path / f"{row['dialogue_id']}_{row['utterance_id']}"
            array = np.asarray(row[modality], dtype=np.float32)
            if fmt == "npz":
                np.savez(f"{stem}.npz", features=array)
            else:
                np.save(f"{stem}.npy", array)
    return dirs


def assert_expected(dataset) -> None:
    """The dataset built from `table_rows()` (any source)."""
    assert [dataset[s].num_rows for s in ("train", "validation", "test")] == [3, 1, 1]  # "dev" = validation
    assert dataset["train"].features["label"].names == ["happy", "sad"]  # sorted train labels
    train = dataset["train"].to_list()
    assert [(r["dialogue_id"], r["utterance_id"], r["speaker"], r["text"]) for r in train] == [
        ("d1", 0, "B", "hi"),
        ("d1", 1, "A", "bye"),  # utterance id 2 -> position 1, ordered by id, not table order
        ("d2", 0, "A", ""),
    ]
    assert [r["modality_mask"] for r in train] == [
        [False, True, False, False],  # audio only (the transcript does not make text features)
        [False, True, True, False],
        [False, False, True, False],  # face only
    ]
    assert train[0]["audio_features"] == [pytest.approx([0.1, 0.2, 0.3])]  # 1-D = one frame
    assert train[0]["face_features"] == []  # absent
    assert np.asarray(train[1]["face_features"]).shape == (2, 2)  # (T, D) kept
    assert train[2]["audio_features"] == []
    assert np.asarray(dataset["validation"][0]["face_features"]).shape == (3, 2)
    assert dataset["train"].features["audio_features"].feature.feature.dtype == "float32"
    assert "text_features" not in dataset["train"].column_names and "body_features" not in dataset["train"].column_names
    meta = read_metadata(dataset)
    assert {m: info["dim"] for m, info in meta["features"].items()} == {"audio": 3, "face": 2}
    assert meta["features"]["face"]["rows"] == {"train": 2, "validation": 1, "test": 0}
    get_protocol("features").check_leakage(dataset)


def read_metadata(dataset) -> dict:
    from dataset_scripts import dataset_metadata

    return dataset_metadata(dataset)


# ------------------------------------------------------------------------------------------------ sources


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_list_columns_build_the_same_dataset(tmp_path, fmt):
    path = write_table(tmp_path, table_rows(), fmt)
    assert_expected(build_feature_table(path))  # `audio` / `face` columns are found by default


def test_mapped_columns_and_2d_list_columns_in_parquet(tmp_path):
    rows = [{**{k: v for k, v in r.items() if k not in ("audio", "face")}, "mfcc": r["audio"], "au": r["face"]}
            for r in table_rows()]
    path = write_table(tmp_path, rows)
    assert_expected(build_feature_table(path, feature_columns={"audio": "mfcc", "face": "au"}))


@pytest.mark.parametrize("fmt", ["npy", "npz"])
def test_csv_with_array_folders(tmp_path, fmt):
    rows = table_rows()
    dirs = write_arrays(tmp_path, rows, fmt)
    path = write_table(tmp_path, [{k: v for k, v in r.items() if k not in ("audio", "face")} for r in rows], "csv")
    dataset = build_feature_table(path, array_dirs=dirs, allow_missing_arrays=True)
    assert_expected(dataset)


def test_npz_with_several_arrays_needs_one_named_after_the_modality(tmp_path):
    rows = table_rows()[:1]
    path = write_table(tmp_path, [{k: v for k, v in r.items() if k not in ("audio", "face")} for r in rows], "csv")
    (tmp_path / "audio").mkdir()
    np.savez(tmp_path / "audio" / "d1_2.npz", audio=np.ones(4), other=np.zeros(2))
    dataset = build_feature_table(path, array_dirs={"audio": tmp_path / "audio"})
    assert dataset["train"][0]["audio_features"] == [[1.0] * 4]
    np.savez(tmp_path / "audio" / "d1_2.npz", first=np.ones(4), other=np.zeros(2))
    with pytest.raises(ValueError, match=r"row 1 \(dialogue 'd1', utterance '2'\), audio array: .*holds arrays"):
        build_feature_table(path, array_dirs={"audio": tmp_path / "audio"})


def test_table_without_utterance_column_and_custom_names(tmp_path):
    rows = [
        {"clip": "c1", "actor": 1, "emotion": "calm", "part": "train", "vec": [1.0, 2.0]},
        {"clip": "c2", "actor": 2, "emotion": "sad", "part": "val", "vec": [3.0, 4.0]},
        {"clip": "c3", "actor": 3, "emotion": "calm", "part": "test", "vec": [5.0, 6.0]},
    ]
    path = write_table(tmp_path, rows)
    columns = TableColumns(dialogue="clip", speaker="actor", label="emotion", split="part")
    dataset = build_feature_table(path, columns=columns, feature_columns={"body": "vec"}, labels=["sad", "calm"])
    assert dataset["train"].features["label"].names == ["sad", "calm"]  # the given order
    assert dataset["test"][0] == dataset["test"][0] | {"dialogue_id": "c3", "utterance_id": 0, "speaker": "3"}
    assert dataset["test"][0]["source_id"] == "c3/0"
    assert dataset["validation"][0]["modality_mask"] == [False, False, False, True]


def test_text_feature_column_keeps_the_transcript(tmp_path):
    rows = [{**r, "text_features": [0.5, 0.5]} for r in table_rows()]
    dataset = build_feature_table(write_table(tmp_path, rows, "jsonl"))
    first = dataset["train"][0]
    assert first["text"] == "hi" and first["text_features"] == [[0.5, 0.5]]
    assert first["modality_mask"] == [True, True, False, False]


# -------------------------------------------------------------------------------------- splits and labels


def test_split_rule_by_column_with_integer_ranges(tmp_path):
    rows = [
        {"dialogue_id": f"clip{i}", "speaker": f"{i % 6 + 1:02d}", "label": "ab"[i % 2], "audio": [float(i), 1.0]}
        for i in range(24)
    ]
    path = write_table(tmp_path, rows, "csv")  # CSV cells are text: speaker "01" matches rule value 1
    rule = ColumnSplit.parse("speaker", train="1-4", validation="5", test=[6])
    dataset = build_feature_table(path, split=rule)
    assert [dataset[s].num_rows for s in ("train", "validation", "test")] == [16, 4, 4]
    assert set(dataset["validation"]["speaker"]) == {"05"} and set(dataset["test"]["speaker"]) == {"06"}
    meta = read_metadata(dataset)
    assert meta["protocol_id"] == "features/speaker"
    assert "by speaker: train 1-4, validation 5, test 6" in meta["protocol_description"]
    get_protocol("ravdess").check_leakage(dataset)  # speakers and dialogues stay apart


def test_split_rule_may_leave_validation_empty(tmp_path):
    rows = [{"dialogue_id": f"c{i}", "actor": i, "label": "ab"[i % 2], "face": [float(i), 2.0]} for i in range(1, 7)]
    path = write_table(tmp_path, rows)
    rule = ColumnSplit.parse("actor", "1-4", test="5-6")
    builder = FeatureTableBuilder(path, columns=TableColumns(speaker="actor"), split=rule)
    dataset = builder.build()  # whether an empty split may be saved is `save_prepared`'s decision
    assert [dataset[s].num_rows for s in ("train", "validation", "test")] == [4, 0, 2]
    assert dataset["validation"].features == dataset["train"].features
    assert "split(s) ['validation'] hold no utterance" in builder.summary.notes


def test_parse_values_and_overlapping_rules():
    assert parse_values("1-3, 7,x") == {"1", "2", "3", "7", "x"}
    assert parse_values([5, "06"]) == {"5", "6"}
    with pytest.raises(ValueError, match=r"value\(s\) \['3'\] are in both train and test"):
        ColumnSplit.parse("actor", train="1-3", test="3-4")
    with pytest.raises(ValueError, match="empty range"):
        parse_values("4-1")


def test_labels_follow_the_train_split_and_validation_may_not_add_one(tmp_path):
    rows = table_rows()
    rows[4]["label"] = "angry"  # the test row
    path = write_table(tmp_path, rows)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: row 5 \(dialogue 'd4', utterance '0'\), "
                                         r"column 'label': label 'angry' is not in the train split's labels"):
        build_feature_table(path)
    dataset = build_feature_table(path, labels=["sad", "happy", "angry"])
    assert dataset["test"][0]["label"] == 2


def test_empty_label_is_skipped_and_counted(tmp_path):
    rows = table_rows()
    rows[2]["label"] = ""
    builder = FeatureTableBuilder(write_table(tmp_path, rows))
    dataset = builder.build()
    assert dataset["train"].num_rows == 2 and builder.summary.skipped["unlabeled (empty label)"] == 1


def test_registered_protocol_fixes_labels_and_split(tmp_path):
    rows = [{"dialogue_id": f"c{a}", "actor": a, "label": "calm", "audio": [1.0]} for a in range(1, 25)]
    path = write_table(tmp_path, rows)
    columns = TableColumns(speaker="actor")
    with pytest.raises(ValueError, match=r"protocol ravdess/actor splits by actor: train 1-16"):
        build_feature_table(path, columns=columns, corpus="ravdess", split=ColumnSplit.parse("actor", train="1-20"))
    with pytest.raises(ValueError, match="protocol ravdess/actor fixes the labels"):
        build_feature_table(path, columns=columns, corpus="ravdess", split=ColumnSplit.parse("actor", train="1-16"),
                            labels=["calm"])


# ---------------------------------------------------------------------------------------------- bad input


def _bad_rows(case: str) -> tuple[list[dict], str, str]:
    """(rows, row number named in the error, pattern of the rest of the message)."""
    rows = table_rows()
    if case == "dims":
        rows[3]["audio"] = [1.0, 2.0]
        return rows, "4", r"column 'audio': audio has dim 2 here but dim 3 at .*row 1"
    if case == "nan":
        rows[2]["face"] = [[1.0, float("nan")]]
        return rows, "3", r"column 'face': non-finite value nan \(as float32\) at frame 0, dim 1"
    if case == "inf":
        rows[1]["audio"] = [1.0, 1e39, 0.0]  # finite in the table, inf as float32
        return rows, "2", r"column 'audio': non-finite value 1e\+39 \(as float32\) at frame 0, dim 1"
    if case == "ragged":
        rows[0]["face"] = [[1.0, 2.0], [3.0]]
        return rows, "1", r"column 'face': not a numeric array"
    if case == "duplicate":
        rows[1]["utterance_id"] = 2
        return rows, "2", r"column 'utterance_id': duplicate \(dialogue, utterance\), already given at row 1"
    if case == "featureless":
        rows[2]["face"] = None
        return rows, "3", r"no features in any modality \(audio: column 'audio', face: column 'face'\)"
    if case == "dialogue_in_two_splits":
        rows[2]["dialogue_id"] = "d3"
        rows[2]["split"] = "test"
        return rows, "4", r"column 'split': dialogue 'd3' is in validation here but in test at row 3"
    if case == "bad_split":
        rows[4]["split"] = "holdout"
        return rows, "5", r"column 'split': split 'holdout' is not train, validation"
    raise AssertionError(case)


BAD_CASES = ["dims", "nan", "inf", "ragged", "duplicate", "featureless", "dialogue_in_two_splits", "bad_split"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_names_table_row_and_column(tmp_path, case):
    rows, row, pattern = _bad_rows(case)
    path = write_table(tmp_path, rows, "jsonl")
    where = rf"^{re.escape(str(path))}: row {row} \(dialogue '\w+', utterance '\d'\)"
    with pytest.raises(ValueError, match=rf"{where}.*{pattern}"):
        build_feature_table(path)


@pytest.mark.parametrize("case", ["nan", "duplicate", "featureless"])
def test_cli_error_leaves_output_untouched(tmp_path, capsys, case):
    rows, row, pattern = _bad_rows(case)
    path = write_table(tmp_path, rows)
    output = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        prepare_main(["features", "--table", str(path), "--output", str(output)])
    assert exit_info.value.code == 2
    assert re.search(rf"emoje-prepare features: error: .*row {row} .*{pattern}", capsys.readouterr().err)
    assert not output.exists()
    # a previous good build at --output survives a failed rebuild unchanged
    prepare_main(["features", "--table", str(write_table(tmp_path, table_rows(), "jsonl")), "--output", str(output)])
    before = {p: p.read_bytes() for p in output.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit):
        prepare_main(["features", "--table", str(path), "--output", str(output)])
    assert {p: p.read_bytes() for p in output.rglob("*") if p.is_file()} == before


def test_missing_array_file_is_an_error_unless_allowed(tmp_path):
    rows = table_rows()
    dirs = write_arrays(tmp_path, rows)
    path = write_table(tmp_path, [{k: v for k, v in r.items() if k not in ("audio", "face")} for r in rows], "csv")
    expected = re.escape(str(dirs["face"] / "d1_0.npy"))
    where = r"row 2 \(dialogue 'd1', utterance '0'\)"
    with pytest.raises(ValueError, match=rf"{where}, face array: missing file {expected}"):
        build_feature_table(path, array_dirs=dirs)
    builder = FeatureTableBuilder(path, array_dirs=dirs, allow_missing_arrays=True)
    builder.build()
    assert len(builder.summary.missing_media) == 3  # d2_5 audio, d1_0 and d4_0 face


def test_bad_array_file_names_the_file(tmp_path):
    rows = table_rows()[:1]
    path = write_table(tmp_path, [{k: v for k, v in r.items() if k not in ("audio", "face")} for r in rows], "csv")
    (tmp_path / "face").mkdir()
    np.save(tmp_path / "face" / "d1_2.npy", np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"row 1 .*face array .*d1_2.npy: expected a 1-D \(D,\) or 2-D"):
        build_feature_table(path, array_dirs={"face": tmp_path / "face"})


def test_drop_featureless_skips_and_counts(tmp_path):
    rows, _, _ = _bad_rows("featureless")
    builder = FeatureTableBuilder(write_table(tmp_path, rows), drop_featureless=True)
    dataset = builder.build()
    assert dataset["train"]["dialogue_id"] == ["d1", "d1"]
    assert builder.summary.skipped["no features in any modality"] == 1


def test_configuration_errors(tmp_path):
    path = write_table(tmp_path, table_rows())
    with pytest.raises(ValueError, match=r"no column 'mfcc' for audio features"):
        build_feature_table(path, feature_columns={"audio": "mfcc"})
    with pytest.raises(ValueError, match=r"no column 'actor' \(split-by column\)"):
        build_feature_table(path, split=ColumnSplit.parse("actor", train="1"))
    with pytest.raises(ValueError, match="unknown modality 'video'"):
        build_feature_table(path, feature_columns={"video": "audio"})
    with pytest.raises(ValueError, match="both as a column and as an array folder"):
        build_feature_table(path, feature_columns={"audio": "audio"}, array_dirs={"audio": tmp_path})
    with pytest.raises(ValueError, match="file_pattern"):
        build_feature_table(path, array_dirs={"audio": tmp_path}, file_pattern="{clip}")
    rows = [{k: v for k, v in r.items() if k not in ("audio", "face")} for r in table_rows()]
    with pytest.raises(ValueError, match="no feature column or array folder"):
        build_feature_table(write_table(tmp_path, rows, "csv"))
    with pytest.raises(ValueError, match=r"row 4 .*column 'split': value 'dev' is in no split of the rule"):
        build_feature_table(path, split=ColumnSplit.parse("split", train="train"))


def test_readme_short_form_needs_a_split_column_and_says_how_to_give_one(tmp_path, capsys):
    """`emoje-prepare features --table T --column audio=audio_mfcc --output OUT` (the README's line): it reads the
    `split` column; without one, the error names the table, its columns and both ways to give the split."""
    rows = [
        {k: v for k, v in r.items() if k not in ("audio", "face")} | {"audio_mfcc": r["audio"] or [0.5, 0.5, 0.5]}
        for r in table_rows()
    ]
    output = tmp_path / "mine"
    short_form = ["features", "--column", "audio=audio_mfcc", "--output", str(output)]
    without = write_table(tmp_path, [{k: v for k, v in r.items() if k != "split"} for r in rows])
    with pytest.raises(SystemExit) as exit_info:
        prepare_main([*short_form, "--table", str(without)])
    assert exit_info.value.code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert message.startswith(f"emoje-prepare features: error: {without} has no column 'split', so its rows have no "
                              "train/validation/test split (its columns: 'dialogue_id', 'utterance_id', 'speaker', "
                              "'label', 'text', 'audio_mfcc').")
    assert "add a 'split' column saying train, validation (dev, val) or test for each row" in message
    assert "--split-by COLUMN --train VALUES --validation VALUES --test VALUES" in message
    assert not output.exists()
    # the same line on a table with a split column builds, as printed
    assert prepare_main([*short_form, "--table", str(write_table(tmp_path, rows, "jsonl"))]) == 0
    assert "audio_features: dim 3 (train 3, validation 1, test 1 rows with features)" in capsys.readouterr().out
    # and the table without one builds with a split rule instead
    by_dialogue = ["--split-by", "dialogue_id", "--train", "d1,d2", "--validation", "d3", "--test", "d4"]
    assert prepare_main([*short_form, "--table", str(without), *by_dialogue]) == 0
    assert load_prepared(output)["test"]["dialogue_id"] == ["d4"]


# --------------------------------------------------------------------------------------- command and model


def test_cli_builds_saves_and_feeds_the_collator(tmp_path, capsys):
    from training.train.collator import DialogueCollator, DialogueDataset

    groups = {"d1": "g1", "d2": "g1", "d3": "g2", "d4": "g3"}
    path = write_table(tmp_path, [{**r, "group": groups[r["dialogue_id"]]} for r in table_rows()])
    output = tmp_path / "prepared"
    code = prepare_main([
        "features", "--table", str(path), "--output", str(output), "--column", "face=face", "--labels", "sad,happy",
        "--split-by", "group", "--train", "g1", "--validation", "g2", "--test", "g3", "--corpus", "mine",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "mine / group: labels sad, happy" in printed
    assert "audio_features: dim 3 (train 2, validation 1, test 1 rows with features)" in printed
    dataset = load_prepared(output)
    assert read_prepared_metadata(output)["protocol_id"] == "mine/group"
    assert dataset["train"].features["label"].names == ["sad", "happy"]
    batch = DialogueCollator()([DialogueDataset(dataset["train"])[i] for i in range(2)])
    assert batch["audio_features"].shape[-1] == 3 and batch["face_features"].shape[-1] == 2
    assert batch["modality_mask"].shape[-1] == 4


# ------------------------------------------------------------------------------------------ RAVDESS (real)


def test_ravdess_actor_protocol(ravdess_dir, tmp_path):
    dataset = build_ravdess(ravdess_dir)
    assert {split: dataset[split].num_rows for split in dataset} == {"train": 960, "validation": 240, "test": 240}
    assert dataset["train"].features["label"].names == list(get_protocol("ravdess", "actor").label_names)
    actors = {split: set(dataset[split]["speaker"]) for split in dataset}
    assert actors["train"] == {str(a) for a in range(1, 17)} and actors["test"] == {"21", "22", "23", "24"}
    assert not (actors["train"] & actors["validation"] or actors["train"] & actors["test"]
                or actors["validation"] & actors["test"])
    first = dataset["test"][0]
    assert np.asarray(first["audio_features"]).shape == (1, 259) and np.asarray(first["face_features"]).shape == (1, 35)
    assert first["modality_mask"] == [False, True, True, False]
    table = pd.read_parquet(ravdess_dir / "ravdess_features.parquet").set_index("clip")
    np.testing.assert_array_equal(first["audio_features"][0], table.loc[first["dialogue_id"], "audio_mfcc"])
    assert read_metadata(dataset)["protocol_id"] == "ravdess/actor"
    get_protocol("ravdess", "actor").check_leakage(dataset)
    prepare_ravdess(ravdess_dir / "ravdess_features.parquet", tmp_path / "ravdess")
    assert read_prepared_metadata(tmp_path / "ravdess")["features"]["face"]["dim"] == 35


# ------------------------------------------------------------------ issue 27: inputs never escape, sizes checked first


def _simple_table(folder: Path) -> Path:
    rows = [
        {"dialogue_id": d, "utterance_id": u, "speaker": "A", "label": label, "split": split}
        for d, u, label, split in (("d1", 0, "happy", "train"), ("d1", 1, "sad", "train"), ("d2", 0, "sad", "test"))
    ]
    (folder / "audio").mkdir()
    for row in rows:
        np.save(folder / "audio" / f"{row['dialogue_id']}_{row['utterance_id']}.npy", np.ones((2, 3), np.float32))
    pd.DataFrame(rows).to_csv(folder / "t.csv", index=False)
    return folder / "t.csv"


def _prepare_error(folder: Path, capsys, *extra: str) -> str:
    argv = ["features", "--table", str(folder / "t.csv"), "--arrays-dir", f"audio={folder / 'audio'}",
            "--output", str(folder / "out"), *extra]
    with pytest.raises(SystemExit) as exit_info:
        prepare_main(argv)
    assert exit_info.value.code == 2 and not (folder / "out").exists()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return next(line for line in err.splitlines() if "error:" in line)


@pytest.mark.parametrize("outside", ["../outside/secret", "ABSOLUTE"])
def test_dialogue_ids_cannot_read_arrays_outside_the_folder(tmp_path, capsys, outside):
    _simple_table(tmp_path)
    (tmp_path / "outside").mkdir()
    np.save(tmp_path / "outside" / "secret_0.npy", np.full((2, 3), 7, np.float32))
    frame = pd.read_csv(tmp_path / "t.csv", dtype=str)
    frame.loc[0, "dialogue_id"] = str(tmp_path / "outside" / "secret") if outside == "ABSOLUTE" else outside
    frame.to_csv(tmp_path / "t.csv", index=False)
    assert "leads outside --arrays-dir audio=" in _prepare_error(tmp_path, capsys)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("d1_0", "must contain both {dialogue} and {utterance}"), ("{dialogue.x}_{utterance}", "may only use the fields"),
     ("{dialogue:>999999999999}_{utterance}", "wider than 255")],
    ids=["no-fields", "attribute", "width"],
)
def test_file_patterns_must_name_one_file_per_utterance(tmp_path, capsys, pattern, message):
    _simple_table(tmp_path)
    assert message in _prepare_error(tmp_path, capsys, "--file-pattern", pattern)


def _write_bad(kind: str, folder: Path) -> None:
    target = folder / "audio" / "d1_0.npy"
    target.unlink()
    if kind == "datetime":
        np.save(target, np.array([["2020-01-01", "2020-01-02"]], dtype="datetime64[ns]"))
    elif kind == "huge":
        with open(target, "wb") as stream:
            np.lib.format.write_array_header_1_0(stream, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)})
            stream.write(b"\0" * 64)
    elif kind == "empty":
        target.write_bytes(b"")
    elif kind == "truncated":
        np.save(target, np.ones((50, 3)))
        target.write_bytes(target.read_bytes()[:200])
    elif kind == "bomb":  # zeros that compress to nothing (the limit is lowered for the test)
        np.savez_compressed(folder / "audio" / "d1_0.npz", features=np.zeros((4096, 8), np.float64))
    elif kind == "torn-zip":
        np.savez(folder / "audio" / "d1_0.npz", features=np.ones((50, 3)))
        data = (folder / "audio" / "d1_0.npz").read_bytes()
        (folder / "audio" / "d1_0.npz").write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("kind", "message"),
    [("datetime", "dtype datetime64[ns] is not numeric"), ("huge", "(1000000, 1000000) of float64 (7,450.6 GiB); one "
     "utterance's array may take at most 1.0 GiB"), ("empty", "the file is empty (0 bytes)"),
     ("truncated", "truncated"), ("bomb", "declares 256.1 KiB; one utterance's array may take at most 4.0 KiB"),
     ("torn-zip", "a damaged or truncated .npz archive")],
)
def test_array_files_are_checked_from_their_header_before_reading(tmp_path, capsys, monkeypatch, kind, message):
    if kind == "bomb":
        monkeypatch.setattr("dataset_scripts.feature_table_reading.MAX_ARRAY_BYTES", 4096)
    _simple_table(tmp_path)
    _write_bad(kind, tmp_path)
    line = _prepare_error(tmp_path, capsys)
    assert message in line and "d1_0.np" in line and "row 1" in line


def test_split_ranges_are_bounded(tmp_path, capsys):
    _simple_table(tmp_path)
    line = _prepare_error(tmp_path, capsys, "--split-by", "utterance_id", "--train", "1-10000000000")
    assert "range '1-10000000000' holds 10000000000 values; a split rule lists at most 1,000,000" in line
