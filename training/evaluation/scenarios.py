"""Missing-modality scenarios: which modalities an evaluation keeps, named as the results name them.

A scenario names the modalities that are *kept*; its name joins them with ``+`` in MODALITIES order
(``text``, ``text+audio``, ..., ``text+audio+face+body``), plus ``privacy`` (every available modality but
face). Only modalities the data has take part: a text-only corpus has only the ``text`` scenario. For the
CM-ARR protocol (three modes audio, text, visual = face + body) the six missing conditions and full are
also reported, with their mean (``three_mode_mean``) and pooled score (``three_mode_pooled``).

Scenarios use the modalities the model reads *and* the data has features for (`ModalityMatch`); when they share
none, or a scenario keeps one of the others, the error names both lists.

Example:
    >>> from training.evaluation.scenarios import build_scenarios
    >>> [s.name for s in build_scenarios(["text", "audio"])]
    ['text', 'audio', 'text+audio']
    >>> [s.name for s in build_scenarios(["text", "face", "body"], "privacy")]
    ['privacy']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from modeling_emoje.modalities import (
    ABBREVIATIONS,
    MODALITIES,
    PRIVACY,
    PRIVATE_MODALITIES,
    Scenario,
    modalities_from,
    normalize_modalities,
)

FULL = "full"
ALL = "all"
# CM-ARR's evaluation protocol: its six missing conditions over three modes, each condition the modes it keeps, a
# mode a modality or a `+`-joined group that counts as one mode (visual = face+body). A model declares its own
# conditions in its spec (`ModelSpec.extra_scenarios`, same form); these are the protocol's, for the corpora's
# protocols evaluated that way (`Protocol.extra["three_mode"]` in `dataset_scripts.corpora`) and `three_mode=True`.
THREE_MODE_CONDITIONS: tuple[tuple[str, ...], ...] = (
    ("audio",), ("text",), ("face+body",), ("audio", "text"), ("audio", "face+body"), ("text", "face+body"),
)
THREE_MODE_MEAN = "three_mode_mean"
THREE_MODE_POOLED = "three_mode_pooled"


@dataclass(frozen=True)
class ScenarioAggregate:
    """A score over several scenarios: ``mean`` of their metrics or ``pooled`` (all their predictions at once)."""

    name: str
    kind: str
    members: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ModalityMatch:
    """The modalities a model reads and those its data has features for: an evaluation uses the ones in both.

    Example:
        >>> match = ModalityMatch(("audio", "face"), ("text",), "the model m", "split 'test' of d")
        >>> match.available
        []
        >>> match.describe()
        "the model m reads audio, face, while split 'test' of d has features for text"
    """

    model: tuple[str, ...] | None  # None: the model does not say (every modality)
    data: tuple[str, ...]
    model_source: str = "the model"
    data_source: str = "the data"

    @classmethod
    def of(cls, model, dataset) -> ModalityMatch:
        """What ``model`` (its ``config.modality_dims``) reads and what ``dataset`` (a `DialogueDataset`) has."""
        return cls(
            model=None if (reads := _model_modalities(model)) is None else tuple(reads),
            data=tuple(dataset.available_modalities),
            model_source=model_source(model),
            data_source=f"split {dataset.name}",
        )

    @property
    def available(self) -> list[str]:
        """The modalities in both lists, in MODALITIES order."""
        return [m for m in MODALITIES if m in self.data and (self.model is None or m in self.model)]

    def describe(self) -> str:
        """One clause naming both lists."""
        data = f"has features for {', '.join(self.data)}" if self.data else "has features for no modality"
        if self.model is None:
            return f"{self.data_source} {data}"
        return f"{self.model_source} reads {', '.join(self.model)}, while {self.data_source} {data}"

    def nothing_to_evaluate(self) -> str:
        """The error when the two lists share no modality."""
        if self.model is None:
            return f"nothing to evaluate: {self.describe()}"
        data = f"has features only for {', '.join(self.data)}" if self.data else "has features for no modality"
        hint = f"; evaluate the model on data with features for {' or '.join(self.model)}"
        hint += f", or evaluate a model trained on {', '.join(self.data)}" if self.data else ""
        reads = f"{self.model_source} reads {', '.join(self.model)}"
        return f"nothing to evaluate: {reads}, but {self.data_source} {data}{hint}"

    def why_absent(self, modalities: Sequence[str]) -> str:
        """Why a scenario cannot keep ``modalities``: which the model does not read, which the data lacks."""
        unread = [m for m in modalities if self.model is not None and m not in self.model]
        missing = [m for m in modalities if m not in unread]
        reasons = []
        if unread:
            reasons.append(f"{self.model_source} does not read {', '.join(unread)} (it reads {', '.join(self.model)})")
        if missing:
            has = ", ".join(self.data) or "no modality"
            reasons.append(f"{self.data_source} has no features for {', '.join(missing)} (it has {has})")
        return " and ".join(reasons)

    def unused(self) -> list[str]:
        """The model's modalities the data has no features for."""
        return [m for m in (self.model or ()) if m not in self.data]


