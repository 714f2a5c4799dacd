"""The inputs of the speed benchmark (`benchmarks.speed`): MELD-shaped dialogues, MELD texts, MELD with text features.

MELD is read by the package's reader (`dataset_scripts.meld.build_meld`: dialogues in order, speakers, texts) and its
text features come from the package's cached extraction (`dataset_scripts.features.extract_features`, the cache
``emoje-prepare`` and `benchmarks.quality` use). Utterance durations, which only the frame counts of the synthetic
features need, come from the CSVs' ``StartTime``/``EndTime`` columns.

Example:
    >>> shapes = [{"speakers": ["Ross", "Rachel", "Ross"], "texts": ["Hi.", "Hey.", "So?"], "durations": [1.0, 2.5, 0.3]}]
    >>> item = meld_shaped_dialogues(shapes, {"text": 4, "audio": 3}, frames="sequence")[0]
    >>> item["speaker_ids"].tolist(), [len(frames) for frames in item["audio_features"]]
    ([0, 1, 0], [10, 25, 3])
"""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from modeling_emoje.dialogue_batch import number_speakers

REPO_ROOT = Path(__file__).resolve().parents[1]
MELD_DIMS: dict[str, int] = {"text": 384, "audio": 80, "face": 204, "body": 88}
AUDIO_FPS, VIDEO_FPS = 10.0, 5.0  # EmoJEFeatureExtractor / EmoJEVideoProcessor defaults
AUDIO_MAX_FRAMES, VIDEO_MAX_FRAMES = 300, 64
DEFAULT_DURATION = 3.0  # seconds, for an utterance whose time stamps do not parse
# Input sizes: None = everything (MELD test dialogues for inference and the pipeline, MELD train for training).
SCALES: dict[str, dict[str, Any]] = {
    "full": {"inference_dialogues": None, "pipeline_conversations": None, "training_dialogues": None, "min_seconds": 10.0, "repeats": 3},
    "quick": {"inference_dialogues": 64, "pipeline_conversations": 24, "training_dialogues": 128, "min_seconds": 1.0, "repeats": 1},
    "tiny": {"inference_dialogues": 4, "pipeline_conversations": 2, "training_dialogues": 8, "min_seconds": 0.0, "repeats": 1},
}
FRAME_MODES: dict[str, str] = {
    "sequence": "frame sequences at the extractors' rates (audio 10/s up to 300, face/body 5/s up to 64), padded per batch",
    "capped": "frame sequences pooled/capped to at most 32 frames per utterance and modality",
    "pooled": "one vector per utterance and modality (T = 1), like the utterance-level MELD features of the literature",
}
FRAME_CAP = 32


def meld_durations(meld_dir: Path, split: str = "test") -> dict[str, float]:
    """``source_id`` (as `build_meld` names utterances) -> duration in seconds, clipped to [0.3, 30]."""
    from dataset_scripts.meld import MELD_FILES, MELD_SPLIT_NAMES, clock_seconds, read_csv_text

    text, _ = read_csv_text(Path(meld_dir) / MELD_FILES[split])
    durations = {}
    for row in csv.DictReader(io.StringIO(text, newline="")):
        duration = clock_seconds(row["EndTime"]) - clock_seconds(row["StartTime"])
        key = f"{MELD_SPLIT_NAMES[split]}/dia{int(row['Dialogue_ID'])}_utt{int(row['Utterance_ID'])}"
        durations[key] = float(np.clip(duration if math.isfinite(duration) else DEFAULT_DURATION, 0.3, 30.0))
    return durations


def meld_dialogue_shapes(meld_dir: Path, split: str = "test") -> list[dict[str, Any]]:
    """Per dialogue of a MELD split, in order: speakers, texts and utterance durations (s)."""
    from dataset_scripts.meld import build_meld

    rows = build_meld(meld_dir)[split].select_columns(["dialogue_id", "speaker", "text", "source_id"])
    durations = meld_durations(meld_dir, split)
    dialogues: dict[str, dict[str, list]] = {}
    for row in rows:
        entry = dialogues.setdefault(row["dialogue_id"], {"speakers": [], "texts": [], "durations": []})
        entry["speakers"].append(row["speaker"])
        entry["texts"].append(row["text"])
        entry["durations"].append(durations.get(row["source_id"], DEFAULT_DURATION))
    return list(dialogues.values())


