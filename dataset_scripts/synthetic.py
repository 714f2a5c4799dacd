"""Seeded synthetic multimodal conversations in the prepared-data schema: one generator, two signal designs.

No media and no download: every row already carries its ``{m}_features`` (T, D) arrays, so a model can be trained
and evaluated on a machine without any corpus. It is **not** emotion data; scores measured on it say that code
works (``"prototype"``) or how models handle missing modalities under known conditions (``"controlled"``), never
how well anything recognises emotions.

**What the generator does once, for every design** ([`build_synthetic`]):

- *dialogues*: ``utterances_per_dialogue`` turns among 2-3 speakers drawn from `SPEAKERS`;
- *moods with persistence*: each speaker starts in a mood drawn from the class prior and keeps it from one of
  their turns to the next with ``stay_probability``; otherwise it takes over the previous turn's label with
  ``contagion_probability``, else it is redrawn from the prior (so dialogue and speaker context help);
- *missingness*: each modality of an utterance is absent with the split's rate (times the design's
  ``missing_factor``), and an utterance always keeps at least one modality (a random one if all were drawn absent);
- *frames*: a present modality gets a frame count drawn from the design's ``frame_range`` (text always 1);
- *rows*: (T, D) float32 arrays become Arrow ``List(List(float32))`` columns ([`frames_to_arrow`]); the splits use
  `dataset_scripts.schema.emoje_features` (``modality_mask`` True exactly where the feature list is non-empty) and
  carry metadata (`attach_metadata`) naming the generator, the preset, the seed and every setting.

**What a design decides** (the feature values given a label) lives in its settings class, a frozen dataclass that
is at the same time the settings (its fields, recorded in the metadata as ``settings``) and a small strategy: the
class fixes the label set, class prior, frame ranges and three drawing steps, ``class_structure`` (once per corpus),
``utterance_state`` (once per utterance) and ``frames`` (per present modality). Two presets exist:

- ``"prototype"`` ([`PrototypeSettings`], demo and tests): labels neutral/joy/sadness/anger; each class has one
  random unit direction per modality scaled by `SIGNAL_STRENGTH` (text strongest, body weakest) and every frame is
  that prototype plus Gaussian noise. Easy: a model learns it in a few steps. Text goes missing half as often.
- ``"controlled"`` ([`ControlledSettings`], the missing-modality robustness benchmark): six labels with a
  MELD-like `CLASS_PRIOR`; *partial evidence* (each modality informative for some classes only, `INFORMATIVENESS`,
  an uninformative modality-wide pattern otherwise), *partly shared evidence* (one latent emotion vector per
  utterance observed by all modalities, plus private class patterns), *body carries facial cues* (`BODY_FROM_FACE`
  of the face signal), and ambiguous utterances whose evidence is weakened.

A class per design rather than one dataclass of all knobs, because the knob sets differ: one flat class would
record fields that mean nothing for the other design, while here ``settings`` in the metadata is exactly the set of
knobs that shaped the corpus (for the controlled design, the fields published in
``benchmarks/results/robustness.json``). The two legacy entry points keep their signatures:
[`make_prototype_corpus`] (demo and tests) and [`make_controlled_corpus`] (robustness benchmark).

Example:
    >>> from dataset_scripts.synthetic import build_synthetic
    >>> corpus = build_synthetic("prototype", num_dialogues=(3, 1, 1), dims={"text": 8, "audio": 4}, seed=0)
    >>> sorted(corpus), corpus["train"].features["label"].names
    (['test', 'train', 'validation'], ['neutral', 'joy', 'sadness', 'anger'])
    >>> row = corpus["train"][1]  # (T, D) frames per present modality, [] for an absent one
    >>> row["modality_mask"], len(row["text_features"]), len(row["text_features"][0]), len(row["audio_features"][0])
    ([True, True, False, False], 1, 8, 4)
    >>> corpus["train"][0]["modality_mask"], corpus["train"][0]["text_features"]
    ([False, True, False, False], [])
    >>> controlled = build_synthetic("controlled", num_dialogues=(2, 1, 1), dims={"face": 6, "body": 5}, seed=0)
    >>> controlled["test"].features["label"].names[-2:], all(all(m[2:]) for m in controlled["test"]["modality_mask"])
    (['surprise', 'fear'], True)
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import datasets
import numpy as np
import pyarrow as pa

from .corpora import Corpus, register_corpus
from .feature_frames import frames_to_arrow
from .protocols import DIALOGUE_SEPARATION, Protocol, identity_map, split_official
from .schema import MODALITIES, SPLITS, attach_metadata, emoje_features

GENERATOR = "dataset_scripts.synthetic"
# The real extractors' sizes (ARCHITECTURE.md section 2), so a model trained here has real input sizes.
REAL_DIMS: dict[str, int] = {"text": 384, "audio": 80, "face": 204, "body": 88}
SPEAKERS: tuple[str, ...] = ("Ada", "Ben", "Cleo", "Dev", "Eli")

# "prototype" design.
PROTOTYPE_PROTOCOL = "synthetic"
PROTOTYPE_LABELS: tuple[str, ...] = ("neutral", "joy", "sadness", "anger")
# Distance of each class prototype from the origin in units of the per-value noise (how strongly a modality
# carries the label); averaging a modality's frames adds signal.
SIGNAL_STRENGTH: dict[str, float] = {"text": 1.8, "audio": 0.7, "face": 0.9, "body": 0.55}
PROTOTYPE_FRAME_RANGE: dict[str, tuple[int, int]] = {"text": (1, 1), "audio": (3, 8), "face": (2, 6), "body": (2, 6)}

# "controlled" design.
CONTROLLED_PROTOCOL = "synthetic-robustness"
CONTROLLED_LABELS: tuple[str, ...] = ("neutral", "joy", "sadness", "anger", "surprise", "fear")
CLASS_PRIOR: tuple[float, ...] = (0.30, 0.16, 0.14, 0.14, 0.14, 0.12)  # neutral is the majority class, as in MELD
# How much evidence of each class (columns, CONTROLLED_LABELS order) each modality carries, in [0, 1].
INFORMATIVENESS: dict[str, tuple[float, ...]] = {
    #        neutral joy  sad  anger surpr fear
    "text": (0.9, 0.8, 0.8, 0.15, 0.15, 0.1),
    "audio": (0.2, 0.5, 0.2, 0.9, 0.8, 0.2),
    "face": (0.2, 0.8, 0.4, 0.2, 0.7, 0.9),
    "body": (0.1, 0.1, 0.1, 0.4, 0.1, 0.1),
}
BODY_FROM_FACE = 0.6  # fraction of the face's signal (not its noise) that the body stream also shows
CONTROLLED_FRAME_RANGE: dict[str, tuple[int, int]] = {"text": (1, 1), "audio": (4, 10), "face": (3, 8), "body": (3, 8)}


def _check_probability(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")


def _check_non_negative(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0.0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")


def _check_positive_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


class SyntheticSettings:
    """Base of the presets: what [`build_synthetic`] asks of a signal design.

    Subclasses are frozen dataclasses whose fields are the design's knobs and include ``utterances_per_dialogue``,
    ``stay_probability`` and ``contagion_probability`` (the shared dialogue simulation); class attributes fix the
    rest (labels, prior, frame ranges, missingness factors, default sizes and rates).
    """

    preset: ClassVar[str]
    protocol: ClassVar[str]
    title: ClassVar[str]
    labels: ClassVar[tuple[str, ...]]
    class_prior: ClassVar[tuple[float, ...]]
    frame_range: ClassVar[Mapping[str, tuple[int, int]]]
    missing_factor: ClassVar[Mapping[str, float]] = {}
    default_num_dialogues: ClassVar[tuple[int, int, int]]
    default_missing_rate: ClassVar[float]
    default_test_missing_rate: ClassVar[float | None]  # None: the same rate as train and validation

    def _check_dialogue_knobs(self) -> None:
        span = self.utterances_per_dialogue
        if (
            not isinstance(span, Sequence) or len(span) != 2
            or any(isinstance(n, bool) or not isinstance(n, numbers.Integral) for n in span)
            or not 1 <= span[0] <= span[1]
        ):
            raise ValueError(f"utterances_per_dialogue must be (low, high) ints with 1 <= low <= high, got {span!r}")
        object.__setattr__(self, "utterances_per_dialogue", (int(span[0]), int(span[1])))
        _check_probability("stay_probability", self.stay_probability)
        _check_probability("contagion_probability", self.contagion_probability)

    def design(self) -> dict[str, Any]:
        """The design's fixed tables (recorded in the metadata next to the settings)."""
        return {
            "class_prior": list(self.class_prior),
            "frame_range": {m: list(span) for m, span in self.frame_range.items()},
            "missing_factor": dict(self.missing_factor),
            "speakers": list(SPEAKERS),
        }

    def class_structure(self, rng: np.random.Generator, dims: Mapping[str, int]) -> Any:
        """Draw what is fixed for the whole corpus (``dims`` in `MODALITIES` order)."""
        raise NotImplementedError

    def utterance_state(self, rng: np.random.Generator, structure: Any, label: int) -> Any:
        """Draw what all modalities of one utterance share."""
        raise NotImplementedError

    def frames(
        self, rng: np.random.Generator, structure: Any, state: Any, modality: str, num_frames: int
    ) -> np.ndarray:
        """Draw the ``(num_frames, dims[modality])`` values of one present modality."""
        raise NotImplementedError


