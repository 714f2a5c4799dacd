"""A seeded, controlled synthetic multimodal conversation corpus for the missing-modality benchmark.

Unlike `training.synthetic` (every modality a noisy copy of the label), this corpus is built so that
*which modalities are present matters*, the way it does in real emotion data:

- **Partial evidence.** Each modality is informative for some emotions only (table `INFORMATIVENESS`):
  text separates neutral/joy/sadness, audio separates the high-arousal classes (anger, surprise), the face
  separates fear/surprise/joy. Where a modality carries no evidence for a class, it shows a modality-wide
  "uninformative" pattern, so those classes are confusable in that modality alone.
- **Partly shared evidence.** Every utterance draws one latent emotion vector (class mean plus noise) that
  all its modalities observe, plus a private class pattern per modality. Modalities are therefore
  correlated beyond the label (a missing one is partly predictable from the others) without being copies.
- **Body carries facial cues.** The body stream observes a weakened, noisier copy of the face signal
  (`BODY_FROM_FACE`) besides its own weak evidence, which is what privacy mode relies on.
- **Context.** Dialogues have 2-3 speakers; a speaker's emotion persists across their turns (and may be
  taken over from the previous speaker), and some utterances are ambiguous (all evidence weakened), so
  dialogue and speaker context help.

Rows follow the prepared-data schema of ARCHITECTURE.md section 3 (`dataset_scripts.schema.emoje_features`),
with `{m}_features` of shape (T, D) (text T = 1, audio/face/body a few frames) and `[]` for an absent modality.
The numbers measured on it say how models handle missing modalities under known conditions, not how well
they recognise real emotions.

Example:
    >>> from benchmarks.synthetic_corpus import make_synthetic_corpus
    >>> corpus = make_synthetic_corpus(num_dialogues=(4, 2, 2), seed=0, dims={"text": 8, "audio": 4, "face": 6, "body": 5})
    >>> corpus["train"].features["label"].names[:3], len(corpus["test"][0]["face_features"][0])
    (['neutral', 'joy', 'sadness'], 6)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import datasets
import numpy as np
import pyarrow as pa

from dataset_scripts.schema import attach_metadata, emoje_features
from training.collator import MODALITIES

PROTOCOL = "synthetic-robustness"
LABELS: tuple[str, ...] = ("neutral", "joy", "sadness", "anger", "surprise", "fear")
# Class prior (neutral is the majority class, as in MELD).
CLASS_PRIOR: tuple[float, ...] = (0.30, 0.16, 0.14, 0.14, 0.14, 0.12)
# The real extractors' sizes (ARCHITECTURE.md section 2).
REAL_DIMS: dict[str, int] = {"text": 384, "audio": 80, "face": 204, "body": 88}
# How much evidence of each class (columns, LABELS order) each modality carries, in [0, 1].
INFORMATIVENESS: dict[str, tuple[float, ...]] = {
    #        neutral joy  sad  anger surpr fear
    "text": (0.9, 0.8, 0.8, 0.15, 0.15, 0.1),
    "audio": (0.2, 0.5, 0.2, 0.9, 0.8, 0.2),
    "face": (0.2, 0.8, 0.4, 0.2, 0.7, 0.9),
    "body": (0.1, 0.1, 0.1, 0.4, 0.1, 0.1),
}
# Fraction of the face's signal (not its noise) the body stream also shows.
BODY_FROM_FACE = 0.6
FRAME_RANGE: dict[str, tuple[int, int]] = {"text": (1, 1), "audio": (4, 10), "face": (3, 8), "body": (3, 8)}
SPEAKERS: tuple[str, ...] = ("Ada", "Ben", "Cleo", "Dev", "Eli")


@dataclass(frozen=True)
class CorpusSettings:
    """Knobs of the generator (kept in the dataset metadata so a result names its corpus exactly)."""

    latent_size: int = 16
    shared_weight: float = 0.6
    private_weight: float = 0.8
    latent_noise: float = 0.8
    modality_noise: float = 1.5
    frame_noise: float = 0.5
    feature_noise: float = 0.3
    ambiguous_rate: float = 0.25
    ambiguous_scale: float = 0.35
    stay_probability: float = 0.7
    contagion_probability: float = 0.3
    utterances_per_dialogue: tuple[int, int] = (5, 14)


def _split_sizes(num_dialogues: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(num_dialogues, int):
        if num_dialogues < 1:
            raise ValueError(f"num_dialogues must be >= 1, got {num_dialogues}")
        held_out = max(1, num_dialogues // 4)
        return num_dialogues, held_out, held_out
    sizes = tuple(int(n) for n in num_dialogues)
    if len(sizes) != 3 or min(sizes) < 1:
        raise ValueError(f"num_dialogues must be an int or (train, validation, test) positive counts, got {num_dialogues!r}")
    return sizes


def frames_to_arrow(frames: list[np.ndarray], dim: int) -> pa.Array:
    """``List(List(float32))`` Arrow array from per-row ``(T, dim)`` arrays (T = 0 for an absent modality)."""
    counts = np.array([len(f) for f in frames], dtype=np.int32)
    row_offsets = np.zeros(len(frames) + 1, dtype=np.int32)
    np.cumsum(counts, out=row_offsets[1:])
    values = np.concatenate([f.reshape(-1, dim) for f in frames]) if frames else np.zeros((0, dim), np.float32)
    frame_offsets = np.arange(0, (len(values) + 1) * dim, dim, dtype=np.int32)
    inner = pa.ListArray.from_arrays(pa.array(frame_offsets), pa.array(values.astype(np.float32).reshape(-1)))
    return pa.ListArray.from_arrays(pa.array(row_offsets), inner)


def make_synthetic_corpus(
    num_dialogues: int | Sequence[int] = (240, 60, 80),
    seed: int = 0,
    dims: Mapping[str, int] | None = None,
    missing_rate: float = 0.15,
    test_missing_rate: float = 0.0,
    settings: CorpusSettings | None = None,
) -> datasets.DatasetDict:
    """Generate the ``train``/``validation``/``test`` splits of the controlled corpus.

    Args:
        num_dialogues: dialogues per split, ``(train, validation, test)``; an int ``n`` means ``(n, n//4, n//4)``.
        seed: every value is a deterministic function of the arguments (the class structure included).
        dims: feature size per modality (default `REAL_DIMS`, all four); modalities left out are not generated.
        missing_rate: in train and validation, probability that each modality of an utterance is absent
            (an utterance always keeps one). Models then see naturally incomplete data while training.
        test_missing_rate: the same for test; 0 (default) keeps the test split complete, so each evaluation
            scenario withholds exactly what it names and every scenario scores the same utterances.
        settings: the generator's noise/structure knobs (`CorpusSettings`).

    Returns:
        A `datasets.DatasetDict` in the prepared-data schema; its metadata (``dataset_scripts.schema.
        dataset_metadata``) records the protocol, seed, dims and settings.
    """
    dims = dict(REAL_DIMS if dims is None else dims)
    unknown = sorted(set(dims) - set(MODALITIES))
    if unknown or not dims:
        raise ValueError(f"dims must name some of {MODALITIES}, got {sorted(dims)}")
    for name, dim in dims.items():
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dims['{name}'] must be a positive int, got {dim!r}")
    for name, rate in (("missing_rate", missing_rate), ("test_missing_rate", test_missing_rate)):
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {rate}")
    settings = settings or CorpusSettings()
    sizes = _split_sizes(num_dialogues)
    modalities = [m for m in MODALITIES if m in dims]
    num_labels, k = len(LABELS), settings.latent_size

    rng = np.random.default_rng(seed)
    # Class structure: shared emotion means, private per-modality patterns, an "uninformative" pattern per
    # modality, and a fixed projection latent -> features per modality.
    emotion_means = rng.standard_normal((num_labels, k))
    private = {m: rng.standard_normal((num_labels, k)) for m in MODALITIES}
    generic = {m: rng.standard_normal(k) for m in MODALITIES}
    projection = {m: rng.standard_normal((k, dims[m])) / np.sqrt(k) for m in modalities}
    strength = {m: np.asarray(INFORMATIVENESS[m]) for m in MODALITIES}
    prior = np.asarray(CLASS_PRIOR) / np.sum(CLASS_PRIOR)

    features = emoje_features(LABELS, modalities)
    splits = {}
    for split_name, count, rate in zip(
        ("train", "validation", "test"), sizes, (missing_rate, missing_rate, test_missing_rate)
    ):
        columns: dict[str, list] = {name: [] for name in features if not name.endswith("_features")}
        frames_of: dict[str, list[np.ndarray]] = {m: [] for m in modalities}
        for d in range(count):
            dialogue_id = f"synthetic-{split_name}-{d:05d}"
            low, high = settings.utterances_per_dialogue
            length = int(rng.integers(low, high + 1))
            cast = [str(s) for s in rng.choice(SPEAKERS, size=int(rng.integers(2, 4)), replace=False)]
            mood = {s: int(rng.choice(num_labels, p=prior)) for s in cast}
            previous_label = None
            for u in range(length):
                speaker = cast[int(rng.integers(len(cast)))]
                if u > 0 and rng.random() > settings.stay_probability:
                    if previous_label is not None and rng.random() < settings.contagion_probability:
                        mood[speaker] = previous_label
                    else:
                        mood[speaker] = int(rng.choice(num_labels, p=prior))
                label = previous_label = mood[speaker]
                scale = settings.ambiguous_scale if rng.random() < settings.ambiguous_rate else 1.0
                shared = emotion_means[label] + settings.latent_noise * rng.standard_normal(k)
                signal = {
                    m: scale * strength[m][label] * (settings.shared_weight * shared + settings.private_weight * private[m][label])
                    for m in MODALITIES
                }
                latent = {
                    m: signal[m]
                    + (1.0 - scale * strength[m][label]) * generic[m]
                    + settings.modality_noise * rng.standard_normal(k)
                    for m in MODALITIES
                }
                latent["body"] = latent["body"] + BODY_FROM_FACE * signal["face"]
                present = {m: rate == 0.0 or rng.random() >= rate for m in modalities}
                if not any(present.values()):
                    present[modalities[int(rng.integers(len(modalities)))]] = True
                for m in modalities:
                    if not present[m]:
                        frames_of[m].append(np.zeros((0, dims[m]), dtype=np.float32))
                        continue
                    f_low, f_high = FRAME_RANGE[m]
                    num_frames = int(rng.integers(f_low, f_high + 1))
                    frame_latent = latent[m] + settings.frame_noise * rng.standard_normal((num_frames, k))
                    values = frame_latent @ projection[m] + settings.feature_noise * rng.standard_normal((num_frames, dims[m]))
                    frames_of[m].append(values.astype(np.float32))
                columns["dialogue_id"].append(dialogue_id)
                columns["utterance_id"].append(u)
                columns["speaker"].append(speaker)
                columns["text"].append("")
                columns["label"].append(label)
                columns["audio_path"].append("")
                columns["video_path"].append("")
                columns["video_start"].append(None)
                columns["video_end"].append(None)
                columns["source_id"].append(f"{dialogue_id}/utt{u}")
                columns["modality_mask"].append([bool(present.get(m, False)) for m in MODALITIES])
        schema = features.arrow_schema
        arrays = {name: pa.array(values, type=schema.field(name).type) for name, values in columns.items()}
        for m in modalities:
            arrays[f"{m}_features"] = frames_to_arrow(frames_of[m], dims[m])
        table = pa.table({name: arrays[name] for name in features})
        table = table.cast(schema)
        info = datasets.DatasetInfo(features=features)
        splits[split_name] = datasets.Dataset(table, info=info, split=datasets.NamedSplit(split_name))
    metadata = {
        "corpus": "synthetic",
        "protocol": PROTOCOL,
        "label_names": list(LABELS),
        "seed": seed,
        "dims": dims,
        "num_dialogues": list(sizes),
        "missing_rate": missing_rate,
        "test_missing_rate": test_missing_rate,
        "settings": asdict(settings),
        "note": "controlled synthetic corpus (benchmarks.synthetic_corpus); not emotion data",
    }
    return attach_metadata(datasets.DatasetDict(splits), metadata)


__all__ = ["INFORMATIVENESS", "LABELS", "PROTOCOL", "REAL_DIMS", "CorpusSettings", "frames_to_arrow", "make_synthetic_corpus"]
