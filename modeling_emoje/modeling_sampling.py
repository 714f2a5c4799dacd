# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""Training-time modality masking: which present modalities each utterance keeps in a training step.

`sample_training_modalities` is AM^2-EmoJE's (independent dropout or uniform subsets, `MODALITY_MASKINGS`);
`sample_missing_condition` is CM-ARR's (one of its missing-modality conditions per utterance). Every sampler works on
a bool ``present`` tensor ``(..., M)`` and returns the kept subset; an utterance never loses all its modalities.

Example:
    >>> import torch
    >>> from modeling_emoje.modeling_sampling import sample_modality_dropout
    >>> present = torch.tensor([[True, True, False, False]])
    >>> kept = sample_modality_dropout(present, 0.99, torch.Generator().manual_seed(0))
    >>> bool((kept & ~present).any()), int(kept.sum())   # a subset, never empty
    (False, 1)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def sample_modality_dropout(present: torch.Tensor, probability: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training-time masking: drop each present mode with ``probability``, never every mode of an utterance.

    ``present`` is a bool tensor ``(..., M)``; returns the kept mask (a subset of ``present``).
    """
    if probability <= 0:
        return present.clone()
    draws = torch.rand(present.shape, generator=generator, device="cpu").to(present.device)
    kept = present & (draws >= probability)
    return _restore_one_where_emptied(present, kept, generator)


def _restore_one_where_emptied(present: torch.Tensor, kept: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Where ``kept`` lost every present mode, keep one of them again, chosen uniformly."""
    emptied = present.any(-1) & ~kept.any(-1)
    if emptied.any():
        scores = torch.rand(present.shape, generator=generator, device="cpu").to(present.device)
        scores = scores.masked_fill(~present, -1.0)
        restore = F.one_hot(scores.argmax(-1), present.shape[-1]).bool() & emptied[..., None]
        kept = kept | restore
    return kept


MODALITY_MASKINGS: tuple[str, ...] = ("independent", "subsets")


def sample_modality_subsets(present: torch.Tensor, probability: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training-time mode switching: with ``probability``, an utterance keeps one non-empty subset of its present
    modes drawn uniformly (every missing-modality scenario equally often); otherwise it keeps all of them.

    Independent dropout (`sample_modality_dropout`) rarely leaves a single mode of four (7.6 % at 0.3); here each of
    the 15 subsets of four present modes has probability ``probability / 15``.

    Example:
        >>> present = torch.ones(20000, 4, dtype=torch.bool)
        >>> kept = sample_modality_subsets(present, 1.0, torch.Generator().manual_seed(0))
        >>> bool(kept.any(-1).all()), round((kept.sum(-1) == 1).float().mean().item(), 1)   # 4 of 15 subsets
        (True, 0.3)
    """
    if probability <= 0:
        return present.clone()
    switch = torch.rand(present.shape[:-1], generator=generator, device="cpu").to(present.device) < probability
    kept = present.clone()
    pending = switch & present.any(-1)
    # Uniform over the non-empty subsets of the present modes: fair coin per present mode, redraw the empty ones.
    for _ in range(32):
        if not pending.any():
            break
        coins = torch.rand(present.shape, generator=generator, device="cpu").to(present.device) < 0.5
        draw = present & coins
        accept = pending & draw.any(-1)
        kept = torch.where(accept[..., None], draw, kept)
        pending = pending & ~accept
    return kept


def sample_training_modalities(present: torch.Tensor, rate: float, scheme: str = "independent") -> torch.Tensor:
    """The modes each utterance keeps in a training step: `sample_modality_dropout` (``scheme="independent"``) or
    `sample_modality_subsets` (``"subsets"``) at ``rate``."""
    if scheme not in MODALITY_MASKINGS:
        raise ValueError(f"modality masking scheme must be one of {MODALITY_MASKINGS}, got {scheme!r}")
    return (sample_modality_subsets if scheme == "subsets" else sample_modality_dropout)(present, rate)


def sample_missing_condition(
    present: torch.Tensor, conditions: Sequence[Sequence[int]], generator: torch.Generator | None = None
) -> torch.Tensor:
    """CM-ARR masking: per utterance, keep only the modes of one condition drawn uniformly from ``conditions``.

    Each condition is a list of modality indices to keep. Where the drawn condition keeps nothing that is
    present, the utterance keeps all its present modes (it never becomes empty).
    """
    table = torch.zeros(len(conditions), present.shape[-1], dtype=torch.bool)
    for row, kept_modes in enumerate(conditions):
        table[row, list(kept_modes)] = True
    choice = torch.randint(len(conditions), present.shape[:-1], generator=generator)
    kept = present & table[choice].to(present.device)
    empty = ~kept.any(-1, keepdim=True)
    return torch.where(empty, present, kept)


__all__ = [
    "MODALITY_MASKINGS",
    "sample_missing_condition",
    "sample_modality_dropout",
    "sample_modality_subsets",
    "sample_training_modalities",
]
