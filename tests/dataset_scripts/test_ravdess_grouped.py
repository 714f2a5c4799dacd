"""RAVDESS grouped protocol (one dialogue per actor and statement, clips in SHA-256 order) on the real features."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from dataset_scripts import build_ravdess, dataset_metadata, get_protocol
from dataset_scripts.ravdess import RAVDESS_FILE, grouped_table


@pytest.fixture(scope="module")
def table(ravdess_dir) -> pd.DataFrame:
    return pd.read_parquet(ravdess_dir / RAVDESS_FILE)


@pytest.fixture(scope="module")
def grouped(ravdess_dir):
    return build_ravdess(ravdess_dir, protocol="grouped")


def test_grouped_is_a_registered_protocol_beside_the_clip_protocol(grouped):
    assert get_protocol("ravdess", "grouped").extra["split"] == get_protocol("ravdess", "actor").extra["split"]
    meta = dataset_metadata(grouped)
    assert meta["protocol_id"] == "ravdess/grouped"
    get_protocol("ravdess", "grouped").check_leakage(grouped)  # actors (hence dialogues) never straddle splits
    with pytest.raises(ValueError, match="protocol must be one of"):
        build_ravdess("unused.parquet", protocol="statement")


def test_one_dialogue_per_actor_and_statement(grouped):
    sizes = {split: grouped[split].num_rows for split in grouped}
    assert sizes == {"train": 960, "validation": 240, "test": 240}
    for split, dialogues in (("train", 32), ("validation", 8), ("test", 8)):
        frame = grouped[split].select_columns(["dialogue_id", "utterance_id", "speaker"]).to_pandas()
        assert frame["dialogue_id"].nunique() == dialogues
        for dialogue, rows in frame.groupby("dialogue_id"):
            assert sorted(rows["utterance_id"]) == list(range(30))
            assert rows["speaker"].nunique() == 1 and dialogue.startswith(f"a{int(rows['speaker'].iloc[0]):02d}-s")


def test_clips_are_ordered_by_the_digest_of_their_stem_not_by_the_clip_id(table):
    ordered = grouped_table(table)
    for _, rows in ordered.groupby("dialogue"):
        keys = [hashlib.sha256(clip.encode()).hexdigest() for clip in rows.sort_values("position")["clip"]]
        assert keys == sorted(keys)
    # The clip id's third field is the emotion: its order would sort every dialogue by label. The digest order does
    # not: the rank correlation of position and emotion code is about zero (it is about 1 in clip-id order).
    code = ordered["clip"].str.split("-").str[2].astype(int)
    by_digest = np.corrcoef(ordered["position"], code)[0, 1]
    by_clip = ordered.assign(rank=ordered.groupby("dialogue")["clip"].rank())
    assert abs(by_digest) < 0.1 and np.corrcoef(by_clip["rank"], code)[0, 1] > 0.9


def test_the_features_are_the_clip_protocols_regrouped(ravdess_dir, grouped):
    clip = build_ravdess(ravdess_dir)
    for split in ("train", "test"):
        for column in ("face_features", "audio_features"):
            a = np.sort(np.array([f[0] for f in clip[split][column]]).sum(1))
            b = np.sort(np.array([f[0] for f in grouped[split][column]]).sum(1))
            assert np.allclose(a, b)


def test_per_speaker_standardisation_is_opt_in(ravdess_dir):
    plain = build_ravdess(ravdess_dir)["validation"].select_columns(["speaker", "face_features"]).to_pandas()
    normalized = build_ravdess(ravdess_dir, normalize_per_speaker=True)["validation"]
    frame = normalized.select_columns(["speaker", "face_features"]).to_pandas()
    for _, rows in frame.groupby("speaker"):
        values = np.stack([f[0] for f in rows["face_features"]])
        std = values.std(0)  # 1, or 0 for an action unit this actor never shows
        assert np.allclose(values.mean(0), 0.0, atol=1e-4) and np.all((np.abs(std - 1.0) < 1e-3) | (std < 1e-6))
    assert not np.allclose(np.stack([f[0] for f in plain["face_features"]]).mean(0), 0.0, atol=1e-2)
