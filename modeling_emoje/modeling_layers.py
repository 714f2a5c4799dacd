"""Building blocks shared by AM^2-EmoJE and CM-ARR.

Everything here works on *utterance-flattened* tensors: a batch of B dialogues padded to U utterances is
viewed as N = B * U utterances, and a modality that is absent for an utterance is never computed for it
(its values cannot leak into the output, whatever they are).

Example:
    >>> import torch
    >>> from modeling_emoje.modeling_layers import ModalityEncoder, AttentionPooling
    >>> encoder = ModalityEncoder(input_dim=10, hidden_size=16, num_layers=1, num_heads=2)
    >>> states = encoder(torch.randn(3, 5, 10), torch.ones(3, 5, dtype=torch.long))
    >>> AttentionPooling(16)(states, torch.ones(3, 5, dtype=torch.long)).shape
    torch.Size([3, 16])
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .modalities import MODALITIES, MODALITY_INDEX, counted_modalities
from .model_folder import check_model_folder

PREFIX_CHUNK = 64  # prefixes per context call when a bidirectional context streams (`DialogueContext.prefix_states`)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Mean of ``values`` over ``dim`` counting only positions where ``mask`` is true (0 where none are).

    ``mask`` has the shape of ``values`` without its trailing feature dimension.

    Example:
        >>> masked_mean(torch.tensor([[1.0], [3.0], [100.0]]), torch.tensor([1, 1, 0]), dim=0)
        tensor([2.])
    """
    weights = mask.to(values.dtype).unsqueeze(-1)
    total = (values * weights).sum(dim)
    count = weights.sum(dim).clamp_min(1.0)
    return total / count


FEATURE_NORMALIZATIONS: tuple[str, ...] = ("standard", "robust", "none")


class FeatureStandardizer(nn.Module):
    """Per-dimension ``(x - shift) / scale`` of one modality's input features, fitted on the training split.

    The statistics are buffers, so they are saved in ``model.safetensors`` and loaded by ``from_pretrained``:
    training, evaluation and the pipeline apply exactly the same transform. Until `fit` is called (``num_frames``
    is 0) it is the identity. ``method="standard"`` uses the mean and standard deviation of the training frames,
    ``"robust"`` the median and the inter-quartile range / 1.349 (the standard deviation of a normal distribution
    with that IQR), falling back to the standard deviation where the IQR is 0 (binary or mostly-constant
    dimensions). Dimensions that never vary keep scale 1.

    Example:
        >>> standardizer = FeatureStandardizer(2)
        >>> standardizer.fit(torch.tensor([[0.0, 10.0], [2.0, 30.0]]))
        >>> standardizer(torch.tensor([[1.0, 20.0]])).tolist(), int(standardizer.num_frames)
        ([[0.0, 0.0]], 2)
    """

    def __init__(self, dim: int, method: str = "standard") -> None:
        super().__init__()
        if method not in FEATURE_NORMALIZATIONS or method == "none":
            raise ValueError(f"method must be 'standard' or 'robust', got {method!r}")
        self.method = method
        self.register_buffer("shift", torch.zeros(dim))
        self.register_buffer("scale", torch.ones(dim))
        self.register_buffer("num_frames", torch.zeros((), dtype=torch.long))

    @property
    def is_fitted(self) -> bool:
        return bool(self.num_frames > 0)

    @torch.no_grad()
    def fit(self, frames: torch.Tensor) -> None:
        """Set the statistics from ``(num_frames, dim)`` training frames (real frames of present utterances only)."""
        if frames.dim() != 2 or frames.shape[1] != self.shift.shape[0]:
            raise ValueError(f"expected frames of shape (n, {self.shift.shape[0]}), got {tuple(frames.shape)}")
        if frames.shape[0] == 0:
            raise ValueError("cannot fit feature statistics on zero frames")
        frames = frames.to(torch.float64)
        if not torch.isfinite(frames).all():
            raise ValueError("cannot fit feature statistics: the training frames hold NaN or infinite values")
        std = frames.std(0, correction=0)
        if self.method == "robust":
            low, shift, high = torch.quantile(frames, torch.tensor([0.25, 0.5, 0.75], dtype=frames.dtype), dim=0)
            scale = torch.where(high - low > 1e-12, (high - low) / 1.349, std)
        else:
            shift, scale = frames.mean(0), std
        scale = torch.where(scale > 1e-8 * (1.0 + shift.abs()), scale, torch.ones_like(scale))
        self.shift.copy_(shift.to(self.shift.dtype))
        self.scale.copy_(scale.to(self.scale.dtype))
        self.num_frames.fill_(frames.shape[0])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features - self.shift) / self.scale


