"""CM-ARR model configuration (cross-modal alignment, reconstruction and refinement)."""

from __future__ import annotations

from itertools import combinations
from typing import Any

from transformers import PreTrainedConfig

from .configuration_emoje import default_modality_fields, validate_feature_normalization
from .modalities import MODALITIES, MODALITY_INDEX, validate_modality_dims

DEFAULT_MODE_GROUPS: dict[str, list[str]] = {"text": ["text"], "audio": ["audio"], "visual": ["face", "body"]}


class CMARRConfig(PreTrainedConfig):
    r"""Configuration of CM-ARR (Sun et al., ICASSP 2025): Gaussian mode embeddings aligned with a 2-Wasserstein
    contrastive loss, one normalizing flow per mode to reconstruct missing modes through a shared N(0, I)
    latent, supervised contrastive refinement and a cross-modal Transformer fusion classifier.

    **Modes.** CM-ARR works on *modes*, each a group of input modalities (``mode_groups``). The default is the
    paper's three modes ``text``, ``audio`` and ``visual`` where ``visual = face + body``: face and body keep
    their own UMC encoder and the visual descriptor of an utterance is the mean of the descriptors of the
    visual streams present for it. When the data (``modality_dims``) has only one of face and body, the visual
    mode is that stream alone; with neither, the model has two modes. A mode is *available* for an utterance
    when any of its modalities is present, so withholding only the face (privacy) leaves ``visual`` available
    through the body and nothing is reconstructed. ``{"text": ["text"], ..., "face": ["face"], "body":
    ["body"]}`` gives four independent modes instead. Training-time masking draws, per utterance and uniformly,
    one of the ``2**M - 1`` non-empty subsets of the M modes (the seven CM-ARR conditions for three modes).

    Args:
        modality_dims: input feature size per modality; modalities left out have no encoder.
        mode_groups: mode name -> modalities it groups (default: text, audio, visual = face + body); groups
            whose modalities are all missing from ``modality_dims`` are dropped.
        hidden_size: width of the UMC encoders, the fusion Transformer and the fused utterance vector.
        latent_size: size of the Gaussian mode embeddings and of the flows' shared latent.
        dropout: dropout inside the UMC encoders and the fusion Transformer.
        feature_normalization: per-dimension standardisation of each modality's input features, fitted on the
            training split and saved with the weights (``"standard"``, ``"robust"`` or ``"none"``; see `EmoJEConfig`).
        flow_blocks: ActNorm + affine coupling + permutation blocks per flow.
        flow_hidden_size: hidden width of each coupling network.
        flow_max_log_scale: soft bound ``c`` on coupling log-scales (``s = c * tanh(raw / c)``).
        fusion_layers: layers of the cross-modal Transformer that fuses the mode tokens of an utterance.
        fusion_heads: attention heads of that fusion Transformer (must divide ``hidden_size``).
        alignment_temperature: ``tau`` in the alignment similarity ``-W2^2 / tau``.
        supcon_temperature: temperature of the supervised contrastive refinement.
        alignment_weight: ``alpha``, the weight of the 2-Wasserstein alignment term in
            ``CE + alpha * align + beta * (flow NLL + reconstruction) + lambda * SupCon``.
        flow_weight: ``beta``, the weight of the flows' negative log-likelihood and reconstruction terms.
        supcon_weight: ``lambda``, the weight of the supervised contrastive refinement term.
        focal_gamma: focal exponent on the classification loss (0, the default, is cross-entropy).
        reconstruct_missing: reconstruct unavailable modes through the flows (False masks their tokens instead).
        use_dialogue_context: add the shared dialogue/speaker LSTM context before the classifier.
        context_hidden_size: hidden size of the dialogue and speaker LSTMs of that context.
        context_layers: stacked layers of each context LSTM.
        context_dropout: dropout between stacked context LSTM layers (no effect with one layer).
        causal: unidirectional context, so no prediction uses a future utterance (streaming).
        classifier_dropout: dropout before the classifier.
        initializer_range: std of the normal initialisation of linear and embedding weights.
        protocol: name of the data protocol the weights were trained with (informational, written to cards).
        trained_on: what the weights were trained on, when a user must know it (see `EmoJEConfig`).

    Example:
        >>> from modeling_emoje import CMARRConfig
        >>> config = CMARRConfig(modality_dims={"text": 384, "audio": 80, "face": 204}, num_labels=4)
        >>> config.mode_names, config.training_conditions
        (['text', 'audio', 'visual'], [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]])
    """

    model_type = "cmarr"

    # Every field is declared here, including those EmoJEConfig declares alike (a deliberate twin: a config's own
    # fields are what its docstring and `emoje-train --help` describe).
    modality_dims: dict[str, int] | None = None
    mode_groups: dict[str, list[str]] | None = None
    hidden_size: int = 128
    latent_size: int = 64
    dropout: float = 0.1
    feature_normalization: str = "standard"
    flow_blocks: int = 4
    flow_hidden_size: int = 128
    flow_max_log_scale: float = 3.0
    fusion_layers: int = 1
    fusion_heads: int = 4
    alignment_temperature: float = 1.0
    supcon_temperature: float = 0.1
    alignment_weight: float = 0.1
    flow_weight: float = 1.0
    supcon_weight: float = 0.1
    focal_gamma: float = 0.0
    reconstruct_missing: bool = True
    use_dialogue_context: bool = False
    context_hidden_size: int = 100
    context_layers: int = 2
    context_dropout: float = 0.2
    causal: bool = False
    classifier_dropout: float = 0.1
    initializer_range: float = 0.02
    protocol: str | None = None
    trained_on: str | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        kwargs = default_modality_fields(self, kwargs)
        super().__post_init__(**kwargs)
        self.modality_dims = validate_modality_dims(self.modality_dims)
        validate_feature_normalization(self.feature_normalization)
        groups = DEFAULT_MODE_GROUPS if self.mode_groups is None else self.mode_groups
        if not isinstance(groups, dict) or not groups:
            raise ValueError(f"mode_groups must be a non-empty dict of mode name -> modalities, got {groups!r}")
        seen: dict[str, str] = {}
        kept: dict[str, list[str]] = {}
        for mode, members in groups.items():
            if isinstance(members, str) or not members:
                raise ValueError(f"mode_groups['{mode}'] must be a non-empty list of modality names, got {members!r}")
            for name in members:
                if name not in MODALITIES:
                    raise ValueError(f"mode_groups['{mode}'] names unknown modality '{name}'; modalities are {MODALITIES}")
                if name in seen:
                    raise ValueError(f"modality '{name}' is in both mode_groups['{seen[name]}'] and mode_groups['{mode}']")
                seen[name] = mode
            members = [name for name in MODALITIES if name in members and name in self.modality_dims]
            if members:
                kept[mode] = members
        ungrouped = [name for name in self.modality_dims if name not in seen]
        if ungrouped:
            raise ValueError(f"modality_dims has {ungrouped} but no mode in mode_groups groups them: {groups}")
        # Modes in the order of their first modality, so the order never depends on how the dict was written.
        self.mode_groups = dict(sorted(kept.items(), key=lambda item: MODALITY_INDEX[item[1][0]]))
        for name in ("hidden_size", "latent_size", "flow_blocks", "flow_hidden_size", "fusion_heads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.latent_size < 2:
            raise ValueError(f"latent_size must be at least 2 (affine coupling splits it in two), got {self.latent_size}")
        if self.hidden_size % self.fusion_heads:
            raise ValueError(f"hidden_size={self.hidden_size} must be divisible by fusion_heads={self.fusion_heads}")
        for name in ("alignment_temperature", "supcon_temperature", "flow_max_log_scale"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def modality_names(self) -> list[str]:
        """Modalities this model has an encoder for, in MODALITIES order."""
        return list(self.modality_dims)

    @property
    def mode_names(self) -> list[str]:
        """CM-ARR modes (each with a Gaussian head and a flow), in order."""
        return list(self.mode_groups)

    @property
    def training_conditions(self) -> list[list[int]]:
        """The non-empty subsets of modes (as mode indices) drawn uniformly by training-time masking."""
        count = len(self.mode_groups)
        return [list(subset) for size in range(1, count + 1) for subset in combinations(range(count), size)]


__all__ = ["DEFAULT_MODE_GROUPS", "CMARRConfig"]
