"""dataset_scripts.synthetic: one generator, two presets (prototype, controlled); schema, seeds, missingness, signal."""

from __future__ import annotations

from dataclasses import asdict, fields

import numpy as np
import pytest

import dataset_scripts.synthetic as synthetic
from dataset_scripts.schema import MODALITIES, dataset_metadata, read_prepared_metadata, save_prepared
from dataset_scripts.synthetic import (
    ControlledSettings,
    PrototypeSettings,
    build_synthetic,
    frames_to_arrow,
    make_controlled_corpus,
    make_prototype_corpus,
)

TINY_DIMS = {"text": 8, "audio": 4, "face": 6, "body": 5}
SPLIT_NAMES = ("train", "validation", "test")
PRESETS = {"prototype": PrototypeSettings, "controlled": ControlledSettings}


def tables_equal(first, second) -> bool:
    return all(first[split].data.table.equals(second[split].data.table) for split in SPLIT_NAMES)


def pooled(corpus, split, modalities=MODALITIES):
    """Per-utterance mean of each modality's frames (complete corpora only) and the labels."""
    rows = corpus[split]
    return {m: np.stack([np.mean(f, 0) for f in rows[f"{m}_features"]]) for m in modalities}, np.asarray(rows["label"])


def nearest_mean_accuracy(train, y_train, test, y_test, num_labels):
    means = np.stack([train[y_train == label].mean(0) for label in range(num_labels)])
    predictions = np.argmin(((test[:, None] - means[None]) ** 2).sum(-1), 1)
    return float(np.mean(predictions == y_test))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_a_seed_fixes_the_corpus_and_another_seed_changes_it(preset):
    reordered = dict(reversed(TINY_DIMS.items()))
    first = build_synthetic(preset, num_dialogues=(3, 1, 2), dims=TINY_DIMS, missing_rate=0.3, seed=5)
    again = build_synthetic(preset, num_dialogues=(3, 1, 2), dims=reordered, missing_rate=0.3, seed=5)
    other = build_synthetic(preset, num_dialogues=(3, 1, 2), dims=TINY_DIMS, missing_rate=0.3, seed=6)
    assert tables_equal(first, again)  # the order of the dims keys does not matter either
    assert not tables_equal(first, other)
    assert dataset_metadata(first) == dataset_metadata(again)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_both_presets_produce_the_prepared_data_schema(preset):
    settings = PRESETS[preset](utterances_per_dialogue=(3, 5))
    dims = {"text": 8, "face": 6, "body": 5}  # audio not generated
    corpus = build_synthetic(
        settings, num_dialogues=(4, 2, 3), dims=dims, missing_rate=0.3, test_missing_rate=0.3, seed=2,
    )
    assert sorted(corpus) == sorted(SPLIT_NAMES)
    for split in SPLIT_NAMES:
        rows = corpus[split]
        assert rows.features["label"].names == list(settings.labels)
        assert "audio_features" not in rows.column_names and {f"{m}_features" for m in dims} <= set(rows.column_names)
        assert len(set(rows["dialogue_id"])) == {"train": 4, "validation": 2, "test": 3}[split]
        for row in rows:
            mask = row["modality_mask"]
            assert len(mask) == 4 and mask[MODALITIES.index("audio")] is False and any(mask), row["source_id"]
            for m, dim in dims.items():
                frames = row[f"{m}_features"]
                assert mask[MODALITIES.index(m)] == bool(frames), (split, row["source_id"], m)
                low, high = settings.frame_range[m]
                assert not frames or low <= len(frames) <= high, (m, len(frames))
                assert all(len(frame) == dim for frame in frames)
            assert 0 <= row["label"] < len(settings.labels)
        # Rows are grouped by dialogue, in utterance order, with 3-5 turns and 2-3 speakers per dialogue.
        for dialogue_id in dict.fromkeys(rows["dialogue_id"]):
            turns = [i for i, d in enumerate(rows["dialogue_id"]) if d == dialogue_id]
            assert turns == list(range(turns[0], turns[0] + len(turns)))
            assert [rows[i]["utterance_id"] for i in turns] == list(range(len(turns))) and 3 <= len(turns) <= 5
            assert 1 <= len({rows[i]["speaker"] for i in turns}) <= 3


