"""The shared schema, protocol registry and the leakage check on hand-made data."""

from __future__ import annotations

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, List, Value

from dataset_scripts import (
    MODALITIES,
    FeatureCache,
    LeakageError,
    assert_no_leakage,
    emoje_features,
    get_protocol,
    get_corpus,
    list_protocols,
)


def test_modalities_are_the_shared_ones():
    from modeling_emoje.modalities import MODALITIES as shared

    assert MODALITIES == shared == ("text", "audio", "face", "body")


def test_features_factory():
    features = emoje_features(["a", "b"], ["body", "text"])
    assert features["label"] == ClassLabel(names=["a", "b"])
    assert features["utterance_id"] == Value("int32")
    assert features["modality_mask"] == List(Value("bool"), length=4)
    assert list(features)[-2:] == ["text_features", "body_features"]  # MODALITIES order, whatever the argument order
    with pytest.raises(ValueError, match="distinct"):
        emoje_features(["a", "a"])
    with pytest.raises(ValueError, match="unknown modalities"):
        emoje_features(["a"], ["smell"])


def test_protocol_registry():
    assert get_corpus("iemocap").label_sets["erc6"] == ("hap", "sad", "neu", "ang", "exc", "fru")
    assert get_protocol("meld").name == "emotion" and get_protocol("msp_improv").num_folds == 6
    assert {(p.corpus, p.name, p.num_folds) for p in list_protocols("iemocap")} == {
        ("iemocap", "erc6", 0),
        ("iemocap", "mer4", 5),
        ("iemocap", "mer4-speaker", 10),
    }
    assert get_protocol("iemocap", "mer4").label_map["exc"] == "happy"
    assert "X" not in get_protocol("msp-improv").label_map and "O" not in get_protocol("msp-improv").label_map


def _dd(**splits):
    return DatasetDict({name: Dataset.from_dict({"speaker": s, "dialogue_id": d}) for name, (s, d) in splits.items()})


def test_assert_no_leakage_by_key_and_pair():
    clean = _dd(train=(["Ses01_F", "Ses01_M"], ["a", "a"]), validation=(["Ses02_F"], ["b"]), test=(["Ses03_M"], ["c"]))
    for key in ("speaker", "session", "dialogue"):
        assert_no_leakage(clean, key)
    leaky = _dd(train=(["Ses01_F"], ["a"]), validation=(["Ses01_M"], ["b"]), test=(["Ses02_F"], ["a"]))
    assert_no_leakage(leaky, "speaker")
    with pytest.raises(LeakageError, match="'train' and 'validation' share 1 session value"):
        assert_no_leakage(leaky, "session")
    assert_no_leakage(leaky, "session", [("train", "test"), ("validation", "test")])
    with pytest.raises(LeakageError, match="'train' and 'test' share 1 dialogue value"):
        assert_no_leakage(leaky, "dialogue")
    with pytest.raises(ValueError, match="carries no session"):
        assert_no_leakage(_dd(train=(["Chandler"], ["a"]), test=(["Ross"], ["b"])), "session")


def test_feature_cache_ignores_half_written_and_damaged_shards(tmp_path):
    import numpy as np

    cache = FeatureCache(tmp_path)
    cache.write({"a": np.ones((2, 3), np.float32)})
    (tmp_path / ".shard-crashed.npz.1-0.tmp").write_bytes(b"partial")  # a writer killed before its rename
    (tmp_path / "shard-99999999999999999999-1.npz").write_bytes(b"not a zip")
    entries = FeatureCache(tmp_path).load()
    assert list(entries) == ["a"] and entries["a"].shape == (2, 3)