@dataclass(frozen=True)
class PrototypeSettings(SyntheticSettings):
    """The ``"prototype"`` design: frames are a class prototype plus Gaussian noise (demo and tests).

    Args:
        noise: standard deviation of the per-value noise around the prototypes (`SIGNAL_STRENGTH` is in its units).
        utterances_per_dialogue: inclusive range of dialogue lengths.
        stay_probability: probability that a speaker keeps their mood from one turn to the next.
        contagion_probability: probability that a changing mood takes the previous turn's label.

    Example:
        >>> PrototypeSettings(noise=0.5).labels
        ('neutral', 'joy', 'sadness', 'anger')
        >>> PrototypeSettings(noise=-1.0)
        Traceback (most recent call last):
        ...
        ValueError: noise must be a number >= 0, got -1.0
    """

    noise: float = 1.0
    utterances_per_dialogue: tuple[int, int] = (4, 10)
    stay_probability: float = 0.7
    contagion_probability: float = 0.0

    preset: ClassVar[str] = "prototype"
    protocol: ClassVar[str] = PROTOTYPE_PROTOCOL
    title: ClassVar[str] = "emoje synthetic conversations"
    labels: ClassVar[tuple[str, ...]] = PROTOTYPE_LABELS
    class_prior: ClassVar[tuple[float, ...]] = (0.25, 0.25, 0.25, 0.25)
    frame_range: ClassVar[Mapping[str, tuple[int, int]]] = PROTOTYPE_FRAME_RANGE
    missing_factor: ClassVar[Mapping[str, float]] = {"text": 0.5}
    default_num_dialogues: ClassVar[tuple[int, int, int]] = (48, 12, 16)
    default_missing_rate: ClassVar[float] = 0.2
    default_test_missing_rate: ClassVar[float | None] = None

    def __post_init__(self) -> None:
        _check_non_negative("noise", self.noise)
        self._check_dialogue_knobs()

    def design(self) -> dict[str, Any]:
        return {**super().design(), "signal_strength": dict(SIGNAL_STRENGTH)}

    def class_structure(self, rng: np.random.Generator, dims: Mapping[str, int]) -> dict[str, np.ndarray]:
        prototypes = {}
        for modality, dim in dims.items():
            directions = rng.standard_normal((len(self.labels), dim))
            directions /= np.linalg.norm(directions, axis=1, keepdims=True)
            prototypes[modality] = SIGNAL_STRENGTH[modality] * directions
        return prototypes

    def utterance_state(self, rng: np.random.Generator, structure: dict[str, np.ndarray], label: int) -> int:
        return label

    def frames(
        self, rng: np.random.Generator, structure: dict[str, np.ndarray], state: int, modality: str, num_frames: int
    ) -> np.ndarray:
        prototype = structure[modality][state]
        return prototype + self.noise * rng.standard_normal((num_frames, len(prototype)))