class ModalityEncoder(nn.Module):
    """One modality's encoder: [standardize] -> Linear -> LayerNorm -> GELU (-> MLP) -> learned positions -> Transformer layers.

    Input ``(N, T, D)`` features and a ``(N, T)`` frame mask; output ``(N, T, hidden_size)`` states.
    ``num_layers=0`` gives the MLP-only form used by CM-ARR's UMC encoders. ``normalization`` (``"standard"``,
    ``"robust"`` or ``"none"``) adds a `FeatureStandardizer` in front, fitted by `fit_feature_normalization`.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_size: int,
        num_layers: int = 1,
        num_heads: int = 4,
        dropout: float = 0.1,
        max_positions: int = 512,
        use_mlp: bool = False,
        normalization: str = "none",
    ) -> None:
        super().__init__()
        if normalization not in FEATURE_NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {FEATURE_NORMALIZATIONS}, got {normalization!r}")
        self.standardizer = None if normalization == "none" else FeatureStandardizer(input_dim, normalization)
        self.input_projection = nn.Linear(input_dim, hidden_size)
        self.input_norm = nn.LayerNorm(hidden_size)
        self.mlp = (
            nn.Sequential(nn.Linear(hidden_size, hidden_size), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_size, hidden_size))
            if use_mlp
            else None
        )
        self.max_positions = max_positions
        self.position_embeddings = nn.Embedding(max_positions, hidden_size) if num_layers > 0 else None
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                hidden_size, num_heads, dim_feedforward=2 * hidden_size, dropout=dropout, activation="gelu",
                batch_first=True, norm_first=True,
            )
            for _ in range(num_layers)
        )

    def forward(self, features: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        if self.standardizer is not None:
            features = self.standardizer(features)
        states = F.gelu(self.input_norm(self.input_projection(features)))
        if self.mlp is not None:
            states = states + self.mlp(states)
        if self.position_embeddings is not None:
            length = states.shape[1]
            if length > self.max_positions:
                raise ValueError(f"a sequence of {length} frames exceeds max_positions={self.max_positions}")
            positions = torch.arange(length, device=states.device)
            states = states + self.position_embeddings(positions)[None]
        states = self.dropout(states)
        padding = ~frame_mask.bool()
        for layer in self.layers:
            states = layer(states, src_key_padding_mask=padding)
        return states * frame_mask.unsqueeze(-1).to(states.dtype)


class AttentionPooling(nn.Module):
    """Pools ``(N, T, d)`` states into one ``(N, d)`` descriptor with a learned, masked attention score."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        # No bias: a softmax over frames ignores a constant shift, so a bias would never learn.
        self.score = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, states: torch.Tensor, frame_mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(states).squeeze(-1).masked_fill(~frame_mask.bool(), torch.finfo(states.dtype).min)
        weights = torch.softmax(scores, dim=-1) * frame_mask.to(states.dtype)
        return torch.einsum("nt,ntd->nd", weights, states)


