"""A seeded synthetic multimodal conversation corpus in the prepared-data schema (no media, no download).

It exists so that the demo and the tests run on a machine without any corpus. It is *not* emotion data:
every feature is a per-class prototype plus Gaussian noise, with a different signal strength per
modality (text strongest, body weakest), emotions that persist along each speaker's turns (so dialogue context
helps) and modalities missing at random per utterance. Numbers measured on it say that the code path works,
not how well a model recognises emotions.

Example:
    >>> from training.synthetic import make_synthetic_corpus
    >>> corpus = make_synthetic_corpus(num_dialogues=(3, 1, 1), modality_dims={"text": 8, "audio": 4}, seed=0)
    >>> sorted(corpus), corpus["train"].features["label"].names
    (['test', 'train', 'validation'], ['neutral', 'joy', 'sadness', 'anger'])
    >>> corpus["train"].column_names[-2:]
    ['text_features', 'audio_features']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import datasets
import numpy as np
from dataset_scripts.schema import MODALITIES, attach_metadata, emoje_features

SYNTHETIC_PROTOCOL = "synthetic"
DEFAULT_LABELS: tuple[str, ...] = ("neutral", "joy", "sadness", "anger")
# The sizes of the real extractors (ARCHITECTURE.md section 2), so a model trained here has real input sizes.
REAL_MODALITY_DIMS: dict[str, int] = {"text": 384, "audio": 80, "face": 204, "body": 88}
# Distance of each class prototype from the origin, in units of the per-value noise (how strongly a modality
# carries the label), and how many frames a modality has per utterance (min, max). Averaging frames adds signal.
SIGNAL_STRENGTH: dict[str, float] = {"text": 1.8, "audio": 0.7, "face": 0.9, "body": 0.55}
FRAME_RANGE: dict[str, tuple[int, int]] = {"text": (1, 1), "audio": (3, 8), "face": (2, 6), "body": (2, 6)}
SPEAKERS: tuple[str, ...] = ("Alex", "Blake", "Casey", "Drew")


def make_synthetic_corpus(
    num_dialogues: Sequence[int] = (48, 12, 16),
    modality_dims: Mapping[str, int] | None = None,
    utterances_per_dialogue: tuple[int, int] = (4, 10),
    missing_rate: float = 0.2,
    noise: float = 1.0,
    seed: int = 0,
) -> datasets.DatasetDict:
    """Generate ``train``/``validation``/``test`` splits of synthetic conversations.

    Args:
        num_dialogues: dialogues in train, validation and test.
        modality_dims: feature size per modality (default: the real extractors' sizes for all four).
        utterances_per_dialogue: inclusive range of dialogue lengths.
        missing_rate: probability that audio, face or body is missing for an utterance (text: half of it);
            an utterance always keeps at least one modality.
        noise: standard deviation of the Gaussian noise around the class prototypes.
        seed: everything is a deterministic function of the arguments.
    """
    dims = dict(REAL_MODALITY_DIMS if modality_dims is None else modality_dims)
    unknown = sorted(set(dims) - set(MODALITIES))
    if unknown or not dims:
        raise ValueError(f"modality_dims must name some of {MODALITIES}, got {sorted(dims)}")
    if len(num_dialogues) != 3:
        raise ValueError(f"num_dialogues must give (train, validation, test) counts, got {num_dialogues!r}")
    rng = np.random.default_rng(seed)
    num_labels = len(DEFAULT_LABELS)
    # One random unit-norm prototype per class and modality, scaled by the modality's signal strength.
    prototypes = {}
    for m, dim in dims.items():
        directions = rng.standard_normal((num_labels, dim))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        prototypes[m] = (SIGNAL_STRENGTH[m] * directions).astype(np.float32)
    features = emoje_features(DEFAULT_LABELS, dims)
    splits, rows_per_split, dialogues_per_split = {}, {}, {}
    for split_name, count in zip(("train", "validation", "test"), num_dialogues):
        rows = {name: [] for name in features}
        for d in range(count):
            dialogue_id = f"{split_name}_{d:04d}"
            length = int(rng.integers(utterances_per_dialogue[0], utterances_per_dialogue[1] + 1))
            cast = list(rng.choice(SPEAKERS, size=int(rng.integers(2, 4)), replace=False))
            mood = {speaker: int(rng.integers(num_labels)) for speaker in cast}
            for u in range(length):
                speaker = str(cast[int(rng.integers(len(cast)))])
                if rng.random() < 0.3:  # emotions persist along a speaker's turns
                    mood[speaker] = int(rng.integers(num_labels))
                label = mood[speaker]
                present = {m: rng.random() >= (missing_rate / 2 if m == "text" else missing_rate) for m in dims}
                if not any(present.values()):
                    present[next(iter(dims))] = True
                row = {
                    "dialogue_id": dialogue_id, "utterance_id": u, "speaker": speaker,
                    "text": f"[synthetic turn {u} of {dialogue_id}, no real words]", "label": label,
                    "audio_path": "", "video_path": "", "video_start": None, "video_end": None,
                    "source_id": f"{dialogue_id}/{u}",
                    "modality_mask": [bool(present.get(m, False)) for m in MODALITIES],
                }
                for m, dim in dims.items():
                    if present[m]:
                        low, high = FRAME_RANGE[m]
                        frames = int(rng.integers(low, high + 1))
                        values = prototypes[m][label] + noise * rng.standard_normal((frames, dim))
                        row[f"{m}_features"] = values.astype(np.float32)
                    else:
                        row[f"{m}_features"] = np.zeros((0, dim), dtype=np.float32)
                for name in features:
                    rows[name].append(row[name])
        info = datasets.DatasetInfo(features=features)
        splits[split_name] = datasets.Dataset.from_dict(rows, features=features, info=info, split=split_name)
        rows_per_split[split_name] = len(rows["label"])
        dialogues_per_split[split_name] = count
    metadata = {
        "corpus": SYNTHETIC_PROTOCOL,
        "protocol": SYNTHETIC_PROTOCOL,
        "fold": None,
        "label_names": list(DEFAULT_LABELS),
        "name": "emoje synthetic conversations",
        "description": "seeded Gaussian features around per-class prototypes (training.synthetic); not real emotion data",
        "seed": seed,
        "features": {m: {"dim": dim, "extractor": {"class": "training.synthetic"}} for m, dim in dims.items()},
        "summary": {
            "corpus": SYNTHETIC_PROTOCOL, "protocol": SYNTHETIC_PROTOCOL, "label_names": list(DEFAULT_LABELS),
            "rows": rows_per_split, "dialogues": dialogues_per_split,
            "notes": ["synthetic features, no media: generated by training.synthetic"],
        },
    }
    return attach_metadata(datasets.DatasetDict(splits), metadata)


__all__ = ["DEFAULT_LABELS", "REAL_MODALITY_DIMS", "SYNTHETIC_PROTOCOL", "make_synthetic_corpus"]
