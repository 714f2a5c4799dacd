"""Which run a predictions file belongs to: the model and the options that wrote it, kept beside it, and one writer.

`emoje-predict --output OUT.jsonl` keeps, beside its output:

- `OUT.jsonl.run.json`, the run record: the model (its folder and a fingerprint of its `config.json` and weights) and
  the options that change what a line says (`privacy`, `causal`, the label names). It is written (atomically) before
  the first line; a re-run compares its own record with it and refuses another model or other options, naming
  both, instead of appending a second model's predictions to the first's.
- `.OUT.jsonl.lock`, an exclusive lock held for the whole run: a second `emoje-predict` into the same output fails
  at once (its lines would interleave with the first's, with duplicate ids).

An existing output that has no run record, or whose lines are not prediction records, is not a predictions file
of this command: it is refused, and nothing in it is changed (not even a partial last line).

Example:
    >>> import tempfile, pathlib
    >>> from training.inference.output_run import claim_output, run_record_path
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
    >>> run = {"model": {"path": "runs/a", "fingerprint": "1f2e"}, "options": {"privacy": False, "causal": False}}
    >>> claim_output(out, run); run_record_path(out).name
    'out.jsonl.run.json'
    >>> _ = out.write_text('{"id": "d1", "turns": []}\\n')
    >>> other = {**run, "options": {"privacy": False, "causal": True}}
    >>> try:
    ...     claim_output(out, other)
    ... except ValueError as err:
    ...     print(str(err).split(": ", 1)[1].split(";")[0])
    it holds predictions of another run (options causal=False privacy=False) than this one (options causal=True privacy=False)
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dataset_scripts.files import exclusive_lock, write_text_atomic

from .jsonl_output import scan_records

RUN_RECORD_SUFFIX = ".run.json"
RUN_RECORD_VERSION = 1
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def run_record_path(output: str | os.PathLike) -> Path:
    """`OUT.jsonl.run.json` for `OUT.jsonl`."""
    output = Path(output)
    return output.with_name(output.name + RUN_RECORD_SUFFIX)


def lock_path(output: str | os.PathLike) -> Path:
    """`.OUT.jsonl.lock` beside `OUT.jsonl`."""
    output = Path(output)
    return output.with_name(f".{output.name}.lock")


def model_fingerprint(model_dir: str | os.PathLike) -> str:
    """A short SHA-256 of a model folder's `config.json` and weight files (names and bytes): the same folder
    re-exported with other weights has another fingerprint. A path that is not a folder is fingerprinted by name."""
    folder = Path(model_dir)
    digest = hashlib.sha256()
    if not folder.is_dir():
        digest.update(str(model_dir).encode())
        return digest.hexdigest()[:16]
    files = [folder / "config.json"] + sorted(p for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES)
    for path in files:
        if not path.is_file():
            continue
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def prediction_run(model_dir: str | os.PathLike, config, *, privacy: bool, causal: bool) -> dict[str, Any]:
    """The run record of predicting with the model of `model_dir` (its `config`) and these options."""
    from ..train.labels import model_label_names

    path = Path(model_dir)
    return {
        "version": RUN_RECORD_VERSION,
        "model": {
            "path": str(path.resolve()) if path.exists() else str(model_dir),
            "model_type": getattr(config, "model_type", None),
            "fingerprint": model_fingerprint(model_dir),
        },
        "options": {"privacy": bool(privacy), "causal": bool(causal)},
        "labels": model_label_names(config),
    }


def describe_run(run: Mapping[str, Any]) -> str:
    """`model PATH (fingerprint F)`, `options privacy=… causal=…`, `labels [...]`: the parts of a run record."""
    parts = []
    model = run.get("model") or {}
    if model:
        parts.append(f"model {model.get('path')} (fingerprint {model.get('fingerprint')})")
    options = run.get("options") or {}
    if options:
        parts.append("options " + " ".join(f"{key}={value}" for key, value in sorted(options.items())))
    if run.get("labels") is not None:
        parts.append(f"labels {run['labels']}")
    return ", ".join(parts)


def _differences(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> tuple[str, str] | None:
    """The parts of two run records that differ, described (saved, wanted); None when they are the same run."""
    keys = []
    if (saved.get("model") or {}).get("fingerprint") != (wanted.get("model") or {}).get("fingerprint"):
        keys.append("model")
    if saved.get("options") != wanted.get("options"):
        keys.append("options")
    if saved.get("labels") != wanted.get("labels"):
        keys.append("labels")
    if not keys:
        return None
    return tuple(describe_run({key: record.get(key) for key in keys}) for record in (saved, wanted))


def read_run_record(output: str | os.PathLike) -> dict[str, Any] | None:
    """The run record of `output`; None when there is none. An unreadable one is a ValueError naming it."""
    path = run_record_path(output)
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a run record of emoje-predict ({err}); delete it with {output}") from None
    if not isinstance(record, dict) or "model" not in record:
        raise ValueError(f"{path}: not a run record of emoje-predict (no 'model'); delete it with {output}")
    return record


def claim_output(output: str | os.PathLike, run: Mapping[str, Any]) -> None:
    """Make `output` this `run`'s predictions file, or refuse it (a ValueError, nothing changed).

    A missing or empty `output` gets `run`'s record (replacing any record left without predictions). An existing
    one must be a predictions file (`scan_records`) with a run record equal to `run` in model, options and labels.
    """
    output = Path(output)
    has_lines = output.exists() and output.stat().st_size > 0
    if has_lines:
        saved = read_run_record(output)
        if saved is None:
            scan_records(output)  # not ours at all: say so first
            raise ValueError(
                f"--output {output} already holds predictions but no run record ({run_record_path(output).name}) "
                "saying which model and options wrote them; give another --output, or delete it to start over"
            )
        scan_records(output)
        differences = _differences(saved, run)
        if differences is not None:
            raise ValueError(
                f"--output {output}: it holds predictions of another run ({differences[0]}) than this one "
                f"({differences[1]}); give another --output, or delete it and {run_record_path(output).name} to "
                "start over"
            )
        return
    write_text_atomic(run_record_path(output), json.dumps(dict(run), indent=2, ensure_ascii=False) + "\n")


@contextmanager
def output_lock(output: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive lock of predictions file `output` for the block (a second writer: ValueError)."""
    output = Path(output)
    with exclusive_lock(lock_path(output), f"--output {output}") as path:
        yield path


def check_not_input(output: str | os.PathLike, input_path: str | os.PathLike | None) -> None:
    """`--output` must not be `--input` (the predictions would be appended to the conversations)."""
    if input_path is None:
        return
    output, source = Path(output), Path(input_path)
    same = output.resolve() == source.resolve() or (output.exists() and source.exists() and output.samefile(source))
    if same:
        raise ValueError(
            f"--output {output} is --input {input_path}: the predictions would be written into the conversations; "
            "give another --output"
        )


__all__ = [
    "RUN_RECORD_SUFFIX",
    "check_not_input",
    "claim_output",
    "describe_run",
    "lock_path",
    "model_fingerprint",
    "output_lock",
    "prediction_run",
    "read_run_record",
    "run_record_path",
]
