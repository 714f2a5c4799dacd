"""AM^2-EmoJE model configuration."""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .dialogue_normalization import validate_dialogue_normalization
from .modalities import DEFAULT_MODALITY_DIMS, MODALITIES, validate_modality_dims
from .modeling_layers import FEATURE_NORMALIZATIONS
from .modeling_sampling import MODALITY_MASKINGS

# What the joint embedding's losses may train (`EmoJEConfig.joint_gradient`).
JOINT_GRADIENTS: tuple[str, ...] = ("shared", "isolated")
# `trained_on` of a model whose training data was generated feature vectors (the pipeline warns on raw input).
SYNTHETIC_TRAINED_ON = "synthetic features — not for real input"


def is_trained_on_synthetic(config) -> bool:
    """True when ``config.trained_on`` says the weights were trained on synthetic (generated) data."""
    return "synthetic" in str(getattr(config, "trained_on", None) or "").lower()


def validate_feature_normalization(value: str) -> str:
    """Check a ``feature_normalization`` setting (shared by every emoje config)."""
    if value not in FEATURE_NORMALIZATIONS:
        raise ValueError(f"feature_normalization must be one of {FEATURE_NORMALIZATIONS}, got {value!r}")
    return value


def validate_modality_masking(rate: float, scheme: str) -> None:
    """Check ``modality_dropout`` / ``modality_masking`` (shared by AM^2-EmoJE and the concatenation baseline)."""
    if scheme not in MODALITY_MASKINGS:
        raise ValueError(f"modality_masking must be one of {MODALITY_MASKINGS}, got {scheme!r}")
    upper_ok = rate < 1.0 if scheme == "independent" else rate <= 1.0
    if not (0.0 <= rate and upper_ok):
        raise ValueError(f"modality_dropout must be in [0, 1{')' if scheme == 'independent' else ']'} with modality_masking={scheme!r}, got {rate}")


