"""Checkpoint checks of `emoje-train`: is a Trainer checkpoint complete, which one to resume, does it fit the run.

A damaged or partial checkpoint (a kill while saving) is named in a `CheckpointError` (a ValueError), or skipped
with a warning when the last complete one is looked for; resuming also checks the checkpoint's labels, its text
backbone and its weights against the model the options build.

Example:
    >>> import tempfile
    >>> from training.train.checkpoints import checkpoint_problem
    >>> checkpoint_problem(tempfile.mkdtemp()).endswith("trainer_state.json is missing")
    True
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from pathlib import Path

from modeling_emoje.model_folder import (
    WeightsError,
    check_weights_match,
    model_weight_shapes,
    saved_weight_shapes,
    weight_files,
)

from .labels import label_list
from .run_folder import checkpoint_dirs, set_aside

logger = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint directory is incomplete or damaged."""


def _check_torch_file(path: Path) -> None:
    """A ``torch.save`` file is a complete zip archive (a truncated one has no central directory)."""
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is truncated or damaged (not a complete torch.save archive)")


def _check_weights_only(path: Path) -> None:
    """A small ``torch.save`` file (the RNG states) loads with ``weights_only=True`` and the numpy types the Trainer
    allows, as resuming loads it: a file
    holding pickled objects (not written by a Trainer, or tampered with) is refused before the run, naming it."""
    import pickle

    import torch
    from transformers.trainer_pt_utils import safe_globals  # the numpy types the Trainer's RNG states hold

    _check_torch_file(path)
    try:
        with safe_globals():
            torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"{path} cannot be loaded as plain tensors (weights-only loading refuses it: {reason[:160]})"
        ) from None


def checkpoint_problem(path: str | os.PathLike, require_optimizer: bool = True) -> str | None:
    """What makes ``path`` an incomplete or damaged Trainer checkpoint (a sentence naming it), or None if it is complete."""
    path = Path(path)
    if not path.is_dir():
        return f"checkpoint {path} does not exist"
    state_file = path / "trainer_state.json"
    if not state_file.is_file():
        return f"checkpoint {path} is incomplete: trainer_state.json is missing"
    try:
        state = json.loads(state_file.read_text())
        int(state["global_step"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        return f"checkpoint {path} has a damaged trainer_state.json ({error})"
    if not (path / "config.json").is_file():
        return f"checkpoint {path} is incomplete: config.json is missing"
    deepspeed = (path / "latest").is_file()
    fsdp = any(child.name.startswith("pytorch_model_fsdp") for child in path.iterdir())
    has_weights = any(path.glob("model*.safetensors"))
    if not has_weights and not (deepspeed or fsdp):
        return f"checkpoint {path} is incomplete: no model.safetensors"
    try:
        if has_weights:
            saved_weight_shapes(path)  # every weight file complete, every listed shard present
        if require_optimizer and not (deepspeed or fsdp):
            for name in ("optimizer.pt", "scheduler.pt"):
                if not (path / name).is_file():
                    return f"checkpoint {path} is incomplete: {name} is missing"
                _check_torch_file(path / name)
        for rng_state in sorted(path.glob("rng_state*.pth")):
            _check_weights_only(rng_state)
    except (CheckpointError, WeightsError) as error:
        return str(error)
    return None


def validate_checkpoint(path: str | os.PathLike, require_optimizer: bool = True) -> None:
    """Raise `CheckpointError` naming ``path`` unless it holds a complete Trainer checkpoint."""
    problem = checkpoint_problem(path, require_optimizer)
    if problem:
        raise CheckpointError(
            f"{problem}. Pass --resume_from_checkpoint with a complete checkpoint, or leave it out to resume from the "
            "last complete checkpoint of --output-dir."
        )


def find_resume_checkpoint(
    output_dir: str | os.PathLike, require_optimizer: bool = True, set_aside_damaged: bool = False
) -> Path | None:
    """The last complete ``checkpoint-N`` of ``output_dir``; None if there is none.

    A damaged or partial checkpoint (a kill while saving) is skipped with a warning in favour of the one before;
    with ``set_aside_damaged`` (the main process) it is renamed ``damaged-checkpoint-N`` (kept, never resumed nor
    rotated), otherwise left in place.
    """
    for checkpoint in reversed(checkpoint_dirs(output_dir)):
        problem = checkpoint_problem(checkpoint, require_optimizer=require_optimizer)
        if problem is None:
            return checkpoint
        if set_aside_damaged and checkpoint.exists():
            moved = set_aside(checkpoint)
            logger.warning("skipping a damaged checkpoint: %s; it is kept as %s (delete it when done)", problem, moved)
        else:
            logger.warning("skipping a damaged checkpoint: %s (not resumed)", problem)
    return None


def check_backbone_checkpoint(checkpoint: Path) -> None:
    """A checkpoint resumed with ``text_backbone`` must hold a text encoder (it is not reloaded from the path)."""
    try:
        config = json.loads((checkpoint / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint {checkpoint} has an unreadable config.json ({error})") from error
    if not config.get("text_config"):
        raise CheckpointError(
            f"checkpoint {checkpoint} was trained without a text backbone (its config has no text_config); resume it "
            "without --text_backbone, or start a new run (--resume false with a new --output-dir)"
        )


def checkpoint_labels(checkpoint: Path, data_labels: list[str]) -> list[str]:
    """The label order to train with when resuming ``checkpoint``: its own (its weights are in that order).

    The splits are then aligned to it with `DialogueDataset.with_label_order` (remapped, or refused naming both lists).
    """
    config_file = checkpoint / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint {checkpoint} has an unreadable config.json ({error})") from None
    id2label = config.get("id2label") or {}
    return label_list(id2label, len(id2label)) or data_labels


def check_checkpoint_weights(checkpoint: Path, model) -> None:
    """A ValueError naming the checkpoint's weight file and the keys/shapes at fault unless they fit ``model``
    (resuming with another architecture, e.g. another ``--hidden_size``). DeepSpeed/FSDP checkpoints are not read."""
    try:
        weight_files(checkpoint)
    except WeightsError:
        return  # no model.safetensors: a DeepSpeed/FSDP checkpoint (validate_checkpoint has accepted it)
    check_weights_match(
        model_weight_shapes(model), checkpoint,
        what="the model this command builds (resume it with the options it was trained with, or start a new run "
        "in another --output-dir)",
    )


__all__ = [
    "CheckpointError",
    "check_backbone_checkpoint",
    "check_checkpoint_weights",
    "checkpoint_labels",
    "checkpoint_problem",
    "find_resume_checkpoint",
    "validate_checkpoint",
]
