"""Reading prepared corpora (``emoje-prepare`` output) for training and evaluation.

The data's metadata (written by `dataset_scripts`: corpus, protocol, fold, label names, feature extractors)
travels in every split's ``info.description``; `data_metadata` reads it and `data_protocol` names the protocol
as ``"corpus/protocol"`` (``"meld/emotion"``, ``"iemocap/mer4"``, ``"msp-improv/loso"``, ``"synthetic/synthetic"``).

Example:
    >>> from dataset_scripts.synthetic import make_prototype_corpus as make_synthetic_corpus
    >>> from training.train.data import data_protocol
    >>> data_protocol(make_synthetic_corpus(num_dialogues=(1, 1, 1), modality_dims={"text": 4}))
    'synthetic/synthetic'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import datasets
from dataset_scripts import dataset_metadata, load_prepared

SPLITS: tuple[str, ...] = ("train", "validation", "test")


def load_prepared_data(path: str | os.PathLike) -> datasets.DatasetDict:
    """Load a prepared DatasetDict (``emoje-prepare --output``) with its metadata; it must have the three splits."""
    path = Path(path)
    if not (path / "dataset_dict.json").is_file():
        raise ValueError(f"no prepared data at {path} (run `emoje-prepare ... --output {path}` first)")
    return load_prepared(path)


def data_metadata(data: datasets.DatasetDict | datasets.Dataset) -> dict[str, Any]:
    """The dataset_scripts metadata (corpus, protocol, fold, label_names, features, ...); ``{}`` if none."""
    return dataset_metadata(data)


def data_protocol(data: datasets.DatasetDict | datasets.Dataset) -> str | None:
    """``"corpus/protocol"`` (with ``"/fold{K}"`` for fold protocols) from the metadata, or None."""
    metadata = data_metadata(data)
    corpus, protocol = metadata.get("corpus"), metadata.get("protocol")
    if not protocol:
        return None
    name = f"{corpus}/{protocol}" if corpus and not str(protocol).startswith(f"{corpus}/") else str(protocol)
    if metadata.get("fold") is not None:
        name += f"/fold{metadata['fold']}"
    return name


def text_encoder_name(data: datasets.DatasetDict | datasets.Dataset) -> str | None:
    """The name or path of the text encoder the text features were extracted with, if recorded."""
    extractor = data_metadata(data).get("features", {}).get("text", {}).get("extractor", {})
    return extractor.get("name_or_path") if isinstance(extractor, dict) else None


def audio_features_record(data: datasets.DatasetDict | datasets.Dataset) -> dict[str, Any] | None:
    """The audio extractor the data's audio features came from (its `describe()` record), if recorded."""
    extractor = data_metadata(data).get("features", {}).get("audio", {}).get("extractor", {})
    record = extractor.get("audio_features") if isinstance(extractor, dict) else None
    return record if isinstance(record, dict) else None


def check_same_audio_features(
    model_dir: str | os.PathLike, data: datasets.DatasetDict | datasets.Dataset, *, data_source: str
) -> None:
    """A model folder whose processor records its audio extractor, meeting prepared data whose audio features came
    from another extractor (or other settings), is a ValueError naming both; nothing is checked where either side
    records none (a model without audio, data prepared before extractors were recorded)."""
    from modeling_emoje.audio_features_emoje import check_same_extractor

    config_file = Path(model_dir) / "processor_config.json"
    record = audio_features_record(data)
    if record is None or not config_file.is_file():
        return
    import json

    saved = json.loads(config_file.read_text()).get("audio_features")
    if saved is None:
        return
    try:
        check_same_extractor(saved, record)
    except ValueError as error:
        raise ValueError(f"--model {model_dir} and {data_source}: {error}") from None


def label_names(data: datasets.DatasetDict | datasets.Dataset) -> list[str]:
    """Label names from the ``label`` ClassLabel feature."""
    split = data["train"] if isinstance(data, datasets.DatasetDict) else data
    names = getattr(split.features.get("label"), "names", None)
    if not names:
        raise ValueError("the data's 'label' column is not a ClassLabel with names; cannot build the label maps")
    return list(names)


__all__ = [
    "SPLITS",
    "audio_features_record",
    "check_same_audio_features",
    "data_metadata",
    "data_protocol",
    "label_names",
    "load_prepared_data",
    "text_encoder_name",
]
