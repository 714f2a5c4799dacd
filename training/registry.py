"""Which config and model classes a ``model_type`` means, so training and evaluation stay model-agnostic.

The two models of the package are looked up lazily in `modeling_emoje` (CM-ARR may not exist yet in a
checkout); any other model following the same input/output contract can be added with `register_model`.

Example:
    >>> from training.registry import get_model_classes
    >>> config_class, model_class = get_model_classes("emoje")
    >>> model_class.__name__
    'EmoJEForEmotionRecognition'
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from transformers import PreTrainedConfig, PreTrainedModel

from .weights import check_weights_match, config_weight_shapes

# model_type -> (modules to look in, config class name, model class name)
_BUILTIN: dict[str, tuple[tuple[str, ...], str, str]] = {
    "emoje": (("modeling_emoje",), "EmoJEConfig", "EmoJEForEmotionRecognition"),
    "cmarr": (
        ("modeling_emoje", "modeling_emoje.configuration_cmarr", "modeling_emoje.modeling_cmarr"),
        "CMARRConfig",
        "CMARRForEmotionRecognition",
    ),
}
_REGISTERED: dict[str, tuple[type[PreTrainedConfig], type[PreTrainedModel]]] = {}


def register_model(model_type: str, config_class: type[PreTrainedConfig], model_class: type[PreTrainedModel]) -> None:
    """Make `get_model_classes(model_type)` return these classes (for models outside this package)."""
    _REGISTERED[model_type] = (config_class, model_class)


def known_model_types() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTERED))


def get_model_classes(model_type: str) -> tuple[type[PreTrainedConfig], type[PreTrainedModel]]:
    """The ``(config class, model-for-emotion-recognition class)`` of ``model_type``."""
    if model_type in _REGISTERED:
        return _REGISTERED[model_type]
    if model_type not in _BUILTIN:
        raise ValueError(f"unknown model_type {model_type!r}; known: {known_model_types()}")
    module_names, config_name, model_name = _BUILTIN[model_type]
    found: dict[str, type] = {}
    for module_name in module_names:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in (config_name, model_name):
            if name not in found and hasattr(module, name):
                found[name] = getattr(module, name)
    if len(found) < 2:
        missing = [name for name in (config_name, model_name) if name not in found]
        raise ValueError(f"model_type {model_type!r} needs {missing} from {module_names[0]}, which this installation lacks")
    return found[config_name], found[model_name]


def saved_model_type(config_file: str | os.PathLike) -> str:
    """The ``model_type`` field of a saved ``config.json``; a ValueError naming the file unless it is a known one."""
    config_file = Path(config_file)
    try:
        model_type = json.loads(config_file.read_text()).get("model_type")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
        raise ValueError(f"{config_file} is not a readable model config ({error})") from None
    if model_type not in known_model_types():
        raise ValueError(f"{config_file}: model_type {model_type!r} is not one of this package's models {known_model_types()}")
    return model_type


def load_model(path: str | os.PathLike, **kwargs) -> PreTrainedModel:
    """Load a saved emotion-recognition model directory (config.json + weights) with the class its model_type names.

    The weights are checked first (`training.weights`): a truncated file or keys/shapes that do not fit the config
    raise a ValueError naming the file, instead of loading random weights.
    """
    path = Path(path)
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ValueError(f"{path} is not a saved model directory: it has no config.json")
    model_type = saved_model_type(config_file)
    importlib.import_module("modeling_emoje")  # registers the package's configs with AutoConfig
    config_class, model_class = get_model_classes(model_type)
    config = config_class.from_pretrained(path)
    check_weights_match(config_weight_shapes(model_class, config), path, what=str(config_file))
    return model_class.from_pretrained(path, config=config, **kwargs)


__all__ = ["get_model_classes", "known_model_types", "load_model", "register_model", "saved_model_type"]
