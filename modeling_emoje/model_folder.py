# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""Which model a saved folder holds: the one check a loader runs before it trusts the folder's ``config.json``.

`check_model_folder` reads ``FOLDER/config.json`` and returns its ``model_type`` when the loader knows it; a folder
without ``config.json``, an unreadable one, or a ``model_type`` the loader does not know (a BERT checkpoint, a typo such
as ``"emoje-typo"``) is a `ModelFolderError` (a ``ValueError``) naming the folder, the ``model_type`` found and the ones
the loader knows, before any weight is read. The model classes' ``from_pretrained`` (the class's own ``model_type``)
and ``training.registry.load_model`` (every registered one; so ``emoje-predict``, ``emoje-evaluate`` and the demo)
run it. No torch: the remote-code copy of the modeling files imports it too.

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
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path

CONFIG_FILE = "config.json"


class ModelFolderError(ValueError):
    """A folder given as a saved model is not one of the models its loader knows."""


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
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as error:
        raise ModelFolderError(f"{config_file} is not a readable model config ({error})") from None
    if model_type not in known:
        found = "no model_type" if model_type is None else f"model_type {model_type!r}"
        raise ModelFolderError(f"{config_file} has {found}, but {loader} loads only model_type {known}")
    return model_type


__all__ = ["CONFIG_FILE", "ModelFolderError", "check_model_folder"]
