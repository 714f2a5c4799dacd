"""`emoje-train`: train a model on a prepared corpus, evaluate every scenario on test, export the checkpoint.

    emoje-train --config training/configs/meld_text.yaml --data data/meld --output-dir runs/meld_text \
        --max_steps 2000 --learning_rate 3e-4 --hidden_size 256
    accelerate launch --config_file training/configs/accelerate/cpu_2proc.yaml -m training.train --config ...

The YAML file has three kinds of keys: script options (`ScriptArguments`, top level), ``model:`` (fields of
the model config, e.g. ``hidden_size``) and ``training:`` (`transformers.TrainingArguments` fields). The
command line overrides any of them, HfArgumentParser style: ``--field value`` for a script option or a
TrainingArguments field, and the same for any model-config field.

The model config is built from the data: ``modality_dims`` from the feature sizes, the label maps from the
``label`` ClassLabel, ``protocol`` from the data's metadata. Re-running the same command after an
interruption resumes from the last complete checkpoint in the output directory; a damaged or partial one is
skipped with a warning and kept as ``damaged-checkpoint-N``. The output directory carries a run record
(`training.run_folder`): a folder holding other files, or another run, is refused unless ``--overwrite_output_dir``.
Resuming checks the checkpoint against the data's labels (same names in another order: remapped to the
checkpoint's order; other names: refused) and its weights against the model the options build.

Fine-tuning a text encoder inside the model (AM^2-EmoJE's ``text_config``): ``text_backbone`` (a local path, a
Hub id, or ``default`` for the offline all-MiniLM-L6-v2; in the ``model:`` section or ``--text_backbone``)
trains on the tokens of the data's ``text`` column (``max_text_length``) instead of ``text_features``, with the
pretrained encoder weights loaded into ``model.emoje.text_model`` (not when resuming: the checkpoint has them).
``backbone_learning_rate`` / ``backbone_weight_decay`` (``training:`` section) give the encoder its own optimizer
group; ``freeze_text_backbone`` keeps it fixed. ``max_train_minutes`` stops training after that much wall time.
See ``training/configs/meld_text_finetune.yaml``.

Example:
    >>> from training.train import parse_arguments
    >>> script, training_args, model_overrides = parse_arguments(
    ...     ["--data", "d", "--output-dir", "runs/x", "--hidden_size", "32", "--max_steps", "5"]
    ... )
    >>> script.data, training_args.max_steps, model_overrides
    ('d', 5, {'hidden_size': 32})
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import os
import sys
import time
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dataset_scripts.cli_logging import configure_logging, take_quiet_flag
from transformers import HfArgumentParser, TrainingArguments, set_seed

from .collator import DialogueCollator, DialogueDataset, normalize_modalities
from .data import data_metadata, data_protocol, label_names, load_prepared_data, text_encoder_name
from .evaluation import build_scenarios, evaluate_model, format_table, uses_three_mode_protocol
from .labels import label_list
from .registry import get_model_classes
from .run_folder import RecordedCheckpointRotation, checkpoint_dirs, claim_output_dir, run_identity, set_aside
from .schedule import SCHEDULE_HELP, apply_schedule
from .text_backbone import (
    DEFAULT_BACKBONE,
    build_text_processor,
    load_text_backbone_weights,
    load_text_tokenizer,
    resolve_text_backbone,
    text_backbone_config,
)
from .trainer import ERCTrainer, ERCTrainingArguments, default_training_arguments, describe_feature_normalization, early_stopping
from .train_help import format_train_help, model_type_from_argv, refused_option_error, requested_help
from .weights import WeightsError, check_weights_match, model_weight_shapes, saved_weight_shapes, weight_files

logger = logging.getLogger(__name__)

CONFIG_SECTIONS = ("model", "training")
# Options of the ``model:`` section that build the model but are not model-config fields (ScriptArguments).
MODEL_SECTION_OPTIONS = ("text_backbone", "max_text_length", "freeze_text_backbone")
# Set from the data, never from a config file or the command line.
DATA_DERIVED_FIELDS = ("modality_dims", "num_labels", "id2label", "label2id")
_HUB_MODEL_ID = "<hub_model_id>"
CORPUS_NAMES = {"meld": "MELD", "iemocap": "IEMOCAP", "msp-improv": "MSP-IMPROV", "conversations": "user conversations"}


class CheckpointError(ValueError):
    """A checkpoint directory is incomplete or damaged."""


@dataclass
class ScriptArguments:
    """Options of emoje-train that are not TrainingArguments or model-config fields."""

    data: str | None = field(default=None, metadata={"help": "prepared data directory (emoje-prepare --output)"})
    model_type: str = field(default="emoje", metadata={"help": "emoje (AM^2-EmoJE) or cmarr (CM-ARR)"})
    modalities: str | None = field(
        default=None, metadata={"help": "train on these modalities only, e.g. 'text' or 'text,audio' (default: all the data has)"}
    )
    protocol: str | None = field(default=None, metadata={"help": "protocol name for the card (default: from the data)"})
    early_stopping_patience: int | None = field(
        default=5, metadata={"help": "evaluations without weighted-F1 improvement before stopping (0: never)"}
    )
    eval_scenarios: str = field(default="all", metadata={"help": "test scenarios: all | full | privacy | t,a ..."})
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


# ----------------------------------------------------------------------------------------------- arguments


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


def _model_config_fields(model_type: str) -> set[str]:
    config_class, _ = get_model_classes(model_type)
    if dataclasses.is_dataclass(config_class):
        names = {f.name for f in dataclasses.fields(config_class)}
    else:
        names = set(inspect.signature(config_class.__init__).parameters) - {"self", "kwargs"}
    return (names | {"num_labels"}) - {"transformers_version", "architectures"}


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
    config_path, repo, argv = _split_argv(argv)
    content = _read_yaml(config_path) if config_path else {}
    if help_request:
        _print_help(help_request, argv, content)
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
    allowed = _model_config_fields(script.model_type)
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
    # Publishing is done once at the end by `training.hub`, never from every checkpoint.
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


def _print_help(kind: str, argv: list[str], content: dict[str, Any]) -> None:
    """Print ``--help`` (the model fields of ``--model_type``, or of the config's ``model_type``) or ``--help-all``
    (every TrainingArguments field too), then exit 0."""
    if kind == "help-all":
        parser = HfArgumentParser((ScriptArguments, ERCTrainingArguments))
        parser.prog = "emoje-train"
        parser.print_help()
        print("\nModel options: emoje-train [--model_type emoje|cmarr] --help")
    else:
        model_type = model_type_from_argv(argv, default=str(content.get("model_type", "emoje")))
        description = "Train " + __doc__.split("\n\n")[0].split(": train ", 1)[-1] + " " + __doc__.split("\n\n")[2]
        print(format_train_help(
            model_type, ScriptArguments, ERCTrainingArguments, default_training_arguments(), DATA_DERIVED_FIELDS, description,
        ), end="")
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
    config_class, _ = get_model_classes(model_type)
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


# ----------------------------------------------------------------------------------------------- checkpoints


def _check_torch_file(path: Path) -> None:
    """A ``torch.save`` file is a complete zip archive (a truncated one has no central directory)."""
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is truncated or damaged (not a complete torch.save archive)")


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


# ----------------------------------------------------------------------------------------------- training


def build_model(
    model_type: str,
    dataset: DialogueDataset,
    labels: list[str],
    protocol: str | None,
    overrides: dict[str, Any],
    *,
    text_backbone: str | None = None,
    load_backbone_weights: bool = True,
):
    """The model for ``model_type`` with a config built from the data (feature sizes, label maps, protocol).

    With ``text_backbone`` (path, Hub id or ``"default"``) the config gets that encoder's config as
    ``text_config`` and ``modality_dims["text"]`` = its hidden size; with ``load_backbone_weights`` its pretrained
    weights are loaded into the model's text encoder (a ValueError naming the path if they do not fit).
    """
    config_class, model_class = get_model_classes(model_type)
    dims = dict(dataset.feature_dims)
    extra: dict[str, Any] = {}
    if text_backbone is not None:
        if "text_config" not in _model_config_fields(model_type):
            raise ValueError(f"text_backbone: model_type {model_type!r} has no text encoder sub-model (text_config); use emoje")
        if "text_config" in overrides:
            raise ValueError("give either text_backbone or text_config, not both")
        text_config = text_backbone_config(text_backbone)
        text_config.name_or_path = _backbone_card_name(text_backbone)  # the Hub id, not a local path, in config.json
        dims["text"] = int(text_config.hidden_size)
        extra["text_config"] = text_config
    try:
        config = config_class(
            modality_dims=dims,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: index for index, name in enumerate(labels)},
            protocol=protocol,
            **extra,
            **overrides,
        )
    except (TypeError, ValueError) as error:
        raise ValueError(f"the {model_type} config rejects the model options {overrides}: {error}") from None
    try:
        model = model_class(config)
    except (TypeError, ValueError, RuntimeError, ZeroDivisionError, AssertionError) as error:
        options = " ".join(f"--{key} {value}" for key, value in overrides.items())
        raise ValueError(f"the {model_type} model cannot be built with the model options [{options}]: {error}") from None
    if text_backbone is not None and load_backbone_weights:
        load_text_backbone_weights(model, text_backbone)
    return model


def _backbone_card_name(text_backbone: str) -> str:
    """How the model card names the fine-tuned encoder (the Hub id of the offline default, not a local path)."""
    if text_backbone == DEFAULT_BACKBONE:
        from modeling_emoje.text_encoding_emoje import DEFAULT_HUB_TEXT_ENCODER

        return DEFAULT_HUB_TEXT_ENCODER
    return resolve_text_backbone(text_backbone)


def _check_backbone_checkpoint(checkpoint: Path) -> None:
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


def build_processor(spec: str, data, modalities: Sequence[str]):
    """The processor to save with the model: None, a saved one (path) or, for ``auto``, an `EmoJEProcessor` for the
    text encoder the data's text features came from (None when that is unknown or the package has no processor)."""
    if spec in ("none", "", None):
        return None
    if spec != "auto":
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(spec)
    encoder = text_encoder_name(data) if "text" in modalities else None
    try:
        from modeling_emoje import EmoJEProcessor
    except ImportError:
        return None
    if encoder is None:
        return None
    try:
        return EmoJEProcessor.from_text_encoder(encoder)
    except Exception as error:  # noqa: BLE001 - the model is still usable on features; say why there is no processor
        logger.warning("no processor saved with the model: EmoJEProcessor.from_text_encoder(%r) failed: %s", encoder, error)
        return None


def _backbone_processor(spec: str, tokenizer, max_text_length: int, modalities: Sequence[str]):
    """What is saved with a model that has its own text encoder: an `EmoJEProcessor` in ``input_ids`` mode
    (``auto``), a saved processor (path), or for ``none`` the bare tokenizer (evaluation needs it)."""
    if spec in ("none", "", None):
        tokenizer.model_max_length = max_text_length
        return tokenizer
    if spec != "auto":
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(spec)
    return build_text_processor(tokenizer, max_text_length, modalities)


def run(argv: Sequence[str] | None = None, callbacks: list | None = None) -> dict[str, Any]:
    """Train, evaluate and export as ``emoje-train`` does; returns a summary dict (also for tests)."""
    script, training_args, overrides = parse_arguments(argv)
    if not script.data:
        raise ValueError("no prepared data: pass --data DIR (the output of emoje-prepare) or set `data:` in the config")
    if training_args.output_dir in (None, "trainer_output"):
        raise ValueError("pass --output-dir DIR (or training.output_dir in the config)")
    set_seed(training_args.seed)
    started = time.perf_counter()

    data = load_prepared_data(script.data)
    modalities = normalize_modalities(script.modalities, field="--modalities")
    backbone = script.text_backbone or None
    if backbone is None and script.freeze_text_backbone:
        raise ValueError("freeze_text_backbone needs a text_backbone")
    if backbone is not None and modalities is not None and "text" not in modalities:
        raise ValueError(f"text_backbone is set but --modalities {sorted(modalities)} leaves out text")
    datasets_ = {
        split: DialogueDataset(data[split], modalities=modalities, name=split, raw_text=backbone is not None)
        for split in ("train", "validation", "test")
    }
    schedule = apply_schedule(script.schedule, script, training_args, data["train"])  # training/schedule.py
    if script.train_window:
        datasets_["train"] = datasets_["train"].windows(script.train_window, script.train_window_context)
    train_set = datasets_["train"]
    if backbone is not None and "text" not in train_set.available_modalities:
        raise ValueError(f"{script.data}: text_backbone is set but no utterance of the train split has text")
    if not train_set.available_modalities:
        raise ValueError(f"{script.data}: the train split has no {{modality}}_features column with data")

    identity = run_identity(script.data, script.model_type, sorted(modalities) if modalities else None, backbone, overrides)
    claim_output_dir(
        training_args.output_dir, identity, overwrite=script.overwrite_output_dir,
        resume=script.resume or bool(training_args.resume_from_checkpoint), write=training_args.should_save,
        resume_from=training_args.resume_from_checkpoint,
    )
    if schedule is not None and training_args.should_save:
        schedule.save(training_args.output_dir)
    resume_from = None
    if training_args.resume_from_checkpoint:
        resume_from = Path(training_args.resume_from_checkpoint)
        validate_checkpoint(resume_from, require_optimizer=not training_args.save_only_model)
    elif script.resume and not script.overwrite_output_dir:
        resume_from = find_resume_checkpoint(
            training_args.output_dir, require_optimizer=not training_args.save_only_model,
            set_aside_damaged=training_args.should_save,
        )
    if backbone is not None and resume_from is not None:
        _check_backbone_checkpoint(resume_from)

    labels = label_names(data)
    label_source = "the model"
    if resume_from is not None:
        labels, label_source = checkpoint_labels(resume_from, labels), f"checkpoint {resume_from}"
    datasets_ = {split: dataset.with_label_order(labels, source=label_source) for split, dataset in datasets_.items()}
    train_set = datasets_["train"]
    protocol = script.protocol or data_protocol(data)
    # Resuming: the checkpoint's weights (fine-tuned encoder included) replace the model's, so the pretrained
    # encoder is not loaded first.
    model = build_model(
        script.model_type, train_set, labels, protocol, overrides,
        text_backbone=backbone, load_backbone_weights=resume_from is None,
    )
    if resume_from is not None:
        check_checkpoint_weights(resume_from, model)
    if script.freeze_text_backbone:
        model.freeze_text_backbone()
    used = list(model.config.modality_dims) if hasattr(model.config, "modality_dims") else train_set.available_modalities
    tokenizer = load_text_tokenizer(backbone) if backbone is not None else None
    collator = DialogueCollator(keep_modalities=used, tokenizer=tokenizer, max_text_length=script.max_text_length)

    if tokenizer is not None:
        processor = _backbone_processor(script.processor, tokenizer, script.max_text_length, used)
    else:
        processor = build_processor(script.processor, data, used)
    # Rotation of this run's recorded checkpoints only (the Trainer's own deletes any `checkpoint-*` folder).
    rotation = RecordedCheckpointRotation(training_args.output_dir, training_args.save_total_limit)
    training_args.save_total_limit = None
    trainer = ERCTrainer(
        model=model,
        args=training_args,
        train_dataset=train_set,
        eval_dataset=datasets_["validation"],
        data_collator=collator,
        processing_class=processor,
        callbacks=early_stopping(script.early_stopping_patience) + [rotation] + list(callbacks or []),
    )
    if resume_from is not None and trainer.is_world_process_zero():
        print(f"Resuming from {resume_from}")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    test_set = datasets_["test"]
    available = [m for m in test_set.available_modalities if m in used]
    three_mode = script.three_mode_evaluation
    if three_mode is None:
        three_mode = uses_three_mode_protocol(script.model_type, protocol)
    scenarios = build_scenarios(available, script.eval_scenarios, three_mode=three_mode)
    evaluation = evaluate_model(
        trainer.model, test_set, scenarios, batch_size=training_args.per_device_eval_batch_size, accelerator=trainer.accelerator,
        tokenizer=tokenizer, max_text_length=script.max_text_length, progress=False if training_args.disable_tqdm else None,
    )
    stopped_by_budget = bool(trainer.time_budget is not None and trainer.time_budget.stopped)
    summary: dict[str, Any] = {
        "output_dir": training_args.output_dir,
        "global_step": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "schedule": schedule.to_dict() if schedule is not None else None,
        "resumed_from": str(resume_from) if resume_from else None,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "evaluation": evaluation,
        "train_loss": train_output.training_loss,
        # This call's training loop (evaluations during training included, the final test evaluation not).
        "training_seconds_wall": round(wall, 1),
        "training_seconds_cpu": round(cpu, 1),
        "stopped_by_time_budget": stopped_by_budget,
        "text_backbone": resolve_text_backbone(backbone) if backbone is not None else None,
        "best_validation_weighted_f1": trainer.state.best_metric,
        "validation_history": [
            {"step": entry["step"], "epoch": round(entry.get("epoch", 0.0), 2), "weighted_f1": round(entry["eval_weighted_f1"], 4)}
            for entry in trainer.state.log_history
            if "eval_weighted_f1" in entry
        ],
    }
    if trainer.is_world_process_zero():
        from .hub import export_model, push_to_hub

        print(format_table(evaluation))
        metadata = data_metadata(data)
        export_model(
            trainer.model,
            training_args.output_dir,
            evaluation=evaluation,
            processor=processor,
            protocol=protocol,
            dataset_name=script.dataset_name or metadata.get("name") or CORPUS_NAMES.get(metadata.get("corpus"), protocol),
            splits={
                split: {"dialogues": ds.num_dialogues, "utterances": ds.num_utterances}
                | ({"training windows": len(ds)} if len(ds) != ds.num_dialogues else {})
                for split, ds in datasets_.items()
            },
            training_summary={
                "model_type": model.config.model_type,
                "modalities": ", ".join(used),
                "global_step": trainer.state.global_step,
                **(
                    {"max_steps": training_args.max_steps}
                    if training_args.max_steps > 0
                    else {"num_train_epochs": training_args.num_train_epochs}
                ),
                "best_checkpoint": Path(trainer.state.best_model_checkpoint).name if trainer.state.best_model_checkpoint else None,
                "best validation weighted-F1": trainer.state.best_metric,
                "seed": training_args.seed,
                "learning_rate": training_args.learning_rate,
                **(
                    {
                        "text backbone (fine-tuned inside the model)": _backbone_card_name(backbone)
                        + (" (frozen)" if script.freeze_text_backbone else ""),
                        "max_text_length": script.max_text_length,
                        "backbone_learning_rate": training_args.learning_rate
                        if training_args.backbone_learning_rate is None
                        else training_args.backbone_learning_rate,
                    }
                    if backbone is not None
                    else {}
                ),
                **({"feature normalisation": normalization} if (normalization := describe_feature_normalization(trainer.model)) else {}),
                "per_device_train_batch_size": training_args.per_device_train_batch_size,
                "world_size": training_args.world_size,
                "training time (wall s)": round(wall),
                **({"stopped by max_train_minutes": training_args.max_train_minutes} if stopped_by_budget else {}),
            },
        )
        if script.push_to_hub_repo:
            summary["hub_url"] = push_to_hub(
                training_args.output_dir, script.push_to_hub_repo, token=training_args.hub_token, private=script.hub_private
            )
        print(f"Model, config, evaluation and model card exported to {training_args.output_dir} "
              f"({time.perf_counter() - started:.0f} s)")
    trainer.accelerator.wait_for_everyone()
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``emoje-train``."""
    argv, quiet = take_quiet_flag(list(sys.argv[1:] if argv is None else argv))
    configure_logging(quiet)
    try:
        run(argv)
    except ValueError as error:  # bad arguments, data or checkpoints: the message names the culprit
        print(f"emoje-train: error: {error}", file=sys.stderr)
        return 2
    return 0


__all__ = [
    "CheckpointError",
    "MODEL_SECTION_OPTIONS",
    "ScriptArguments",
    "build_model",
    "checkpoint_problem",
    "find_resume_checkpoint",
    "main",
    "parse_arguments",
    "run",
    "validate_checkpoint",
]

if __name__ == "__main__":
    sys.exit(main())
