# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""Loading and checking a saved model folder: which model it holds, whether its weights fit, and the loaders.

- `check_model_folder` reads ``FOLDER/config.json`` and returns its ``model_type`` when the loader knows it; a folder
  without ``config.json``, an unreadable one, or a ``model_type`` the loader does not know (a BERT checkpoint, a typo
  such as ``"emoje-typo"``) is a `ModelFolderError` (a ``ValueError``) naming the folder, the ``model_type`` found
  and the ones the loader knows, before any weight is read.
- `check_weights_match` reads only the safetensors headers (`read_safetensors_header`, `weight_files`) and raises a
  `WeightsError` naming the file and the keys or shapes at fault, where transformers would load keys that do not
  fit the config as random weights with a log warning, a shape mismatch as a long ``RuntimeError`` and a truncated
  file as a ``SafetensorError`` that names no file. `config_weight_shapes` gives the shapes a config's model holds
  without allocating it.
- `load_pretrained_strictly` is the models' ``from_pretrained`` (``pipeline()``, the Auto classes, remote code): it
  runs `check_model_folder` for the class's own ``model_type`` and refuses weights that would be left random.
- `load_model` loads any registered model (`modeling_emoje.model_specs`) from its folder: `check_model_folder` for
  every known ``model_type``, then the weights checked once, from their headers, before they are read.

No torch at import time (it is imported where weights are built or read): the remote-code copy imports this file too.

``transformers.pipeline(TASK, model=FOLDER)`` and the Auto classes read ``config.json`` with ``AutoConfig`` before
any code of this package runs, so for a ``model_type`` transformers does not know their own error comes first (for
a folder whose ``config.json`` has ``auto_map``: the question whether to trust its remote code).

Example:
    >>> import json, tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    >>> check_model_folder(folder, ["cmarr", "emoje"], "this package")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    modeling_emoje.model_folder.ModelFolderError: .../config.json has model_type 'bert', but this package loads only model_type ['cmarr', 'emoje']
    >>> describe_mismatch({"a": (2, 3), "b": (4,)}, {"a": (2, 5), "c": (1,)})
    "missing keys ['b']; unexpected keys ['c']; shape mismatches a: file (2, 5) vs model (2, 3)"
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from .model_specs import get_model_spec, known_model_types

CONFIG_FILE = "config.json"
SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
# How many keys a message lists before "... (N in all)".
SHOWN_KEYS = 5

Shapes = Mapping[str, tuple[int, ...]]
# The folder whose weights `load_model` has just checked (headers against the config): its `from_pretrained` does
# not check them a second time.
_CHECKED_FOLDER: ContextVar[Path | None] = ContextVar("checked_folder", default=None)


class ModelFolderError(ValueError):
    """A folder given as a saved model is not one of the models its loader knows."""


def check_config_fields(config: dict, config_file: str | os.PathLike) -> None:
    """The label fields of a saved config have the types transformers needs (read before any class is built):
    `num_labels` a positive integer, `id2label` / `label2id` objects; a `ModelFolderError` names the file and field.

    Example:
        >>> check_config_fields({"num_labels": "three"}, "m/config.json")
        Traceback (most recent call last):
        ...
        modeling_emoje.model_folder.ModelFolderError: m/config.json: "num_labels" must be a positive integer, got 'three'
    """
    num_labels = config.get("num_labels")
    if num_labels is not None and (type(num_labels) is not int or num_labels < 1):
        raise ModelFolderError(f'{config_file}: "num_labels" must be a positive integer, got {num_labels!r}')
    for field in ("id2label", "label2id"):
        if config.get(field) is not None and not isinstance(config[field], dict):
            raise ModelFolderError(f'{config_file}: "{field}" must be an object, got {type(config[field]).__name__}')
    if not isinstance(config.get("model_type", ""), str):
        raise ModelFolderError(f'{config_file}: "model_type" must be a string, got {config["model_type"]!r}')


