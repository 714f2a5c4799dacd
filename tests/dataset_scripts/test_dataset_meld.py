"""MELD builder: the real official CSVs (counts must match the paper's) and a synthetic tree with clips."""

from __future__ import annotations

from collections import Counter

import pytest

from dataset_scripts import MeldBuilder, assert_no_leakage, build_summary, fix_mojibake, get_protocol
from dataset_scripts.protocols import LeakageError
from tests.dataset_fixtures import MELD_DIALOGUES, make_meld_tree, meld_csv_text

README_TEST_COUNTS = {
    "neutral": 1256,
    "joy": 402,
    "anger": 345,
    "surprise": 281,
    "sadness": 208,
    "disgust": 68,
    "fear": 50,
}


@pytest.fixture(scope="module")
def real_meld(meld_dir):
    builder = MeldBuilder(meld_dir)
    return builder.build(), builder.summary


def test_real_meld_counts_match_the_official_release(real_meld):
    dataset, summary = real_meld
    expected = {"train": (9989, 1038), "validation": (1109, 114), "test": (2610, 280)}
    for split, (rows, dialogues) in expected.items():
        assert dataset[split].num_rows == rows
        assert len(dataset[split].unique("dialogue_id")) == dialogues
        assert (summary.rows[split], summary.dialogues[split]) == (rows, dialogues)
    names = dataset["test"].features["label"].names
    assert names == ["neutral", "surprise", "fear", "sadness", "joy", "disgust", "anger"]
    counts = Counter(names[i] for i in dataset["test"]["label"])
    assert dict(counts) == README_TEST_COUNTS
    assert not summary.skipped


def test_real_meld_is_text_only_in_dialogue_order_without_leakage(real_meld):
    dataset, summary = real_meld
    train = dataset["train"]
    assert all(mask == [True, False, False, False] for mask in train["modality_mask"][:200])
    assert set(train.unique("audio_path")) == {""}
    assert len(summary.notes) == 3 and all("text-only" in note for note in summary.notes)
    # rows grouped by dialogue, positions 0..n-1 even where MELD's Utterance_ID has gaps (train dia1 lacks utt 6, 7)
    rows = train.select_columns(["dialogue_id", "utterance_id", "source_id"]).to_list()
    dialogue_1 = [r for r in rows if r["dialogue_id"] == "train_dia1"]
    assert [r["utterance_id"] for r in dialogue_1] == list(range(len(dialogue_1)))
    assert dialogue_1[-1]["source_id"] == "train/dia1_utt8"
    seen, previous = set(), None
    for row in rows:
        if row["dialogue_id"] != previous:
            assert row["dialogue_id"] not in seen, "a dialogue's rows must be contiguous"
            seen.add(row["dialogue_id"])
            previous = row["dialogue_id"]
    assert train[0]["text"].startswith("also I was the point person on my company’s transition")
    get_protocol("meld").check_leakage(dataset)
    with pytest.raises(LeakageError):  # MELD's speakers recur across splits: the check is not vacuous
        assert_no_leakage(dataset, "speaker")


def test_real_meld_sentiment_protocol(meld_dir):
    dataset = MeldBuilder(meld_dir, protocol="sentiment").build()
    assert dataset["test"].features["label"].names == ["neutral", "positive", "negative"]
    assert Counter(dataset["test"]["label"]) == Counter({0: 1256, 2: 833, 1: 521})


@pytest.fixture(scope="module")
def meld_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("meld")
    return root, make_meld_tree(root)


def test_synthetic_meld_with_clips(meld_tree):
    root, expected = meld_tree
    builder = MeldBuilder(root)
    dataset = builder.build()
    for split in ("train", "validation", "test"):
        assert dataset[split].num_rows == expected["rows"][split]
        assert len(dataset[split].unique("dialogue_id")) == expected["dialogues"][split]
    rows = {row["source_id"]: row for split in dataset for row in dataset[split]}
    assert (
        rows["train/dia0_utt0"]["text"]
        == "also I was the point person on my company’s transition, from the KL-5 to GR-6 system."
    )
    assert rows["train/dia1_utt1"]["text"] == 'Oh, "great", just great…'
    assert rows["train/dia0_utt1"]["audio_path"] == str(root / "train_splits" / "dia0_utt1.mp4")
    assert rows["train/dia0_utt1"]["modality_mask"] == [True, True, True, True]
    # missing clip: no path, absent, listed; the utterance is kept
    assert rows["dev/dia110_utt7"]["audio_path"] == rows["dev/dia110_utt7"]["video_path"] == ""
    assert rows["dev/dia110_utt7"]["modality_mask"] == [True, False, False, False]
    assert builder.summary.missing_media == ["dev_splits_complete/dia110_utt7.mp4"]
    # corrupt clip: kept with its path (extraction finds it undecodable); empty clip: absent at build time
    assert rows["train/dia125_utt3"]["video_path"].endswith("dia125_utt3.mp4")
    assert rows["train/dia125_utt3"]["modality_mask"] == [True, True, True, True]
    assert rows["test/dia1_utt0"]["modality_mask"] == [True, False, False, False]
    assert rows["test/dia1_utt1"]["modality_mask"] == [False, True, True, True]  # empty utterance text
    # the gap in dia1 (utt 2 absent) is renumbered
    assert rows["train/dia1_utt3"]["utterance_id"] == 2
    assert build_summary(dataset).missing_media == builder.summary.missing_media


def test_csv_alone_is_text_only(tmp_path):
    make_meld_tree(tmp_path, clips=False)
    dataset = MeldBuilder(tmp_path).build()
    for split in dataset:
        assert all(
            mask == [True, False, False, False] or mask == [False] * 4 for mask in dataset[split]["modality_mask"]
        )
        assert set(dataset[split].unique("video_path")) == {""}


