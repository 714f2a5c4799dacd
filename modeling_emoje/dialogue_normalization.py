# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""Per-(dialogue, speaker) standardisation of a modality's input features, inside the model.

An emotion shows as a deviation from how a person usually sounds and looks. When a dialogue holds several
utterances of one speaker, the model can estimate that baseline itself: `DialogueNormalization` standardises each
utterance's frames with the mean and standard deviation of the frames of *the same speaker's utterances in the same
dialogue* that have the modality, then maps them back to the training split's global scale (the encoder's fitted
`FeatureStandardizer` shift and scale), so the mode encoder sees its usual input range:

    x' = (x - mean_group) / (std_group + eps) * scale + shift        method="standard"
    x' = x - mean_group + shift                                      method="center"

What takes part in the statistics: the real frames (``attention_mask``) of real utterances (``utterance_mask``) whose
modality is present (``modality_mask``); padding and missing modalities never do, and they are never changed. An
utterance is normalised only when its group holds at least ``min_utterances`` such utterances, so a one-utterance
dialogue (and any group smaller than that) is passed through bit for bit. With ``causal=True`` an utterance's
statistics come from its speaker's utterances up to and including it (running statistics), so a turn's output
never depends on a later turn: the result at turn ``t`` equals the result on the dialogue cut after ``t``.

The block has no weights; AM^2-EmoJE runs it before its mode encoders when
``EmoJEConfig.dialogue_normalization`` is ``"standard"`` or ``"center"``.

Example:
    >>> import torch
    >>> block = DialogueNormalization("standard", min_utterances=2)
    >>> x = torch.tensor([[[[1.0, 2.0]], [[3.0, 6.0]], [[5.0, 0.0]]]])   # 1 dialogue, 3 utterances of 1 frame
    >>> speakers = torch.tensor([[0, 0, 1]])                          # speaker 1 says one thing: untouched
    >>> block(x, speaker_ids=speakers)[0, :, 0].round(decimals=2).tolist()
    [[-1.0, -1.0], [1.0, 1.0], [5.0, 0.0]]
    >>> block(x, speaker_ids=speakers, causal=True)[0, :, 0].round(decimals=2).tolist()  # turn 0: a group of one
    [[1.0, 2.0], [1.0, 1.0], [5.0, 0.0]]
"""

from __future__ import annotations

import torch
from torch import nn

# `EmoJEConfig.dialogue_normalization` values.
DIALOGUE_NORMALIZATIONS: tuple[str, ...] = ("none", "standard", "center")


def validate_dialogue_normalization(method: str, min_utterances: int) -> None:
    """Check a ``dialogue_normalization`` / ``dialogue_normalization_min_utterances`` pair."""
    if method not in DIALOGUE_NORMALIZATIONS:
        raise ValueError(f"dialogue_normalization must be one of {DIALOGUE_NORMALIZATIONS}, got {method!r}")
    if int(min_utterances) < 2:
        raise ValueError(
            f"dialogue_normalization_min_utterances must be >= 2 (a group of one utterance would be zeroed), got {min_utterances}"
        )


def speaker_groups(speaker_ids: torch.Tensor, counted: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """(B, U, U) float: entry ``[b, u, v]`` is 1 when utterance ``v`` counts for the statistics of utterance ``u``
    (same dialogue row ``b``, same speaker, ``counted[b, v]`` true and, when ``causal``, ``v <= u``)."""
    same = (speaker_ids[:, :, None] == speaker_ids[:, None, :]) & counted[:, None, :]
    if causal:
        length = speaker_ids.shape[1]
        same = same & torch.ones(length, length, dtype=torch.bool, device=same.device).tril()
    return same.to(torch.float64)


class DialogueNormalization(nn.Module):
    """Standardise one modality's features per (dialogue, speaker) group (see the module docstring).

    Args:
        method: ``"standard"`` (centre and scale) or ``"center"`` (centre only); ``"none"`` returns the input.
        min_utterances: smallest group (utterances with the modality) that is normalised.
        eps: added to the group's standard deviation (in the features' raw units).
    """

    def __init__(self, method: str = "standard", min_utterances: int = 4, eps: float = 1e-3) -> None:
        super().__init__()
        validate_dialogue_normalization(method, min_utterances)
        self.method, self.min_utterances, self.eps = method, int(min_utterances), float(eps)

    def extra_repr(self) -> str:
        return f"method={self.method!r}, min_utterances={self.min_utterances}"

    def forward(
        self,
        features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        present: torch.Tensor | None = None,
        utterance_mask: torch.Tensor | None = None,
        speaker_ids: torch.Tensor | None = None,
        shift: torch.Tensor | None = None,
        scale: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """``features`` (B, U, T, D) normalised per group; ``attention_mask`` (B, U, T) real frames, ``present`` (B, U)
        utterances having the modality, ``utterance_mask`` (B, U) real utterances (each default: all), ``speaker_ids``
        (B, U) (default: one speaker), ``shift`` / ``scale`` (D,) the global scale to map back to (default 0 / 1)."""
        if self.method == "none":
            return features
        batch, length, frames, _ = features.shape
        device = features.device
        frame_mask = (
            torch.ones(batch, length, frames, dtype=torch.bool, device=device) if attention_mask is None else attention_mask.bool()
        )
        counted = frame_mask.any(-1)
        if present is not None:
            counted = counted & present.bool()
        if utterance_mask is not None:
            counted = counted & utterance_mask.bool()
        if speaker_ids is None:
            speaker_ids = torch.zeros(batch, length, dtype=torch.long, device=device)
        groups = speaker_groups(speaker_ids, counted, causal)  # (B, U, U)
        weights = (frame_mask & counted[..., None]).to(torch.float64)  # (B, U, T)
        values = features.to(torch.float64)
        frame_count = groups @ weights.sum(-1, keepdim=True)  # (B, U, 1)
        total = groups @ (values * weights[..., None]).sum(2)  # (B, U, D)
        mean = total / frame_count.clamp_min(1.0)
        shift = values.new_zeros(()) if shift is None else shift.to(torch.float64)
        if self.method == "standard":
            square = groups @ (values.pow(2) * weights[..., None]).sum(2)
            std = (square / frame_count.clamp_min(1.0) - mean.pow(2)).clamp_min(0.0).sqrt()
            unit = values.new_ones(()) if scale is None else scale.to(torch.float64)
            normalized = (values - mean[:, :, None]) / (std[:, :, None] + self.eps) * unit + shift
        else:
            normalized = values - mean[:, :, None] + shift
        utterances = groups.sum(-1)  # (B, U): the group's utterances with the modality
        apply = counted & (utterances >= self.min_utterances)
        apply = apply[..., None] & frame_mask  # (B, U, T): real frames of normalised utterances only
        return torch.where(apply[..., None], normalized.to(features.dtype), features)


__all__ = ["DIALOGUE_NORMALIZATIONS", "DialogueNormalization", "speaker_groups", "validate_dialogue_normalization"]
