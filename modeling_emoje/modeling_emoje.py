# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""AM^2-EmoJE: adaptive missing-modality emotion recognition in conversation via joint embedding learning.

Pipeline of the model (Devulapally et al., ICME 2024): mode encoders -> visual face/body self-attention -> Adaptive
Cross-attended Network (ACN) -> attention pooling -> multimodal joint embedding (imputes missing modes at
test time) -> Query Adaptive Fusion (QAF) -> dialogue and speaker context -> classifier. The inputs are described
in `EmoJEModel.forward` (the input contract both models share).

Example:
    >>> import torch
    >>> from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition
    >>> config = EmoJEConfig(modality_dims={"text": 8, "audio": 6}, num_labels=3, hidden_size=16,
    ...                      encoder_heads=2, acn_heads=2, joint_embedding_size=8, context_hidden_size=8)
    >>> model = EmoJEForEmotionRecognition(config).eval()
    >>> out = model(text_features=torch.randn(1, 4, 1, 8),           # audio absent everywhere
    ...             speaker_ids=torch.tensor([[0, 1, 0, 1]]))
    >>> out.logits.shape, out.modality_weights[0, 0].tolist()[2:]    # face/body not configured -> weight 0
    (torch.Size([1, 4, 3]), [0.0, 0.0])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel
from transformers import initialization as init

from .configuration_emoje import EmoJEConfig
from .dialogue_normalization import DialogueNormalization
from .modalities import MODALITIES, MODALITY_INDEX, get_modality
from .model_specs import ModelSpec
from .modeling_base import ConversationModelOutput, EmotionRecognitionOutput, EmotionRecognitionPreTrainedModel
from .modeling_inputs import documents_input_contract
from .modeling_layers import (
    AttentionPooling,
    DialogueContext,
    ModalityEncoder,
    encode_present_modalities,
    encode_tokens,
    masked_mean,
    utterance_classifier,
)
from .modeling_losses import focal_loss, info_nce, jensen_shannon
from .modeling_sampling import sample_training_modalities


@dataclass
class EmoJEModelOutput(ConversationModelOutput):
    """Outputs of [`EmoJEModel`]; per-utterance tensors are ``(B, U, ...)``, per-mode ones ``(B, U, 4, ...)``."""

    descriptors: torch.Tensor | None = None
    joint_embeds: torch.Tensor | None = None
    modality_weights: torch.Tensor | None = None
    present_mask: torch.Tensor | None = None
    kept_mask: torch.Tensor | None = None
    imputed_mask: torch.Tensor | None = None
    leave_one_out_descriptors: torch.Tensor | None = None
    leave_one_out_mask: torch.Tensor | None = None
    utterance_mask: torch.Tensor | None = None


@dataclass
class EmoJEEmotionRecognitionOutput(EmotionRecognitionOutput):
    """Outputs of [`EmoJEForEmotionRecognition`]: ``loss`` is the weighted total, ``loss_terms`` each term."""

    joint_embeds: torch.Tensor | None = None
    loss_terms: dict[str, torch.Tensor] | None = None


def _scatter_rows(base: torch.Tensor, rows: torch.Tensor | None, values: torch.Tensor) -> torch.Tensor:
    """Out-of-place ``base[rows] += values`` (autograd-safe); ``rows=None`` means every row."""
    if rows is None:
        return base + values
    return base.index_add(0, rows.nonzero().flatten(), values)


def _select_rows(rows: torch.Tensor) -> torch.Tensor | None:
    """``rows`` as a boolean row selector, or ``None`` when it selects every row (no gather/scatter copies needed)."""
    return None if bool(rows.all()) else rows


