"""training.train.collator: dialogue grouping, padding to the input contract, scenarios, bad input, speed."""

from __future__ import annotations

import time

import datasets
import numpy as np
import pytest

from tests.synthetic_data import TINY_DIMS, oracle_corpus
from training.train.collator import MODALITIES, DialogueCollator, DialogueDataset
from dataset_scripts.synthetic import make_prototype_corpus as make_synthetic_corpus


@pytest.fixture(scope="module")
def split():
    return make_synthetic_corpus(num_dialogues=(6, 1, 1), modality_dims=TINY_DIMS, seed=3)["train"]


def test_modalities_order_matches_the_model_package():
    modeling_emoje = pytest.importorskip("modeling_emoje")
    assert MODALITIES == modeling_emoje.MODALITIES


def test_rows_are_grouped_into_dialogues_in_utterance_order(split):
    shuffled = split.shuffle(seed=1)
    dialogues = DialogueDataset(shuffled)
    assert len(dialogues) == 6
    assert dialogues.num_utterances == split.num_rows
    for index, dialogue_id in enumerate(dialogues.dialogue_ids):
        rows = split.filter(lambda r: r["dialogue_id"] == dialogue_id).sort("utterance_id")
        item = dialogues[index]
        assert item["labels"].tolist() == rows["label"]
        first = {}
        expected_speakers = [first.setdefault(s, len(first)) for s in rows["speaker"]]
        assert item["speaker_ids"].tolist() == expected_speakers
        for u, row in enumerate(rows):
            for m in MODALITIES:
                assert item["modality_mask"][u, MODALITIES.index(m)] == row["modality_mask"][MODALITIES.index(m)]
                np.testing.assert_array_equal(item[f"{m}_features"][u], np.asarray(row[f"{m}_features"], np.float32).reshape(-1, TINY_DIMS[m]))


def test_collator_pads_to_the_input_contract(split):
    dialogues = DialogueDataset(split)
    items = [dialogues[0], dialogues[1], dialogues[2]]
    batch = DialogueCollator()(items)
    lengths = [len(item["labels"]) for item in items]
    B, U = 3, max(lengths)
    for m, dim in TINY_DIMS.items():
        frames = max(len(f) for item in items for f in item[f"{m}_features"])
        assert batch[f"{m}_features"].shape == (B, U, frames, dim)
        assert batch[f"{m}_attention_mask"].shape == (B, U, frames)
        # attention mask counts the real frames exactly; padded values are zero
        for b, item in enumerate(items):
            for u, f in enumerate(item[f"{m}_features"]):
                assert int(batch[f"{m}_attention_mask"][b, u].sum()) == len(f)
                assert float(batch[f"{m}_features"][b, u, len(f):].abs().sum()) == 0.0
    assert batch["modality_mask"].shape == (B, U, 4) and batch["modality_mask"].dtype.is_floating_point is False
    for b, size in enumerate(lengths):
        assert batch["utterance_mask"][b].tolist() == [1] * size + [0] * (U - size)
        assert batch["labels"][b, size:].tolist() == [-100] * (U - size)
        assert not batch["modality_mask"][b, size:].any()
    assert str(batch["labels"].dtype) == "torch.int64" and str(batch["speaker_ids"].dtype) == "torch.int64"


def test_keep_modalities_drops_the_others(split):
    dialogues = DialogueDataset(split)
    batch = DialogueCollator(keep_modalities={"text", "body"})([dialogues[0], dialogues[1]])
    assert "audio_features" not in batch and "face_features" not in batch
    assert not batch["modality_mask"][..., 1].any() and not batch["modality_mask"][..., 2].any()
    with pytest.raises(ValueError, match="unknown modalities"):
        DialogueCollator(keep_modalities={"video"})


def test_modalities_argument_reads_only_those_columns(split):
    text_only = DialogueDataset(split, modalities=["text"])
    assert text_only.available_modalities == ["text"] and text_only.feature_dims == {"text": TINY_DIMS["text"]}
    assert not text_only[0]["modality_mask"][:, 1:].any()
    assert "audio_features" not in text_only[0]
    # utterances that had no text are not part of a text-only view
    has_text = np.array(split["modality_mask"])[:, 0]
    assert text_only.num_utterances == int(has_text.sum())


def test_scenario_view_skips_utterances_without_kept_modalities():
    split = oracle_corpus(num_dialogues=6)
    full = DialogueDataset(split)
    audio_only = full.with_scenario({"audio"})
    has_audio = np.array(split["modality_mask"])[:, 1]
    assert full.num_labelled == split.num_rows and full.num_skipped == 0
    assert audio_only.num_labelled == int(has_audio.sum())
    assert audio_only.num_skipped == int((~has_audio).sum())
    assert all(item["modality_mask"][:, 1].all() for item in audio_only)
    assert full.num_labelled == split.num_rows  # the view did not change the original


