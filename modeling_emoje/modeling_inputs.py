# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""The models' input contract, and its checks: what every ``forward`` of AM^2-EmoJE and CM-ARR takes.

`INPUT_CONTRACT` states the contract (rendered from the modality table, and appended to each model's ``forward``
docstring by `documents_input_contract`); `collect_modality_inputs` reads a forward's modality keyword inputs by the
table's ``features_key`` / ``attention_mask_key`` and refuses any keyword the forward does not take, naming it and the
closest valid input; `check_model_inputs` checks shapes, sizes, masks and labels.

Example:
    >>> import torch
    >>> from modeling_emoje.modeling_inputs import collect_modality_inputs
    >>> features, masks = collect_modality_inputs({"audio_features": torch.zeros(1, 2, 3, 4)})
    >>> list(features), masks["audio"] is None
    (['audio'], True)
    >>> collect_modality_inputs({"aduio_features": torch.zeros(1, 2, 3, 4)})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown modality inputs ['aduio_features'] (did you mean 'audio_features'?); ...
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence

import torch

from .modalities import MODALITIES, MODALITY_INPUT_KEYS, MODALITY_TABLE, counted_modalities, get_modality


def _contract() -> str:
    rows = "\n".join(
        f"        {modality.features_key} (B, U, T, {modality.default_dim} by default), {modality.attention_mask_key} "
        f"(B, U, T): {modality.description}."
        for modality in MODALITY_TABLE
    )
    return f"""
    Input contract (B dialogues padded to U utterances; every input is optional, but at least one modality's features
    must be given):

    - Per modality ``m`` of the table (`modeling_emoje.modalities.MODALITY_TABLE`), in this order:
      ``{{m}}_features`` float (B, U, T_m, D_m), a sequence of T_m frames per utterance (T_m = 1 for pooled features)
      with D_m = ``config.modality_dims[m]``, and ``{{m}}_attention_mask`` (B, U, T_m), 1 on real frames (default: all):
{rows}
    - ``modality_mask`` bool (B, U, {len(MODALITIES)}), columns in the order {", ".join(MODALITIES)}: where each modality is
      present (default: every given modality on every utterance). A modality marked present needs its features and
      at least one real frame; every real utterance needs at least one present modality.
    - ``utterance_mask`` (B, U): 1 on real utterances, 0 on padding (default: all real).
    - ``speaker_ids`` long (B, U): each utterance's speaker within its dialogue (default: one speaker).
    - ``labels`` long (B, U): class ids, -100 on padding and unscored utterances.
    - ``input_ids`` / ``attention_mask`` long (B, U, L): a model with a text backbone (``config.text_config``) runs
      them through it and uses its token states as ``text_features``.
    - ``causal``: streaming inference, each utterance's output from the utterances up to it only.
    - ``return_dict``: ``False`` returns a tuple instead of the output dataclass.

    Values of an absent modality (not marked in ``modality_mask``, padding frames or utterances) never change the
    output. Any other keyword is a ValueError naming it and the closest valid input.
"""


INPUT_CONTRACT: str = _contract()


def documents_input_contract(forward: Callable) -> Callable:
    """Append `INPUT_CONTRACT` to a model ``forward``'s docstring (the contract is written once, for both models)."""
    forward.__doc__ = (forward.__doc__ or "").rstrip() + "\n" + INPUT_CONTRACT
    return forward


def check_input_names(given: Iterable[str], named_inputs: Sequence[str] = ()) -> None:
    """A ValueError naming every keyword of ``given`` that is neither a modality input of the table nor one of
    ``named_inputs`` (the forward's own parameters), and the valid input closest to the first of them."""
    valid = [*named_inputs, *MODALITY_INPUT_KEYS]
    unknown = [key for key in given if key not in valid]
    if not unknown:
        return
    close = difflib.get_close_matches(str(unknown[0]), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    kind = "modality inputs" if all(str(key).endswith(("_features", "_attention_mask")) for key in unknown) else "inputs"
    raise ValueError(
        f"unknown {kind} {unknown}{hint}; the model's inputs are {', '.join(valid)} (modalities are {MODALITIES})"
    )


def collect_modality_inputs(
    modality_inputs: Mapping[str, torch.Tensor | None], named_inputs: Sequence[str] = ()
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor | None]]:
    """Split a forward's modality keyword inputs (``{m}_features`` / ``{m}_attention_mask`` of the table) into two
    dicts keyed by modality, in table order; a modality whose features are None is absent.

    Any other key is refused (`check_input_names`; ``named_inputs`` are the forward's own parameters, listed in the
    message as valid inputs).
    """
    check_input_names(modality_inputs, named_inputs)
    features, masks = {}, {}
    for modality in MODALITY_TABLE:
        value = modality_inputs.get(modality.features_key)
        if value is not None:
            features[modality.name] = value
            masks[modality.name] = modality_inputs.get(modality.attention_mask_key)
    return features, masks


def check_model_inputs(
    modality_dims: Mapping[str, int],
    features: Mapping[str, torch.Tensor],
    attention_masks: Mapping[str, torch.Tensor | None],
    modality_mask: torch.Tensor | None,
    utterance_mask: torch.Tensor | None,
    labels: torch.Tensor | None,
    num_labels: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate the input contract (`INPUT_CONTRACT`) and return ``(present (B, U, 4) bool, utterance_mask (B, U) bool)``.

    ``features`` / ``attention_masks`` are keyed by modality (`collect_modality_inputs`). Raises ``ValueError`` naming
    the input at fault.
    """
    if not features:
        raise ValueError(
            f"no modality features were given: pass at least one of {[get_modality(m).features_key for m in modality_dims]}"
        )
    batch_shape = None
    for name, value in features.items():
        key = get_modality(name).features_key
        if name not in modality_dims:
            raise ValueError(
                f"{key} was given but the model has no '{name}' encoder (config.modality_dims: {dict(modality_dims)})"
            )
        if value.dim() != 4:
            raise ValueError(f"{key} must have shape (batch, utterances, frames, dim); got {tuple(value.shape)}")
        if value.shape[-1] != modality_dims[name]:
            raise ValueError(
                f"{key} has feature size {value.shape[-1]} but config.modality_dims['{name}'] is {modality_dims[name]}"
            )
        if batch_shape is None:
            batch_shape = value.shape[:2]
        elif value.shape[:2] != batch_shape:
            raise ValueError(f"{key} has (batch, utterances) {tuple(value.shape[:2])}, expected {tuple(batch_shape)}")
        mask = attention_masks.get(name)
        if mask is not None and mask.shape != value.shape[:3]:
            raise ValueError(
                f"{get_modality(name).attention_mask_key} has shape {tuple(mask.shape)}, expected {tuple(value.shape[:3])}"
            )
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
            raise ValueError(
                f"modality_mask marks {missing} present but no {get_modality(missing[0]).features_key} were given"
            )
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


__all__ = [
    "INPUT_CONTRACT",
    "check_input_names",
    "check_model_inputs",
    "collect_modality_inputs",
    "documents_input_contract",
]