def check_model_folder(folder: str | os.PathLike, known: Collection[str], loader: str) -> str:
    """The ``model_type`` of ``folder/config.json`` when it is one of ``known``; a `ModelFolderError` naming the
    folder, the ``model_type`` found and ``known`` otherwise (``loader`` says who loads ``known``, for the message)."""
    folder = Path(folder)
    known = sorted(known)
    config_file = folder / CONFIG_FILE
    if not folder.is_dir():
        raise ModelFolderError(f"{folder} is not a saved model folder: {'not a folder' if folder.exists() else 'no such path'}")
    if not config_file.is_file() and (folder / "model" / CONFIG_FILE).is_file():
        raise ModelFolderError(
            f"{folder} is a training output folder (checkpoints), not a saved model: its exported model is "
            f"{folder / 'model'}"
        )
    if not config_file.is_file():
        raise ModelFolderError(
            f"{folder} is not a saved model folder: it has no {CONFIG_FILE}; {loader} loads only model_type {known}"
        )
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
        model_type = config.get("model_type")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
        raise ModelFolderError(f"{config_file} is not a readable model config ({error})") from None
    check_config_fields(config, config_file)
    if model_type not in known:
        found = "no model_type" if model_type is None else f"model_type {model_type!r}"
        raise ModelFolderError(f"{config_file} has {found}, but {loader} loads only model_type {known}")
    return model_type


class WeightsError(ValueError):
    """Saved weights are incomplete, damaged or do not fit the model's config."""


def read_safetensors_header(path: str | os.PathLike) -> dict[str, dict]:
    """The tensor entries of a safetensors file's header after checking the file is complete (its size)."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise WeightsError(f"{path} is truncated ({size} bytes)")
        header_size = int.from_bytes(prefix, "little")
        if header_size <= 0 or 8 + header_size > size:
            raise WeightsError(f"{path} is truncated or not a safetensors file (header of {header_size} bytes, file {size})")
        try:
            header = json.loads(handle.read(header_size))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise WeightsError(f"{path} has an unreadable safetensors header") from error
    if not isinstance(header, dict):
        raise WeightsError(f"{path} has an unreadable safetensors header")
    tensors = {key: entry for key, entry in header.items() if key != "__metadata__"}
    end = max((entry["data_offsets"][1] for entry in tensors.values()), default=0)
    if 8 + header_size + end != size:
        raise WeightsError(f"{path} is truncated: the header needs {8 + header_size + end} bytes, the file has {size}")
    return tensors


def weight_files(directory: str | os.PathLike) -> list[Path]:
    """The safetensors files of a saved model folder (``model.safetensors`` or the shards its index lists)."""
    directory = Path(directory)
    index = directory / SAFE_WEIGHTS_INDEX_NAME
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise WeightsError(f"{index} is damaged ({error})") from error
        missing = [shard for shard in shards if not (directory / shard).is_file()]
        if missing:
            raise WeightsError(f"{directory} is incomplete: missing weight shards {missing} (listed in {index.name})")
        return [directory / shard for shard in shards]
    single = directory / SAFE_WEIGHTS_NAME
    if not single.is_file():
        raise WeightsError(f"{directory} has no {SAFE_WEIGHTS_NAME}")
    return [single]


def saved_weight_shapes(directory: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Every saved tensor's shape, read from the headers of the folder's complete safetensors files."""
    shapes: dict[str, tuple[int, ...]] = {}
    for path in weight_files(directory):
        shapes.update({key: tuple(entry["shape"]) for key, entry in read_safetensors_header(path).items()})
    return shapes


def model_weight_shapes(model) -> dict[str, tuple[int, ...]]:
    """The shapes ``model.state_dict()`` holds (what ``save_pretrained`` writes)."""
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def config_weight_shapes(model_class, config) -> dict[str, tuple[int, ...]]:
    """The shapes a model of ``model_class`` built from ``config`` holds, without allocating its weights."""
    import torch

    with torch.device("meta"):
        skeleton = model_class(config)
    return model_weight_shapes(skeleton)


def _listed(keys: list[str]) -> str:
    shown = keys[:SHOWN_KEYS]
    return f"{shown}" + (f" ... ({len(keys)} in all)" if len(keys) > SHOWN_KEYS else "")


