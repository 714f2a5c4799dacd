"""Which output folder belongs to which `emoje-train` run, and which checkpoints in it are the run's own.

`emoje-train` writes ``emoje_run.json`` (`RUN_RECORD`) into its ``--output-dir`` before training:

    {"written_by": "emoje-train", "run_id": "<16 hex>", "run": {<what identifies the run>},
     "checkpoints": ["checkpoint-2", ...]}

``run`` holds what makes two runs the same run: the prepared data folder (absolute path), ``model_type``,
``modalities``, ``text_backbone`` and the model-config options; ``run_id`` is a hash of it. Training options
(steps, learning rate, batch size, ...) are not part of it: a resume may change them. ``checkpoints`` lists the
``checkpoint-<step>`` folders this run wrote; checkpoint rotation (`RecordedCheckpointRotation`) only ever deletes
folders listed there, never anything else in the output folder.

`claim_output_dir` decides whether a run may use a folder:

- missing or empty: yes (a new record);
- holding files but no record (not an emoje-train folder): refused, unless ``overwrite`` (same-named files are then
  overwritten; nothing is deleted);
- the record of another run: refused with the fields that differ, unless ``overwrite`` (the other run's recorded
  checkpoints are then deleted and its exported files overwritten; everything else is kept);
- the record of this run: yes (resume from its checkpoints; with ``resume=False`` only with ``overwrite``).

Example:
    >>> from training.train.run_folder import checkpoint_step
    >>> checkpoint_step("checkpoint-12"), checkpoint_step("checkpoint-notes"), checkpoint_step("checkpoint-3.bak")
    (12, None, None)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from dataset_scripts.files import write_text_atomic

logger = logging.getLogger(__name__)

RUN_RECORD = "emoje_run.json"
WRITTEN_BY = "emoje-train"
SET_ASIDE_PREFIX = "damaged-"
_CHECKPOINT_NAME = re.compile(rf"{PREFIX_CHECKPOINT_DIR}-(\d+)")


class OutputDirError(ValueError):
    """The output folder holds files of someone else or of another run."""


def checkpoint_step(name: str) -> int | None:
    """The step of a Trainer checkpoint folder name (exactly ``checkpoint-<int>``), else None."""
    match = _CHECKPOINT_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def checkpoint_dirs(output_dir: str | os.PathLike) -> list[Path]:
    """The ``checkpoint-<int>`` folders of ``output_dir``, oldest step first."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    found = [(checkpoint_step(child.name), child) for child in output_dir.iterdir() if child.is_dir()]
    return [path for step, path in sorted((s, p) for s, p in found if s is not None)]


def run_identity(
    data: str | os.PathLike, model_type: str, modalities: list[str] | None, text_backbone: str | None,
    model_options: Mapping[str, Any],
) -> dict[str, Any]:
    """What makes two `emoje-train` invocations the same run (see the module docstring)."""
    return {
        "data": str(Path(data).resolve()),
        "model_type": model_type,
        "modalities": sorted(modalities) if modalities else None,
        "text_backbone": text_backbone,
        "model_options": json.loads(json.dumps(dict(model_options), sort_keys=True, default=str)),
    }