@dataclass(frozen=True)
class ControlledSettings(SyntheticSettings):
    """The ``"controlled"`` design: partial, partly shared evidence; body shows facial cues (robustness benchmark).

    Per utterance, a shared latent emotion vector ``shared = emotion_mean[label] + latent_noise * N(0, I)``;
    per modality ``m`` with evidence ``s = scale * INFORMATIVENESS[m][label]`` (``scale = ambiguous_scale`` for an
    ambiguous utterance, else 1), ``signal = s * (shared_weight * shared + private_weight * private[m][label])``
    and ``latent = signal + (1 - s) * generic[m] + modality_noise * N(0, I)``; the body adds
    ``BODY_FROM_FACE * signal_face``. Each frame is ``(latent + frame_noise * N) @ projection[m] +
    feature_noise * N`` with a fixed random ``(latent_size, D)`` projection per modality.

    Example:
        >>> ControlledSettings().latent_size, ControlledSettings.labels[-1]
        (16, 'fear')
        >>> ControlledSettings(ambiguous_rate=2.0)
        Traceback (most recent call last):
        ...
        ValueError: ambiguous_rate must be a number in [0, 1], got 2.0
    """

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

    preset: ClassVar[str] = "controlled"
    protocol: ClassVar[str] = CONTROLLED_PROTOCOL
    title: ClassVar[str] = "emoje controlled synthetic conversations"
    labels: ClassVar[tuple[str, ...]] = CONTROLLED_LABELS
    class_prior: ClassVar[tuple[float, ...]] = CLASS_PRIOR
    frame_range: ClassVar[Mapping[str, tuple[int, int]]] = CONTROLLED_FRAME_RANGE
    default_num_dialogues: ClassVar[tuple[int, int, int]] = (240, 60, 80)
    default_missing_rate: ClassVar[float] = 0.15
    default_test_missing_rate: ClassVar[float | None] = 0.0

    def __post_init__(self) -> None:
        _check_positive_int("latent_size", self.latent_size)
        for name in ("shared_weight", "private_weight", "latent_noise", "modality_noise", "frame_noise",
                     "feature_noise", "ambiguous_scale"):
            _check_non_negative(name, getattr(self, name))
        _check_probability("ambiguous_rate", self.ambiguous_rate)
        self._check_dialogue_knobs()

    def design(self) -> dict[str, Any]:
        return {
            **super().design(),
            "informativeness": {m: list(row) for m, row in INFORMATIVENESS.items()},
            "body_from_face": BODY_FROM_FACE,
        }

    def class_structure(self, rng: np.random.Generator, dims: Mapping[str, int]) -> dict[str, Any]:
        # Drawn for all four modalities whatever `dims` holds, so a modality subset keeps the same class structure.
        k = self.latent_size
        return {
            "emotion_means": rng.standard_normal((len(self.labels), k)),
            "private": {m: rng.standard_normal((len(self.labels), k)) for m in MODALITIES},
            "generic": {m: rng.standard_normal(k) for m in MODALITIES},
            "projection": {m: rng.standard_normal((k, dim)) / np.sqrt(k) for m, dim in dims.items()},
        }

    def utterance_state(self, rng: np.random.Generator, structure: dict[str, Any], label: int) -> dict[str, np.ndarray]:
        k = self.latent_size
        scale = self.ambiguous_scale if rng.random() < self.ambiguous_rate else 1.0
        shared = structure["emotion_means"][label] + self.latent_noise * rng.standard_normal(k)
        evidence = {m: scale * INFORMATIVENESS[m][label] for m in MODALITIES}
        signal = {
            m: evidence[m] * (self.shared_weight * shared + self.private_weight * structure["private"][m][label])
            for m in MODALITIES
        }
        latent = {
            m: signal[m] + (1.0 - evidence[m]) * structure["generic"][m] + self.modality_noise * rng.standard_normal(k)
            for m in MODALITIES
        }
        latent["body"] = latent["body"] + BODY_FROM_FACE * signal["face"]
        return latent

    def frames(
        self, rng: np.random.Generator, structure: dict[str, Any], state: dict[str, np.ndarray], modality: str,
        num_frames: int,
    ) -> np.ndarray:
        projection = structure["projection"][modality]
        frame_latent = state[modality] + self.frame_noise * rng.standard_normal((num_frames, self.latent_size))
        return frame_latent @ projection + self.feature_noise * rng.standard_normal((num_frames, projection.shape[1]))


