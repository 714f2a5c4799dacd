"""`--schedule auto`: fine-tuning settings derived from the prepared data, so a recipe means the same on any corpus.

A recipe that counts dialogues and epochs trains very differently on short- and long-dialogue corpora: 8 dialogues
per batch and 4 epochs give MELD (1,038 training dialogues of about 10 utterances) 520 optimiser steps of about 80
utterances, but a corpus of 110 conversations of 50 utterances 56 steps of 400. `ScheduleRule` states the recipe
in what does not depend on how the corpus is cut into dialogues:

1. **Windows for long dialogues.** When the mean training dialogue is longer than ``window`` utterances, training
   dialogues are cut into windows of ``window`` scored utterances, each also seeing the ``context`` utterances
   before it, unscored (`training.train.collator.DialogueDataset.windows`; validation and test keep whole dialogues).
   Corpora of short dialogues (MELD) keep whole dialogues.
2. **Utterances per batch.** ``per_device_train_batch_size`` = ``batch_utterances`` / (the mean number of
   utterances a training item carries, context included: what the text encoder runs on), rounded, at least 1,
   split over the processes.
3. **Optimiser steps.** ``max_steps`` = ``steps``, capped at ``max_passes`` passes over the training items (a small
   corpus is not trained 40 times over). Warmup, evaluation and saving given as fractions (``warmup_steps: 0.06``,
   ``eval_steps: 0.125``) follow ``max_steps``.

The defaults (520 steps of 80 utterances, windows of 16 + 4 context) are the MELD fine-tuning recipe
(`training/configs/meld_text_finetune.yaml`, test weighted-F1 0.618 in ``benchmarks/results/quality.json``): on
MELD the rule gives back exactly its 8 dialogues per batch and 520 steps; on MELD joined per episode (53
utterances per conversation) it gives windows, 5 per batch (about 85 utterances), and 520 steps as well. A spec string changes any
field: ``auto`` or ``auto,steps=300,batch_utterances=64,window=12,context=4,max_passes=6``.

Example:
    >>> from training.train.schedule import ScheduleRule
    >>> rule = ScheduleRule.parse("auto")
    >>> short = rule.derive([10] * 1000)          # 1,000 dialogues of 10 utterances
    >>> long = rule.derive([50] * 200)            # 200 conversations of 50
    >>> short.train_window, short.per_device_train_batch_size, short.max_steps
    (None, 8, 520)
    >>> long.train_window, long.per_device_train_batch_size, long.max_steps
    (16, 5, 520)
    >>> ScheduleRule.parse("auto,steps=300").steps, ScheduleRule.parse("none")
    (300, None)
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataset_scripts.files import write_text_atomic

SCHEDULE_FILE = "training_schedule.json"
SCHEDULE_HELP = (
    "'auto': derive train_window / train_window_context / per_device_train_batch_size / max_steps from the training "
    "data (training.train.schedule: windows for long dialogues, about 80 utterances per batch, 520 steps); 'auto,steps=300,"
    "batch_utterances=64,window=16,context=4,max_passes=6' changes the rule; 'none' (default): the options as given"
)


@dataclass(frozen=True)
class ScheduleRule:
    """How to derive the fine-tuning schedule from a corpus (see the module docstring)."""

    steps: int = 520
    batch_utterances: int = 80
    window: int = 16
    context: int = 4
    max_passes: float = 6.0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_utterances", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"schedule: {name} must be >= 1, got {getattr(self, name)}")
        if self.context < 0:
            raise ValueError(f"schedule: context must be >= 0, got {self.context}")
        if self.max_passes <= 0:
            raise ValueError(f"schedule: max_passes must be > 0, got {self.max_passes}")

    @classmethod
    def parse(cls, spec: str | None) -> ScheduleRule | None:
        """``"auto[,field=value...]"`` -> a rule; ``None``, ``""`` or ``"none"`` -> None; else a ValueError."""
        if spec is None or str(spec).strip().lower() in ("", "none"):
            return None
        head, *options = [part.strip() for part in str(spec).split(",")]
        if head.lower() != "auto":
            raise ValueError(f"--schedule must be 'none' or 'auto[,field=value...]', got {spec!r}")
        types = {f.name: (float if f.type in (float, "float") else int) for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for option in options:
            name, sep, text = option.partition("=")
            name = name.strip()
            if not sep or name not in types:
                raise ValueError(f"--schedule {spec!r}: {option!r} is not field=value with a field of {sorted(types)}")
            try:
                values[name] = types[name](text)
            except ValueError:
                raise ValueError(f"--schedule {spec!r}: {name} expects {types[name].__name__}, got {text!r}") from None
        return cls(**values)

    def derive(self, dialogue_lengths: Sequence[int], world_size: int = 1) -> TrainingSchedule:
        """The schedule for a training split whose dialogues have these numbers of utterances."""
        lengths = [int(n) for n in dialogue_lengths if int(n) > 0]
        if not lengths:
            raise ValueError("schedule: the training split has no dialogue with utterances")
        if world_size < 1:
            raise ValueError(f"schedule: world_size must be >= 1, got {world_size}")
        utterances = sum(lengths)
        mean_length = utterances / len(lengths)
        windowed = mean_length > self.window
        if windowed:
            items = sum(math.ceil(n / self.window) for n in lengths)
            # Every window carries its scored utterances plus up to `context` before it (none before the first).
            encoded = sum(
                n + sum(min(self.context, first) for first in range(self.window, n, self.window)) for n in lengths
            )
        else:
            items, encoded = len(lengths), utterances
        mean_item = encoded / items
        batch = max(1, round(self.batch_utterances / mean_item))
        per_device = max(1, round(batch / world_size))
        batch = per_device * world_size
        steps_per_pass = math.ceil(items / batch)
        max_steps = max(1, min(self.steps, math.ceil(self.max_passes * steps_per_pass)))
        return TrainingSchedule(
            rule=self,
            dialogues=len(lengths),
            utterances=utterances,
            mean_dialogue_length=round(mean_length, 2),
            train_window=self.window if windowed else None,
            train_window_context=self.context if windowed else 0,
            training_items=items,
            mean_item_utterances=round(mean_item, 2),
            per_device_train_batch_size=per_device,
            world_size=world_size,
            max_steps=max_steps,
            utterances_per_step=round(batch * mean_item, 1),
            passes=round(max_steps / steps_per_pass, 2),
        )


@dataclass(frozen=True)
class TrainingSchedule:
    """The settings `ScheduleRule.derive` chose for one corpus, and the figures it chose them from."""

    rule: ScheduleRule
    dialogues: int
    utterances: int
    mean_dialogue_length: float
    train_window: int | None
    train_window_context: int
    training_items: int
    mean_item_utterances: float
    per_device_train_batch_size: int
    world_size: int
    max_steps: int
    utterances_per_step: float
    passes: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """One line for the start of a run."""
        cut = (
            f"windows of {self.train_window} utterances + {self.train_window_context} context -> {self.training_items} items"
            if self.train_window
            else "whole dialogues"
        )
        return (
            f"schedule auto: {self.dialogues} training dialogues of {self.mean_dialogue_length:g} utterances on average; "
            f"{cut}; batch {self.per_device_train_batch_size} x {self.world_size} process(es) "
            f"(about {self.utterances_per_step:g} utterances per step); max_steps {self.max_steps} "
            f"({self.passes:g} passes over the training items)"
        )

    def apply(self, script, training_args) -> None:
        """Set ``train_window``/``train_window_context`` (script options) and ``per_device_train_batch_size``/
        ``max_steps`` (TrainingArguments) in place."""
        script.train_window = self.train_window
        script.train_window_context = self.train_window_context
        training_args.per_device_train_batch_size = self.per_device_train_batch_size
        training_args.max_steps = self.max_steps

    def save(self, output_dir: str | os.PathLike) -> Path:
        """Write ``training_schedule.json`` into the run folder."""
        path = Path(output_dir) / SCHEDULE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def dialogue_lengths(split) -> list[int]:
    """Utterances per dialogue of a prepared split (its ``dialogue_id`` column), in first-appearance order."""
    if "dialogue_id" not in split.column_names:
        raise ValueError(f"schedule: the split has no dialogue_id column (have {split.column_names})")
    return list(Counter(str(d) for d in split["dialogue_id"]).values())


def apply_schedule(spec: str | None, script, training_args, train_split) -> TrainingSchedule | None:
    """`emoje-train --schedule`: derive the schedule from ``train_split`` (a prepared split), set it on the options
    (`TrainingSchedule.apply`) and print it (main process); None (nothing changed) for ``none``."""
    rule = ScheduleRule.parse(spec)
    if rule is None:
        return None
    schedule = rule.derive(dialogue_lengths(train_split), world_size=max(1, int(training_args.world_size)))
    schedule.apply(script, training_args)
    if training_args.process_index == 0:
        print(schedule.describe(), flush=True)
    return schedule


__all__ = ["SCHEDULE_FILE", "SCHEDULE_HELP", "ScheduleRule", "TrainingSchedule", "apply_schedule", "dialogue_lengths"]
