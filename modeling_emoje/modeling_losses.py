# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""The training losses of AM^2-EmoJE and CM-ARR: contrastive (InfoNCE, supervised contrastive), focal, Jensen-Shannon.

Each loss is a mean over the rows it is given and is an exact, differentiable zero where there is nothing to compare
(fewer than two rows, no labelled position), so a batch that lacks a modality pair never breaks a training step.

Example:
    >>> import torch
    >>> from modeling_emoje.modeling_losses import focal_loss
    >>> logits, labels = torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, -100])
    >>> round(focal_loss(logits, labels, gamma=0.0).item(), 4)  # cross-entropy of the one labelled row
    0.1269
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def info_nce(
    queries: torch.Tensor, keys: torch.Tensor, logit_scale: torch.Tensor | float, symmetric: bool = True
) -> torch.Tensor:
    """CLIP-style InfoNCE between row-aligned ``queries`` and ``keys`` (already L2-normalised), other rows as negatives.

    Example:
        >>> z = F.normalize(torch.eye(4), dim=-1)
        >>> bool(info_nce(z, z, 10.0) < info_nce(z, z.roll(1, 0), 10.0))
        True
    """
    if queries.shape[0] < 2:
        return queries.sum() * 0.0
    logits = logit_scale * queries @ keys.t()
    targets = torch.arange(queries.shape[0], device=queries.device)
    loss = F.cross_entropy(logits, targets)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.t(), targets))
    return loss


def similarity_info_nce(similarity: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE from a precomputed ``(N, N)`` similarity matrix whose diagonal holds the positives."""
    if similarity.shape[0] < 2:
        return similarity.sum() * 0.0
    targets = torch.arange(similarity.shape[0], device=similarity.device)
    return 0.5 * (F.cross_entropy(similarity, targets) + F.cross_entropy(similarity.t(), targets))


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 1.0, ignore_index: int = -100) -> torch.Tensor:
    """Multi-class focal loss ``-(1 - p_y)^gamma log p_y`` averaged over non-ignored positions (gamma 0 = CE)."""
    logits = logits.reshape(-1, logits.shape[-1])
    labels = labels.reshape(-1)
    keep = labels != ignore_index
    if not keep.any():
        return logits.sum() * 0.0
    log_probs = F.log_softmax(logits[keep], dim=-1).gather(1, labels[keep, None]).squeeze(1)
    return (-(1.0 - log_probs.exp()).pow(gamma) * log_probs).mean()


def jensen_shannon(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """Mean Jensen-Shannon divergence between the categorical distributions given by two logit tensors."""
    if p_logits.shape[0] == 0:
        return p_logits.sum() * 0.0
    p, q = p_logits.softmax(-1), q_logits.softmax(-1)
    log_m = (0.5 * (p + q)).clamp_min(1e-12).log()
    kl_pm = (p * (p.clamp_min(1e-12).log() - log_m)).sum(-1)
    kl_qm = (q * (q.clamp_min(1e-12).log() - log_m)).sum(-1)
    return (0.5 * (kl_pm + kl_qm)).mean()


def supervised_contrastive(embeddings: torch.Tensor, labels: torch.Tensor, temperature: float = 0.07) -> torch.Tensor:
    """SupCon loss (Khosla et al.) over L2-normalised ``embeddings``; positives share a label."""
    count = embeddings.shape[0]
    if count < 2:
        return embeddings.sum() * 0.0
    logits = embeddings @ embeddings.t() / temperature
    self_mask = torch.eye(count, dtype=torch.bool, device=embeddings.device)
    logits = logits.masked_fill(self_mask, torch.finfo(logits.dtype).min)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    has_positive = positives.any(1)
    if not has_positive.any():
        return embeddings.sum() * 0.0
    mean_log_prob = (log_prob * positives).sum(1)[has_positive] / positives.sum(1)[has_positive]
    return -mean_log_prob.mean()


__all__ = ["focal_loss", "info_nce", "jensen_shannon", "similarity_info_nce", "supervised_contrastive"]
