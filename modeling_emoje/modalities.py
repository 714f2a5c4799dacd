# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""The modality table, which modalities a call keeps (its `Scenario`), and which ones count for an utterance.

The one owner of these questions (no torch: data code and the remote-code files import it alike):

- `MODALITY_TABLE` lists every modality once (`Modality`: its name, one-letter abbreviation, the raw turn field it
  comes from, its chart colour, its default feature size, its description) and the names a model reads it under
  (``features_key``, ``attention_mask_key``) or a turn gives it ready-made under (``turn_key``). `MODALITIES` (the
  order of every 4-wide mask), `MODALITY_INDEX`, `ABBREVIATIONS` and `DEFAULT_MODALITY_DIMS` are derived from it;
  `get_modality` looks one up. Adding a modality is adding its entry here (and its extractor).
- A `Scenario` is the set of modalities a call keeps: `Scenario.full()`, `Scenario.privacy()` (every modality but
  the face), `Scenario.from_names("text+audio")`. Privacy is decided once per call (`Scenario.of_call(privacy)`)
  and every consumer asks the scenario (`scenario.select(names)`, `"face" in scenario`), never the flag.
- `counted_modalities` says which modalities count for each utterance of a batch (numpy arrays or torch tensors):
  marked in `modality_mask`, kept by the scenario, on a real utterance; `modality_names` lists them for one turn.
- `validate_modality_dims` checks a config's `modality_dims`.

Example:
    >>> from modeling_emoje.modalities import Scenario, counted_modalities, get_modality, modality_names
    >>> audio = get_modality("audio")
    >>> audio.features_key, audio.attention_mask_key, audio.source, get_modality("face").turn_key
    ('audio_features', 'audio_attention_mask', 'audio', 'face')
    >>> Scenario.privacy().name, Scenario.privacy().select(["face", "body", "text"])
    ('privacy', ['text', 'body'])
    >>> Scenario.from_names("a,t").name
    'text+audio'
    >>> import numpy as np
    >>> mask = np.array([[[True, True, True, False], [True, False, False, False]]])
    >>> counted = counted_modalities(mask, np.array([[1, 0]]), Scenario.privacy())
    >>> modality_names(counted[0, 0]), modality_names(counted[0, 1])
    (['text', 'audio'], [])
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Modality:
    """One input modality of the models.

    Attributes:
        name: what configs (``modality_dims``), masks and results call it.
        abbreviation: the one-letter form scenarios accept (``"t,a"``).
        source: the raw turn field it is extracted from (``"text"``, ``"audio"``, ``"video"``); several modalities may
            share one (face and body both come from a turn's video).
        colour: its colour in charts (colour-blind-safe Okabe-Ito palette).
        default_dim: its feature size with the package's own extractors (a config's default ``modality_dims``).
        description: what its features are, in one line.
        private: withheld in privacy mode (never extracted nor used: the face).
    """

    name: str
    abbreviation: str
    source: str
    colour: str
    default_dim: int
    description: str
    private: bool = False

    @property
    def features_key(self) -> str:
        """The models' input of its features, ``(batch, utterances, frames, dim)``."""
        return f"{self.name}_features"

    @property
    def attention_mask_key(self) -> str:
        """The models' input of its frame mask, ``(batch, utterances, frames)``."""
        return f"{self.name}_attention_mask"

    @property
    def turn_key(self) -> str:
        """The turn key that gives its features ready-made: ``features_key`` when the raw field is the modality
        itself (``text_features`` beside ``text``), else its name (``face`` arrays beside a ``video``)."""
        return self.features_key if self.source == self.name else self.name


MODALITY_TABLE: tuple[Modality, ...] = (
    Modality("text", "t", "text", "#0072B2", 384, "pooled sentence features of a frozen text encoder (all-MiniLM-L6-v2)"),
    Modality("audio", "a", "audio", "#E69F00", 80, "log-mel frames of the 16 kHz waveform"),
    Modality("face", "f", "video", "#009E73", 204, "68 MediaPipe FaceMesh landmarks (x, y, z) per video frame", private=True),
    Modality("body", "b", "video", "#CC79A7", 88, "22 MediaPipe Pose landmarks without the face keypoints (x, y, z, visibility)"),
)
MODALITIES: tuple[str, ...] = tuple(modality.name for modality in MODALITY_TABLE)
MODALITY_INDEX: dict[str, int] = {name: index for index, name in enumerate(MODALITIES)}
ABBREVIATIONS: dict[str, str] = {modality.abbreviation: modality.name for modality in MODALITY_TABLE}
DEFAULT_MODALITY_DIMS: dict[str, int] = {modality.name: modality.default_dim for modality in MODALITY_TABLE}
# Every models' input a modality is given under, in table order: text_features, text_attention_mask, audio_...
MODALITY_INPUT_KEYS: tuple[str, ...] = tuple(
    key for modality in MODALITY_TABLE for key in (modality.features_key, modality.attention_mask_key)
)
PRIVACY = "privacy"
PRIVATE_MODALITIES: frozenset[str] = frozenset(modality.name for modality in MODALITY_TABLE if modality.private)


def modalities_from(source: str) -> tuple[str, ...]:
    """The modalities extracted from the raw turn field `source`, in table order.

    Example:
        >>> modalities_from("video")
        ('face', 'body')
    """
    return tuple(modality.name for modality in MODALITY_TABLE if modality.source == source)