def test_frame_counts_cover_each_presets_frame_range():
    for preset, settings in PRESETS.items():
        corpus = build_synthetic(preset, num_dialogues=(12, 1, 1), dims=TINY_DIMS, missing_rate=0.0, seed=0)
        for m in MODALITIES:
            counts = {len(f) for f in corpus["train"][f"{m}_features"]}
            low, high = settings.frame_range[m]
            assert counts == set(range(low, high + 1)), (preset, m, sorted(counts))


@pytest.mark.parametrize(("preset", "expected"), [("prototype", {"text": 0.15}), ("controlled", {"text": 0.3})])
def test_missing_rate_is_roughly_right_and_no_utterance_loses_every_modality(preset, expected):
    corpus = build_synthetic(preset, num_dialogues=(60, 1, 1), dims=TINY_DIMS, missing_rate=0.3, seed=1)
    masks = np.asarray(corpus["train"]["modality_mask"])
    assert len(masks) > 400 and masks.any(1).all()
    absent = 1.0 - masks.mean(0)
    for m in MODALITIES:
        assert abs(absent[MODALITIES.index(m)] - expected.get(m, 0.3)) < 0.06, (m, absent)


def test_an_utterance_whose_modalities_were_all_drawn_absent_keeps_a_random_one():
    corpus = build_synthetic("controlled", num_dialogues=(20, 1, 1), dims=TINY_DIMS, missing_rate=0.95, seed=0)
    masks = np.asarray(corpus["train"]["modality_mask"])
    assert masks.any(1).all()
    single = masks[masks.sum(1) == 1]
    assert len(single) > 0.5 * len(masks)
    assert (single.sum(0) > 0).all(), single.sum(0)  # not always the same modality


