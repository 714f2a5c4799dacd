"""`emoje-train`'s options: package defaults < YAML config < command line, into (script options, TrainingArguments,
model-config fields).

The YAML file has three kinds of keys: script options (`ScriptArguments`, top level), ``model:`` (fields of the
model config, e.g. ``hidden_size``) and ``training:`` (`transformers.TrainingArguments` fields). The command line
overrides any of them, HfArgumentParser style. Model-config values are checked against the types of the config's
defaults; fields that come from the data (`DATA_DERIVED_FIELDS`) are refused.

Example:
    >>> from training.train.options import parse_arguments
    >>> script, training_args, model_overrides = parse_arguments(
    ...     ["--data", "d", "--output-dir", "runs/x", "--hidden_size", "32", "--max_steps", "5"]
    ... )
    >>> script.data, training_args.max_steps, model_overrides
    ('d', 5, {'hidden_size': 32})
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser, TrainingArguments

from modeling_emoje.model_specs import DEFAULT_MODEL_TYPE, config_fields, get_model_spec

from .options_help import (
    SPELLING_NOTE,
    TRAIN_DESCRIPTION,
    format_train_help,
    model_type_from_argv,
    refused_option_error,
    remember_help,
    requested_help,
)
from .schedule import SCHEDULE_HELP
from .trainer import ERCTrainingArguments, default_training_arguments

logger = logging.getLogger(__name__)

CONFIG_SECTIONS = ("model", "training")
# Options of the ``model:`` section that build the model but are not model-config fields (ScriptArguments).
MODEL_SECTION_OPTIONS = ("text_backbone", "max_text_length", "freeze_text_backbone")
# Set from the data, never from a config file or the command line.
DATA_DERIVED_FIELDS = ("modality_dims", "num_labels", "id2label", "label2id")
_HUB_MODEL_ID = "<hub_model_id>"


@dataclass
class ScriptArguments:
    """Options of emoje-train that are not TrainingArguments or model-config fields."""

    data: str | None = field(default=None, metadata={"help": "prepared data directory (emoje-prepare --output)"})
    model_type: str = field(
        default=DEFAULT_MODEL_TYPE, metadata={"help": "the model to train: a registered model_type (listed by --help)"}
    )
    modalities: str | None = field(
        default=None, metadata={"help": "train on these modalities only, e.g. 'text' or 'text,audio' (default: all the data has)"}
    )
    protocol: str | None = field(default=None, metadata={"help": "protocol name for the card (default: from the data)"})
    early_stopping_patience: int | None = field(
        default=5, metadata={"help": "evaluations without weighted-F1 improvement before stopping (0: never)"}
    )
    eval_scenarios: str = field(
        default="all",
        metadata={
            "help": "missing-modality scenarios scored on test: 'all' (every subset of the modalities, then privacy), "
            "'full', 'privacy', or the modalities kept, e.g. 't,a' or 'text;text+audio'"
        },
    )
    three_mode_evaluation: bool | None = field(
        default=None, metadata={"help": "add CM-ARR's three-mode conditions (default: for cmarr / mer4 / MSP-IMPROV)"}
    )
    processor: str = field(
        default="auto",
        metadata={
            "help": "processor shipped with the model: 'auto' (EmoJEProcessor for the data's text encoder, if any), "
            "'none', or a saved processor directory"
        },
    )
    export_dir: str | None = field(
        default=None,
        metadata={
            "help": "where the finished model is exported, as a Hub repository holds it (weights, config, processor, "
            "code, evaluation, card; no checkpoints): default OUTPUT_DIR/model"
        },
    )
    push_to_hub_repo: str | None = field(
        default=None, metadata={"help": "publish the exported folder to this Hub repo (same as --push-to-hub REPO)"}
    )
    hub_private: bool = field(default=False, metadata={"help": "create the Hub repo as private"})
    dataset_name: str | None = field(default=None, metadata={"help": "dataset name for the model card"})
    resume: bool = field(
        default=True, metadata={"help": "continue from the last complete checkpoint in output_dir if there is one"}
    )
    overwrite_output_dir: bool = field(
        default=False,
        metadata={
            "help": "start this run in an output_dir that holds other files or another run (same-named files are "
            "overwritten, the other run's checkpoints deleted, nothing else touched); its checkpoints are not resumed"
        },
    )
    text_backbone: str | None = field(
        default=None,
        metadata={
            "help": "fine-tune this Hugging Face text encoder inside the model (local path, Hub id, or 'default' for the "
            "offline all-MiniLM-L6-v2): trains on the tokens of the data's text column instead of text_features"
        },
    )
    schedule: str = field(default="none", metadata={"help": SCHEDULE_HELP})
    train_window: int | None = field(
        default=None,
        metadata={
            "help": "cut training dialogues longer than N utterances into windows of N scored utterances "
            "(DialogueDataset.windows), so a batch means about the same on short- and long-dialogue corpora; "
            "validation and test keep whole dialogues"
        },
    )
    train_window_context: int = field(
        default=0, metadata={"help": "with train_window: earlier utterances each window also sees, unscored"}
    )
    max_text_length: int = field(default=128, metadata={"help": "with text_backbone: tokens per utterance (truncation)"})
    freeze_text_backbone: bool = field(
        default=False, metadata={"help": "with text_backbone: keep the pretrained encoder weights fixed"}
    )


def _read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config file {path} not found")
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"config file {path} is not valid YAML{where}: {problem}") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path}: a training config must be a mapping, got {type(content).__name__}")
    return content


def _split_argv(argv: list[str]) -> tuple[str | None, str | None, list[str]]:
    """Take ``--config PATH`` and ``--push-to-hub REPO`` out of argv (the latter is not TrainingArguments' bool)."""
    config, repo, rest = None, None, []
    index = 0
    while index < len(argv):
        token = argv[index]
        key, _, inline = token.partition("=")
        if key in ("--config", "--push-to-hub", "--push_to_hub"):
            value = inline if inline else (argv[index + 1] if index + 1 < len(argv) else None)
            if value is None or value.startswith("--"):
                raise ValueError(f"{key} needs a value ({'a YAML file' if key == '--config' else 'a Hub repo id'})")
            if key == "--config":
                config = value
            elif value.lower() in ("true", "1", "yes"):
                repo = _HUB_MODEL_ID  # TrainingArguments style: publish to --hub_model_id
            elif value.lower() not in ("false", "0", "no"):
                repo = value
            index += 1 if inline else 2
            continue
        rest.append(token)
        index += 1
    return config, repo, rest


def _parse_override_value(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_arguments(argv: Sequence[str] | None = None) -> tuple[ScriptArguments, TrainingArguments, dict[str, Any]]:
    """Merge package defaults < YAML config < command line into (script options, TrainingArguments, model fields)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    help_request = requested_help(argv)
    full_argv = list(argv)
    config_path, repo, argv = _split_argv(argv)
    content = _read_yaml(config_path) if config_path else {}
    if help_request:
        _print_help(help_request, argv, content, full_argv)
    script_fields = {f.name for f in dataclasses.fields(ScriptArguments)}
    unknown = sorted(set(content) - script_fields - set(CONFIG_SECTIONS))
    if unknown:
        raise ValueError(f"{config_path}: unknown top-level keys {unknown}; use {sorted(script_fields)} or sections {CONFIG_SECTIONS}")
    model_section = dict(content.get("model") or {})
    training_section = dict(content.get("training") or {})
    script_section = {key: value for key, value in content.items() if key in script_fields}
    for key in MODEL_SECTION_OPTIONS:  # model-building options may sit in the model section too
        if key in model_section:
            if key in script_section:
                raise ValueError(f"{config_path}: {key!r} is set both at the top level and in 'model'")
            script_section[key] = model_section.pop(key)
    if isinstance(script_section.get("modalities"), list):
        script_section["modalities"] = ",".join(script_section["modalities"])

    parser = HfArgumentParser((ScriptArguments, ERCTrainingArguments))
    training_fields = {f.name for f in dataclasses.fields(ERCTrainingArguments)}
    bad = sorted(set(training_section) - training_fields)
    if bad:
        raise ValueError(f"{config_path}: 'training' has keys that are not TrainingArguments fields: {bad}")
    defaults = {**default_training_arguments(), **training_section, **script_section}
    parser.set_defaults(**defaults)
    with warnings.catch_warnings():  # refused below with one line; transformers' rename warning would only add noise
        warnings.filterwarnings("ignore", message=".*gradient_checkpointing.*deprecated", category=FutureWarning)
        script, training_args, leftovers = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    if repo == _HUB_MODEL_ID:
        if not training_args.hub_model_id:
            raise ValueError("--push_to_hub true needs --hub_model_id USER/REPO (or pass --push-to-hub USER/REPO)")
        repo = training_args.hub_model_id
    if repo:
        script.push_to_hub_repo = repo

    overrides = dict(model_section)
    index = 0
    while index < len(leftovers):
        token = leftovers[index]
        if not token.startswith("--"):
            raise ValueError(f"unexpected argument {token!r}")
        key, _, inline = token[2:].partition("=")
        if inline:
            value, index = inline, index + 1
        elif index + 1 < len(leftovers) and not leftovers[index + 1].startswith("--"):
            value, index = leftovers[index + 1], index + 2
        else:
            value, index = "true", index + 1
        overrides[key.replace("-", "_")] = _parse_override_value(value)
    allowed = config_fields(script.model_type)
    unknown = sorted(set(overrides) - allowed)
    if unknown:
        raise ValueError(
            f"unknown options {unknown}: not emoje-train options, TrainingArguments fields or {script.model_type} config fields"
        )
    derived = sorted(set(overrides) & set(DATA_DERIVED_FIELDS))
    if derived:
        raise ValueError(f"{derived} come from the data; choose modalities with --modalities instead")
    check_model_option_types(script.model_type, overrides)
    refused = refused_option_error(training_args)
    if refused:
        raise ValueError(refused)
    # Publishing is done once at the end by `training.publishing.export`, never from every checkpoint.
    training_args.push_to_hub = False
    if training_args.remove_unused_columns:
        logger.warning("remove_unused_columns=True would drop the dialogue inputs; using False")
        training_args.remove_unused_columns = False
    if training_args.ddp_find_unused_parameters is False and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        logger.warning(
            "ddp_find_unused_parameters=False: the models skip modules a batch does not need, so DDP will wait forever "
            "for their gradients; use true (the default)"
        )
    return script, training_args, overrides


def _print_help(kind: str, argv: list[str], content: dict[str, Any], full_argv: list[str] | None = None) -> None:
    """Print ``--help`` (the model fields of ``--model_type``, or of the config's ``model_type``) or ``--help-all``
    (every TrainingArguments field too), remember it for the next call (`options_help.remember_help`, keyed by
    ``full_argv``), then exit 0."""
    if kind == "help-all":
        parser = HfArgumentParser((ScriptArguments, ERCTrainingArguments))
        parser.prog = "emoje-train"
        text = parser.format_help() + "\n" + SPELLING_NOTE + "\n\nModel options: emoje-train [--model_type emoje|cmarr] --help\n"
    else:
        model_type = model_type_from_argv(argv, default=str(content.get("model_type", DEFAULT_MODEL_TYPE)))
        text = format_train_help(
            model_type, ScriptArguments, ERCTrainingArguments, default_training_arguments(), DATA_DERIVED_FIELDS,
            TRAIN_DESCRIPTION,
        )
    print(text, end="")
    remember_help(full_argv if full_argv is not None else argv, text)
    raise SystemExit(0)


def _as_number(value: Any) -> Any:
    """``"1e-3"`` (a string to YAML 1.1, which needs a dot in floats) as the float it means; anything else unchanged."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _type_error(value: Any, default: Any) -> str | None:
    """Why ``value`` cannot replace a config field whose default is ``default`` (None if it can)."""
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "expects true or false"
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            return "expects an integer"
        return "must not be negative" if value < 0 <= default else None
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "expects a number"
        return "must not be negative" if value < 0 <= default else None
    return None


def check_model_option_types(model_type: str, overrides: dict[str, Any]) -> None:
    """Check (in place) the model-config values against the types of the config's defaults.

    A ValueError names the option when a value has the wrong type or sign (``--hidden_size abc``, ``-4``); a number
    that YAML read as a string (``1e-3``) becomes a float for a float field.
    """
    config_class = get_model_spec(model_type).config_class
    try:
        defaults = config_class()
    except (TypeError, ValueError):  # a registered config without defaults: the model build reports bad values
        return
    for key, value in overrides.items():
        default = getattr(defaults, key, None)
        if isinstance(default, float) and not isinstance(default, bool):
            value = overrides[key] = _as_number(value)
        problem = _type_error(value, default)
        if problem:
            raise ValueError(f"--{key} (model option, also `model: {key}:` in --config) {problem}, got {value!r}")


__all__ = [
    "CONFIG_SECTIONS",
    "DATA_DERIVED_FIELDS",
    "MODEL_SECTION_OPTIONS",
    "ScriptArguments",
    "check_model_option_types",
    "parse_arguments",
]
