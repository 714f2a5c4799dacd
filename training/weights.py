"""Checking saved weights before they are loaded: complete files, and the keys and shapes the model expects.

`transformers` loads a ``model.safetensors`` whose keys do not fit the config as freshly initialised (random)
weights with only a log warning, a shape mismatch as a long ``RuntimeError``, and a truncated file as a
``SafetensorError`` that names no file. `check_weights_match` reads only the safetensors headers and raises a
`WeightsError` naming the file and the keys or shapes at fault instead.

Example:
    >>> from training.weights import describe_mismatch
    >>> describe_mismatch({"a": (2, 3), "b": (4,)}, {"a": (2, 5), "c": (1,)})
    "missing keys ['b']; unexpected keys ['c']; shape mismatches a: file (2, 5) vs model (2, 3)"
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
# How many keys a message lists before "... (N in all)".
SHOWN_KEYS = 5

Shapes = Mapping[str, tuple[int, ...]]


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
    from modeling_emoje.modeling_layers import is_optional_weight

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


__all__ = [
    "WeightsError",
    "check_weights_match",
    "config_weight_shapes",
    "describe_mismatch",
    "model_weight_shapes",
    "read_safetensors_header",
    "saved_weight_shapes",
    "weight_files",
]
