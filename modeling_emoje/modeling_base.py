# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""What AM^2-EmoJE and CM-ARR share as ``PreTrainedModel``s, written once: `EmotionRecognitionPreTrainedModel`.

Both models' pre-trained classes derive from it. It gives them strict loading (`load_pretrained_strictly`: a folder
of another model_type, or weights that do not fit the config, are an error, never random weights), an ``AutoModel``
entry in ``auto_map`` when they save their code for ``trust_remote_code``, the transformers attributes they share,
the identity initialisation of `FeatureStandardizer`, and the forward preamble (`prepare_inputs`): the modality
inputs read from the modality table and checked (`modeling_emoje.modeling_inputs`), the default speakers, and the
modalities kept in a training step.

Example:
    >>> from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition
    >>> model = EmoJEForEmotionRecognition(EmoJEConfig(modality_dims={"text": 4}, num_labels=2, hidden_size=8))
    >>> model.emoje.forward_input_names()[:4]  # besides the modality inputs of the table
    ('modality_mask', 'utterance_mask', 'speaker_ids', 'labels')
    >>> model(txt_features=None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown modality inputs ['txt_features'] (did you mean 'text_features'?); ...
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .modalities import MODALITY_TABLE
from .model_folder import load_pretrained_strictly
from .modeling_inputs import check_model_inputs, collect_modality_inputs
from .modeling_layers import FeatureStandardizer


def add_base_model_auto_map(model: PreTrainedModel, base_model_class: type) -> None:
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


@functools.cache
def _named_parameters(function) -> tuple[str, ...]:
    parameters = inspect.signature(function).parameters.values()
    return tuple(p.name for p in parameters if p.name != "self" and p.kind is not inspect.Parameter.VAR_KEYWORD)


@dataclass
class ConversationModelOutput(ModelOutput):
    """The fields every base model's output starts with: ``last_hidden_state`` (B, U, H), the classifier's input,
    and ``fused`` (B, U, d), the fused utterance vectors before the dialogue context."""

    last_hidden_state: torch.Tensor | None = None
    fused: torch.Tensor | None = None


@dataclass
class EmotionRecognitionOutput(ModelOutput):
    """The fields every model-with-head's output starts with: the ``loss`` (with labels), the ``logits`` (B, U, C),
    ``modality_weights`` (B, U, 4; None for a model without per-modality weights) and ``imputed_mask`` (B, U, 4)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    modality_weights: torch.Tensor | None = None
    imputed_mask: torch.Tensor | None = None


@dataclass
class PreparedInputs:
    """A forward's inputs after the shared preamble: features and frame masks keyed by modality, ``present`` and
    ``kept`` (B, U, 4) bool (kept: what a training step keeps of present), ``utterance_mask`` (B, U) bool and
    ``speaker_ids`` (B, U) long."""

    features: dict[str, torch.Tensor]
    frame_masks: dict[str, torch.Tensor | None]
    present: torch.Tensor
    kept: torch.Tensor
    utterance_mask: torch.Tensor
    speaker_ids: torch.Tensor


@torch.no_grad()
def init_feature_standardizer(module: nn.Module) -> None:
    """A `FeatureStandardizer` starts as the identity until it is fitted on a training split (any other module: as
    it is). Called from a PreTrainedModel's ``_init_weights``."""
    if isinstance(module, FeatureStandardizer):
        init.zeros_(module.shift)
        init.ones_(module.scale)
        init.zeros_(module.num_frames)


class EmotionRecognitionPreTrainedModel(PreTrainedModel):
    """The shared base of the package's pre-trained model classes (see the module docstring).

    A subclass sets ``config_class``, ``base_model_prefix`` and ``_no_split_modules``, and says which present
    modalities a training step keeps (`sample_kept_modalities`).
    """

    main_input_name = MODALITY_TABLE[0].features_key
    input_modalities = tuple(dict.fromkeys(modality.source for modality in MODALITY_TABLE))
    supports_gradient_checkpointing = False
    # Every attention (nn.MultiheadAttention / TransformerEncoderLayer without weights) runs through SDPA already.
    _supports_sdpa = True
    # forward takes **inputs, but the loss is a per-utterance mean: Trainer must not rescale it.
    accepts_loss_kwargs = False

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, **kwargs):
        """`PreTrainedModel.from_pretrained`; a folder of another model_type, or weights that do not fit the config,
        are an error, never random weights."""
        return load_pretrained_strictly(
            super().from_pretrained, pretrained_model_name_or_path, *model_args, model_class=cls, **kwargs
        )

    def save_pretrained(self, save_directory, *args, **kwargs):
        """`PreTrainedModel.save_pretrained`; with remote code, ``auto_map`` also maps ``AutoModel`` to the model
        without its head."""
        add_base_model_auto_map(self, type(self.base_model))
        return super().save_pretrained(save_directory, *args, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        init_feature_standardizer(module)

    @classmethod
    def forward_input_names(cls) -> tuple[str, ...]:
        """The inputs ``forward`` names itself (besides the modality inputs of the table)."""
        return _named_parameters(cls.forward)

    def sample_kept_modalities(self, present: torch.Tensor) -> torch.Tensor:
        """The present modalities (B, U, 4) a training step keeps (training-time masking); all of them by default."""
        return present

    def prepare_inputs(
        self,
        modality_inputs: dict[str, torch.Tensor | None],
        modality_mask: torch.Tensor | None,
        utterance_mask: torch.Tensor | None,
        speaker_ids: torch.Tensor | None,
        labels: torch.Tensor | None,
    ) -> PreparedInputs:
        """The forward preamble of both models: the modality inputs read by the table and checked against the config
        (an unknown keyword is a ValueError naming it and the closest valid input), one speaker where none is given,
        and the modalities kept (every present one, or `sample_kept_modalities` while training)."""
        features, frame_masks = collect_modality_inputs(modality_inputs, self.forward_input_names())
        present, utterance_mask = check_model_inputs(
            self.config.modality_dims, features, frame_masks, modality_mask, utterance_mask, labels, self.config.num_labels
        )
        if speaker_ids is None:
            speaker_ids = torch.zeros(utterance_mask.shape, dtype=torch.long, device=utterance_mask.device)
        kept = self.sample_kept_modalities(present) if self.training else present
        return PreparedInputs(features, frame_masks, present, kept, utterance_mask, speaker_ids)

    def classify(
        self, labels: torch.Tensor | None, inputs: dict[str, torch.Tensor | None]
    ) -> tuple[ModelOutput, torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor] | None]:
        """The shared forward of the models with a head: the base model on ``inputs``, the logits of its output
        (`logits_of`), and with ``labels`` the training loss and its terms (the head's ``_losses``):
        ``(outputs, logits, loss, loss_terms)``."""
        outputs = self.base_model(labels=labels, **inputs)
        logits = self.logits_of(outputs)
        loss = loss_terms = None
        if labels is not None:
            loss, loss_terms = self._losses(outputs, logits, labels)
        return outputs, logits, loss, loss_terms

    def logits_of(self, outputs: ModelOutput) -> torch.Tensor:
        """A head's logits (B, U, C): its ``classifier`` on the base model's ``last_hidden_state``."""
        return self.classifier(outputs.last_hidden_state)

    @staticmethod
    def as_requested(output: ModelOutput, return_dict: bool | None) -> ModelOutput | tuple:
        """``output``, or its tuple form when ``return_dict`` is False."""
        return output.to_tuple() if return_dict is False else output


__all__ = [
    "ConversationModelOutput",
    "EmotionRecognitionOutput",
    "EmotionRecognitionPreTrainedModel",
    "PreparedInputs",
    "init_feature_standardizer",
    "add_base_model_auto_map",
]
