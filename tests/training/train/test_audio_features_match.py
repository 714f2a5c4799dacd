"""A model meeting prepared data whose audio features came from another extractor is refused, naming both."""

from __future__ import annotations

import json

import pytest

from dataset_scripts.schema import attach_metadata, dataset_metadata
from dataset_scripts.synthetic import make_prototype_corpus
from modeling_emoje.audio_features_emoje import build_audio_extractor
from training.train.data import audio_features_record, check_same_audio_features


def _data_with(record):
    data = make_prototype_corpus(num_dialogues=(1, 1, 1), modality_dims={"text": 4, "audio": 3})
    metadata = dataset_metadata(data)
    metadata.setdefault("features", {})["audio"] = {"dim": 80, "extractor": {"audio_features": record}}
    return attach_metadata(data, metadata)


def _model_with(folder, record):
    folder.mkdir()
    (folder / "processor_config.json").write_text(json.dumps({"audio_features": record}))
    return folder


def test_same_extractor_passes_and_another_is_refused_naming_both(tmp_path):
    logmel = build_audio_extractor("logmel").describe()
    coarse = build_audio_extractor("logmel", frames_per_second=5).describe()
    model = _model_with(tmp_path / "model", logmel)
    assert audio_features_record(_data_with(logmel)) == logmel
    check_same_audio_features(model, _data_with(logmel), data_source="--data d")  # same features: no error
    with pytest.raises(ValueError, match=r"--model .*model and --data d: audio features differ: the model was trained on logmel .*frames_per_second.: 10.* but logmel .*frames_per_second.: 5"):
        check_same_audio_features(model, _data_with(coarse), data_source="--data d")


def test_nothing_is_checked_where_a_side_records_no_extractor(tmp_path):
    logmel = build_audio_extractor("logmel").describe()
    bare = tmp_path / "bare"
    bare.mkdir()
    check_same_audio_features(bare, _data_with(logmel), data_source="--data d")  # no processor_config.json
    check_same_audio_features(_model_with(tmp_path / "m", logmel), make_prototype_corpus(num_dialogues=(1, 1, 1), modality_dims={"text": 4}), data_source="--data d")