PRESETS: dict[str, type[SyntheticSettings]] = {"prototype": PrototypeSettings, "controlled": ControlledSettings}


def _resolve_settings(settings: SyntheticSettings | str) -> SyntheticSettings:
    if isinstance(settings, str):
        if settings not in PRESETS:
            raise ValueError(f"settings must be a preset name {sorted(PRESETS)} or a settings object, got {settings!r}")
        return PRESETS[settings]()
    if not isinstance(settings, SyntheticSettings):
        raise ValueError(f"settings must be a preset name {sorted(PRESETS)} or a settings object, got {settings!r}")
    return settings


def _check_dims(dims: Mapping[str, int], argument: str) -> dict[str, int]:
    if not isinstance(dims, Mapping) or not dims or set(dims) - set(MODALITIES):
        names = sorted(dims) if isinstance(dims, Mapping) else dims
        raise ValueError(f"{argument} must map some of {MODALITIES} to feature sizes, got {names!r}")
    for name, dim in dims.items():
        if isinstance(dim, bool) or not isinstance(dim, numbers.Integral) or dim < 1:
            raise ValueError(f"{argument}['{name}'] must be a positive int, got {dim!r}")
    return {m: int(dims[m]) for m in MODALITIES if m in dims}  # MODALITIES order: the draws do not depend on key order


