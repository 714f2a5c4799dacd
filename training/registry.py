"""Which config and model classes a ``model_type`` means, and the one factory that builds a model for some data.

``emoje`` (AM^2-EmoJE) and ``cmarr`` (CM-ARR) are the package's models (`modeling_emoje`); any other model following
the same input/output contract can be added with `register_model` (the benchmarks' concatenation baseline is
registered by `benchmarks.baselines` under its config's ``model_type``). Training, the benchmarks and evaluation build and load models
only through here, so they stay model-agnostic.

Example:
    >>> from training.registry import build_model, get_model_classes
    >>> get_model_classes("emoje")[1].__name__
    'EmoJEForEmotionRecognition'
    >>> model = build_model("cmarr", {"text": 8, "audio": 4}, ["calm", "angry"], {"hidden_size": 16, "latent_size": 8})
    >>> model.config.num_labels, model.config.id2label[1], model.config.hidden_size
    (2, 'angry', 16)
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers import PreTrainedConfig, PreTrainedModel

from .weights import check_weights_match, config_weight_shapes

# model_type -> (config class name, model class name), both exported by `modeling_emoje`.
_BUILTIN: dict[str, tuple[str, str]] = {
    "emoje": ("EmoJEConfig", "EmoJEForEmotionRecognition"),
    "cmarr": ("CMARRConfig", "CMARRForEmotionRecognition"),
}
_REGISTERED: dict[str, tuple[type[PreTrainedConfig], type[PreTrainedModel]]] = {}


def register_model(model_type: str, config_class: type[PreTrainedConfig], model_class: type[PreTrainedModel]) -> None:
    """Make `get_model_classes(model_type)` (and `build_model`) use these classes (for models outside this package)."""
    _REGISTERED[model_type] = (config_class, model_class)


def known_model_types() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTERED))


def get_model_classes(model_type: str) -> tuple[type[PreTrainedConfig], type[PreTrainedModel]]:
    """The ``(config class, model-for-emotion-recognition class)`` of ``model_type``."""
    if model_type in _REGISTERED:
        return _REGISTERED[model_type]
    if model_type not in _BUILTIN:
        raise ValueError(f"unknown model_type {model_type!r}; known: {known_model_types()}")
    package = importlib.import_module("modeling_emoje")  # imported here: `import training` stays cheap
    config_name, model_name = _BUILTIN[model_type]
    return getattr(package, config_name), getattr(package, model_name)


def config_fields(model_type: str) -> set[str]:
    """The fields a ``model_type`` config takes (what ``model:`` / ``--field`` options may set, with the data's)."""
    config_class, _ = get_model_classes(model_type)
    if dataclasses.is_dataclass(config_class):
        names = {f.name for f in dataclasses.fields(config_class)}
    else:
        names = set(inspect.signature(config_class.__init__).parameters) - {"self", "kwargs"}
    return (names | {"num_labels"}) - {"transformers_version", "architectures"}


def build_model(
    model_type: str,
    modality_dims: Mapping[str, int],
    labels: Sequence[str],
    overrides: Mapping[str, Any] | None = None,
    **fields: Any,
) -> PreTrainedModel:
    """A new (randomly initialised) ``model_type`` model for data with ``modality_dims`` and ``labels``.

    The config gets ``modality_dims``, ``num_labels`` and the label maps (``labels`` in id order) from the data,
    ``overrides`` (the user's model options, e.g. ``{"hidden_size": 64}``) and ``fields`` (what the caller derives
    itself, e.g. ``protocol`` or ``text_config``). A config or model that rejects the options raises a ValueError
    naming them.
    """
    overrides = dict(overrides or {})
    config_class, model_class = get_model_classes(model_type)
    labels = list(labels)
    try:
        config = config_class(
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
        return model_class(config)
    except (TypeError, ValueError, RuntimeError, ZeroDivisionError, AssertionError) as error:
        options = " ".join(f"--{key} {value}" for key, value in overrides.items())
        raise ValueError(f"the {model_type} model cannot be built with the model options [{options}]: {error}") from None


def load_model(path: str | os.PathLike, **kwargs) -> PreTrainedModel:
    """Load a saved emotion-recognition model directory (config.json + weights) with the class its model_type names.

    A folder that is not one of `known_model_types` (no config.json, a BERT checkpoint, a model_type typo) is a
    ValueError naming the folder, its model_type and the known ones (`modeling_emoje.model_folder`). The weights are
    checked next (`training.weights`): a truncated file or keys/shapes that do not fit the config raise a ValueError
    naming the file, instead of loading random weights.
    """
    from modeling_emoje.model_folder import check_model_folder  # also registers the package's configs with AutoConfig

    path = Path(path)
    model_type = check_model_folder(path, known_model_types(), "this package")
    config_class, model_class = get_model_classes(model_type)
    config = config_class.from_pretrained(path)
    check_weights_match(config_weight_shapes(model_class, config), path, what=str(path / "config.json"))
    return model_class.from_pretrained(path, config=config, **kwargs)


__all__ = [
    "build_model",
    "config_fields",
    "get_model_classes",
    "known_model_types",
    "load_model",
    "register_model",
]