def scenario_name(modalities: Iterable[str]) -> str:
    """``+``-joined modality names in MODALITIES order."""
    return Scenario(normalize_modalities(modalities, field="scenario") or frozenset()).name


def modality_scenarios(available: Iterable[str]) -> list[Scenario]:
    """Every non-empty subset of the available modalities (by size, then MODALITIES order), then ``privacy``."""
    ordered = [m for m in MODALITIES if m in set(available)]
    scenarios = [
        Scenario(frozenset(subset))
        for size in range(1, len(ordered) + 1)
        for subset in combinations(ordered, size)
    ]
    if PRIVATE_MODALITIES & set(ordered) and len(ordered) > 1:
        scenarios.append(Scenario.privacy(ordered))
    return scenarios


def three_mode_scenarios(
    available: Iterable[str], conditions: Sequence[Sequence[str]] = THREE_MODE_CONDITIONS
) -> list[Scenario | ScenarioAggregate]:
    """The ``conditions`` (default: CM-ARR's six over {audio, text, visual}) that the available modalities allow,
    and full over their modes, then their mean and pooled score; none when fewer than two conditions apply."""
    available = set(available)

    def present(mode: str) -> list[str]:
        return [m for m in mode.split("+") if m in available]

    scenarios: list[Scenario | ScenarioAggregate] = []
    for condition in conditions:
        if all(present(mode) for mode in condition):
            scenarios.append(Scenario(frozenset(m for mode in condition for m in present(mode))))
    if len(scenarios) < 2:
        return []
    members = tuple(s.name for s in scenarios)
    full = frozenset(m for condition in conditions for mode in condition for m in present(mode))
    scenarios.append(Scenario(full))
    scenarios.append(ScenarioAggregate(THREE_MODE_MEAN, "mean", members))
    scenarios.append(ScenarioAggregate(THREE_MODE_POOLED, "pooled", members))
    return scenarios


def extra_conditions(model_type: str | None = None, protocol: str | None = None) -> tuple[tuple[str, ...], ...]:
    """The conditions "all" scenarios add besides the modality subsets: the model's own (the ``extra_scenarios`` of
    its registered spec), else CM-ARR's three-mode conditions for the protocols evaluated that way; ``()`` for
    neither."""
    from modeling_emoje.model_specs import get_model_spec, known_model_types

    if model_type in known_model_types() and get_model_spec(model_type).extra_scenarios:
        return tuple(tuple(condition) for condition in get_model_spec(model_type).extra_scenarios)
    return THREE_MODE_CONDITIONS if _three_mode_protocol(protocol) else ()


def _three_mode_protocol(protocol: str | None) -> bool:
    """Whether the registered protocol ``protocol`` names (``"corpus/protocol[/foldK]"``, as
    `training.train.data.data_protocol` writes it) is evaluated in CM-ARR's three modes."""
    from dataset_scripts.corpora import get_protocol

    corpus, _, rest = (protocol or "").lower().partition("/")
    name = rest.split("/")[0]
    if not name:
        return False
    try:
        return bool(get_protocol(corpus, name).extra.get("three_mode"))
    except ValueError:  # a protocol of the user's own, or of no registered corpus
        return False


def uses_three_mode_protocol(model_type: str | None = None, protocol: str | None = None) -> bool:
    """Whether "all" scenarios add conditions of their own (`extra_conditions`): the model's or its protocol's."""
    return bool(extra_conditions(model_type, protocol))


def _parse_one(spec: str, available: list[str], match: ModalityMatch | None = None) -> Scenario:
    possible = f"; the scenarios here can keep {', '.join(available)}"
    if spec == PRIVACY:
        if not PRIVATE_MODALITIES & set(available) or len(available) < 2:
            if match is not None:
                raise ValueError(
                    f"scenario 'privacy' needs face and another modality that the model reads and the data has: "
                    f"{match.describe()}{possible}"
                )
            raise ValueError(f"scenario 'privacy' needs face and another modality; the data has {available}")
        return Scenario.privacy(available)
    if spec == FULL:
        return Scenario.full(available)
    names = []
    for token in spec.replace("+", ",").split(","):
        token = token.strip().lower()
        if not token:
            continue
        if token == "visual" or token == "v":
            names += [m for m in modalities_from("video") if m in available]
            continue
        names.append(ABBREVIATIONS.get(token, token))
    keep = normalize_modalities(names, field=f"scenario {spec!r}") or frozenset()
    absent = sorted(keep - set(available), key=MODALITIES.index)
    if absent:
        if match is not None:
            raise ValueError(f"scenario {spec!r} keeps {', '.join(absent)}, but {match.why_absent(absent)}{possible}")
        raise ValueError(f"scenario {spec!r} keeps {absent}, which the data/model never has (available: {available})")
    return Scenario(keep)


