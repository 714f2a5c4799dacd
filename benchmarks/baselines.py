"""Reference models for the benchmarks: concatenation fusion with zero-filled missing modes ("feed zeros").

`ConcatFusionForEmotionRecognition` uses the same building blocks as AM^2-EmoJE (`ModalityEncoder`,
`AttentionPooling`, `encode_present_modalities`, `DialogueContext`) and differs only in the fusion: the
per-modality descriptors are concatenated, an absent (or training-time dropped) modality contributing a zero
vector, which is how most public systems answer "can I infer with audio only?". Nothing is imputed and there
is no cross-modal attention, so any gap to AM^2-EmoJE comes from the fusion and the missing-mode handling.
Importing this module registers its spec with `modeling_emoje.model_specs` (``model_type`` `CONCAT_MODEL_TYPE`), so the benchmarks
build it with the same factory as the package's models.

Example:
    >>> import torch
    >>> from benchmarks.baselines import ConcatFusionConfig, ConcatFusionForEmotionRecognition
    >>> config = ConcatFusionConfig(modality_dims={"text": 8, "audio": 6}, num_labels=3, hidden_size=16,
    ...                             encoder_heads=2, context_hidden_size=8)
    >>> model = ConcatFusionForEmotionRecognition(config).eval()
    >>> model(text_features=torch.randn(2, 5, 1, 8)).logits.shape
    torch.Size([2, 5, 3])
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedConfig, PreTrainedModel
from transformers.utils import ModelOutput

from modeling_emoje.configuration_emoje import validate_feature_normalization, validate_modality_masking
from modeling_emoje.modalities import DEFAULT_MODALITY_DIMS, MODALITIES, MODALITY_INDEX, validate_modality_dims
from modeling_emoje.modeling_base import init_feature_standardizer
from modeling_emoje.modeling_inputs import check_model_inputs, collect_modality_inputs
from modeling_emoje.modeling_layers import (
    AttentionPooling,
    DialogueContext,
    ModalityEncoder,
    encode_present_modalities,
)
from modeling_emoje.modeling_losses import focal_loss
from modeling_emoje.model_specs import ModelSpec, register_model_spec
from modeling_emoje.modeling_sampling import sample_training_modalities

# Fields the baseline shares with AM^2-EmoJE (same meaning, same defaults): same encoders and context.
SHARED_FIELDS: tuple[str, ...] = (
    "modality_dims", "hidden_size", "encoder_layers", "encoder_heads", "max_positions", "dropout", "feature_normalization",
    "modality_dropout", "modality_masking", "context_hidden_size", "context_layers", "context_dropout", "use_speaker_context",
    "causal", "focal_gamma", "classifier_dropout", "initializer_range",
)


def concat_options(emoje_options: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline's model options from AM^2-EmoJE's: the `SHARED_FIELDS` among them (the baseline's defaults are
    AM^2-EmoJE's), so that both models get the same encoders, context and training-time modality dropout.

    Example:
        >>> concat_options({"hidden_size": 64, "acn_layers": 2, "joint_weight": 0.0})
        {'hidden_size': 64}
    """
    return {name: value for name, value in emoje_options.items() if name in SHARED_FIELDS}


class ConcatFusionConfig(PreTrainedConfig):
    r"""Configuration of the concatenation-fusion baseline (fields mean what they mean in `EmoJEConfig`).

    Example:
        >>> ConcatFusionConfig(**concat_options({"hidden_size": 32, "acn_layers": 2}), num_labels=4).hidden_size
        32
    """

    model_type = "emoje-concat-baseline"

    modality_dims: dict[str, int] | None = None
    hidden_size: int = 128
    encoder_layers: int = 1
    encoder_heads: int = 4
    max_positions: int = 512
    dropout: float = 0.1
    feature_normalization: str = "standard"
    modality_dropout: float = 0.3
    modality_masking: str = "independent"
    context_hidden_size: int = 100
    context_layers: int = 2
    context_dropout: float = 0.2
    use_speaker_context: bool = True
    causal: bool = False
    focal_gamma: float = 1.0
    classifier_dropout: float = 0.1
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs: Any) -> None:
        if self.modality_dims is None:
            self.modality_dims = dict(DEFAULT_MODALITY_DIMS)
        super().__post_init__(**kwargs)
        self.modality_dims = validate_modality_dims(self.modality_dims)
        validate_feature_normalization(self.feature_normalization)
        validate_modality_masking(self.modality_dropout, self.modality_masking)
        if self.hidden_size % self.encoder_heads:
            raise ValueError(f"hidden_size={self.hidden_size} must be divisible by encoder_heads={self.encoder_heads}")

    @property
    def modality_names(self) -> list[str]:
        return list(self.modality_dims)


