"""`emoje-train --help`: the package's own options first, the model fields of the chosen model, a short list of
TrainingArguments (``--help-all`` prints all of them), and the options refused because they cannot work.

The model fields and their one-line meanings come from the config class itself: its dataclass defaults and the
``Args:`` section of its docstring (`config_field_docs`), so the help never drifts from the code. Every option is
listed once with its own description; options may be spelled with dashes or underscores (`SPELLING_NOTE`).

Building the help imports torch and transformers (seconds); the text is cached by the sources it comes from
(`cached_help`, in ``~/.cache/emoje/help``), so ``emoje-train --help`` prints it again in a fraction of a second.

Example:
    >>> from modeling_emoje import EmoJEConfig
    >>> from training.train.options_help import config_field_docs
    >>> config_field_docs(EmoJEConfig)["hidden_size"]
    'width ``d`` of the mode encoders, the ACN and the descriptors.'
    >>> config_field_docs(EmoJEConfig)["encoder_heads"]
    "attention heads of each mode encoder's layers (must divide ``hidden_size``)."
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import inspect
import os
import re
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

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
    "backbone_weight_decay", "max_train_minutes", "time_budget_clock", "selection_scenarios",
    "metric_for_best_model",
)
# TrainingArguments whose transformers description does not say what they do in emoje-train.
TRAINING_HELP_OVERRIDES: dict[str, str] = {
    "resume_from_checkpoint": "continue from this checkpoint folder instead of the last complete one in --output_dir",
    "metric_for_best_model": (
        "validation metric that chooses the best checkpoint and drives early stopping: scenario_mean_weighted_f1 "
        "(the mean over --selection_scenarios), weighted_f1 (the full data only), or another reported metric"
    ),
}
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
# Options every emoje-train run takes besides its dataclass fields (the error boundary's and the logging's).
COMMON_FLAGS: dict[str, str] = {
    "quiet": "log warnings only (default: INFO: what is done and why)",
    "verbose": "also show the libraries' own logs and progress bars (weight loading, downloads; bars only on a terminal)",
    "debug": "show the full traceback when the command fails",
}
OUTPUT_DIR_HELP = (
    "folder of this run: checkpoints, the run record and, unless --export_dir says otherwise, the exported model "
    "(OUTPUT_DIR/model); required"
)
SPELLING_NOTE = (
    "Every option may be written with dashes or underscores: --output-dir and --output_dir, --max-steps and "
    "--max_steps, --model-type and --model_type are the same option. In the YAML config, use underscores."
)


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


def _short(text: str, limit: int = 420) -> str:
    """``text`` on one line; beyond ``limit`` characters, its first sentence (or as many words as fit, then "...").

    Example:
        >>> _short("first part. second part, rather long.", limit=20)
        'first part.'
    """
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    end = text.find(". ")
    if 0 < end < limit:
        return text[: end + 1]
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
        *textwrap.wrap(SPELLING_NOTE, WIDTH),
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
    lines += _option_lines("output_dir DIR", OUTPUT_DIR_HELP, None)
    script_fields = [field.name for field in dataclasses.fields(script_arguments)]
    for field in dataclasses.fields(script_arguments):
        lines += _option_lines(field.name, field.metadata.get("help", ""), field.default)
    for name, meaning in COMMON_FLAGS.items():
        lines += _option_lines(name, meaning, None)
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
        if name in script_fields:
            continue  # an emoje-train option of the same name (e.g. --protocol) sets it: described there, once
        lines += _option_lines(name, _short(docs.get(name, "")), default)
    training_fields = {f.name: f for f in dataclasses.fields(training_arguments)}
    lines += ["", "Training options (transformers TrainingArguments; the common ones, all are accepted: emoje-train --help-all):"]
    for name in COMMON_TRAINING_FIELDS:
        field = training_fields.get(name)
        if field is None:
            continue
        default = training_defaults.get(name, field.default)
        meaning = TRAINING_HELP_OVERRIDES.get(name) or field.metadata.get("help", "")
        lines += _option_lines(name, _short(meaning), default)
    lines += ["", "Refused (exit code 2):"]
    for name, why in REFUSED_TRAINING_OPTIONS.items():
        if name in training_fields:
            lines += _option_lines(f"{name} true", why if name == next(iter(REFUSED_TRAINING_OPTIONS)) else
                                   f"the same option under its transformers 5 name, refused alike", None)
    others = [name for name in known_model_types() if name != model_type]
    lines += ["", *(f"Other model: emoje-train --model_type {name} --help." for name in others),
              "Every TrainingArguments field: emoje-train --help-all."]
    return "\n".join(lines) + "\n"


# What shapes the help text: the sources of the options, the model registry and configs, and transformers' version.
_HELP_SOURCES = (("training", "train"), ("modeling_emoje",))


def help_cache_dir() -> Path:
    """`$EMOJE_CACHE_DIR/help`, else `$XDG_CACHE_HOME/emoje/help` (`~/.cache/emoje/help`)."""
    if os.environ.get("EMOJE_CACHE_DIR"):
        return Path(os.environ["EMOJE_CACHE_DIR"]).expanduser() / "help"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser() / "emoje/help"


def _source_stamps() -> list[str]:
    """Name, size and modification time of every source file the help is built from (found without importing)."""
    stamps = []
    for parts in _HELP_SOURCES:
        spec = importlib.util.find_spec(parts[0])
        if spec is None or not spec.submodule_search_locations:
            continue
        folder = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts[1:])
        for path in sorted(folder.glob("*.py")):
            stat = path.stat()
            stamps.append(f"{path}:{stat.st_size}:{stat.st_mtime_ns}")
    return stamps


def help_cache_key(argv: Sequence[str]) -> str | None:
    """The key of the help ``argv`` asks for (kind, ``--model_type``, the ``--config`` file's bytes, the sources,
    transformers' version); None when ``argv`` asks for no help or names a config file that cannot be read."""
    kind = requested_help(argv)
    if kind is None:
        return None
    parts = [kind, model_type_from_argv(argv, default="")]
    for index, token in enumerate(argv):
        key, _, inline = token.partition("=")
        if key == "--config":
            path = inline or (argv[index + 1] if index + 1 < len(argv) else "")
            try:
                parts.append(hashlib.sha1(Path(path).read_bytes()).hexdigest())
            except OSError:
                return None  # the slow path reports the missing file
    try:
        parts.append(importlib.metadata.version("transformers"))
    except importlib.metadata.PackageNotFoundError:
        return None
    parts += _source_stamps()
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def cached_help(argv: Sequence[str]) -> str | None:
    """The help text ``argv`` asks for, as printed last time with the same sources (`remember_help`), else None.

    Reading it imports neither torch nor transformers: ``emoje-train --help`` prints in a fraction of a second once
    it has been printed once.
    """
    key = help_cache_key(argv)
    if key is None:
        return None
    try:
        return (help_cache_dir() / f"{key}.txt").read_text(encoding="utf-8")
    except OSError:
        return None


def remember_help(argv: Sequence[str], text: str) -> None:
    """Store ``text`` as the help ``argv`` asks for (a read-only or full disk only loses the speed-up)."""
    key = help_cache_key(argv)
    if key is None:
        return
    folder = help_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{key}.{os.getpid()}.tmp"
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, folder / f"{key}.txt")
    except OSError:
        pass