def _split_sizes(num_dialogues: int | Sequence[int]) -> tuple[int, int, int]:
    if isinstance(num_dialogues, numbers.Integral) and not isinstance(num_dialogues, bool):
        if num_dialogues < 1:
            raise ValueError(f"num_dialogues must be >= 1, got {num_dialogues}")
        held_out = max(1, int(num_dialogues) // 4)
        return int(num_dialogues), held_out, held_out
    sizes = () if isinstance(num_dialogues, (str, bytes)) or np.ndim(num_dialogues) != 1 else tuple(num_dialogues)
    if len(sizes) != 3 or any(isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1 for n in sizes):
        raise ValueError(
            f"num_dialogues must be an int or (train, validation, test) positive counts, got {num_dialogues!r}"
        )
    return tuple(int(n) for n in sizes)


def _check_rate(name: str, rate: float) -> float:
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {rate!r}")
    return float(rate)


def _start_dialogue(
    rng: np.random.Generator, settings: SyntheticSettings, prior: np.ndarray
) -> tuple[int, list[str], dict[str, int]]:
    """Length, cast (2-3 speakers) and each speaker's starting mood."""
    low, high = settings.utterances_per_dialogue
    length = int(rng.integers(low, high + 1))
    cast = [str(s) for s in rng.choice(SPEAKERS, size=int(rng.integers(2, 4)), replace=False)]
    mood = {speaker: int(rng.choice(len(prior), p=prior)) for speaker in cast}
    return length, cast, mood


def _next_turn(
    rng: np.random.Generator, settings: SyntheticSettings, turn: int, cast: list[str], mood: dict[str, int],
    previous_label: int | None, prior: np.ndarray,
) -> tuple[str, int]:
    """Speaker and label of one turn; ``mood`` is updated in place (moods persist along a speaker's turns)."""
    speaker = cast[int(rng.integers(len(cast)))]
    if turn > 0 and rng.random() > settings.stay_probability:
        if previous_label is not None and rng.random() < settings.contagion_probability:
            mood[speaker] = previous_label
        else:
            mood[speaker] = int(rng.choice(len(prior), p=prior))
    return speaker, mood[speaker]


def _draw_presence(rng: np.random.Generator, rates: Mapping[str, float]) -> dict[str, bool]:
    """Which modalities an utterance has; at least one always (a random one if all were drawn absent)."""
    present = {m: rate == 0.0 or rng.random() >= rate for m, rate in rates.items()}
    if not any(present.values()):
        names = list(rates)
        present[names[int(rng.integers(len(names)))]] = True
    return present


def build_synthetic(
    settings: SyntheticSettings | str = "prototype",
    num_dialogues: int | Sequence[int] | None = None,
    dims: Mapping[str, int] | None = None,
    missing_rate: float | None = None,
    test_missing_rate: float | None = None,
    seed: int = 0,
) -> datasets.DatasetDict:
    """Generate the ``train``/``validation``/``test`` splits of a synthetic corpus.

    Args:
        settings: a preset name (``"prototype"``, ``"controlled"``) or a settings object
            ([`PrototypeSettings`], [`ControlledSettings`]) that picks the signal design and its knobs.
        num_dialogues: dialogues per split, ``(train, validation, test)``; an int ``n`` means ``(n, n//4, n//4)``
            (at least 1 each). Default: the preset's (prototype 48/12/16, controlled 240/60/80).
        dims: feature size per modality (default `REAL_DIMS`, all four); modalities left out are not generated.
        missing_rate: in train and validation, probability that a modality of an utterance is absent (times the
            design's ``missing_factor``: prototype text 0.5); an utterance always keeps one. Default: the preset's
            (prototype 0.2, controlled 0.15).
        test_missing_rate: the same for test. Default: prototype, the same as ``missing_rate``; controlled, 0 (a
            complete test split, so each evaluation scenario withholds exactly what it names).
        seed: every value is a deterministic function of the arguments (the class structure included).

    Returns:
        A `datasets.DatasetDict` in the prepared-data schema whose metadata (`dataset_scripts.schema.
        dataset_metadata`) records corpus ``"synthetic"``, the preset's protocol, generator, preset, seed, dims,
        sizes, rates, ``settings`` (the dataclass fields), ``design`` (the fixed tables) and a build summary.

    Example:
        >>> from dataset_scripts.schema import dataset_metadata
        >>> corpus = build_synthetic(ControlledSettings(latent_size=4), num_dialogues=4, dims={"audio": 3}, seed=1)
        >>> [corpus[split].num_rows > 0 for split in ("train", "validation", "test")]
        [True, True, True]
        >>> meta = dataset_metadata(corpus)
        >>> meta["preset"], meta["protocol"], meta["num_dialogues"], meta["settings"]["latent_size"]
        ('controlled', 'synthetic-robustness', [4, 1, 1], 4)
        >>> build_synthetic("prototype", dims={"smell": 3})
        Traceback (most recent call last):
        ...
        ValueError: dims must map some of ('text', 'audio', 'face', 'body') to feature sizes, got ['smell']
    """
    return _generate(settings, num_dialogues, dims, missing_rate, test_missing_rate, seed, dims_argument="dims")


def _generate(
    settings: SyntheticSettings | str,
    num_dialogues: int | Sequence[int] | None,
    dims: Mapping[str, int] | None,
    missing_rate: float | None,
    test_missing_rate: float | None,
    seed: int,
    dims_argument: str,
) -> datasets.DatasetDict:
    settings = _resolve_settings(settings)
    dims = _check_dims(REAL_DIMS if dims is None else dims, dims_argument)
    sizes = _split_sizes(settings.default_num_dialogues if num_dialogues is None else num_dialogues)
    if missing_rate is None:
        missing_rate = settings.default_missing_rate
    missing_rate = _check_rate("missing_rate", missing_rate)
    if test_missing_rate is None:
        test_missing_rate = settings.default_test_missing_rate
    if test_missing_rate is None:  # the preset's default: the same rate as train and validation
        test_missing_rate = missing_rate
    test_missing_rate = _check_rate("test_missing_rate", test_missing_rate)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")

    rng = np.random.default_rng(seed)
    structure = settings.class_structure(rng, dims)
    prior = np.asarray(settings.class_prior, dtype=np.float64) / np.sum(settings.class_prior)
    features = emoje_features(settings.labels, dims)
    schema = features.arrow_schema
    splits, rows, dialogues, label_counts = {}, {}, {}, {}
    for split, count, rate in zip(SPLITS, sizes, (missing_rate, missing_rate, test_missing_rate)):
        rates = {m: rate * settings.missing_factor.get(m, 1.0) for m in dims}
        columns: dict[str, list] = {name: [] for name in features if not name.endswith("_features")}
        frames_of: dict[str, list[np.ndarray]] = {m: [] for m in dims}
        for d in range(count):
            dialogue_id = f"synthetic-{split}-{d:05d}"
            length, cast, mood = _start_dialogue(rng, settings, prior)
            previous_label = None
            for u in range(length):
                speaker, label = _next_turn(rng, settings, u, cast, mood, previous_label, prior)
                previous_label = label
                state = settings.utterance_state(rng, structure, label)
                present = _draw_presence(rng, rates)
                for m, dim in dims.items():
                    if present[m]:
                        low, high = settings.frame_range[m]
                        values = settings.frames(rng, structure, state, m, int(rng.integers(low, high + 1)))
                        frames_of[m].append(np.asarray(values, dtype=np.float32))
                    else:
                        frames_of[m].append(np.zeros((0, dim), dtype=np.float32))
                columns["dialogue_id"].append(dialogue_id)
                columns["utterance_id"].append(u)
                columns["speaker"].append(speaker)
                columns["text"].append("")  # no words exist: the text modality is its features
                columns["label"].append(label)
                columns["audio_path"].append("")
                columns["video_path"].append("")
                columns["video_start"].append(None)
                columns["video_end"].append(None)
                columns["source_id"].append(f"{dialogue_id}/utt{u}")
                columns["modality_mask"].append([bool(present.get(m, False)) for m in MODALITIES])
        arrays = {name: pa.array(values, type=schema.field(name).type) for name, values in columns.items()}
        for m, dim in dims.items():
            arrays[f"{m}_features"] = frames_to_arrow(frames_of[m], dim)
        table = pa.table({name: arrays[name] for name in features}).cast(schema)
        info = datasets.DatasetInfo(features=features)
        splits[split] = datasets.Dataset(table, info=info, split=datasets.NamedSplit(split))
        rows[split], dialogues[split] = len(columns["label"]), count
        counted = np.bincount(np.asarray(columns["label"], dtype=np.int64), minlength=len(settings.labels))
        label_counts[split] = {name: int(n) for name, n in zip(settings.labels, counted) if n}

    note = f"synthetic features, no media: {GENERATOR} preset {settings.preset!r}; not emotion data"
    metadata = {
        "corpus": CORPUS.name,
        "protocol": settings.protocol,
        "fold": None,
        "name": settings.title,
        "note": note,
        "generator": GENERATOR,
        "preset": settings.preset,
        "label_names": list(settings.labels),
        "seed": int(seed),
        "dims": dims,
        "num_dialogues": list(sizes),
        "missing_rate": missing_rate,
        "test_missing_rate": test_missing_rate,
        "settings": asdict(settings),
        "design": settings.design(),
        "features": {
            m: {"dim": dim, "extractor": {"class": GENERATOR, "preset": settings.preset}} for m, dim in dims.items()
        },
        "summary": {
            "corpus": CORPUS.name, "protocol": settings.protocol, "label_names": list(settings.labels),
            "rows": rows, "dialogues": dialogues, "label_counts": label_counts, "notes": [note],
        },
    }
    return attach_metadata(datasets.DatasetDict(splits), metadata)


def make_prototype_corpus(
    num_dialogues: int | Sequence[int] = (48, 12, 16),
    modality_dims: Mapping[str, int] | None = None,
    utterances_per_dialogue: tuple[int, int] = (4, 10),
    missing_rate: float = 0.2,
    noise: float = 1.0,
    seed: int = 0,
) -> datasets.DatasetDict:
    """The ``"prototype"`` corpus (demo and tests).

    Args:
        num_dialogues: dialogues in train, validation and test.
        modality_dims: feature size per modality (default `REAL_DIMS`, all four).
        utterances_per_dialogue: inclusive range of dialogue lengths.
        missing_rate: probability that audio, face or body is absent for an utterance (text: half of it), in
            every split; an utterance always keeps at least one modality.
        noise: standard deviation of the Gaussian noise around the class prototypes.
        seed: everything is a deterministic function of the arguments.

    Example:
        >>> corpus = make_prototype_corpus(num_dialogues=(3, 1, 1), modality_dims={"text": 8, "audio": 4}, seed=0)
        >>> corpus["train"].column_names[-2:]
        ['text_features', 'audio_features']
    """
    settings = PrototypeSettings(noise=noise, utterances_per_dialogue=utterances_per_dialogue)
    return _generate(settings, num_dialogues, modality_dims, missing_rate, missing_rate, seed, "modality_dims")


def make_controlled_corpus(
    num_dialogues: int | Sequence[int] = (240, 60, 80),
    seed: int = 0,
    dims: Mapping[str, int] | None = None,
    missing_rate: float = 0.15,
    test_missing_rate: float = 0.0,
    settings: ControlledSettings | None = None,
) -> datasets.DatasetDict:
    """The ``"controlled"`` corpus (the missing-modality robustness benchmark).

    Args:
        num_dialogues: dialogues per split, ``(train, validation, test)``; an int ``n`` means ``(n, n//4, n//4)``.
        seed: every value is a deterministic function of the arguments (the class structure included).
        dims: feature size per modality (default `REAL_DIMS`, all four); modalities left out are not generated.
        missing_rate: in train and validation, probability that each modality of an utterance is absent.
        test_missing_rate: the same for test; 0 (default) keeps the test split complete.
        settings: the generator's noise/structure knobs ([`ControlledSettings`], alias ``CorpusSettings``).

    Example:
        >>> dims = {"text": 8, "audio": 4, "face": 6, "body": 5}
        >>> corpus = make_controlled_corpus(num_dialogues=(4, 2, 2), seed=0, dims=dims)
        >>> corpus["train"].features["label"].names[:3], len(corpus["test"][0]["face_features"][0])
        (['neutral', 'joy', 'sadness'], 6)
    """
    if settings is not None and not isinstance(settings, ControlledSettings):
        raise ValueError(f"settings must be a ControlledSettings (CorpusSettings), got {type(settings).__name__}")
    settings = settings or ControlledSettings()
    return _generate(settings, num_dialogues, dims, missing_rate, test_missing_rate, seed, "dims")


def _protocol(settings: type[SyntheticSettings]) -> Protocol:
    """The protocol a preset's corpus is recorded under (its splits are generated; no dialogue is in two)."""
    return Protocol("synthetic", settings.protocol, settings.labels, identity_map(settings.labels), 0, split_official,
                    DIALOGUE_SEPARATION, description=f"{settings.title}, generated train/validation/test")


CORPUS = register_corpus(
    Corpus(
        name="synthetic",
        display_name="synthetic conversations",
        protocols=tuple(_protocol(preset) for preset in PRESETS.values()),
        default_protocol=PROTOTYPE_PROTOCOL,
        description="seeded synthetic conversations of feature vectors, no media (demo, tests, robustness "
        "benchmark): not emotion data",
    )
)

__all__ = [
    "BODY_FROM_FACE",
    "CLASS_PRIOR",
    "CONTROLLED_FRAME_RANGE",
    "CONTROLLED_LABELS",
    "CONTROLLED_PROTOCOL",
    "CORPUS",
    "GENERATOR",
    "INFORMATIVENESS",
    "PRESETS",
    "PROTOTYPE_FRAME_RANGE",
    "PROTOTYPE_LABELS",
    "PROTOTYPE_PROTOCOL",
    "REAL_DIMS",
    "SIGNAL_STRENGTH",
    "SPEAKERS",
    "ControlledSettings",
    "PrototypeSettings",
    "SyntheticSettings",
    "build_synthetic",
    "frames_to_arrow",
    "make_controlled_corpus",
    "make_prototype_corpus",
]