def get_modality(name: str) -> Modality:
    """The `Modality` called ``name``; a ValueError naming it, the closest name and every modality otherwise.

    Example:
        >>> get_modality("txt")
        Traceback (most recent call last):
        ...
        ValueError: unknown modality 'txt' (did you mean 'text'?); modalities are ('text', 'audio', 'face', 'body')
    """
    for modality in MODALITY_TABLE:
        if modality.name == name:
            return modality
    close = difflib.get_close_matches(str(name), MODALITIES, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown modality {name!r}{hint}; modalities are {MODALITIES}")


def normalize_modalities(names: Iterable[str] | str | None, *, field: str = "modalities") -> frozenset[str] | None:
    """Validate a collection of modality names (``None`` means all) and return it as a frozenset.

    A string is split on ``,`` and ``+``; an unknown name is a ValueError naming `field`.
    """
    if names is None:
        return None
    if isinstance(names, str):
        names = [part for part in names.replace("+", ",").split(",") if part]
    names = frozenset(names)
    unknown = sorted(names - set(MODALITIES))
    if unknown:
        raise ValueError(f"{field} has unknown modalities {unknown}; modalities are {MODALITIES}")
    return names


def ordered(names: Iterable[str]) -> list[str]:
    """`names` in MODALITIES order (unknown names are left out)."""
    chosen = set(names)
    return [name for name in MODALITIES if name in chosen]


def validate_modality_dims(modality_dims: Mapping[str, int]) -> dict[str, int]:
    """Check a ``modality_dims`` mapping (shared by every emoje config) and return it in MODALITIES order."""
    if not modality_dims:
        raise ValueError(f"modality_dims must name at least one of {MODALITIES}")
    unknown = sorted(set(modality_dims) - set(MODALITIES))
    if unknown:
        raise ValueError(f"modality_dims has unknown modalities {unknown}; modalities are {MODALITIES}")
    for name, dim in modality_dims.items():
        if not isinstance(dim, int) or dim <= 0:
            raise ValueError(f"modality_dims['{name}'] must be a positive int, got {dim!r}")
    return {name: modality_dims[name] for name in MODALITIES if name in modality_dims}


@dataclass(frozen=True)
class Scenario:
    """The modalities a call keeps (`keep`) under a `name` (``+``-joined names in MODALITIES order by default).

    Example:
        >>> Scenario.full(["body", "text"]).name, "face" in Scenario.privacy()
        ('text+body', False)
    """

    keep: frozenset[str]
    name: str = ""

    def __post_init__(self) -> None:
        keep = normalize_modalities(self.keep, field="scenario") or frozenset()
        object.__setattr__(self, "keep", keep)
        if not keep:
            raise ValueError("a scenario must keep at least one modality")
        if not self.name:
            object.__setattr__(self, "name", "+".join(ordered(keep)))

    @classmethod
    def full(cls, available: Iterable[str] = MODALITIES) -> Scenario:
        """Every modality of `available` (all four by default)."""
        return cls(frozenset(available))

    @classmethod
    def privacy(cls, available: Iterable[str] = MODALITIES) -> Scenario:
        """Every modality of `available` but the private ones (the face), named ``privacy``."""
        return cls(frozenset(available) - PRIVATE_MODALITIES, PRIVACY)

    @classmethod
    def of_call(cls, privacy: bool, available: Iterable[str] = MODALITIES) -> Scenario:
        """The scenario of one call with a `privacy` flag: the only place the flag is turned into modalities."""
        return cls.privacy(available) if privacy else cls.full(available)

    @classmethod
    def from_names(cls, names: Iterable[str] | str, field: str = "scenario") -> Scenario:
        """A scenario keeping `names` (a collection, or a string such as ``"text+audio"`` or ``"t,a"``)."""
        if isinstance(names, str):
            names = [ABBREVIATIONS.get(part.strip(), part.strip()) for part in names.replace("+", ",").split(",")]
            names = [name for name in names if name]
        return cls(normalize_modalities(names, field=field) or frozenset())

    def __contains__(self, name: object) -> bool:
        return name in self.keep

    @property
    def is_private(self) -> bool:
        """True when no private modality is kept (no face landmarking may run)."""
        return not (PRIVATE_MODALITIES & self.keep)

    def select(self, names: Iterable[str]) -> list[str]:
        """The kept modalities among `names`, in MODALITIES order."""
        return [name for name in ordered(names) if name in self.keep]

    def mask(self) -> tuple[bool, ...]:
        """A 4-wide flag per modality, in MODALITIES order."""
        return tuple(name in self.keep for name in MODALITIES)


def counted_modalities(modality_mask: Any, utterance_mask: Any = None, scenario: Scenario | None = None) -> Any:
    """Which modalities count for each utterance: `modality_mask` (..., 4) on real utterances, kept by `scenario`.

    Works on numpy arrays and torch tensors alike and returns a new boolean array of the same kind.
    """
    counted = modality_mask != 0  # a copy, as bools, whatever the array library
    if utterance_mask is not None:
        counted &= utterance_mask[..., None] != 0
    if scenario is not None:
        for index, name in enumerate(MODALITIES):
            if name not in scenario:
                counted[..., index] = False
    return counted


def modality_names(flags: Iterable[Any]) -> list[str]:
    """The names of the set flags of one 4-wide row, in MODALITIES order."""
    return [name for name, flag in zip(MODALITIES, flags, strict=True) if flag]


__all__ = [
    "ABBREVIATIONS",
    "DEFAULT_MODALITY_DIMS",
    "MODALITIES",
    "MODALITY_INDEX",
    "MODALITY_INPUT_KEYS",
    "MODALITY_TABLE",
    "PRIVACY",
    "PRIVATE_MODALITIES",
    "Modality",
    "Scenario",
    "counted_modalities",
    "get_modality",
    "modality_names",
    "modalities_from",
    "normalize_modalities",
    "ordered",
    "validate_modality_dims",
]