def print_cached_help(argv: Sequence[str]) -> bool:
    """Print the cached help ``argv`` asks for and return True; False when there is none (build it the slow way).

    Example:
        >>> print_cached_help(["--data", "d"])  # no help asked for
        False
    """
    text = cached_help(argv)
    if text is None:
        return False
    print(text, end="")
    return True


def requested_help(argv: Sequence[str]) -> str | None:
    """``"help"`` or ``"help-all"`` when ``argv`` asks for it, else None."""
    if HELP_ALL_FLAG in argv:
        return "help-all"
    return "help" if any(flag in argv for flag in HELP_FLAGS) else None


def model_type_from_argv(argv: Sequence[str], default: str | None = None) -> str:
    """The value of ``--model_type`` (or ``--model-type``) in ``argv``, else ``default`` (None: the registry's
    default model type)."""
    for index, token in enumerate(argv):
        key, _, inline = token.partition("=")
        if key in ("--model_type", "--model-type"):
            if inline:
                return inline
            if index + 1 < len(argv):
                return argv[index + 1]
    if default is None:  # imported here: the registry loads torch and transformers, which a cached --help skips
        from modeling_emoje.model_specs import DEFAULT_MODEL_TYPE

        return DEFAULT_MODEL_TYPE
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
    "COMMON_FLAGS",
    "COMMON_TRAINING_FIELDS",
    "SPELLING_NOTE",
    "REFUSED_TRAINING_OPTIONS",
    "TRAIN_DESCRIPTION",
    "cached_help",
    "config_field_docs",
    "format_train_help",
    "help_cache_dir",
    "help_cache_key",
    "model_type_from_argv",
    "print_cached_help",
    "refused_option_error",
    "remember_help",
    "requested_help",
]