@dataclass
class ConcatFusionOutput(ModelOutput):
    """``loss``, ``logits`` (B, U, C); ``modality_weights`` is None (no learned weights); ``imputed_mask`` all False."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    modality_weights: torch.Tensor | None = None
    imputed_mask: torch.Tensor | None = None
    loss_terms: dict[str, torch.Tensor] | None = None


class ConcatFusionForEmotionRecognition(PreTrainedModel):
    """Mode encoders -> attention pooling -> concatenation (zeros for absent modes) -> dialogue context -> classifier.

    Training-time modality dropout (`config.modality_dropout`, the shared sampler) zeroes dropped modes the
    same way, so the baseline is trained for missing modes as much as AM^2-EmoJE is.
    """

    config: ConcatFusionConfig
    config_class = ConcatFusionConfig
    base_model_prefix = "concat"
    main_input_name = "text_features"

    def __init__(self, config: ConcatFusionConfig) -> None:
        super().__init__(config)
        hidden = config.hidden_size
        self.modalities = config.modality_names
        self.encoders = nn.ModuleDict(
            {
                name: ModalityEncoder(
                    dim, hidden, num_layers=config.encoder_layers, num_heads=config.encoder_heads,
                    dropout=config.dropout, max_positions=config.max_positions,
                    normalization=config.feature_normalization,
                )
                for name, dim in config.modality_dims.items()
            }
        )
        self.pooling = nn.ModuleDict({name: AttentionPooling(hidden) for name in self.modalities})
        self.fusion = nn.Sequential(nn.Linear(len(self.modalities) * hidden, hidden), nn.GELU(), nn.Dropout(config.dropout))
        self.context = DialogueContext(
            hidden, config.context_hidden_size, config.context_layers, config.context_dropout, causal=config.causal
        )
        context_size = self.context.output_size * (2 if config.use_speaker_context else 1)
        self.classifier = nn.Sequential(
            nn.Dropout(config.classifier_dropout), nn.Linear(hidden + context_size, hidden), nn.GELU(),
            nn.Dropout(config.classifier_dropout), nn.Linear(hidden, config.num_labels),
        )
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        init_feature_standardizer(module)

    def forward(
        self,
        modality_mask: torch.Tensor | None = None,
        utterance_mask: torch.Tensor | None = None,
        speaker_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        causal: bool = False,
        **inputs: torch.Tensor | None,
    ) -> ConcatFusionOutput:
        r"""Takes the models' shared input contract (``{m}_features``, ``{m}_attention_mask``, masks, labels); ``causal=True``
        predicts each turn from the turns up to it only, as AM^2-EmoJE does (`DialogueContext.prefix_states`)."""
        features, frame_masks = collect_modality_inputs(inputs, ("modality_mask", "utterance_mask", "speaker_ids", "labels", "causal"))
        present, utterance_mask = check_model_inputs(
            self.config.modality_dims, features, frame_masks, modality_mask, utterance_mask, labels, self.config.num_labels
        )
        batch, length = utterance_mask.shape
        if speaker_ids is None:
            speaker_ids = torch.zeros(batch, length, dtype=torch.long, device=utterance_mask.device)
        kept = (
            sample_training_modalities(present, self.config.modality_dropout, self.config.modality_masking)
            if self.training
            else present
        )
        encoded = encode_present_modalities(self.encoders, features, frame_masks, kept)
        hidden = self.config.hidden_size
        columns = []
        for name in self.modalities:
            if name in encoded:
                states, mask = encoded[name]
                columns.append(self.pooling[name](states, mask))  # zeros where the mode is not kept
            else:
                columns.append(utterance_mask.new_zeros(batch * length, hidden, dtype=torch.float32))
        fused = self.fusion(torch.cat(columns, dim=-1)).reshape(batch, length, hidden)
        context = self.context(fused, utterance_mask, speaker_ids, causal=causal)
        if not self.config.use_speaker_context:
            context = context[..., : self.context.output_size]
        logits = self.classifier(torch.cat([fused, context], dim=-1))
        loss = loss_terms = None
        if labels is not None:
            loss = focal_loss(logits, labels, self.config.focal_gamma)
            loss_terms = {"focal": loss.detach()}
        return ConcatFusionOutput(
            loss=loss,
            logits=logits,
            modality_weights=None,
            imputed_mask=torch.zeros(batch, length, len(MODALITIES), dtype=torch.bool, device=logits.device),
            loss_terms=loss_terms,
        )


class LinearProbe(nn.Module):
    """The cheapest possible classifier over the same inputs: mean-pooled features of each modality,
    concatenated (zeros when absent), one ``nn.Linear``. A speed reference, not a model to deploy.

    Example:
        >>> probe = LinearProbe({"text": 8, "audio": 4}, num_labels=3)
        >>> probe(text_features=torch.randn(2, 5, 1, 8), audio_features=torch.randn(2, 5, 3, 4)).shape
        torch.Size([2, 5, 3])
    """

    def __init__(self, modality_dims: dict[str, int], num_labels: int) -> None:
        super().__init__()
        self.modality_dims = validate_modality_dims(dict(modality_dims))
        self.linear = nn.Linear(sum(self.modality_dims.values()), num_labels)

    def forward(self, modality_mask: torch.Tensor | None = None, **inputs: torch.Tensor | None) -> torch.Tensor:
        pooled = []
        for name, dim in self.modality_dims.items():
            values = inputs.get(f"{name}_features")
            if values is None:
                raise ValueError(f"LinearProbe needs {name}_features")
            mask = inputs.get(f"{name}_attention_mask")
            mask = torch.ones(values.shape[:3], device=values.device) if mask is None else mask.to(values.dtype)
            if modality_mask is not None:
                mask = mask * modality_mask[..., MODALITY_INDEX[name], None].to(values.dtype)
            pooled.append((values * mask[..., None]).sum(2) / mask.sum(2, keepdim=True).clamp_min(1.0))
        return self.linear(torch.cat(pooled, dim=-1))


# `modeling_emoje.model_specs.build_model(CONCAT_MODEL_TYPE, dims, labels, concat_options(emoje_options))` builds the baseline.
CONCAT_MODEL_TYPE = ConcatFusionConfig.model_type
register_model_spec(ModelSpec(
    CONCAT_MODEL_TYPE, "Concatenation baseline", ConcatFusionConfig, None, ConcatFusionForEmotionRecognition,
    description="Concatenation fusion of the modality descriptors, zeros for missing modalities (benchmark baseline).",
))


__all__ = [
    "CONCAT_MODEL_TYPE",
    "ConcatFusionConfig",
    "ConcatFusionForEmotionRecognition",
    "ConcatFusionOutput",
    "LinearProbe",
    "SHARED_FIELDS",
    "concat_options",
]
