"""Fine-tuning a Hugging Face text encoder inside AM^2-EmoJE: the model's ``text_config`` sub-model.

``emoje-train ... --text_backbone PATH_OR_HUB_ID`` (or ``model: {text_backbone: ...}`` in a YAML config) trains
on the utterances' tokens instead of pre-extracted ``text_features``: the model config gets
``text_config = AutoConfig.from_pretrained(PATH)`` and ``modality_dims["text"] = hidden_size``, the pretrained
encoder weights are loaded into ``model.emoje.text_model``, and the collator tokenizes the ``text`` column with
the encoder's tokenizer. ``default`` names the offline all-MiniLM-L6-v2
(`modeling_emoje.text_encoding_emoje.default_text_encoder`); anything else is a local path or a Hub id, used as is.

Example:
    >>> from training.train.text_backbone import resolve_text_backbone
    >>> resolve_text_backbone("sentence-transformers/all-MiniLM-L6-v2")  # a Hub id stays a Hub id
    'sentence-transformers/all-MiniLM-L6-v2'
    >>> resolve_text_backbone("default").endswith(("model", "all-MiniLM-L6-v2"))  # the offline copy if installed
    True
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedConfig

DEFAULT_BACKBONE = "default"
# Buffers some encoders keep in their state dict (or not, depending on the version): never a real mismatch.
_IGNORED_KEYS = ("position_ids",)


def resolve_text_backbone(name_or_path: str | os.PathLike) -> str:
    """``"default"`` -> the offline all-MiniLM-L6-v2 (or its Hub id when the wheel is missing); else unchanged."""
    name = os.fspath(name_or_path)
    if name == DEFAULT_BACKBONE:
        from modeling_emoje.text_encoding_emoje import default_text_encoder

        return default_text_encoder()
    return name


def text_backbone_config(name_or_path: str | os.PathLike) -> PreTrainedConfig:
    """The encoder's config (``AutoConfig.from_pretrained``); a ValueError naming the path if it cannot be read."""
    path = resolve_text_backbone(name_or_path)
    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"text backbone {path!r}: cannot read its config ({error})") from error
    if not getattr(config, "hidden_size", None):
        raise ValueError(f"text backbone {path!r}: its config ({type(config).__name__}) has no hidden_size")
    return config


def load_text_tokenizer(name_or_path: str | os.PathLike):
    """The encoder's tokenizer; a ValueError naming the path if it has none."""
    path = resolve_text_backbone(name_or_path)
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"text backbone {path!r}: cannot load its tokenizer ({error})") from error


def get_text_backbone(model: torch.nn.Module) -> torch.nn.Module | None:
    """The Hugging Face text encoder inside ``model`` (``model.emoje.text_model`` for AM^2-EmoJE), or None."""
    core = getattr(model, getattr(model, "base_model_prefix", ""), None)
    backbone = getattr(core, "text_model", None) if core is not None else getattr(model, "text_model", None)
    return backbone if isinstance(backbone, torch.nn.Module) else None


def load_text_backbone_weights(model: torch.nn.Module, name_or_path: str | os.PathLike) -> list[str]:
    """Copy the pretrained weights of ``name_or_path`` into the model's text encoder; returns the loaded names.

    Raises a ValueError naming the path when the model has no text encoder or the weights do not match it.
    """
    path = resolve_text_backbone(name_or_path)
    backbone = get_text_backbone(model)
    if backbone is None:
        raise ValueError(f"cannot load text backbone {path!r}: the model has no text encoder (config.text_config is None)")
    try:
        pretrained = AutoModel.from_pretrained(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"text backbone {path!r}: cannot load its weights ({error})") from error
    state = pretrained.state_dict()
    own = backbone.state_dict()
    wrong_shape = sorted(k for k in state.keys() & own.keys() if state[k].shape != own[k].shape)
    missing, unexpected = backbone.load_state_dict({k: v for k, v in state.items() if k not in wrong_shape}, strict=False)
    missing = [k for k in missing if not k.endswith(_IGNORED_KEYS)]
    unexpected = [k for k in unexpected if not k.endswith(_IGNORED_KEYS)]
    if missing or unexpected or wrong_shape:
        raise ValueError(
            f"text backbone {path!r}: its weights do not match the model's text encoder "
            f"(missing {missing[:5]}, unexpected {unexpected[:5]}, wrong shape {wrong_shape[:5]})"
        )
    return sorted(state)


def backbone_parameter_names(model: torch.nn.Module) -> set[str]:
    """Names (as in ``model.named_parameters()``) of the text encoder's parameters; empty without one."""
    backbone = get_text_backbone(model)
    if backbone is None:
        return set()
    ids = {id(p) for p in backbone.parameters()}
    return {name for name, parameter in model.named_parameters() if id(parameter) in ids}


def build_text_processor(tokenizer, max_text_length: int, modalities: Sequence[str] | None = None):
    """An `EmoJEProcessor` giving ``input_ids`` (``text_input="input_ids"``) with ``tokenizer``; no frozen encoder."""
    from modeling_emoje import EmoJEProcessor
    from modeling_emoje.feature_extraction_emoje import EmoJEFeatureExtractor
    from modeling_emoje.video_processing_emoje import EmoJEVideoProcessor

    return EmoJEProcessor(
        EmoJEFeatureExtractor(), EmoJEVideoProcessor(), tokenizer, text_encoder_name_or_path=None,
        text_input="input_ids", max_text_length=max_text_length, modalities=list(modalities) if modalities else None,
    )


def load_saved_tokenizer(model_dir: str | os.PathLike) -> tuple[object, int]:
    """``(tokenizer, max_text_length)`` saved next to a model trained with a text backbone (its processor, or a
    bare tokenizer); a ValueError naming the directory when there is none."""
    model_dir = os.fspath(model_dir)
    if os.path.isfile(os.path.join(model_dir, "processor_config.json")):
        from modeling_emoje import EmoJEProcessor

        processor = EmoJEProcessor.from_pretrained(model_dir)
        return processor.tokenizer, int(processor.max_text_length)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"{model_dir}: the model has a text backbone (config.text_config) but no tokenizer or processor is saved "
            f"there ({error})"
        ) from error
    return tokenizer, int(min(tokenizer.model_max_length, 512))


__all__ = [
    "DEFAULT_BACKBONE",
    "backbone_parameter_names",
    "build_text_processor",
    "get_text_backbone",
    "load_saved_tokenizer",
    "load_text_backbone_weights",
    "load_text_tokenizer",
    "resolve_text_backbone",
    "text_backbone_config",
]