def run_id(identity: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def read_run_record(output_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The folder's run record, or None if it has none; an `OutputDirError` naming the file if it is unreadable."""
    path = Path(output_dir) / RUN_RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise OutputDirError(f"{path} is damaged ({error}); move it away or pass --overwrite_output_dir") from None
    if not isinstance(record, dict) or record.get("written_by") != WRITTEN_BY or "run_id" not in record:
        raise OutputDirError(f"{path} is not an emoje-train run record; move it away or pass --overwrite_output_dir")
    return record


def write_run_record(output_dir: str | os.PathLike, record: Mapping[str, Any]) -> None:
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(output_dir / RUN_RECORD, json.dumps(record, indent=2) + "\n")


def _new_record(identity: Mapping[str, Any]) -> dict[str, Any]:
    return {"written_by": WRITTEN_BY, "run_id": run_id(identity), "run": dict(identity), "checkpoints": []}


def _differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``"field: X there, Y now"`` for every field (nested ones as ``model_options.dropout``) that differs."""
    found = []
    for key in sorted(set(old) | set(new)):
        before, after = old.get(key), new.get(key)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            found += _differences(before, after, f"{prefix}{key}.")
        elif before != after:
            found.append(f"{prefix}{key}: {before!r} there, {after!r} now")
    return found


def _remove_recorded_checkpoints(output_dir: Path, record: Mapping[str, Any], keep: Path | None) -> None:
    for name in record.get("checkpoints", []):
        path = output_dir / name
        if checkpoint_step(name) is not None and path.is_dir() and not (keep is not None and path.resolve() == keep.resolve()):
            logger.warning("--overwrite_output_dir: deleting %s, a checkpoint of the run this folder held", path)
            shutil.rmtree(path)


def _contents(output_dir: Path) -> list[str]:
    """What the folder holds, without a run record being written at this moment (another process's temporary file)."""
    if not output_dir.is_dir():
        return []
    return sorted(child.name for child in output_dir.iterdir() if not child.name.startswith(f".{RUN_RECORD}."))


def claim_output_dir(
    output_dir: str | os.PathLike, identity: Mapping[str, Any], *, overwrite: bool, resume: bool, write: bool,
    resume_from: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Check that this run may use ``output_dir`` (see the module docstring) and return its run record.

    ``write`` (the main process): create the folder, write the record and, with ``overwrite``, delete the
    previous run's recorded checkpoints (except ``resume_from``, the checkpoint this run starts from). Other
    processes only check.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputDirError(f"--output-dir {output_dir} is a file, not a folder")
    # Contents first, record second: the main process writes the record before anything else, so a process that
    # only checks (``write=False``, running beside it) and sees any file of this run also sees its record.
    contents = _contents(output_dir)
    record = read_run_record(output_dir) if output_dir.is_dir() else None
    this_run = record is not None and record["run_id"] == run_id(identity)
    if record is None and contents and not overwrite:
        shown = contents[:5] + (["..."] if len(contents) > 5 else [])
        raise OutputDirError(
            f"--output-dir {output_dir} holds files emoje-train did not write ({', '.join(shown)}; no {RUN_RECORD}); "
            "choose an empty or new folder, or pass --overwrite_output_dir to write into it anyway (same-named files "
            "are overwritten, nothing is deleted)"
        )
    if record is not None and not this_run and not overwrite:
        raise OutputDirError(
            f"--output-dir {output_dir} holds another emoje-train run ({'; '.join(_differences(record.get('run', {}), identity))}); "
            f"its checkpoints are not resumed. Choose another --output-dir, or pass --overwrite_output_dir to start "
            "this run there (the other run's checkpoints are deleted)"
        )
    if this_run and not resume and record.get("checkpoints") and not overwrite:
        raise OutputDirError(
            f"--output-dir {output_dir} holds checkpoints of this run {record['checkpoints']}: run without "
            "--resume false to continue from them, or pass --overwrite_output_dir to start over (they are deleted)"
        )
    if this_run and not overwrite:
        return record
    recorded = set(record.get("checkpoints", [])) if record is not None else set()
    strangers = [path.name for path in checkpoint_dirs(output_dir) if path.name not in recorded]
    if strangers:
        raise OutputDirError(
            f"--output-dir {output_dir} holds checkpoint folders emoje-train did not record {strangers}; a new run "
            "would write into them: move them away or choose another --output-dir"
        )
    new_record = _new_record(identity)
    if write:
        if record is not None:
            _remove_recorded_checkpoints(output_dir, record, Path(resume_from) if resume_from else None)
        write_run_record(output_dir, new_record)
    return new_record


def training_plan(training_args) -> dict[str, Any]:
    """How long a run trains: what decides whether a finished run has more to do when re-run."""
    return {"max_steps": int(training_args.max_steps), "num_train_epochs": float(training_args.num_train_epochs)}


def mark_finished(output_dir: str | os.PathLike, global_step: int, plan: Mapping[str, Any], model_dir: str | os.PathLike) -> None:
    """Record in the run record that the run trained to ``global_step`` under ``plan`` and exported ``model_dir``."""
    record = read_run_record(output_dir)
    if record is None:
        return
    record["finished"] = {"global_step": int(global_step), "plan": dict(plan), "model_dir": str(Path(model_dir).resolve())}
    write_run_record(output_dir, record)


def finished_record(
    output_dir: str | os.PathLike, identity: Mapping[str, Any], plan: Mapping[str, Any], model_dir: str | os.PathLike
) -> dict[str, Any] | None:
    """The ``finished`` entry of this run's record when the run already trained under the same ``plan`` and its
    export is still in ``model_dir``; None when there is something to train."""
    record = read_run_record(output_dir) if Path(output_dir).is_dir() else None
    if record is None or record.get("run_id") != run_id(identity):
        return None
    finished = record.get("finished")
    if not isinstance(finished, dict) or finished.get("plan") != dict(plan):
        return None
    if Path(finished.get("model_dir", "")).resolve() != Path(model_dir).resolve() or not (Path(model_dir) / "config.json").is_file():
        return None
    return finished


def _update_checkpoints(output_dir: Path, add: str | None = None, remove: str | None = None) -> None:
    record = read_run_record(output_dir)
    if record is None:
        return
    names = [name for name in record.get("checkpoints", []) if name != remove]
    if add is not None and add not in names:
        names.append(add)
    record["checkpoints"] = names
    write_run_record(output_dir, record)


def set_aside(checkpoint: str | os.PathLike) -> Path:
    """Rename a damaged checkpoint to ``damaged-checkpoint-N`` (never resumed, never rotated) and return the new path."""
    checkpoint = Path(checkpoint)
    target = checkpoint.with_name(SET_ASIDE_PREFIX + checkpoint.name)
    suffix = 1
    while target.exists():
        suffix += 1
        target = checkpoint.with_name(f"{SET_ASIDE_PREFIX}{checkpoint.name}-{suffix}")
    checkpoint.rename(target)
    _update_checkpoints(checkpoint.parent, remove=checkpoint.name)
    return target


class RecordedCheckpointRotation(TrainerCallback):
    """``save_total_limit`` applied to the checkpoints this run recorded (instead of the Trainer's own rotation,
    which deletes every ``checkpoint-*`` folder it finds, a user's ``checkpoint-notes/`` included).

    Keeps the most recent and the best checkpoint, like the Trainer; with a limit of 1 only the best one at the end.
    """

    def __init__(self, output_dir: str | os.PathLike, save_total_limit: int | None) -> None:
        self.output_dir = Path(output_dir)
        self.save_total_limit = save_total_limit

    def _recorded(self) -> list[Path]:
        record = read_run_record(self.output_dir) or {}
        names = set(record.get("checkpoints", []))
        return [path for path in checkpoint_dirs(self.output_dir) if path.name in names]

    def _delete(self, path: Path) -> None:
        logger.info("deleting older checkpoint %s (save_total_limit=%s)", path, self.save_total_limit)
        shutil.rmtree(path)
        _update_checkpoints(self.output_dir, remove=path.name)

    def on_save(self, args, state, control, **kwargs):
        if not args.should_save:
            return
        _update_checkpoints(self.output_dir, add=f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
        if not self.save_total_limit or self.save_total_limit <= 0:
            return
        checkpoints = self._recorded()
        protected = {checkpoints[-1].name} if checkpoints else set()
        if state.best_model_checkpoint:
            protected.add(Path(state.best_model_checkpoint).name)
        keep = max(self.save_total_limit, len(protected))
        excess = len(checkpoints) - keep
        for path in [c for c in checkpoints if c.name not in protected][: max(excess, 0)]:
            self._delete(path)

    def on_train_end(self, args, state, control, **kwargs):
        if not args.should_save or self.save_total_limit != 1 or not state.best_model_checkpoint:
            return
        best = Path(state.best_model_checkpoint).name
        for path in self._recorded():
            if path.name != best:
                self._delete(path)


__all__ = [
    "RUN_RECORD",
    "OutputDirError",
    "RecordedCheckpointRotation",
    "checkpoint_dirs",
    "checkpoint_step",
    "claim_output_dir",
    "finished_record",
    "mark_finished",
    "read_run_record",
    "run_id",
    "run_identity",
    "set_aside",
    "training_plan",
    "write_run_record",
]