class DialogueContext(nn.Module):
    """Dialogue-level and speaker-level recurrent context over a dialogue's utterance vectors.

    A dialogue LSTM runs over every real utterance in order; a speaker LSTM runs over each speaker's own
    utterances and its states are scattered back in place. Both are bidirectional unless ``causal``, in
    which case no output depends on a later utterance. Padding utterances never influence real ones.
    Output: ``(B, U, 2 * output_size)`` = [dialogue state; speaker state].

    ``forward(..., causal=True)`` streams a bidirectional context: each utterance's output is computed from the
    utterances up to it only (`prefix_states`), as a streaming system sees the dialogue. A causal context is
    causal already and runs as usual.

    Example:
        >>> context = DialogueContext(input_size=4, hidden_size=3, num_layers=1).eval()
        >>> utterances, mask, speakers = torch.randn(1, 5, 4), torch.ones(1, 5), torch.tensor([[0, 1, 0, 1, 0]])
        >>> streamed = context(utterances, mask, speakers, causal=True)
        >>> prefix = context(utterances[:, :3], mask[:, :3], speakers[:, :3])  # the dialogue cut after turn 2
        >>> torch.allclose(streamed[:, 2], prefix[:, 2], atol=1e-6)
        True
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 2, dropout: float = 0.2, causal: bool = False) -> None:
        super().__init__()
        self.causal = causal
        kwargs = dict(
            input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, batch_first=True,
            bidirectional=not causal, dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dialogue_lstm = nn.LSTM(**kwargs)
        self.speaker_lstm = nn.LSTM(**kwargs)
        self.output_size = hidden_size * (1 if causal else 2)

    @staticmethod
    def _run(lstm: nn.LSTM, sequences: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(sequences, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, _ = lstm(packed)
        output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=sequences.shape[1])
        return output

    def forward(
        self, utterances: torch.Tensor, utterance_mask: torch.Tensor, speaker_ids: torch.Tensor, causal: bool = False
    ) -> torch.Tensor:
        if causal and not self.causal:
            return self.prefix_states(utterances, utterance_mask, speaker_ids)
        batch, length, _ = utterances.shape
        real = utterance_mask.bool()
        lengths = real.sum(1)
        dialogue = utterances.new_zeros(batch, length, self.output_size)
        has_any = lengths > 0
        if has_any.any():
            dialogue[has_any] = self._run(self.dialogue_lstm, utterances[has_any], lengths[has_any])

        # Speaker stream: one sequence per (dialogue, speaker), in utterance order.
        speaker = utterances.new_zeros(batch, length, self.output_size)
        dialogue_index, utterance_index = real.nonzero(as_tuple=True)
        if dialogue_index.numel() > 0:
            keys = dialogue_index * (int(speaker_ids.max().item()) + 1) + speaker_ids[dialogue_index, utterance_index]
            groups, group_of = torch.unique(keys, return_inverse=True)
            # nonzero() lists positions in row-major order, so utterances stay in order inside a group.
            counts = torch.bincount(group_of, minlength=groups.numel())
            starts = torch.cumsum(counts, 0) - counts
            order = torch.argsort(group_of, stable=True)
            position_in_group = torch.empty_like(group_of)
            position_in_group[order] = torch.arange(group_of.numel(), device=group_of.device) - starts[group_of[order]]
            grouped = utterances.new_zeros(groups.numel(), int(counts.max().item()), utterances.shape[-1])
            grouped[group_of, position_in_group] = utterances[dialogue_index, utterance_index]
            states = self._run(self.speaker_lstm, grouped, counts)
            speaker[dialogue_index, utterance_index] = states[group_of, position_in_group]
        return torch.cat([dialogue, speaker], dim=-1)

    def prefix_states(
        self, utterances: torch.Tensor, utterance_mask: torch.Tensor, speaker_ids: torch.Tensor, chunk_size: int = PREFIX_CHUNK
    ) -> torch.Tensor:
        """``(B, U, 2 * output_size)``: each real utterance's output within its own prefix (the dialogue cut after it).

        The same values as running the context on ``[:, :t + 1]`` and keeping turn ``t``, for every ``t``, but in one
        batched call per ``chunk_size`` prefixes (the LSTMs are packed, so a prefix never sees the turns after it);
        memory is ``O(chunk_size * U)``. Padding utterances get zeros, as in `forward`.
        """
        real = utterance_mask.bool()
        dialogue_index, end_index = real.nonzero(as_tuple=True)
        states = utterances.new_zeros(*real.shape, 2 * self.output_size)
        positions = torch.arange(real.shape[1], device=real.device)
        for first in range(0, dialogue_index.numel(), chunk_size):
            rows, ends = dialogue_index[first : first + chunk_size], end_index[first : first + chunk_size]
            width = int(ends.max()) + 1
            prefix_mask = real[rows, :width] & (positions[None, :width] <= ends[:, None])
            prefixes = self(utterances[rows, :width], prefix_mask, speaker_ids[rows, :width])
            states = states.index_put((rows, ends), prefixes[torch.arange(rows.numel(), device=rows.device), ends])
        return states


def feature_standardizers(model: nn.Module) -> dict[str, FeatureStandardizer]:
    """The input `FeatureStandardizer` of each modality encoder of ``model`` (modules named ``...encoders.<modality>``).

    Example:
        >>> encoders = nn.ModuleDict({"audio": ModalityEncoder(3, 8, num_layers=0, normalization="standard")})
        >>> list(feature_standardizers(nn.ModuleDict({"encoders": encoders})))
        ['audio']
    """
    found: dict[str, FeatureStandardizer] = {}
    for name, module in model.named_modules():
        parent, _, modality = name.rpartition(".")
        if (
            modality in MODALITIES
            and parent.rpartition(".")[2] == "encoders"
            and isinstance(module, ModalityEncoder)
            and module.standardizer is not None
        ):
            if modality in found:
                raise ValueError(f"{type(model).__name__} has two '{modality}' encoders; cannot tell which to fit")
            found[modality] = module.standardizer
    return found


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


def check_model_inputs(
    modality_dims: Mapping[str, int],
    features: Mapping[str, torch.Tensor],
    attention_masks: Mapping[str, torch.Tensor | None],
    modality_mask: torch.Tensor | None,
    utterance_mask: torch.Tensor | None,
    labels: torch.Tensor | None,
    num_labels: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate the shared input contract and return ``(present (B, U, 4) bool, utterance_mask (B, U) bool)``.

    Raises ``ValueError`` naming the input at fault.
    """
    if not features:
        raise ValueError(f"no modality features were given: pass at least one of {[f'{m}_features' for m in modality_dims]}")
    batch_shape = None
    for name, value in features.items():
        if name not in modality_dims:
            raise ValueError(
                f"{name}_features was given but the model has no '{name}' encoder (config.modality_dims: {dict(modality_dims)})"
            )
        if value.dim() != 4:
            raise ValueError(f"{name}_features must have shape (batch, utterances, frames, dim); got {tuple(value.shape)}")
        if value.shape[-1] != modality_dims[name]:
            raise ValueError(
                f"{name}_features has feature size {value.shape[-1]} but config.modality_dims['{name}'] is {modality_dims[name]}"
            )
        if batch_shape is None:
            batch_shape = value.shape[:2]
        elif value.shape[:2] != batch_shape:
            raise ValueError(f"{name}_features has (batch, utterances) {tuple(value.shape[:2])}, expected {tuple(batch_shape)}")
        mask = attention_masks.get(name)
        if mask is not None and mask.shape != value.shape[:3]:
            raise ValueError(f"{name}_attention_mask has shape {tuple(mask.shape)}, expected {tuple(value.shape[:3])}")
    device = next(iter(features.values())).device
    if utterance_mask is None:
        utterance_mask = torch.ones(batch_shape, dtype=torch.bool, device=device)
    elif utterance_mask.shape != batch_shape:
        raise ValueError(f"utterance_mask has shape {tuple(utterance_mask.shape)}, expected {tuple(batch_shape)}")
    utterance_mask = utterance_mask.bool()
    given = torch.tensor([name in features for name in MODALITIES], device=device)
    if modality_mask is None:
        present = given.expand(*batch_shape, len(MODALITIES)).clone()
    else:
        if modality_mask.shape != (*batch_shape, len(MODALITIES)):
            raise ValueError(f"modality_mask has shape {tuple(modality_mask.shape)}, expected {(*batch_shape, len(MODALITIES))}")
        present = modality_mask.bool()
        claimed_without_features = present & ~given
        if claimed_without_features.any():
            missing = [MODALITIES[i] for i in claimed_without_features.flatten(0, 1).any(0).nonzero().flatten().tolist()]
            raise ValueError(f"modality_mask marks {missing} present but no {missing[0]}_features were given")
    present = counted_modalities(present, utterance_mask)
    empty = utterance_mask & ~present.any(-1)
    if empty.any():
        dialogue, utterance = empty.nonzero()[0].tolist()
        raise ValueError(
            f"modality_mask has no modality for real utterance {utterance} of dialogue {dialogue} (batch index): "
            "every real utterance needs at least one present modality"
        )
    if labels is not None:
        if labels.shape != batch_shape:
            raise ValueError(f"labels has shape {tuple(labels.shape)}, expected {tuple(batch_shape)}")
        bad = (labels != -100) & ((labels < 0) | (labels >= num_labels))
        if bad.any():
            dialogue, utterance = bad.nonzero()[0].tolist()
            raise ValueError(
                f"labels[{dialogue}, {utterance}] = {labels[dialogue, utterance].item()} is out of range for "
                f"{num_labels} labels (use -100 for padding)"
            )
    return present, utterance_mask


