"""Launched by `tests/training/train/test_distributed_modalities.py` under ``accelerate launch``: emoje-train whose ranks see
different modalities in the same step.

Rank 0's batches lose the ``face`` modality (features and ``modality_mask`` column), every other rank keeps it,
so the face encoder has nothing to encode on rank 0 in any step. Each rank appends the modalities present in each
training forward to ``{output_dir}/modalities-rank{rank}.jsonl``, for the test to check that the ranks really
differed. Usage: ``python -m tests.training.train.rank_modalities <emoje-train arguments>``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch.distributed as dist
from transformers import TrainerCallback

from training.train.collator import MODALITIES, DialogueCollator
from training.train.run import run

DROPPED = "face"


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def drop_modality_on_rank_zero(collate):
    """Wrap ``DialogueCollator.__call__`` so that rank 0 never sees `DROPPED`."""
    column = MODALITIES.index(DROPPED)

    def call(self, dialogues):
        if rank() == 0:
            stripped = []
            for dialogue in dialogues:
                dialogue = {key: value for key, value in dialogue.items() if key != f"{DROPPED}_features"}
                mask = np.array(dialogue["modality_mask"], dtype=bool)
                mask[:, column] = False
                stripped.append({**dialogue, "modality_mask": mask})
            dialogues = stripped
        return collate(self, dialogues)

    return call


class RecordModalities(TrainerCallback):
    """Appends ``{"step", "modalities"}`` per training forward of this rank to a JSON-lines file."""

    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self.step = 0

    def on_step_begin(self, args, state, control, **kwargs):
        self.step = state.global_step

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"modalities-rank{rank()}.jsonl"

        def record(module, positional, keywords):
            if module.training:
                present = keywords["modality_mask"].flatten(0, 1).any(0).tolist()
                names = [name for name, flag in zip(MODALITIES, present, strict=True) if flag]
                with path.open("a") as handle:
                    handle.write(json.dumps({"step": self.step, "modalities": names}) + "\n")

        model.register_forward_pre_hook(record, with_kwargs=True)


if __name__ == "__main__":
    DialogueCollator.__call__ = drop_modality_on_rank_zero(DialogueCollator.__call__)
    argv = sys.argv[1:]
    output_dir = argv[argv.index("--output-dir") + 1]
    run(argv, callbacks=[RecordModalities(output_dir)])