def describe_mismatch(expected: Shapes, saved: Shapes) -> str | None:
    """What differs between the model's and the file's keys/shapes, in one line; None if nothing does."""
    missing = sorted(key for key in set(expected) - set(saved) if not is_optional_weight(key))
    unexpected = sorted(set(saved) - set(expected))
    mismatched = sorted(key for key in set(expected) & set(saved) if tuple(expected[key]) != tuple(saved[key]))
    parts = []
    if missing:
        parts.append(f"missing keys {_listed(missing)}")
    if unexpected:
        parts.append(f"unexpected keys {_listed(unexpected)}")
    if mismatched:
        shown = ", ".join(f"{key}: file {tuple(saved[key])} vs model {tuple(expected[key])}" for key in mismatched[:SHOWN_KEYS])
        more = f" ... ({len(mismatched)} in all)" if len(mismatched) > SHOWN_KEYS else ""
        parts.append(f"shape mismatches {shown}{more}")
    return "; ".join(parts) or None


def check_weights_match(expected: Shapes, directory: str | os.PathLike, what: str = "the model's config") -> None:
    """Raise `WeightsError` naming the weight file and the differences unless it holds exactly ``expected``."""
    files = weight_files(directory)
    saved = saved_weight_shapes(directory)
    difference = describe_mismatch(expected, saved)
    if difference:
        name = files[0] if len(files) == 1 else f"{Path(directory) / SAFE_WEIGHTS_INDEX_NAME} (shards)"
        raise WeightsError(f"{name} does not fit {what}: {difference}")


# Weights a checkpoint may lack: the input standardiser's statistics (checkpoints written before feature
# normalisation existed); they then load as the identity transform, which is what those weights were trained with.
OPTIONAL_WEIGHT_SUFFIXES: tuple[str, ...] = (".standardizer.shift", ".standardizer.scale", ".standardizer.num_frames")


def is_optional_weight(key: str) -> bool:
    """Whether a checkpoint may lack ``key`` (see `OPTIONAL_WEIGHT_SUFFIXES`)."""
    return key.endswith(OPTIONAL_WEIGHT_SUFFIXES)


def _load_single_values(model, pretrained_model_name_or_path, keys: list[str]) -> None:
    """Copy the one-value weights ``keys`` from the checkpoint's safetensors files into ``model``, whatever their shape."""
    import torch
    from safetensors import safe_open
    from transformers.utils import cached_file

    folder = Path(pretrained_model_name_or_path)
    files = sorted(folder.glob("model*.safetensors")) if folder.is_dir() else [cached_file(str(folder), SAFE_WEIGHTS_NAME)]
    parameters = dict(model.named_parameters())
    with torch.no_grad():
        for file in files:
            with safe_open(str(file), framework="pt") as handle:
                for key in set(keys) & set(handle.keys()):
                    parameters[key].copy_(handle.get_tensor(key).reshape(parameters[key].shape))