def _pick(value: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """``value[rows]``, or ``value`` itself when ``rows`` is ``None`` (every row, see `_select_rows`)."""
    return value if rows is None else value[rows]


def _attend(
    attention: nn.MultiheadAttention, query: torch.Tensor, key: torch.Tensor, key_mask: torch.Tensor, training: bool
) -> torch.Tensor:
    """``attention(query, key, key)`` with ``key_mask`` (N, T_k) True on real frames.

    With a single key frame (utterance-level features) the softmax over keys is exactly 1, so at inference the
    result is ``out_proj(v_proj(key))`` for every query frame; that shortcut skips the query/key projections and
    the attention kernel (same values up to float rounding). In training, attention dropout makes it inexact, so
    the full module runs.
    """
    if key.shape[1] == 1 and not training:
        hidden = key.shape[-1]
        values = F.linear(key, attention.in_proj_weight[2 * hidden :], attention.in_proj_bias[2 * hidden :])
        return attention.out_proj(values).expand(-1, query.shape[1], -1)
    out, _ = attention(query, key, key, key_padding_mask=~key_mask, need_weights=False)
    return out


class VisualCrossAttention(nn.Module):
    """Face and body attend to each other where both are visible, so body can carry facial cues."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.ModuleDict({name: nn.LayerNorm(hidden_size) for name in ("face", "body")})
        self.attention = nn.ModuleDict(
            {name: nn.MultiheadAttention(hidden_size, num_heads, dropout=dropout, batch_first=True) for name in ("face", "body")}
        )

    def forward(self, states: dict, masks: dict, query_present: torch.Tensor, key_present: torch.Tensor) -> dict:
        if "face" not in states or "body" not in states:
            return states
        updated = dict(states)
        for query, key in (("face", "body"), ("body", "face")):
            rows = query_present[:, MODALITY_INDEX[query]] & key_present[:, MODALITY_INDEX[key]]
            if not rows.any():
                continue
            rows = _select_rows(rows)
            q = self.norm[query](_pick(states[query], rows))
            kv = self.norm[key](_pick(states[key], rows))
            out = _attend(self.attention[query], q, kv, _pick(masks[key], rows), self.training)
            updated[query] = _scatter_rows(states[query], rows, out) * masks[query][..., None]
        return updated


class CrossAttendedLayer(nn.Module):
    """One ACN layer: ``H_m <- H_m + mean_{present n != m} MHA(H_m, H_n)``, then a feed-forward block per mode.

    Absent modes are left out of the mean, never fed as zeros.
    """

    def __init__(self, modalities: list[str], hidden_size: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.modalities = modalities
        self.norm = nn.ModuleDict({name: nn.LayerNorm(hidden_size) for name in modalities})
        self.attention = nn.ModuleDict(
            {
                f"{query}_from_{key}": nn.MultiheadAttention(hidden_size, num_heads, dropout=dropout, batch_first=True)
                for query in modalities
                for key in modalities
                if query != key
            }
        )
        self.feed_forward = nn.ModuleDict(
            {
                name: nn.Sequential(
                    nn.LayerNorm(hidden_size), nn.Linear(hidden_size, 2 * hidden_size), nn.GELU(), nn.Dropout(dropout),
                    nn.Linear(2 * hidden_size, hidden_size), nn.Dropout(dropout),
                )
                for name in modalities
            }
        )

    def forward(self, states: dict, masks: dict, query_present: torch.Tensor, key_present: torch.Tensor) -> dict:
        normed = {name: self.norm[name](value) for name, value in states.items()}
        updated = {}
        for query, query_states in states.items():
            total = torch.zeros_like(query_states)
            count = query_states.new_zeros(query_states.shape[0])
            for key in states:
                if key == query:
                    continue
                rows = query_present[:, MODALITY_INDEX[query]] & key_present[:, MODALITY_INDEX[key]]
                if not rows.any():
                    continue
                count = count + rows.to(count.dtype)
                rows = _select_rows(rows)
                out = _attend(
                    self.attention[f"{query}_from_{key}"], _pick(normed[query], rows), _pick(normed[key], rows),
                    _pick(masks[key], rows), self.training,
                )
                total = _scatter_rows(total, rows, out)
            hidden = query_states + total / count.clamp_min(1.0)[:, None, None]
            hidden = hidden + self.feed_forward[query](hidden)
            updated[query] = hidden * masks[query][..., None]
        return updated


class MultimodalJointEmbedding(nn.Module):
    """CLIP-like joint space with invertible linear maps between modes, used to impute missing modes.

    ``A_{m->n} = expm(S_{mn})`` and ``A_{n->m} = expm(-S_{mn})``, so each pair's maps are exact inverses.
    """

    def __init__(self, modalities: list[str], hidden_size: int, joint_size: int, temperature: float) -> None:
        super().__init__()
        self.modalities = modalities
        self.projections = nn.ModuleDict({name: nn.Linear(hidden_size, joint_size) for name in modalities})
        self.decoders = nn.ModuleDict({name: nn.Linear(joint_size, hidden_size) for name in modalities})
        self.pairs = list(combinations(modalities, 2))
        self.map_generators = nn.Parameter(torch.zeros(max(len(self.pairs), 1), joint_size, joint_size))
        # One element rather than a 0-d scalar, which FSDP2 cannot shard; weights saved in the 0-d form still load
        # (`_load_from_state_dict` here, `load_pretrained_strictly` for from_pretrained).
        self.logit_scale = nn.Parameter(torch.full((1,), math.log(1.0 / temperature)))
        self.initial_temperature = temperature

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + "logit_scale"
        if key in state_dict and state_dict[key].dim() == 0:
            state_dict[key] = state_dict[key].reshape(1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def mapping(self, source: str, target: str) -> torch.Tensor:
        """The ``(d_j, d_j)`` matrix ``A_{source->target}``."""
        if source == target:
            return torch.eye(self.map_generators.shape[-1], device=self.map_generators.device)
        if (source, target) in self.pairs:
            return torch.linalg.matrix_exp(self.map_generators[self.pairs.index((source, target))])
        return torch.linalg.matrix_exp(-self.map_generators[self.pairs.index((target, source))])

    def embed(self, descriptors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: F.normalize(self.projections[name](value), dim=-1) for name, value in descriptors.items()}

    def impute(self, embeds: dict[str, torch.Tensor], sources: torch.Tensor, target: str) -> torch.Tensor:
        """``normalize(mean over source modes m of A_{m->target} z_m)``; rows with no source give zeros."""
        total, count = None, None
        for name, value in embeds.items():
            if name == target:
                continue
            use = sources[:, MODALITY_INDEX[name]].to(value.dtype)[:, None]
            mapped = value @ self.mapping(name, target).t() * use
            total = mapped if total is None else total + mapped
            count = use if count is None else count + use
        if total is None:  # no other mode anywhere in the batch
            return self.map_generators.new_zeros(sources.shape[0], self.map_generators.shape[-1])
        return F.normalize(total / count.clamp_min(1.0), dim=-1)

    def alignment_losses(self, embeds: dict[str, torch.Tensor], present: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Symmetric InfoNCE for every pair present on the same utterances, and the mapping loss ``1 - cos``."""
        nce, mapping = [], []
        scale = self.logit_scale.exp().clamp(max=100.0)
        for first, second in self.pairs:
            rows = present[:, MODALITY_INDEX[first]] & present[:, MODALITY_INDEX[second]]
            if rows.sum() < 1:
                continue
            z_first, z_second = embeds[first][rows], embeds[second][rows]
            nce.append(info_nce(z_first, z_second, scale))
            forward = z_first @ self.mapping(first, second).t()
            backward = z_second @ self.mapping(second, first).t()
            mapping.append(
                (1 - F.cosine_similarity(forward, z_second, dim=-1)).mean()
                + (1 - F.cosine_similarity(backward, z_first, dim=-1)).mean()
            )
        zero = self.logit_scale.sum() * 0.0
        return (torch.stack(nce).mean() if nce else zero), (torch.stack(mapping).mean() if mapping else zero)


class QueryAdaptiveFusion(nn.Module):
    """Per-utterance modality importance: ``s_m = v^T tanh(W[h_m; q] + b_imputed * flag_m)``, softmax over available modes.

    The fused vector is ``sum_m alpha_m h_m`` plus a residual projection of the concatenated ``alpha_m h_m``,
    which keeps mode-exclusive information.
    """

    def __init__(self, num_modes: int, hidden_size: int) -> None:
        super().__init__()
        self.score = nn.Linear(2 * hidden_size, hidden_size)
        self.vector = nn.Linear(hidden_size, 1, bias=False)
        self.imputed_bias = nn.Parameter(torch.zeros(hidden_size))
        self.residual = nn.Linear(num_modes * hidden_size, hidden_size)

    def forward(self, descriptors: torch.Tensor, available: torch.Tensor, imputed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``descriptors`` (N, M, d), ``available``/``imputed`` (N, M) bool -> fused (N, d), weights (N, M)."""
        query = masked_mean(descriptors, available, dim=1)
        hidden = self.score(torch.cat([descriptors, query[:, None].expand_as(descriptors)], dim=-1))
        hidden = hidden + imputed[..., None].to(hidden.dtype) * self.imputed_bias
        scores = self.vector(torch.tanh(hidden)).squeeze(-1).masked_fill(~available, torch.finfo(hidden.dtype).min)
        weights = torch.softmax(scores, dim=-1) * available.to(hidden.dtype)
        weighted = weights[..., None] * descriptors
        fused = weighted.sum(1) + self.residual(weighted.flatten(1))
        return fused, weights


class EmoJEPreTrainedModel(EmotionRecognitionPreTrainedModel):
    config: EmoJEConfig
    config_class = EmoJEConfig
    base_model_prefix = "emoje"
    _no_split_modules = ["CrossAttendedLayer", "ModalityEncoder"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, MultimodalJointEmbedding):
            init.zeros_(module.map_generators)
            init.constant_(module.logit_scale, math.log(1.0 / module.initial_temperature))
        elif isinstance(module, QueryAdaptiveFusion):
            init.zeros_(module.imputed_bias)

    def sample_kept_modalities(self, present: torch.Tensor) -> torch.Tensor:
        """Training-time masking: ``config.modality_dropout`` under ``config.modality_masking``."""
        return sample_training_modalities(present, self.config.modality_dropout, self.config.modality_masking)


class EmoJEModel(EmoJEPreTrainedModel):
    """AM^2-EmoJE without the classification head: returns the classifier input and every intermediate."""

    def __init__(self, config: EmoJEConfig) -> None:
        super().__init__(config)
        self.modalities = config.modality_names
        hidden = config.hidden_size
        self.text_model = AutoModel.from_config(config.text_config) if config.text_config is not None else None
        self.encoders = nn.ModuleDict(
            {
                name: ModalityEncoder(
                    dim, hidden, num_layers=config.encoder_layers, num_heads=config.encoder_heads,
                    dropout=config.dropout, max_positions=config.max_positions,
                    normalization=config.input_normalization(name),
                )
                for name, dim in config.modality_dims.items()
            }
        )
        self.visual_attention = (
            VisualCrossAttention(hidden, config.encoder_heads, config.dropout)
            if {"face", "body"} <= set(self.modalities)
            else None
        )
        self.cross_attention = nn.ModuleList(
            CrossAttendedLayer(self.modalities, hidden, config.acn_heads, config.dropout) for _ in range(config.acn_layers)
        )
        self.pooling = nn.ModuleDict({name: AttentionPooling(hidden) for name in self.modalities})
        self.joint_embedding = (
            MultimodalJointEmbedding(self.modalities, hidden, config.joint_embedding_size, config.temperature)
            if len(self.modalities) > 1
            else None
        )
        # Per-(dialogue, speaker) input standardisation (no weights); None when off.
        self.dialogue_normalization = (
            DialogueNormalization(config.dialogue_normalization, config.dialogue_normalization_min_utterances)
            if config.dialogue_normalization != "none"
            else None
        )
        self.fusion = QueryAdaptiveFusion(len(self.modalities), hidden)
        # Dialogue and speaker context; None with use_dialogue_context=False (the classifier reads the fused vector only).
        self.context = (
            DialogueContext(
                hidden, config.context_hidden_size, config.context_layers, config.context_dropout, causal=config.causal
            )
            if config.use_dialogue_context
            else None
        )
        context_size = 0 if self.context is None else self.context.output_size * (2 if config.use_speaker_context else 1)
        self.output_size = hidden + context_size
        self.post_init()

    def freeze_text_backbone(self) -> None:
        """Stop gradient updates of the optional Hugging Face text encoder."""
        if self.text_model is not None:
            self.text_model.requires_grad_(False)

    def _text_features_from_backbone(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The text backbone's states of ``input_ids`` as ``text_features`` and their frame mask (`encode_tokens`)."""
        if self.text_model is None:
            raise ValueError("input_ids were given but the config has no text_config (no text backbone to run them through)")
        pooling, chunk_size = self.config.text_pooling, self.config.text_backbone_chunk_size
        return encode_tokens(self.text_model, input_ids, attention_mask, pooling, chunk_size)

    def _normalize_per_dialogue(
        self, features: dict, frame_masks: dict, present: torch.Tensor, utterance_mask: torch.Tensor,
        speaker_ids: torch.Tensor, causal: bool, skip: set[str],
    ) -> dict[str, torch.Tensor]:
        """Each modality's features through `DialogueNormalization`, mapped back to its encoder's training scale
        (running statistics when ``causal`` or ``config.causal``); text-backbone states (``skip``) are left alone."""
        normalized = {}
        for name, value in features.items():
            if name in skip:
                normalized[name] = value
                continue
            standardizer = self.encoders[name].standardizer
            normalized[name] = self.dialogue_normalization(
                value, frame_masks.get(name), present[..., MODALITY_INDEX[name]], utterance_mask, speaker_ids,
                shift=standardizer.shift if standardizer is not None else None,
                scale=standardizer.scale if standardizer is not None else None,
                causal=causal or self.config.causal,
            )
        return normalized

    def _joint_inputs(self, descriptors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The descriptors the joint embedding reads: through a stop-gradient when ``joint_gradient="isolated"``."""
        if self.config.joint_gradient == "isolated":
            return {name: value.detach() for name, value in descriptors.items()}
        return descriptors

    # The named inputs of the input contract, the same as CMARRModel.forward's (a deliberate twin: the signature is the
    # documented contract); the modality inputs come from the modality table (`**modality_inputs`).
    @documents_input_contract
    def forward(
        self,
        modality_mask: torch.Tensor | None = None,
        utterance_mask: torch.Tensor | None = None,
        speaker_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        compute_leave_one_out: bool | None = None,
        causal: bool = False,
        return_dict: bool | None = None,
        **modality_inputs: torch.Tensor | None,
    ) -> EmoJEModelOutput:
        r"""AM^2-EmoJE on a batch of dialogues; see the module docstring for an example.

        compute_leave_one_out: also impute every present mode from the others (needed for the JS loss);
            defaults to ``labels is not None``.
        causal: streaming inference: each utterance's output from the utterances up to it only (turn ``t`` sees
            turns ``<= t``), as if the dialogue were cut after it. Everything before the dialogue context works
            per utterance, so only the context runs on the prefixes (`DialogueContext.prefix_states`); a model
            trained with ``config.causal=True`` is causal already and runs as usual. With
            ``config.dialogue_normalization`` each turn is standardised with its speaker's running statistics (turns
            up to it), so no output depends on a later turn (earlier turns keep their own running statistics).
        """
        if input_ids is not None:
            text = get_modality("text")
            features, frame_mask = self._text_features_from_backbone(input_ids, attention_mask)
            modality_inputs = {**modality_inputs, text.features_key: features, text.attention_mask_key: frame_mask}
        inputs = self.prepare_inputs(modality_inputs, modality_mask, utterance_mask, speaker_ids, labels)
        features, frame_masks, present, kept = inputs.features, inputs.frame_masks, inputs.present, inputs.kept
        utterance_mask, speaker_ids = inputs.utterance_mask, inputs.speaker_ids
        if self.dialogue_normalization is not None:
            from_backbone = {get_modality("text").name} if input_ids is not None else set()
            features = self._normalize_per_dialogue(features, frame_masks, present, utterance_mask, speaker_ids, causal, from_backbone)
        batch, length = utterance_mask.shape
        # Everything before the dialogue context works per utterance, so it runs on the real utterances only
        # (N of them, flattened), never on padding; the context gets them back in (B, U) layout.
        utterance_rows = utterance_mask.flatten().nonzero().flatten()
        flat_present, flat_kept = present.flatten(0, 1)[utterance_rows], kept.flatten(0, 1)[utterance_rows]
        compact = lambda value: None if value is None else value.flatten(0, 1)[utterance_rows][None]  # noqa: E731
        features = {name: compact(value) for name, value in features.items()}
        frame_masks = {name: compact(value) for name, value in frame_masks.items()}

        encoded = encode_present_modalities(self.encoders, features, frame_masks, flat_present[None])
        states = {name: value[0] for name, value in encoded.items()}
        masks = {name: value[1] for name, value in encoded.items()}
        # Every present mode is computed (a dropped one is the target the joint embedding learns to
        # impute), but only kept modes are attended to, so dropped modes cannot leak into the fusion.
        if self.visual_attention is not None:
            states = self.visual_attention(states, masks, flat_present, flat_kept)
        for layer in self.cross_attention:
            states = layer(states, masks, flat_present, flat_kept)
        descriptors = {name: self.pooling[name](value, masks[name]) for name, value in states.items()}

        modes = self.modalities
        mode_index = [MODALITY_INDEX[name] for name in modes]
        num_rows, hidden = flat_present.shape[0], self.config.hidden_size
        zeros = flat_present.new_zeros(num_rows, hidden, dtype=next(iter(descriptors.values())).dtype)
        real = torch.stack([descriptors.get(name, zeros) for name in modes], dim=1)  # (N, M, d)
        kept_modes = flat_kept[:, mode_index]
        imputed = torch.zeros_like(kept_modes)
        columns = list((real * kept_modes[..., None].to(real.dtype)).unbind(1))
        joint_embeds = loo_descriptors = loo_mask = None
        if self.joint_embedding is not None:
            embeds = self.joint_embedding.embed(self._joint_inputs(descriptors))
            joint_embeds = torch.stack(
                [embeds[name] if name in embeds else zeros.new_zeros(num_rows, self.config.joint_embedding_size) for name in modes], 1
            )
            if self.config.use_joint_embedding:
                # Mode switching: every configured mode that is not kept is imputed from the kept ones.
                imputed = ~kept_modes & kept_modes.any(-1, keepdim=True)
                for position, name in enumerate(modes):
                    if imputed[:, position].any():
                        restored = self.joint_embedding.decoders[name](self.joint_embedding.impute(embeds, flat_kept, name))
                        columns[position] = torch.where(imputed[:, position, None], restored, columns[position])
            if compute_leave_one_out if compute_leave_one_out is not None else labels is not None:
                loo_list, loo_rows = [], []
                for position, name in enumerate(modes):
                    sources = flat_kept.clone()
                    sources[:, MODALITY_INDEX[name]] = False
                    rows = flat_present[:, MODALITY_INDEX[name]] & sources.any(-1)
                    loo_rows.append(rows)
                    loo_list.append(self.joint_embedding.decoders[name](self.joint_embedding.impute(embeds, sources, name)))
                loo_descriptors = torch.stack(loo_list, 1)
                loo_mask = torch.stack(loo_rows, 1)
        available = kept_modes | imputed
        fused, weights = self.fusion(torch.stack(columns, 1), available, imputed)

        fused = fused.new_zeros(batch * length, hidden).index_put((utterance_rows,), fused).reshape(batch, length, hidden)
        if self.context is None:
            hidden_state = fused
        else:
            context = self.context(fused, utterance_mask, speaker_ids, causal=causal)
            if not self.config.use_speaker_context:
                context = context[..., : self.context.output_size]
            hidden_state = torch.cat([fused, context], dim=-1)

        def to_four(values: torch.Tensor | None) -> torch.Tensor | None:
            """(N, M, ...) over configured modes -> (B, U, 4, ...) over MODALITIES, zeros elsewhere."""
            if values is None:
                return None
            inner = values.new_zeros(num_rows, len(MODALITIES), *values.shape[2:])
            inner[:, mode_index] = values
            out = values.new_zeros(batch * length, len(MODALITIES), *values.shape[2:]).index_put((utterance_rows,), inner)
            return out.reshape(batch, length, len(MODALITIES), *values.shape[2:])

        output = EmoJEModelOutput(
            last_hidden_state=hidden_state,
            fused=fused,
            descriptors=to_four(real),
            joint_embeds=to_four(joint_embeds),
            modality_weights=to_four(weights),
            present_mask=present,
            kept_mask=kept,
            imputed_mask=to_four(imputed),
            leave_one_out_descriptors=to_four(loo_descriptors),
            leave_one_out_mask=to_four(loo_mask),
            utterance_mask=utterance_mask,
        )
        return self.as_requested(output, return_dict)


class EmoJEForEmotionRecognition(EmoJEPreTrainedModel):
    """AM^2-EmoJE with its utterance classifier and training losses.

    ``loss = focal(fused logits) + focal(ACN descriptors) + nce_weight * guided NCE
    + joint_weight * (joint InfoNCE + mapping + Jensen-Shannon)``; each term is reported in ``loss_terms``. With
    ``config.modality_logit_weight > 0`` the logits also get that weight times the mean of the per-mode descriptor
    classifier's logits over the modes present (`_modality_vote`).
    """

    def __init__(self, config: EmoJEConfig) -> None:
        super().__init__(config)
        self.emoje = EmoJEModel(config)
        self.classifier = utterance_classifier(
            self.emoje.output_size, config.hidden_size, config.num_labels, config.classifier_dropout
        )
        # Posterior of a single mode descriptor: trained by focal loss on the ACN output ("L_fl on the ACN")
        # and compared between real and imputed descriptors by the Jensen-Shannon term.
        self.descriptor_classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def freeze_text_backbone(self) -> None:
        """Stop gradient updates of the optional Hugging Face text encoder."""
        self.emoje.freeze_text_backbone()

    def forward(
        self, labels: torch.Tensor | None = None, return_dict: bool | None = None, **inputs
    ) -> EmoJEEmotionRecognitionOutput:
        r"""Takes the inputs of [`EmoJEModel`] plus ``labels`` (B, U) with -100 for padding.

        ``causal=True`` gives each turn's prediction from the turns up to it only (streaming; see [`EmoJEModel`]).

        Example:
            >>> config = EmoJEConfig(modality_dims={"text": 4}, num_labels=2, hidden_size=8, encoder_heads=2,
            ...                      acn_heads=2, context_hidden_size=4)
            >>> model, text = EmoJEForEmotionRecognition(config).eval(), torch.randn(1, 3, 1, 4)
            >>> streamed = model(text_features=text, causal=True).logits
            >>> torch.allclose(streamed[:, 1], model(text_features=text[:, :2]).logits[:, 1], atol=1e-6)
            True
        """
        outputs, logits, loss, loss_terms = self.classify(labels, inputs)
        output = EmoJEEmotionRecognitionOutput(
            loss=loss,
            logits=logits,
            modality_weights=outputs.modality_weights,
            imputed_mask=outputs.imputed_mask.bool(),
            joint_embeds=outputs.joint_embeds,
            loss_terms=loss_terms,
        )
        return self.as_requested(output, return_dict)

    def logits_of(self, outputs: EmoJEModelOutput) -> torch.Tensor:
        """The classifier's logits, plus ``config.modality_logit_weight`` times the modality vote when it is > 0."""
        logits = self.classifier(outputs.last_hidden_state)
        if self.config.modality_logit_weight > 0:
            logits = logits + self.config.modality_logit_weight * self._modality_vote(outputs)
        return logits

    def _modality_vote(self, outputs: EmoJEModelOutput) -> torch.Tensor:
        """(B, U, C) mean of the descriptor classifier's logits over each utterance's kept (real, not imputed) modes."""
        kept = outputs.kept_mask.to(outputs.descriptors.dtype)  # (B, U, 4)
        per_mode = self.descriptor_classifier(outputs.descriptors)  # (B, U, 4, C)
        return (per_mode * kept[..., None]).sum(2) / kept.sum(2, keepdim=True).clamp_min(1.0)

    def _losses(self, outputs: EmoJEModelOutput, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        config = self.config
        present = outputs.present_mask.flatten(0, 1)
        flat_labels = labels.flatten()
        descriptors = outputs.descriptors.flatten(0, 1)
        terms = {"focal": focal_loss(logits, labels, config.focal_gamma)}

        # Focal loss on each present mode's ACN descriptor.
        rows, modes = (present & (flat_labels != -100)[:, None]).nonzero(as_tuple=True)
        terms["acn_focal"] = focal_loss(self.descriptor_classifier(descriptors[rows, modes]), flat_labels[rows], config.focal_gamma)

        # Guided NCE: the student mode learns to match a stop-gradient guide mode.
        guided = []
        for student, guide in config.guided_pairs:
            if student in config.modality_dims and guide in config.modality_dims:
                both = present[:, MODALITY_INDEX[student]] & present[:, MODALITY_INDEX[guide]]
                if both.sum() > 1:
                    guided.append(
                        info_nce(
                            F.normalize(descriptors[both, MODALITY_INDEX[student]], dim=-1),
                            F.normalize(descriptors[both, MODALITY_INDEX[guide]], dim=-1).detach(),
                            1.0 / config.temperature,
                        )
                    )
        zero = logits.sum() * 0.0
        terms["guided_nce"] = torch.stack(guided).mean() if guided else zero

        joint = self.emoje.joint_embedding
        if joint is not None:
            embeds = {
                name: outputs.joint_embeds.flatten(0, 1)[:, MODALITY_INDEX[name]] for name in config.modality_names
            }
            terms["joint_nce"], terms["mapping"] = joint.alignment_losses(embeds, present)
            loo_mask = outputs.leave_one_out_mask.flatten(0, 1).bool()
            loo = outputs.leave_one_out_descriptors.flatten(0, 1)
            real_logits = self.descriptor_classifier(descriptors[loo_mask])
            if config.joint_gradient == "isolated":  # the real posterior is a fixed teacher for the imputed one
                real_logits = real_logits.detach()
            terms["js"] = jensen_shannon(real_logits, self.descriptor_classifier(loo[loo_mask]))
            # Imputed descriptors should look like the real ones to the fusion: relative squared error against the
            # (stop-gradient) real descriptor of the same utterance and mode.
            target = descriptors[loo_mask].detach()
            terms["reconstruction"] = (
                (loo[loo_mask] - target).pow(2).sum(-1).mean() / target.pow(2).sum(-1).mean().clamp_min(1e-6)
                if target.shape[0]
                else zero
            )
        else:
            terms["joint_nce"] = terms["mapping"] = terms["js"] = terms["reconstruction"] = zero
        total = (
            terms["focal"]
            + terms["acn_focal"]
            + config.nce_weight * terms["guided_nce"]
            + config.joint_weight * (terms["joint_nce"] + terms["mapping"] + terms["js"])
            + config.reconstruction_weight * terms["reconstruction"]
        )
        return total, {name: value.detach() for name, value in terms.items()}


# The model's entry in the registry (`modeling_emoje.model_specs`); `modeling_emoje/__init__.py` registers it.
MODEL_SPEC = ModelSpec(
    model_type=EmoJEConfig.model_type,
    display_name="AM^2-EmoJE",
    config_class=EmoJEConfig,
    base_model_class=EmoJEModel,
    model_class=EmoJEForEmotionRecognition,
    description=(
        "AM^2-EmoJE (Devulapally et al., 2024): per-modality encoders, an adaptive cross-attended network, a "
        "multimodal joint embedding that imputes missing modalities at test time, query adaptive fusion and "
        "dialogue/speaker context."
    ),
    citation_bibtex="""@inproceedings{devulapally2024am2emoje,
  title     = {{AM}$^2$-{EmoJE}: Adaptive Missing-Modality Emotion Recognition in Conversation via Joint Embedding Learning},
  author    = {Devulapally, Naresh Kumar and Anand, Sidharth and Das Bhattacharjee, Sreyasee and Yuan, Junsong},
  booktitle = {IEEE International Conference on Multimedia and Expo (ICME)},
  year      = {2024},
  eprint    = {2402.10921},
  archivePrefix = {arXiv}
}""",
)


__all__ = [
    "MODEL_SPEC",
    "CrossAttendedLayer",
    "EmoJEEmotionRecognitionOutput",
    "EmoJEForEmotionRecognition",
    "EmoJEModel",
    "EmoJEModelOutput",
    "EmoJEPreTrainedModel",
    "MultimodalJointEmbedding",
    "QueryAdaptiveFusion",
    "VisualCrossAttention",
]
