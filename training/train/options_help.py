"""`emoje-train --help`: the package's own options first, the model fields of the chosen model, a short list of
TrainingArguments (``--help-all`` prints all of them), and the options refused because they cannot work.

The model fields and their one-line meanings come from the config class itself: its dataclass defaults and the
``Args:`` section of its docstring (`config_field_docs`), so the help never drifts from the code.

Example:
    >>> from modeling_emoje import EmoJEConfig
    >>> from training.train.options_help import config_field_docs
    >>> config_field_docs(EmoJEConfig)["hidden_size"]
    'width ``d`` of the mode encoders, the ACN and the descriptors.'
    >>> config_field_docs(EmoJEConfig)["encoder_heads"]
    'Transformer layers and heads of each mode encoder.'
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from modeling_emoje.model_specs import DEFAULT_MODEL_TYPE

# What `emoje-train --help` says the command does, before its options.
TRAIN_DESCRIPTION = (
    "Train a model on a prepared corpus, evaluate every scenario on test, export the checkpoint. The YAML file has "
    "three kinds of keys: script options (`ScriptArguments`, top level), ``model:`` (fields of the model config, e.g. "
    "``hidden_size``) and ``training:`` (`transformers.TrainingArguments` fields). The command line overrides any of "
    "them, HfArgumentParser style: ``--field value`` for a script option or a TrainingArguments field, and the same "
    "for any model-config field."
)
HELP_FLAGS = ("-h", "--help")
HELP_ALL_FLAG = "--help-all"
# TrainingArguments shown in the short help (every field is accepted; --help-all lists them).
COMMON_TRAINING_FIELDS = (
    "max_steps", "num_train_epochs", "learning_rate", "weight_decay", "warmup_ratio", "per_device_train_batch_size",
    "per_device_eval_batch_size", "gradient_accumulation_steps", "eval_strategy", "eval_steps", "save_strategy",
    "save_steps", "save_total_limit", "logging_steps", "seed", "resume_from_checkpoint", "backbone_learning_rate",
    "backbone_weight_decay", "max_train_minutes", "time_budget_clock",
)
# TrainingArguments that cannot work with these models: option -> why (emoje-train refuses them, exit code 2).
_NO_CHECKPOINTING = (
    "the emoje models do not support gradient (activation) checkpointing; lower --per_device_train_batch_size or "
    "--max_text_length to save memory instead"
)
REFUSED_TRAINING_OPTIONS: dict[str, str] = {
    "gradient_checkpointing": _NO_CHECKPOINTING,
    "activation_checkpointing": _NO_CHECKPOINTING,  # its new name in transformers 5
}
WIDTH = 100


def config_field_docs(config_class: type) -> dict[str, str]:
    """``{field: one-line meaning}`` from the ``Args:`` section of ``config_class``'s docstring.

    ``a / b: text`` documents both fields; ``a: text; b: text`` on one line documents each; continuation lines
    (more indented) are joined to their entry.
    """
    doc = inspect.getdoc(config_class) or ""
    match = re.search(r"^Args:\n(.*?)(?:\n\S|\Z)", doc, flags=re.S | re.M)
    if not match:
        return {}
    entries: list[list[str]] = []
    indent = None
    for line in match.group(1).splitlines():
        if not line.strip():
            continue
        depth = len(line) - len(line.lstrip())
        indent = depth if indent is None else indent
        if depth == indent:
            entries.append([line.strip()])
        elif entries:
            entries[-1].append(line.strip())
    docs: dict[str, str] = {}
    for entry in entries:
        text = " ".join(entry)
        # Split "a: text; b: text" into its entries (only where a field-like name and a colon follow "; ").
        for part in re.split(r";\s+(?=[a-z_][a-z0-9_]*:\s)", text):
            names, _, meaning = part.partition(":")
            if not meaning:
                continue
            for name in names.split("/"):
                name = name.strip()
                if re.fullmatch(r"[a-z_][a-z0-9_]*", name):
                    docs[name] = meaning.strip()
    return docs


def _config_defaults(config_class: type) -> dict[str, Any]:
    if dataclasses.is_dataclass(config_class):
        try:
            instance = config_class()
        except (TypeError, ValueError):
            instance = None
        return {
            f.name: getattr(instance, f.name, None) if instance is not None else f.default
            for f in dataclasses.fields(config_class)
        }
    return {
        name: parameter.default
        for name, parameter in inspect.signature(config_class.__init__).parameters.items()
        if parameter.default is not inspect.Parameter.empty
    }


def _shown(value: Any) -> str:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return "(a config)"
    if hasattr(value, "to_dict"):
        return "(a config)"
    text = str(value).lower() if isinstance(value, bool) else str(getattr(value, "value", value))
    return text if len(text) <= 40 else text[:37] + "..."


def _option_lines(name: str, meaning: str, default: Any) -> list[str]:
    head = f"  --{name}"
    meaning = meaning.replace("``", "`")
    if default is None or "default" in meaning:  # the meaning already says what happens by default
        body = meaning
    else:
        kept_together = f"(default:\u00a0{_shown(default)})"  # textwrap never breaks at a no-break space
        body = f"{meaning} {kept_together}" if meaning else kept_together
    column = 30
    if len(head) >= column - 1:
        wrapped = textwrap.wrap(body, WIDTH, initial_indent=" " * column, subsequent_indent=" " * column)
        return [head] + [line.replace("\u00a0", " ") for line in wrapped]
    wrapped = [line.replace("\u00a0", " ") for line in textwrap.wrap(body, WIDTH - column)]
    return [head.ljust(column) + wrapped[0]] + [" " * column + line for line in wrapped[1:]]


def _short(text: str, limit: int = 150) -> str:
    """``text`` on one line, cut at a word boundary to at most ``limit`` characters."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    return text[: text.rfind(" ", 0, limit - 3)].rstrip(",;:") + " ..."


