# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""Which modalities exist, which ones a call keeps (its `Scenario`), and which ones count for an utterance.

The one owner of these three questions (no torch: data code and the remote-code files import it alike):

- `MODALITIES` is the order of every 4-wide mask; `MODALITY_INDEX` maps a name to its column.
- A `Scenario` is the set of modalities a call keeps: `Scenario.full()`, `Scenario.privacy()` (every modality but
  the face), `Scenario.from_names("text+audio")`. Privacy is decided once per call (`Scenario.of_call(privacy)`)
  and every consumer asks the scenario (`scenario.select(names)`, `"face" in scenario`), never the flag.
- `counted_modalities` says which modalities count for each utterance of a batch (numpy arrays or torch tensors):
  marked in `modality_mask`, kept by the scenario, on a real utterance; `modality_names` lists them for one turn.
- `validate_modality_dims` checks a config's `modality_dims`.

Example:
    >>> from modeling_emoje.modalities import Scenario, counted_modalities, modality_names
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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MODALITIES: tuple[str, ...] = ("text", "audio", "face", "body")
MODALITY_INDEX: dict[str, int] = {name: index for index, name in enumerate(MODALITIES)}
PRIVACY = "privacy"
ABBREVIATIONS: dict[str, str] = {"t": "text", "a": "audio", "f": "face", "b": "body"}


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
        """Every modality of `available` but the face, named ``privacy``."""
        return cls(frozenset(available) - {"face"}, PRIVACY)

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
        """True when the face is not kept (no face landmarking may run)."""
        return "face" not in self.keep

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
    "MODALITIES",
    "MODALITY_INDEX",
    "PRIVACY",
    "Scenario",
    "counted_modalities",
    "modality_names",
    "normalize_modalities",
    "ordered",
    "validate_modality_dims",
]