def collect_modality_inputs(
    modality_dims: Mapping[str, int], kwargs: Mapping[str, torch.Tensor | None]
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor | None]]:
    """Split ``{m}_features`` / ``{m}_attention_mask`` keyword inputs into two dicts keyed by modality."""
    features, masks = {}, {}
    for name in MODALITIES:
        value = kwargs.get(f"{name}_features")
        if value is not None:
            features[name] = value
            masks[name] = kwargs.get(f"{name}_attention_mask")
    unknown = [key for key, value in kwargs.items() if value is not None and key.endswith("_features") and key[: -len("_features")] not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown modality inputs {unknown}; modalities are {MODALITIES}")
    return features, masks


def encode_present_modalities(
    encoders: Mapping[str, nn.Module],
    features: Mapping[str, torch.Tensor],
    attention_masks: Mapping[str, torch.Tensor | None],
    present: torch.Tensor,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Run each modality's encoder on the utterances where that modality is present, and only there.

    ``features[m]`` is ``(B, U, T, D)``, ``present`` ``(B, U, 4)``. Returns, per modality,
    ``(states (N, T, d), frame_mask (N, T))`` over all N = B * U utterances; rows of absent utterances
    are zeros and their frame mask is all false, so the values given for an absent modality never matter.

    In a run of several processes (`in_distributed_run`) every encoder runs in every call, in `MODALITIES` order:
    one whose modality is absent from the whole batch (no features, or no present utterance) runs on one all-zero
    frame and is left out of the result, but that output joins the graph with weight 0 (`keep_in_graph`). So every
    process executes the same modules in the same order whatever its batch holds (FSDP gathers an encoder's
    weights in its forward and backward), and every encoder receives a gradient in every step; the outputs are
    unchanged. A single process skips absent encoders (no cost, and no zero gradient for the optimizer to apply).
    """
    encoded, idle = {}, []
    lockstep = in_distributed_run()
    flat_present = present.flatten(0, 1)
    reference = next(iter(features.values()))
    for name in (name for name in MODALITIES if name in encoders):
        value = features.get(name)
        rows = flat_present[:, MODALITY_INDEX[name]]
        if lockstep and (value is None or not rows.any()):
            width = value.shape[-1] if value is not None else encoders[name].input_projection.in_features
            one_frame = torch.ones(1, 1, dtype=torch.bool, device=reference.device)
            idle.append(encoders[name](reference.new_zeros(1, 1, width), one_frame))
        if value is None:
            continue
        flat = value.flatten(0, 1)
        mask = attention_masks.get(name)
        frame_mask = (
            torch.ones(flat.shape[:2], dtype=torch.bool, device=flat.device) if mask is None else mask.flatten(0, 1).bool()
        )
        frame_mask = frame_mask & rows[:, None]
        no_frames = rows & ~frame_mask.any(-1)
        if no_frames.any():
            raise ValueError(
                f"{name}_attention_mask has no real frame for an utterance whose modality_mask marks {name} present "
                f"(flattened utterance {no_frames.nonzero()[0].item()})"
            )
        if not rows.any():
            continue
        selected = encoders[name](flat[rows], frame_mask[rows])
        states = selected.new_zeros(flat.shape[0], flat.shape[1], selected.shape[-1])
        states = states.index_put((rows.nonzero().flatten(),), selected)
        encoded[name] = (states, frame_mask)
    if idle and encoded:
        first = next(iter(encoded))
        encoded[first] = (keep_in_graph(encoded[first][0], *idle), encoded[first][1])
    return encoded


def in_distributed_run() -> bool:
    """Whether this process is one of several in a torch.distributed process group (DDP, FSDP, DeepSpeed)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def keep_in_graph(value: torch.Tensor, *unused: torch.Tensor) -> torch.Tensor:
    """``value`` plus ``0 *`` the sum of ``unused``: the same numbers, but the modules that produced ``unused`` stay
    in the autograd graph (they get zero gradients instead of none).

    Example:
        >>> weight = torch.ones(2, requires_grad=True)
        >>> out = keep_in_graph(torch.ones(3), weight * 5.0)
        >>> out.sum().backward(); out.tolist(), weight.grad.tolist()
        ([1.0, 1.0, 1.0], [0.0, 0.0])
    """
    if not unused:
        return value
    return value + 0.0 * sum(tensor.sum() for tensor in unused)


# Weights a checkpoint may lack: the input standardiser's statistics (checkpoints written before feature
# normalisation existed); they then load as the identity transform, which is what those weights were trained with.
OPTIONAL_WEIGHT_SUFFIXES: tuple[str, ...] = (".standardizer.shift", ".standardizer.scale", ".standardizer.num_frames")


def is_optional_weight(key: str) -> bool:
    """Whether a checkpoint may lack ``key`` (see `OPTIONAL_WEIGHT_SUFFIXES`)."""
    return key.endswith(OPTIONAL_WEIGHT_SUFFIXES)


def add_base_model_auto_map(model, base_model_class: type) -> None:
    """Give ``model.config.auto_map`` an ``AutoModel`` entry for ``base_model_class`` (the model without its head)
    when ``model`` saves its code for ``trust_remote_code``, so a saved folder loads with ``AutoModel`` as well as
    with the head's Auto class where this package is not installed.

    Example:
        >>> from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition, EmoJEModel
        >>> model = EmoJEForEmotionRecognition(EmoJEConfig(modality_dims={"text": 4}, num_labels=2, hidden_size=8))
        >>> add_base_model_auto_map(model, EmoJEModel)
        >>> model.config.auto_map["AutoModel"]
        'modeling_emoje.EmoJEModel'
    """
    if getattr(type(model), "_auto_class", None) is None:
        return
    entry = f"{base_model_class.__module__.rsplit('.', 1)[-1]}.{base_model_class.__name__}"
    model.config.auto_map = {**(getattr(model.config, "auto_map", None) or {}), "AutoModel": entry}


@torch.no_grad()
def _load_single_values(model: nn.Module, pretrained_model_name_or_path, keys: list[str]) -> None:
    """Copy the one-value weights ``keys`` from the checkpoint's safetensors files into ``model``, whatever their shape."""
    from safetensors import safe_open
    from transformers.utils import cached_file

    folder = Path(pretrained_model_name_or_path)
    files = sorted(folder.glob("model*.safetensors")) if folder.is_dir() else [cached_file(str(folder), "model.safetensors")]
    parameters = dict(model.named_parameters())
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
    """
    path = pretrained_model_name_or_path
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
        problems.append(f"missing keys {missing[:5]} ({len(missing)} in all)")
    mismatched = sorted(info.get("mismatched_keys") or [], key=lambda entry: entry[0])
    reshaped = [entry for entry in mismatched if math.prod(entry[1]) == math.prod(entry[2]) == 1]
    if reshaped:  # a one-value weight saved as a 0-d scalar (or the reverse): the same number, another shape
        _load_single_values(model, pretrained_model_name_or_path, [key for key, _, _ in reshaped])
        mismatched = [entry for entry in mismatched if entry not in reshaped]
        info["mismatched_keys"] = mismatched
    if mismatched and not ignore_sizes:
        shown = ", ".join(f"{key}: file {tuple(saved)} vs model {tuple(built)}" for key, saved, built in mismatched[:5])
        problems.append(f"shape mismatches {shown} ({len(mismatched)} in all)")
    if problems and not caller_handles:
        raise ValueError(
            f"{pretrained_model_name_or_path}: the weights do not fit config.json ({'; '.join(problems)}); "
            "they would be left randomly initialised"
        )
    return (model, info) if caller_handles else model


__all__ = [
    "MODALITIES",
    "MODALITY_INDEX",
    "PREFIX_CHUNK",
    "add_base_model_auto_map",
    "AttentionPooling",
    "DialogueContext",
    "ModalityEncoder",
    "FEATURE_NORMALIZATIONS",
    "FeatureStandardizer",
    "check_model_inputs",
    "feature_standardizers",
    "collect_modality_inputs",
    "encode_present_modalities",
    "in_distributed_run",
    "keep_in_graph",
    "focal_loss",
    "info_nce",
    "jensen_shannon",
    "OPTIONAL_WEIGHT_SUFFIXES",
    "is_optional_weight",
    "load_pretrained_strictly",
    "masked_mean",
    "MODALITY_MASKINGS",
    "sample_missing_condition",
    "sample_modality_subsets",
    "sample_training_modalities",
    "sample_modality_dropout",
    "similarity_info_nce",
    "supervised_contrastive",
]