def format_train_help(
    model_type: str,
    script_arguments: type,
    training_arguments: type,
    training_defaults: Mapping[str, Any],
    derived_fields: Sequence[str],
    description: str,
) -> str:
    """The text of ``emoje-train [--model_type T] --help`` (see the module docstring)."""
    from modeling_emoje.model_specs import get_model_spec, known_model_types

    spec = get_model_spec(model_type)
    config_class, model_class = spec.config_class, spec.model_class
    lines = [
        f"usage: emoje-train [--config FILE] --data DIR --output-dir DIR [--model_type {'|'.join(known_model_types())}] [--quiet] [OPTIONS]",
        "",
        *textwrap.wrap(" ".join(description.split()), WIDTH),
        "",
        "Config file:",
        *_option_lines(
            "config FILE",
            "YAML with emoje-train options at the top level, a `model:` section (model fields) and a `training:` "
            "section (TrainingArguments); any option on the command line overrides it",
            None,
        ),
        "",
        "emoje-train options:",
    ]
    for field in dataclasses.fields(script_arguments):
        lines += _option_lines(field.name, field.metadata.get("help", ""), field.default)
    lines += _option_lines("quiet", "log warnings only (default: INFO)", False)
    lines += _option_lines("debug", "show the full traceback when the command fails", False)
    docs = config_field_docs(config_class)
    defaults = _config_defaults(config_class)
    inherited = {f.name for f in dataclasses.fields(config_class.__mro__[1])} if dataclasses.is_dataclass(config_class.__mro__[1]) else set()
    lines += ["", *textwrap.wrap(
        f"Model options of --model_type {model_type} ({config_class.__name__} -> {model_class.__name__}; also the "
        f"`model:` section; {', '.join(derived_fields)} come from the data):", WIDTH,
    )]
    for name, default in defaults.items():
        if name in derived_fields or name in inherited or name in ("transformers_version", "architectures"):
            continue  # set from the data, or generic PreTrainedConfig fields
        lines += _option_lines(name, _short(docs.get(name, "")), default)
    training_fields = {f.name: f for f in dataclasses.fields(training_arguments)}
    lines += ["", "Training options (transformers TrainingArguments; the common ones, all are accepted: emoje-train --help-all):"]
    for name in COMMON_TRAINING_FIELDS:
        field = training_fields.get(name)
        if field is None:
            continue
        default = training_defaults.get(name, field.default)
        lines += _option_lines(name, _short(field.metadata.get("help", "")), default)
    lines += ["", "Refused (exit code 2):"]
    for name, why in REFUSED_TRAINING_OPTIONS.items():
        if name in training_fields:
            lines += _option_lines(f"{name} true", why, None)
    others = [name for name in known_model_types() if name != model_type]
    lines += ["", *(f"Other model: emoje-train --model_type {name} --help." for name in others),
              "Every TrainingArguments field: emoje-train --help-all."]
    return "\n".join(lines) + "\n"


def requested_help(argv: Sequence[str]) -> str | None:
    """``"help"`` or ``"help-all"`` when ``argv`` asks for it, else None."""
    if HELP_ALL_FLAG in argv:
        return "help-all"
    return "help" if any(flag in argv for flag in HELP_FLAGS) else None


def model_type_from_argv(argv: Sequence[str], default: str = DEFAULT_MODEL_TYPE) -> str:
    """The value of ``--model_type`` (or ``--model-type``) in ``argv``, else ``default``."""
    for index, token in enumerate(argv):
        key, _, inline = token.partition("=")
        if key in ("--model_type", "--model-type"):
            if inline:
                return inline
            if index + 1 < len(argv):
                return argv[index + 1]
    return default


def refused_option_error(training_args: Any) -> str | None:
    """The one-line error for a refused TrainingArguments option that is switched on, else None."""
    switched_on = [name for name in REFUSED_TRAINING_OPTIONS if getattr(training_args, name, False)]
    if not switched_on:
        return None
    why = REFUSED_TRAINING_OPTIONS[switched_on[0]]
    same = [name for name in switched_on if REFUSED_TRAINING_OPTIONS[name] == why]  # aliases of one another
    return f"{' / '.join(f'--{name}' for name in same)} is not supported: {why}"


__all__ = [
    "COMMON_TRAINING_FIELDS",
    "REFUSED_TRAINING_OPTIONS",
    "TRAIN_DESCRIPTION",
    "config_field_docs",
    "format_train_help",
    "model_type_from_argv",
    "refused_option_error",
    "requested_help",
]