def test_bad_rows_are_errors_naming_the_place(split):
    broken = split.map(
        lambda row, i: {"modality_mask": [True, True, True, True] if i == 3 else row["modality_mask"],
                        "audio_features": [] if i == 3 else row["audio_features"]},
        with_indices=True,
    )
    with pytest.raises(ValueError, match=r"utterance \d+: modality_mask marks 'audio' present but audio_features is empty"):
        DialogueDataset(broken, name="train")
    duplicated = datasets.concatenate_datasets([split.select([0]), split.select([0])])
    with pytest.raises(ValueError, match="has utterance_id 0 twice"):
        DialogueDataset(duplicated)
    with pytest.raises(ValueError, match="missing required columns"):
        DialogueDataset(split.remove_columns("speaker"))


def test_meld_sized_epoch_is_cheap():
    """9,989 utterances in 1,038 dialogues with 384-d text: grouping + one epoch of batches in a few seconds."""
    rng = np.random.default_rng(0)
    sizes = 1 + rng.multinomial(9989 - 1038, np.full(1038, 1 / 1038))
    dialogue_ids = np.repeat([f"d{i}" for i in range(1038)], sizes)
    utterance_ids = np.concatenate([np.arange(s) for s in sizes])
    n = len(dialogue_ids)
    features = datasets.Features(
        {
            "dialogue_id": datasets.Value("string"), "utterance_id": datasets.Value("int32"),
            "speaker": datasets.Value("string"), "label": datasets.ClassLabel(num_classes=7),
            "text_features": datasets.List(datasets.List(datasets.Value("float32"))),
        }
    )
    import pyarrow as pa

    values = pa.array(rng.standard_normal(n * 384).astype(np.float32))
    frames = pa.FixedSizeListArray.from_arrays(values, 384).cast(pa.list_(pa.float32()))
    column = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32)), frames)
    table = pa.table(
        {"dialogue_id": dialogue_ids, "utterance_id": utterance_ids.astype(np.int32), "speaker": np.array(["a", "b"])[utterance_ids % 2],
         "label": rng.integers(0, 7, n), "text_features": column}
    )
    split = datasets.Dataset(table.cast(features.arrow_schema))
    started = time.perf_counter()
    dialogues = DialogueDataset(split)
    collate = DialogueCollator()
    total = 0
    for begin in range(0, len(dialogues), 16):
        batch = collate([dialogues[i] for i in range(begin, min(begin + 16, len(dialogues)))])
        total += int(batch["utterance_mask"].sum())
    elapsed = time.perf_counter() - started
    assert total == 9989 and len(dialogues) == 1038
    assert elapsed < 10.0, f"grouping + one epoch of collation took {elapsed:.1f} s"


def test_windows_score_every_utterance_once_and_show_unscored_context(split):
    """`DialogueDataset.windows`: long dialogues cut into windows of `length` scored utterances, each with up to
    `context` earlier utterances that carry -100; nothing scored twice, nothing lost."""
    dialogues = DialogueDataset(split)
    view = dialogues.windows(3, context=2)
    assert len(view) > len(dialogues) and view.num_labelled == dialogues.num_labelled
    scored, shown = [], []
    for index in range(len(view)):
        item, rows = view[index], view._rows[index]
        keep = item["labels"] != -100
        assert keep.sum() <= 3 and len(rows) <= 5 and not keep[: view._scored_from[index]].any()
        assert len(item["speaker_ids"]) == len(rows) and item["speaker_ids"][0] == 0  # renumbered per window
        scored.extend(rows[keep].tolist())
        shown.extend(rows.tolist())
    labelled = [r for rows in dialogues._rows for r in rows if dialogues.labels[r] != -100]
    assert sorted(scored) == sorted(labelled)  # each labelled utterance scored exactly once
    assert set(shown) == set(r for rows in dialogues._rows for r in rows)
    # A window never mixes dialogues, and context comes from just before the window.
    for index in range(len(view)):
        rows = view._rows[index]
        owner = [d for d, dialogue_rows in enumerate(dialogues._rows) if rows[0] in dialogue_rows][0]
        position = list(dialogues._rows[owner]).index(rows[0])
        assert list(dialogues._rows[owner][position : position + len(rows)]) == list(rows)
    # Windows longer than every dialogue change nothing; statistics for normalisation count each frame once.
    assert len(dialogues.windows(10_000)) == len(dialogues)
    for modality in dialogues.features:
        assert np.array_equal(np.sort(view.modality_frames(modality), 0), np.sort(dialogues.modality_frames(modality), 0))
    with pytest.raises(ValueError, match="length >= 1"):
        dialogues.windows(0)


def test_emoje_train_trains_on_windows_and_evaluates_whole_dialogues(tmp_path):
    from tests.synthetic_data import train_args, write_corpus
    from training.train.run import run

    data = write_corpus(tmp_path / "data", num_dialogues=(6, 2, 3))
    whole = run(train_args(data, tmp_path / "whole", max_steps=2))
    windowed = run(train_args(data, tmp_path / "windows", "--train_window", "2", "--train_window_context", "1", max_steps=2))
    # Same test items (whole dialogues) scored; the card counts the training windows beside the dialogues.
    full = "text+audio+face+body"
    assert windowed["evaluation"]["scenarios"][full]["n"] == whole["evaluation"]["scenarios"][full]["n"]
    card = (tmp_path / "windows" / "model" / "README.md").read_text()
    assert "training windows" in card and "training windows" not in (tmp_path / "whole" / "model" / "README.md").read_text()