def build_scenarios(
    available: Iterable[str] | ModalityMatch,
    spec: str = ALL,
    three_mode: bool | Sequence[Sequence[str]] = False,
) -> list[Scenario | ScenarioAggregate]:
    """Scenarios for ``--scenarios``: ``all``, ``full``, ``privacy`` or kept modalities like ``t,a`` / ``text+audio``.

    Several specs can be given separated by ``;`` or spaces (``"t;t,a;privacy"``). ``available``: the modalities
    to use, or a `ModalityMatch`, whose errors name what the model reads and what the data has. ``three_mode``:
    conditions ``all`` adds (`three_mode_scenarios`; e.g. `extra_conditions`), True for CM-ARR's.
    """
    match = available if isinstance(available, ModalityMatch) else None
    available = match.available if match is not None else [m for m in MODALITIES if m in set(available)]
    if not available:
        raise ValueError(match.nothing_to_evaluate() if match is not None else "no modality is available to evaluate")
    if spec.strip().lower() == ALL:
        scenarios: list[Scenario | ScenarioAggregate] = list(modality_scenarios(available))
        conditions = THREE_MODE_CONDITIONS if three_mode is True else tuple(three_mode or ())
        if conditions:
            names = {s.name for s in scenarios}
            scenarios += [s for s in three_mode_scenarios(available, conditions) if s.name not in names]
        return scenarios
    scenarios, seen = [], set()
    for part in spec.replace(";", " ").split():
        scenario = _parse_one(part.strip().lower(), available, match)
        if scenario.name not in seen:
            seen.add(scenario.name)
            scenarios.append(scenario)
    if not scenarios:
        raise ValueError(f"no scenario in {spec!r}")
    return scenarios


# Checkpoint selection (`ERCTrainingArguments.selection_scenarios`): the validation weighted-F1 averaged over the
# scenarios a deployment meets, reported as ``eval_<scenario>_weighted_f1`` and ``eval_scenario_mean_weighted_f1``.
SCENARIO_MEAN_METRIC = "scenario_mean_weighted_f1"
MISSING = "missing"
SELECTIONS: tuple[str, ...] = (ALL, MISSING, FULL)


def selection_scenarios(available: Iterable[str], spec: str | None = ALL) -> list[Scenario]:
    """The scenarios whose mean validation weighted-F1 chooses the checkpoint.

    ``spec``: ``all`` (default: every non-empty subset of the modalities, the full set included), ``missing`` (every
    proper subset), ``full`` (the complete data only: today's weighted-F1), or scenario names separated by commas
    (``audio,privacy``, ``text+audio,face``; a name keeps the ``+``-joined modalities, as `build_scenarios` reads
    it). With a single modality every choice is that one scenario. Duplicates (``privacy`` is often also a subset)
    count once.

    Example:
        >>> [s.name for s in selection_scenarios(["audio", "face"])]
        ['audio', 'face', 'audio+face']
        >>> [s.name for s in selection_scenarios(["audio", "face"], "missing")]
        ['audio', 'face']
        >>> [s.name for s in selection_scenarios(["text", "audio", "face"], "audio,privacy")]
        ['audio', 'privacy']
        >>> [s.name for s in selection_scenarios(["text"], "missing")]
        ['text']
    """
    ordered = [m for m in MODALITIES if m in set(available)]
    if not ordered:
        raise ValueError("selection_scenarios: no modality is available to select on")
    text = (spec or ALL).strip().lower()
    subsets = [s for s in modality_scenarios(ordered) if s.name != PRIVACY]
    if text == ALL:
        return subsets
    if text == FULL or len(ordered) == 1:
        return [Scenario.full(ordered)]
    if text == MISSING:
        return [s for s in subsets if len(s.keep) < len(ordered)]
    chosen: dict[str, Scenario] = {}
    for part in text.replace(";", ",").replace(" ", ",").split(","):
        if part.strip():
            scenario = _parse_one(part.strip(), ordered)
            chosen.setdefault(scenario.name, scenario)
    if not chosen:
        raise ValueError(f"selection_scenarios: no scenario in {spec!r} (use {', '.join(SELECTIONS)} or names like audio,privacy)")
    return list(chosen.values())


def model_source(model) -> str:
    """How messages name a model: its folder when it was loaded from one."""
    path = getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None), "_name_or_path", None)
    return f"the model {path}" if path else "the model"


def _model_modalities(model) -> list[str] | None:
    dims = getattr(getattr(model, "config", None), "modality_dims", None)
    return [m for m in MODALITIES if m in dims] if dims else None


__all__ = [
    "ALL",
    "FULL",
    "MISSING",
    "ModalityMatch",
    "PRIVACY",
    "SCENARIO_MEAN_METRIC",
    "SELECTIONS",
    "THREE_MODE_MEAN",
    "THREE_MODE_POOLED",
    "Scenario",
    "ScenarioAggregate",
    "THREE_MODE_CONDITIONS",
    "build_scenarios",
    "extra_conditions",
    "modality_scenarios",
    "model_source",
    "scenario_name",
    "selection_scenarios",
    "three_mode_scenarios",
    "uses_three_mode_protocol",
]
