# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""The model registry: which classes, card text and evaluation scenarios a ``model_type`` means, and the one factory.

Each model declares one `ModelSpec` at the end of its modeling file (``MODEL_SPEC``, pure data); importing
`modeling_emoje` registers the package's models (`register_model_spec`) and derives their Auto-class registrations
from the specs. A model outside the package that follows the same input/output contract registers its own spec (the
benchmarks' concatenation baseline does, under its config's ``model_type``). Training, the benchmarks, evaluation, the
model card and `modeling_emoje.model_folder.load_model` find models only through here, so they stay model-agnostic.
No torch: this file holds classes, it never builds one at import.

Example:
    >>> from modeling_emoje.model_specs import build_model, get_model_spec
    >>> get_model_spec("emoje").model_class.__name__, get_model_spec("cmarr").display_name
    ('EmoJEForEmotionRecognition', 'CM-ARR')
    >>> model = build_model("cmarr", {"text": 8, "audio": 4}, ["calm", "angry"], {"hidden_size": 16, "latent_size": 8})
    >>> model.config.num_labels, model.config.id2label[1], model.config.hidden_size
    (2, 'angry', 16)
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


# The model emoje-train builds unless told otherwise (AM^2-EmoJE).
DEFAULT_MODEL_TYPE = "emoje"


@dataclass(frozen=True)
class ModelSpec:
    """Everything the rest of the code needs to know about one model, declared where the model lives.

    Attributes:
        model_type: the config's ``model_type`` (``config.json``), the key of the registry.
        display_name: how cards, tables and charts name the model.
        config_class: its ``PreTrainedConfig`` class.
        base_model_class: the model without its classification head (registered with ``AutoModel``); None for a
            model that has none.
        model_class: the model for emotion recognition (``AutoModelForSequenceClassification``; what `build_model`
            builds and ``load_model`` loads).
        description: one paragraph on the architecture, for model cards.
        citation_bibtex: the BibTeX entry of the method it implements, for model cards.
        extra_scenarios: missing-modality conditions its evaluations report besides the modality subsets: each
            condition a tuple of *modes* kept, where a mode is a modality or a ``+``-joined group of modalities that
            counts as one mode (available when any of its modalities is), e.g. ``("audio", "face+body")``.
    """

    model_type: str
    display_name: str
    config_class: type
    base_model_class: type | None
    model_class: type
    description: str = ""
    citation_bibtex: str | None = None
    extra_scenarios: tuple[tuple[str, ...], ...] = ()


_SPECS: dict[str, ModelSpec] = {}


def register_model_spec(spec: ModelSpec) -> ModelSpec:
    """Make `get_model_spec(spec.model_type)` (and `build_model`, ``load_model``) use ``spec``; returns it.

    Registering a ``model_type`` again replaces its spec. Its config class must have that ``model_type``.
    """
    declared = getattr(spec.config_class, "model_type", None)
    if declared != spec.model_type:
        raise ValueError(
            f"ModelSpec {spec.model_type!r}: its config class {spec.config_class.__name__} has model_type {declared!r}"
        )
    _SPECS[spec.model_type] = spec
    return spec


def known_model_types() -> list[str]:
    """Every registered ``model_type``, sorted."""
    return sorted(_SPECS)


def model_specs() -> tuple[ModelSpec, ...]:
    """Every registered spec, in registration order (the package's models first)."""
    return tuple(_SPECS.values())


def get_model_spec(model_type: str) -> ModelSpec:
    """The spec of ``model_type``; a ValueError naming it and the known ones otherwise."""
    if model_type not in _SPECS:
        raise ValueError(f"unknown model_type {model_type!r}; known: {known_model_types()}")
    return _SPECS[model_type]


def config_fields(model_type: str) -> set[str]:
    """The fields a ``model_type`` config takes (what ``model:`` / ``--field`` options may set, with the data's)."""
    config_class = get_model_spec(model_type).config_class
    if dataclasses.is_dataclass(config_class):
        names = {field.name for field in dataclasses.fields(config_class)}
    else:
        names = set(inspect.signature(config_class.__init__).parameters) - {"self", "kwargs"}
    return (names | {"num_labels"}) - {"transformers_version", "architectures"}


def build_model(
    model_type: str,
    modality_dims: Mapping[str, int],
    labels: Sequence[str],
    overrides: Mapping[str, Any] | None = None,
    **fields: Any,
):
    """A new (randomly initialised) ``model_type`` model for data with ``modality_dims`` and ``labels``.

    The config gets ``modality_dims``, ``num_labels`` and the label maps (``labels`` in id order) from the data,
    ``overrides`` (the user's model options, e.g. ``{"hidden_size": 64}``) and ``fields`` (what the caller derives
    itself, e.g. ``protocol`` or ``text_config``). A config or model that rejects the options raises a ValueError
    naming them.
    """
    overrides = dict(overrides or {})
    spec = get_model_spec(model_type)
    labels = list(labels)
    try:
        config = spec.config_class(
            modality_dims=dict(modality_dims),
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: index for index, name in enumerate(labels)},
            **fields,
            **overrides,
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"the {model_type} config rejects the model options {overrides}: {error}") from None
    try:
        return spec.model_class(config)
    except (TypeError, ValueError, RuntimeError, ZeroDivisionError, AssertionError) as error:
        options = " ".join(f"--{key} {value}" for key, value in overrides.items())
        raise ValueError(f"the {model_type} model cannot be built with the model options [{options}]: {error}") from None


__all__ = [
    "DEFAULT_MODEL_TYPE",
    "ModelSpec",
    "build_model",
    "config_fields",
    "get_model_spec",
    "known_model_types",
    "model_specs",
    "register_model_spec",
]