def meld_conversations(meld_dir: Path, limit: int | None) -> list[list[dict[str, str]]]:
    """The first ``limit`` (None: all) MELD test conversations as pipeline turns, text only (empty texts left out)."""
    conversations = []
    for shape in meld_dialogue_shapes(meld_dir):
        turns = [{"speaker": s, "text": t} for s, t in zip(shape["speakers"], shape["texts"]) if t.strip()]
        if turns:
            conversations.append(turns)
    return conversations[:limit] if limit else conversations


def meld_shaped_dialogues(
    shapes: list[dict[str, Any]], dims: dict[str, int], seed: int = 0, frames: str = "sequence"
) -> list[dict[str, Any]]:
    """`DialogueDataset`-style items with random features of MELD's shapes, every modality present.

    ``frames`` is one of `FRAME_MODES`.
    """
    if frames not in FRAME_MODES:
        raise ValueError(f"frames must be one of {sorted(FRAME_MODES)}, got {frames!r}")
    mode = frames
    rng = np.random.default_rng(seed)
    items = []
    for shape in shapes:
        durations = np.asarray(shape["durations"])
        count = len(durations)
        lengths = {
            "text": np.ones(count, dtype=int),
            "audio": np.clip(np.round(durations * AUDIO_FPS), 1, AUDIO_MAX_FRAMES).astype(int),
            "face": np.clip(np.round(durations * VIDEO_FPS), 1, VIDEO_MAX_FRAMES).astype(int),
            "body": np.clip(np.round(durations * VIDEO_FPS), 1, VIDEO_MAX_FRAMES).astype(int),
        }
        if mode != "sequence":
            cap = 1 if mode == "pooled" else FRAME_CAP
            lengths = {name: np.minimum(values, cap) for name, values in lengths.items()}
        item = {
            "labels": rng.integers(0, 7, count),
            "speaker_ids": number_speakers(shape["speakers"]),
            "modality_mask": np.ones((count, 4), dtype=bool),
        }
        for name, dim in dims.items():
            item[f"{name}_features"] = [rng.standard_normal((t, dim)).astype(np.float32) for t in lengths[name]]
        items.append(item)
    return items


def _display_path(path: Path) -> str:
    """``path`` relative to the repository when inside it (results JSON stay machine-independent)."""
    try:
        return str(path.resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def meld_text_features(meld_dir: Path, cache_dir: Path, batch_size: int = 64, max_dialogues: int | None = None):
    """MELD (`build_meld`) with MiniLM ``text_features`` from the package's feature cache under ``cache_dir``
    (encoded on first use); returns ``(DatasetDict, info)``. ``max_dialogues`` keeps the first dialogues of each split.
    """
    from datasets import DatasetDict

    from dataset_scripts.features import extract_features
    from dataset_scripts.meld import build_meld

    data = build_meld(meld_dir)
    if max_dialogues is not None:
        kept = {}
        for split, dataset in data.items():
            wanted = set(list(dict.fromkeys(dataset["dialogue_id"]))[:max_dialogues])
            kept[split] = dataset.select([i for i, d in enumerate(dataset["dialogue_id"]) if d in wanted]).flatten_indices()
        data = DatasetDict(kept)
    shards_before = len(list(Path(cache_dir).rglob("*.npz")))
    started = time.perf_counter()
    data = extract_features(data, ["text"], cache_dir=cache_dir, batch_size=batch_size, progress=False)
    info = {
        "cache_dir": _display_path(Path(cache_dir)),
        "seconds": round(time.perf_counter() - started, 1),
        "cache_shards_before": shards_before,
        "cache_shards_after": len(list(Path(cache_dir).rglob("*.npz"))),
    }
    return data, info


__all__ = [
    "FRAME_CAP",
    "FRAME_MODES",
    "MELD_DIMS",
    "SCALES",
    "meld_conversations",
    "meld_dialogue_shapes",
    "meld_durations",
    "meld_shaped_dialogues",
    "meld_text_features",
]
