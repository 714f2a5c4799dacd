# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""The layers of AM^2-EmoJE and CM-ARR: input standardisation, modality encoders, pooling, dialogue context, heads.

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

from collections.abc import Mapping

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from .modalities import MODALITIES, MODALITY_INDEX, get_modality

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


def encode_tokens(
    text_model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None, pooling: str, chunk_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A Hugging Face text encoder (``text_model``) on ``(B, U, L)`` right-padded token ids: ``(features, frame mask)``
    in the layout of a modality input, ``(B, U, L, H)`` token states (``pooling="tokens"``) or ``(B, U, 1, H)`` their
    masked mean (``"mean"``). Utterances without tokens are skipped (zeros); the others are sorted by length and run
    ``chunk_size`` at a time, each chunk padded only to its own longest utterance.
    """
    if input_ids.dim() != 3:
        raise ValueError(f"input_ids must have shape (batch, utterances, tokens); got {tuple(input_ids.shape)}")
    batch, length, tokens = input_ids.shape
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    flat_ids, flat_mask = input_ids.reshape(-1, tokens), attention_mask.reshape(-1, tokens)
    token_counts = flat_mask.sum(-1)
    rows = token_counts.nonzero().flatten()
    rows = rows[torch.argsort(token_counts[rows], stable=True)]
    mean = pooling == "mean"
    width = 1 if mean else tokens
    hidden_size = text_model.config.hidden_size
    dtype = text_model.get_input_embeddings().weight.dtype
    full = flat_ids.new_zeros(batch * length, width, hidden_size, dtype=dtype)
    for first in range(0, rows.numel(), chunk_size):
        chunk = rows[first : first + chunk_size]
        longest = int(token_counts[chunk].max())
        if flat_mask[chunk, longest:].any():
            raise ValueError("attention_mask must be right-padded (real tokens first in every utterance)")
        ids, mask = flat_ids[chunk, :longest], flat_mask[chunk, :longest]
        states = text_model(input_ids=ids, attention_mask=mask).last_hidden_state
        if mean:
            states = masked_mean(states, mask, dim=1)[:, None]
        else:
            states = F.pad(states, (0, 0, 0, tokens - longest))
        full = full.index_put((chunk,), states)
    if mean:
        return full.reshape(batch, length, 1, -1), (token_counts > 0).reshape(batch, length, 1).to(attention_mask.dtype)
    return full.reshape(batch, length, tokens, -1), attention_mask


def utterance_classifier(input_size: int, hidden_size: int, num_labels: int, dropout: float) -> nn.Sequential:
    """The classification head of both models: Dropout -> Linear -> GELU -> Dropout -> Linear, per utterance."""
    return nn.Sequential(
        nn.Dropout(dropout), nn.Linear(input_size, hidden_size), nn.GELU(), nn.Dropout(dropout),
        nn.Linear(hidden_size, num_labels),
    )


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
                f"{get_modality(name).attention_mask_key} has no real frame for an utterance whose modality_mask marks "
                f"{name} present (flattened utterance {no_frames.nonzero()[0].item()})"
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


__all__ = [
    "FEATURE_NORMALIZATIONS",
    "PREFIX_CHUNK",
    "AttentionPooling",
    "DialogueContext",
    "FeatureStandardizer",
    "ModalityEncoder",
    "encode_present_modalities",
    "encode_tokens",
    "feature_standardizers",
    "in_distributed_run",
    "keep_in_graph",
    "masked_mean",
    "utterance_classifier",
]