def load_pretrained_strictly(
    load, pretrained_model_name_or_path, *model_args, model_class: type | None = None, **kwargs
):
    """``PreTrainedModel.from_pretrained`` (``load``) that refuses weights which would leave parameters random.

    Missing keys or shape mismatches (a ``config.json`` that does not fit ``model.safetensors``) raise a ValueError
    naming the folder and the keys, instead of a warning and randomly initialised weights; an unreadable weight
    file raises one naming the folder. ``ignore_mismatched_sizes=True`` or ``output_loading_info=True`` (the caller
    handles the report) keep transformers' behaviour.

    With ``model_class`` (the class being loaded) and no ``config`` argument, a local folder must hold a
    ``config.json`` of ``model_class.config_class.model_type`` (`check_model_folder`): a folder without one, a BERT
    checkpoint or a ``model_type`` typo is a ValueError naming the folder and the model_type found, instead of
    transformers' "model of type bert to instantiate a model of type emoje" warning and a later, unrelated error.

    Under `load_model`, which has checked the folder's weights against its config already, the weights are loaded
    without a second check.
    """
    path = pretrained_model_name_or_path
    if isinstance(path, (str, os.PathLike)) and _CHECKED_FOLDER.get() == Path(path).resolve():
        return load(path, *model_args, **kwargs)
    if model_class is not None and kwargs.get("config") is None and isinstance(path, (str, os.PathLike)):
        folder = Path(path) / kwargs.get("subfolder", "")
        if folder.is_dir():  # a Hub id is left to transformers
            check_model_folder(folder, [model_class.config_class.model_type], model_class.__name__)
    caller_handles = kwargs.get("output_loading_info", False)
    ignore_sizes = kwargs.pop("ignore_mismatched_sizes", False)
    kwargs["output_loading_info"] = True
    try:
        model, info = load(pretrained_model_name_or_path, *model_args, ignore_mismatched_sizes=True, **kwargs)
    except Exception as error:
        if type(error).__name__ != "SafetensorError":
            raise
        folder = Path(pretrained_model_name_or_path)
        files = [str(path) for path in sorted(folder.glob("model*.safetensors"))] if folder.is_dir() else []
        named = ", ".join(files) or f"a model*.safetensors file of {pretrained_model_name_or_path}"
        raise ValueError(f"{named}: truncated or damaged ({error})") from None
    problems = []
    missing = sorted(key for key in info.get("missing_keys") or [] if not is_optional_weight(key))
    if missing:
        problems.append(f"missing keys {missing[:SHOWN_KEYS]} ({len(missing)} in all)")
    mismatched = sorted(info.get("mismatched_keys") or [], key=lambda entry: entry[0])
    reshaped = [entry for entry in mismatched if math.prod(entry[1]) == math.prod(entry[2]) == 1]
    if reshaped:  # a one-value weight saved as a 0-d scalar (or the reverse): the same number, another shape
        _load_single_values(model, pretrained_model_name_or_path, [key for key, _, _ in reshaped])
        mismatched = [entry for entry in mismatched if entry not in reshaped]
        info["mismatched_keys"] = mismatched
    if mismatched and not ignore_sizes:
        shown = ", ".join(f"{key}: file {tuple(saved)} vs model {tuple(built)}" for key, saved, built in mismatched[:SHOWN_KEYS])
        problems.append(f"shape mismatches {shown} ({len(mismatched)} in all)")
    if problems and not caller_handles:
        raise ValueError(
            f"{pretrained_model_name_or_path}: the weights do not fit config.json ({'; '.join(problems)}); "
            "they would be left randomly initialised"
        )
    return (model, info) if caller_handles else model


@contextmanager
def _weights_checked(folder: Path) -> Iterator[None]:
    token = _CHECKED_FOLDER.set(folder.resolve())
    try:
        yield
    finally:
        _CHECKED_FOLDER.reset(token)


def load_model(path: str | os.PathLike, **kwargs):
    """Load a saved emotion-recognition model folder (config.json + weights) with the class its model_type names.

    A folder that is not one of `known_model_types` (no config.json, a BERT checkpoint, a model_type typo) is a
    `ModelFolderError` naming the folder, its model_type and the known ones. The weights are checked next, once, from
    their headers (`check_weights_match`): a truncated file or keys/shapes that do not fit the config raise a
    `WeightsError` naming the file, instead of loading random weights. ``kwargs`` go to ``from_pretrained``.
    """
    path = Path(path)
    model_type = check_model_folder(path, known_model_types(), "this package")
    spec = get_model_spec(model_type)
    config = spec.config_class.from_pretrained(path)
    check_weights_match(config_weight_shapes(spec.model_class, config), path, what=str(path / CONFIG_FILE))
    with _weights_checked(path):
        return spec.model_class.from_pretrained(path, config=config, **kwargs)


__all__ = [
    "CONFIG_FILE",
    "OPTIONAL_WEIGHT_SUFFIXES",
    "SAFE_WEIGHTS_INDEX_NAME",
    "SAFE_WEIGHTS_NAME",
    "ModelFolderError",
    "WeightsError",
    "check_config_fields",
    "check_model_folder",
    "check_weights_match",
    "config_weight_shapes",
    "describe_mismatch",
    "is_optional_weight",
    "load_model",
    "load_pretrained_strictly",
    "model_weight_shapes",
    "read_safetensors_header",
    "saved_weight_shapes",
    "weight_files",
]