def test_mojibake_is_repaired_and_counted(tmp_path):
    make_meld_tree(tmp_path, clips=False, mojibake=True)
    assert "â€™" in (tmp_path / "train_sent_emo.csv").read_text(encoding="utf-8")
    builder = MeldBuilder(tmp_path)
    dataset = builder.build()
    texts = dataset["train"]["text"]
    assert "You must’ve had your hands full." in texts and not any("â€" in text for text in texts)
    assert any("repaired mojibake" in note for note in builder.summary.notes)
    raw = MeldBuilder(tmp_path, fix_encoding=False).build()
    assert "You mustâ€™ve had your hands full." in raw["train"]["text"]
    assert fix_mojibake("naïve café") == "naïve café"


def test_cp1252_file_is_decoded(tmp_path):
    make_meld_tree(tmp_path, clips=False)
    path = tmp_path / "train_sent_emo.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("cp1252"))
    builder = MeldBuilder(tmp_path)
    assert "You must’ve had your hands full." in builder.build()["train"]["text"]
    assert any("cp1252" in note for note in builder.summary.notes)


def _write_bad(tmp_path, mutate):
    make_meld_tree(tmp_path, clips=False)
    lines = meld_csv_text("test").split("\r\n")
    mutate(lines)
    (tmp_path / "test_sent_emo.csv").write_text("\r\n".join(lines), encoding="utf-8", newline="")
    return tmp_path / "test_sent_emo.csv"


def test_unknown_emotion_names_file_and_line(tmp_path):
    path = _write_bad(tmp_path, lambda lines: lines.__setitem__(3, lines[3].replace(",anger,", ",happiness,")))
    with pytest.raises(ValueError, match=rf"{path}:4: unknown Emotion 'happiness'"):
        MeldBuilder(tmp_path).build()


def test_bad_row_and_header_name_file_and_line(tmp_path):
    path = _write_bad(tmp_path, lambda lines: lines.__setitem__(2, "2,No.,Joey"))
    with pytest.raises(ValueError, match=rf"{path}:3: expected 11 fields, found 3"):
        MeldBuilder(tmp_path).build()
    path = _write_bad(tmp_path, lambda lines: lines.__setitem__(0, lines[0].replace("Emotion", "Emo")))
    with pytest.raises(ValueError, match=rf"{path}:1: header lacks the MELD columns \['Emotion'\]"):
        MeldBuilder(tmp_path).build()
    path = _write_bad(tmp_path, lambda lines: lines.insert(3, lines[2]))
    with pytest.raises(ValueError, match=rf"{path}:4: dia0_utt1 already given at line 3"):
        MeldBuilder(tmp_path).build()


def test_missing_csv_is_reported(tmp_path):
    make_meld_tree(tmp_path, clips=False)
    (tmp_path / "dev_sent_emo.csv").unlink()
    with pytest.raises(FileNotFoundError, match="dev_sent_emo.csv"):
        MeldBuilder(tmp_path).build()


def test_meld_dialogue_table_is_what_the_fixture_wrote():
    # guards the fixture itself: the awkward cases the tests rely on are present
    assert 2 not in [t[0] for t in MELD_DIALOGUES["train"][1]]
    assert any("," in t[2] for d in MELD_DIALOGUES["train"].values() for t in d)


def test_real_meld_episodes_protocol_joins_an_episode_into_one_long_conversation(meld_dir, real_meld):
    """`--protocol episodes`: the same utterances and labels, one conversation per (official split, season, episode),
    ordered by where each MELD dialogue starts in the episode; the long-dialogue variant of issue 18."""
    import csv

    dataset = MeldBuilder(meld_dir, protocol="episodes").build()
    emotion, _ = real_meld
    for split in ("train", "validation", "test"):
        assert sorted(dataset[split]["source_id"]) == sorted(emotion[split]["source_id"])
    train = dataset["train"]
    sizes = Counter(train["dialogue_id"])
    assert len(sizes) == 188 and train.num_rows / len(sizes) > 50  # long conversations (one-utterance MELD dialogues: 9.6)
    assert all(name.startswith("train_s") for name in sizes)
    # Within a conversation, utterance_id counts up and the MELD dialogues follow their start times.
    with open(meld_dir / "train_sent_emo.csv", newline="", encoding="utf-8") as handle:
        starts = {}
        for row in csv.DictReader(handle):
            key = f"train/dia{row['Dialogue_ID']}_utt{row['Utterance_ID']}"
            starts[key] = row["StartTime"]
    from dataset_scripts.meld import clock_seconds

    first = train.filter(lambda row: row["dialogue_id"] == "train_s01e01")
    assert first["utterance_id"] == list(range(first.num_rows))
    dialogue_of = [source.split("_utt")[0] for source in first["source_id"]]
    dialogue_starts = {}
    for source, dialogue in zip(first["source_id"], dialogue_of):
        dialogue_starts[dialogue] = min(dialogue_starts.get(dialogue, float("inf")), clock_seconds(starts[source]))
    blocks = list(dict.fromkeys(dialogue_of))  # dialogues in the order they appear, each one contiguous
    assert len(blocks) == len(set(dialogue_of)) and [dialogue_starts[d] for d in blocks] == sorted(dialogue_starts[d] for d in blocks)
    assert_no_leakage(dataset, "dialogue")


def test_episodes_protocol_names_the_missing_columns(tmp_path):
    path = _write_bad(tmp_path, lambda lines: lines.__setitem__(0, lines[0].replace("Season", "Saison")))
    with pytest.raises(ValueError, match=rf"{path}:1: the episodes protocol needs the MELD columns \['Season'\]"):
        MeldBuilder(tmp_path, protocol="episodes").build()
