"""Run by `tests/training/train/test_distributed_modalities.py` under ``torch.distributed.run`` (2 CPU processes, gloo): FSDP2
over a tiny AM^2-EmoJE or CM-ARR whose ranks see different modalities in the same step.

The model is sharded as accelerate does with ``training/configs/accelerate/fsdp.yaml`` (one FSDP unit per module
whose class is in the model's ``_no_split_modules``, then the root) and gets `training.train.trainer.ReduceUnusedGradients`.
Rank 0's batches lack one modality (face unless a third argument names another), rank 1's have every modality. In each step the gathered gradients are compared
with those of an unsharded copy of the model run on both ranks' batches (their mean is what data-parallel
training must produce); then one evaluation forward. Writes ``{output}/rank{rank}.json``. Usage: ``... fsdp_modalities.py emoje|cmarr OUTPUT [MODALITY]``.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.fsdp import FSDPModule, fully_shard

from modeling_emoje import MODALITIES, CMARRConfig, CMARRForEmotionRecognition, EmoJEConfig, EmoJEForEmotionRecognition
from tests.modeling_common import TINY_DIMS, make_batch
from training.train.trainer import ReduceUnusedGradients

STEPS = 2


def tiny_model(model_type: str) -> torch.nn.Module:
    """A tiny model without dropout or training-time modality masking (its gradients are deterministic)."""
    if model_type == "emoje":
        config = EmoJEConfig(
            modality_dims=dict(TINY_DIMS), num_labels=4, hidden_size=16, encoder_heads=2, acn_heads=2, acn_layers=1,
            joint_embedding_size=8, context_hidden_size=8, context_layers=1, dropout=0.0, context_dropout=0.0,
            classifier_dropout=0.0, modality_dropout=0.0,
        )
        return EmoJEForEmotionRecognition(config)
    config = CMARRConfig(
        modality_dims=dict(TINY_DIMS), num_labels=4, hidden_size=16, latent_size=6, flow_blocks=1, flow_hidden_size=16,
        fusion_heads=2, dropout=0.0, classifier_dropout=0.0,
    )
    return CMARRForEmotionRecognition(config)


def rank_batch(step: int, rank: int, dropped: str = "face") -> dict[str, torch.Tensor]:
    """Rank 0: every modality but ``dropped``; other ranks: every modality."""
    modalities = [name for name in MODALITIES if rank != 0 or name != dropped]
    return make_batch(modalities, batch=2, length=3, seed=10 * step + rank)


def shard_like_accelerate(model: torch.nn.Module) -> None:
    """`fully_shard` every module whose class is named in ``_no_split_modules`` (deepest first), then the root."""
    names = set(model._no_split_modules)
    for module in reversed(list(model.modules())):
        if module is not model and type(module).__name__ in names:
            fully_shard(module)
    fully_shard(model)


def loss_of(model: torch.nn.Module, batch: dict[str, torch.Tensor], seed: int) -> torch.Tensor:
    torch.manual_seed(seed)  # the same random draws (CM-ARR's training conditions, sampling) in both copies
    return model(**batch).loss


def main(model_type: str, output: Path, dropped: str = "face") -> None:
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = tiny_model(model_type).train()
    reference = copy.deepcopy(model)
    shard_like_accelerate(model)
    ReduceUnusedGradients().on_train_begin(None, None, None, model=model)
    sharded = (module for module in model.modules() if module is not model and isinstance(module, FSDPModule))
    units = sorted({type(module).__name__.removeprefix("FSDP") for module in sharded})
    report = {"units": units, "modalities": [], "max_gradient_difference": 0.0, "losses": []}
    for step in range(STEPS):
        batch = rank_batch(step, rank, dropped)
        present = batch["modality_mask"].flatten(0, 1).any(0).tolist()
        report["modalities"].append([name for name, on in zip(MODALITIES, present, strict=True) if on])
        loss = loss_of(model, batch, 100 * step + rank)
        loss.backward()
        report["losses"].append(float(loss))
        for other in range(world):
            (loss_of(reference, rank_batch(step, other, dropped), 100 * step + other) / world).backward()
        for param, expected in zip(model.parameters(), reference.parameters(), strict=True):
            gathered = param.grad.full_tensor() if param.grad is not None else torch.zeros_like(expected)
            wanted = expected.grad if expected.grad is not None else torch.zeros_like(expected)
            report["max_gradient_difference"] = max(report["max_gradient_difference"], float((gathered - wanted).abs().max()))
        model.zero_grad(set_to_none=True)
        reference.zero_grad(set_to_none=True)
    with torch.no_grad():  # evaluation runs the same modules on every rank too (CM-ARR reconstructs only at one)
        report["evaluation_logits"] = list(model.eval()(**rank_batch(STEPS, rank, dropped)).logits.shape)
    output.mkdir(parents=True, exist_ok=True)
    (output / f"rank{rank}.json").write_text(json.dumps(report))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), *sys.argv[3:])