def test_test_missing_rate_zero_keeps_the_test_split_complete():
    controlled = make_controlled_corpus(num_dialogues=(6, 2, 4), dims=TINY_DIMS, missing_rate=0.4, seed=0)
    assert all(all(mask) for mask in controlled["test"]["modality_mask"])
    assert not all(all(mask) for mask in controlled["train"]["modality_mask"])
    # The prototype preset misses modalities in test too (the demo scores scenarios on natural gaps) unless told not to.
    prototype = build_synthetic("prototype", num_dialogues=(2, 1, 8), dims=TINY_DIMS, missing_rate=0.4, seed=0)
    assert not all(all(mask) for mask in prototype["test"]["modality_mask"])
    complete = build_synthetic("prototype", (2, 1, 8), TINY_DIMS, missing_rate=0.4, test_missing_rate=0.0)
    assert all(all(mask) for mask in complete["test"]["modality_mask"])
    assert dataset_metadata(complete)["test_missing_rate"] == 0.0


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: build_synthetic("prototype", num_dialogues=(2, 1)), "num_dialogues"),
        (lambda: build_synthetic("prototype", num_dialogues=(2, 0, 1)), "num_dialogues"),
        (lambda: build_synthetic("controlled", num_dialogues=0), "num_dialogues"),
        (lambda: build_synthetic("prototype", dims={"smell": 3}), "dims"),
        (lambda: build_synthetic("prototype", dims={}), "dims"),
        (lambda: build_synthetic("prototype", dims={"text": 0}), r"dims\['text'\]"),
        (lambda: make_prototype_corpus(modality_dims={"audio": 2.5}), r"modality_dims\['audio'\]"),
        (lambda: build_synthetic("prototype", missing_rate=1.0), "missing_rate"),
        (lambda: make_controlled_corpus(test_missing_rate=-0.1), "test_missing_rate"),
        (lambda: build_synthetic("prototype", seed=-1), "seed"),
        (lambda: build_synthetic("surprise-me"), "settings"),
        (lambda: make_controlled_corpus(settings=PrototypeSettings()), "settings"),
        (lambda: make_prototype_corpus(utterances_per_dialogue=(5, 2)), "utterances_per_dialogue"),
        (lambda: make_prototype_corpus(noise=-1.0), "noise"),
        (lambda: ControlledSettings(stay_probability=1.2), "stay_probability"),
        (lambda: ControlledSettings(latent_size=0), "latent_size"),
        (lambda: frames_to_arrow([np.zeros((2, 3)), np.zeros((1, 4))], 3), r"frames\[1\]"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()


def test_metadata_records_generator_preset_and_every_setting(tmp_path):
    settings = ControlledSettings(frame_noise=0.25, utterances_per_dialogue=(3, 4))
    corpus = make_controlled_corpus(num_dialogues=(2, 1, 1), dims={"audio": 4, "body": 5}, seed=7, settings=settings)
    save_prepared(corpus, tmp_path / "prepared")
    meta = read_prepared_metadata(tmp_path / "prepared")
    assert meta == dataset_metadata(corpus)
    assert (meta["corpus"], meta["protocol"], meta["generator"], meta["preset"]) == (
        "synthetic", "synthetic-robustness", "dataset_scripts.synthetic", "controlled"
    )
    assert meta["settings"] == {**asdict(settings), "utterances_per_dialogue": [3, 4]}
    assert meta["seed"] == 7 and meta["dims"] == {"audio": 4, "body": 5} and meta["num_dialogues"] == [2, 1, 1]
    assert (meta["missing_rate"], meta["test_missing_rate"]) == (0.15, 0.0)
    assert meta["design"]["body_from_face"] == synthetic.BODY_FROM_FACE and meta["design"]["class_prior"][0] == 0.30
    assert meta["summary"]["rows"] == {split: corpus[split].num_rows for split in SPLIT_NAMES}
    prototype = dataset_metadata(make_prototype_corpus(num_dialogues=(1, 1, 1), modality_dims={"text": 4}, noise=0.5))
    assert (prototype["protocol"], prototype["preset"]) == ("synthetic", "prototype")
    assert prototype["settings"]["noise"] == 0.5 and prototype["test_missing_rate"] == prototype["missing_rate"] == 0.2
    assert prototype["design"]["signal_strength"] == synthetic.SIGNAL_STRENGTH


def test_prototype_preset_is_easy_and_text_carries_more_signal_than_body():
    corpus = build_synthetic("prototype", num_dialogues=(30, 1, 20), dims=TINY_DIMS, missing_rate=0.0, seed=0)
    (train, y_train), (test, y_test) = pooled(corpus, "train"), pooled(corpus, "test")
    accuracy = {m: nearest_mean_accuracy(train[m], y_train, test[m], y_test, 4) for m in MODALITIES}
    assert min(accuracy.values()) > 0.25 + 0.1, accuracy  # every modality well above chance (4 balanced classes)
    assert accuracy["text"] > accuracy["body"] + 0.1, accuracy  # strongest vs weakest signal (SIGNAL_STRENGTH)
    everything = nearest_mean_accuracy(
        np.concatenate(list(train.values()), 1), y_train, np.concatenate(list(test.values()), 1), y_test, 4
    )
    assert everything > 0.75, everything


@pytest.mark.parametrize("seed", [0, 1])
def test_controlled_body_carries_facial_cues(seed, monkeypatch):
    # Same seed, same draws: only the body values change when the body stops observing the face.
    dims = dict.fromkeys(MODALITIES, 8)

    def body_accuracy():
        corpus = build_synthetic("controlled", num_dialogues=(40, 1, 20), dims=dims, missing_rate=0.0, seed=seed)
        (train, y_train), (test, y_test) = pooled(corpus, "train", ["body"]), pooled(corpus, "test", ["body"])
        return nearest_mean_accuracy(train["body"], y_train, test["body"], y_test, len(ControlledSettings.labels))

    with_face = body_accuracy()
    monkeypatch.setattr(synthetic, "BODY_FROM_FACE", 0.0)
    without_face = body_accuracy()
    assert with_face > without_face + 0.03, (with_face, without_face)


def test_controlled_settings_keep_the_published_knobs():
    """The robustness results record these fields as the corpus settings: their names and order are fixed."""
    assert [f.name for f in fields(ControlledSettings)] == [
        "latent_size", "shared_weight", "private_weight", "latent_noise", "modality_noise", "frame_noise",
        "feature_noise", "ambiguous_rate", "ambiguous_scale", "stay_probability", "contagion_probability",
        "utterances_per_dialogue",
    ]