def without_installed_pipelines(kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` of a config being loaded, without its `custom_pipelines` entry when an installed package already
    serves that task.

    An exported `config.json` names the conversation pipeline's code in `custom_pipelines`, so that
    `pipeline(model=REPO, trust_remote_code=True)` runs it where the emoje package is not installed. Where it is
    installed and imported, `transformers.pipeline(task, model=REPO)` must use the installed, registered pipeline
    instead (transformers would otherwise insist on running the repository's copy, with `trust_remote_code=True`).
    Only the installed config class does this: the repository's copy (loaded with `trust_remote_code=True`) keeps the
    entry, so that call runs the repository's pipeline whether or not the package is installed.
    """
    pipelines = kwargs.get("custom_pipelines")
    if not pipelines or __name__.startswith("transformers_modules"):
        return kwargs
    from transformers.pipelines import PIPELINE_REGISTRY

    installed = {
        task
        for task, entry in PIPELINE_REGISTRY.supported_tasks.items()
        if not str(getattr(entry.get("impl"), "__module__", "")).startswith("transformers_modules")
    }
    if not installed & set(pipelines):
        return kwargs
    return {key: value for key, value in kwargs.items() if key != "custom_pipelines"}


def default_modality_fields(config: PreTrainedConfig, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The start of every emoje config's ``__post_init__``: the default ``modality_dims`` (the modality table's) where
    none is given; returns the keyword arguments for ``PreTrainedConfig.__post_init__`` (`without_installed_pipelines`)."""
    if config.modality_dims is None:
        config.modality_dims = dict(DEFAULT_MODALITY_DIMS)
    return without_installed_pipelines(kwargs)


class EmoJEConfig(PreTrainedConfig):
    r"""Configuration of AM^2-EmoJE (query adaptive fusion, cross-attended network, guided NCE, joint embedding).

    Args:
        modality_dims: input feature size per modality; modalities left out have no encoder.
        hidden_size: width ``d`` of the mode encoders, the ACN and the descriptors.
        encoder_layers: Transformer layers of each mode encoder (one encoder per modality, over its frames).
        encoder_heads: attention heads of each mode encoder's layers (must divide ``hidden_size``).
        acn_layers: layers of the Adaptive Cross-attended Network, where each mode attends to the others.
        acn_heads: attention heads of the Adaptive Cross-attended Network (must divide ``hidden_size``).
        max_positions: longest frame sequence per utterance and modality.
        dropout: dropout rate inside the mode encoders and the cross-attended network.
        joint_embedding_size: size ``d_j`` of the multimodal joint embedding.
        use_joint_embedding: impute missing modes at test time through the joint embedding (mode switching).
        feature_normalization: per-dimension standardisation of each modality's input features, fitted on the
            training split when training starts and saved with the weights: ``"standard"`` (mean / std, the
            default), ``"robust"`` (median / IQR) or ``"none"``. Token states of a ``text_config`` backbone are
            never standardised.
        modality_dropout: training-time masking rate: with ``modality_masking="independent"`` the probability of
            dropping each present mode (never all of them); with ``"subsets"`` the probability that an utterance
            keeps only one non-empty subset of its present modes, drawn uniformly (mode switching over every
            missing-modality scenario).
        modality_masking: ``"independent"`` (default) or ``"subsets"``, see ``modality_dropout``.
        context_hidden_size: hidden size of the dialogue and speaker LSTMs that carry context across turns.
        context_layers: stacked layers of each context LSTM.
        context_dropout: dropout between stacked context LSTM layers (no effect with one layer).
        use_speaker_context: add the speaker LSTM stream.
        use_dialogue_context: run the dialogue and speaker LSTMs at all; False gives a per-utterance classifier that
            reads the fused vector only (no context parameters), for data whose dialogue carries no emotion [ours].
        causal: unidirectional context, so no prediction uses a future utterance (streaming).
        focal_gamma: focal loss exponent on the fused logits (0 gives cross-entropy).
        nce_weight: weight of the guided NCE term, which pulls a weak mode's descriptor towards a stronger one's.
        guided_pairs: ``[student, guide]`` modality pairs of the guided NCE term (the student learns from the guide).
        joint_weight: weight of the joint-embedding term (InfoNCE + mapping + Jensen-Shannon).
        reconstruction_weight: weight of the imputed-descriptor reconstruction term: relative squared error between
            each present mode's descriptor imputed from the other modes (decoded from the joint embedding) and its
            real (stop-gradient) descriptor, so the fusion sees imputed modes like real ones [ours].
        joint_gradient: what the joint embedding may train: ``"shared"`` (default, the paper's form: its alignment,
            mapping and Jensen-Shannon terms reshape the mode descriptors too) or ``"isolated"`` (it reads the
            descriptors through a stop-gradient, so its terms and the classification loss through imputed modes train
            only the joint embedding, and the Jensen-Shannon term takes the real descriptor's posterior as a fixed
            teacher) [ours].
        dialogue_normalization: per-(dialogue, speaker) standardisation of each modality's input before the mode
            encoders (`DialogueNormalization`): ``"none"`` (default), ``"standard"`` (mean / std of the speaker's
            utterances in the dialogue that have the modality, mapped back to the training scale) or ``"center"``
            (mean only). Padding and missing modalities take no part; causal runs use running (past-only)
            statistics [ours].
        dialogue_normalization_min_utterances: smallest (dialogue, speaker) group that is normalised; smaller ones,
            and every one-utterance dialogue, are left exactly as they are.
        modality_logit_weight: late-fusion vote: the classifier's logits plus this weight times the mean, over the
            modes actually present (never imputed ones), of the per-mode descriptor classifier's logits; 0 (default)
            turns it off [ours].
        temperature: initial temperature of the joint InfoNCE and fixed temperature of the guided NCE.
        classifier_dropout: dropout before the classifier.
        initializer_range: standard deviation of the normal initialisation of the linear and embedding weights.
        text_config: optional config of a Hugging Face text encoder run on ``input_ids`` (e.g. a BertConfig).
        text_pooling: what the text encoder hands to the text mode encoder: ``"tokens"`` (its token states, one
            frame per token) or ``"mean"`` (their masked mean, one frame per utterance, as sentence-transformers do).
        text_backbone_chunk_size: utterances per text-encoder pass; they are sorted by length first, so each pass
            pads only to its own longest utterance.
        protocol: name of the data protocol the weights were trained with (informational, written to cards).
        trained_on: what the weights were trained on, when a user must know it (e.g. `SYNTHETIC_TRAINED_ON`: the
            model card says so and the pipeline warns when such a model is given real text).

    Example:
        >>> from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition
        >>> config = EmoJEConfig(modality_dims={"text": 384, "audio": 80}, num_labels=7, hidden_size=32)
        >>> model = EmoJEForEmotionRecognition(config)
        >>> config.modality_names
        ['text', 'audio']
    """

    model_type = "emoje"
    sub_configs_defaults = {"text_config": SubConfigSpec(config_class=AutoConfig, model_type="bert", optional=True)}

    # Every field is declared here, including those CMARRConfig declares alike (a deliberate twin: a config's own
    # fields are what its docstring and `emoje-train --help` describe).
    modality_dims: dict[str, int] | None = None
    hidden_size: int = 128
    encoder_layers: int = 1
    encoder_heads: int = 4
    acn_layers: int = 2
    acn_heads: int = 4
    max_positions: int = 512
    dropout: float = 0.1
    feature_normalization: str = "standard"
    joint_embedding_size: int = 64
    use_joint_embedding: bool = True
    modality_dropout: float = 0.3
    modality_masking: str = "independent"
    context_hidden_size: int = 100
    context_layers: int = 2
    context_dropout: float = 0.2
    use_speaker_context: bool = True
    use_dialogue_context: bool = True
    causal: bool = False
    focal_gamma: float = 1.0
    nce_weight: float = 0.5
    guided_pairs: list[list[str]] | None = None
    joint_weight: float = 0.5
    reconstruction_weight: float = 0.0
    joint_gradient: str = "shared"
    modality_logit_weight: float = 0.0
    dialogue_normalization: str = "none"
    dialogue_normalization_min_utterances: int = 4
    temperature: float = 0.07
    classifier_dropout: float = 0.1
    initializer_range: float = 0.02
    text_config: dict | PreTrainedConfig | None = None
    text_pooling: str = "tokens"
    text_backbone_chunk_size: int = 64
    protocol: str | None = None
    trained_on: str | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        kwargs = default_modality_fields(self, kwargs)
        if self.guided_pairs is None:
            self.guided_pairs = [["body", "face"]]
        super().__post_init__(**kwargs)
        if self.text_config is not None and "text" in (self.modality_dims or {}):
            self.modality_dims = {**self.modality_dims, "text": self.text_config.hidden_size}
        self.modality_dims = validate_modality_dims(self.modality_dims)
        validate_feature_normalization(self.feature_normalization)
        for pair in self.guided_pairs:
            if len(pair) != 2 or any(name not in MODALITIES for name in pair):
                raise ValueError(f"guided_pairs entries must be [student, guide] modality names, got {pair!r}")
        if self.text_pooling not in ("tokens", "mean"):
            raise ValueError(f"text_pooling must be 'tokens' or 'mean', got {self.text_pooling!r}")
        if self.text_backbone_chunk_size < 1:
            raise ValueError(f"text_backbone_chunk_size must be >= 1, got {self.text_backbone_chunk_size}")
        validate_modality_masking(self.modality_dropout, self.modality_masking)
        if self.joint_gradient not in JOINT_GRADIENTS:
            raise ValueError(f"joint_gradient must be one of {JOINT_GRADIENTS}, got {self.joint_gradient!r}")
        validate_dialogue_normalization(self.dialogue_normalization, self.dialogue_normalization_min_utterances)
        if self.modality_logit_weight < 0:
            raise ValueError(f"modality_logit_weight must be >= 0, got {self.modality_logit_weight}")
        if self.hidden_size % self.acn_heads or self.hidden_size % self.encoder_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} must be divisible by acn_heads={self.acn_heads} and encoder_heads={self.encoder_heads}"
            )

    @property
    def modality_names(self) -> list[str]:
        """Modalities this model has an encoder for, in MODALITIES order."""
        return list(self.modality_dims)

    def input_normalization(self, modality: str) -> str:
        """What the encoder of ``modality`` standardises its input with (``"none"`` for backbone token states)."""
        return "none" if modality == "text" and self.text_config is not None else self.feature_normalization


__all__ = [
    "JOINT_GRADIENTS",
    "SYNTHETIC_TRAINED_ON",
    "EmoJEConfig",
    "default_modality_fields",
    "is_trained_on_synthetic",
    "validate_feature_normalization",
    "validate_modality_masking",
    "without_installed_pipelines",
]
