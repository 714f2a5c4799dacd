"""`emoje-train --help`: short, the emoje options and model fields first; options that cannot work are refused."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from training.cli.train import main
from training.train.options_help import config_field_docs


@pytest.fixture(autouse=True)
def _own_help_cache(monkeypatch, tmp_path):
    """Each test builds the help afresh (the cache of earlier runs and of the user is not read)."""
    monkeypatch.setenv("EMOJE_CACHE_DIR", str(tmp_path / "cache"))


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--help"])
    assert exit_info.value.code == 0
    return capsys.readouterr().out


def test_help_lists_config_and_the_model_fields_with_defaults_and_meanings(capsys):
    text = _help(capsys)
    lines = text.splitlines()
    assert len(lines) < 250, len(lines)  # transformers' own help is ~680 lines
    assert "--config FILE" in text and "--data" in text and "--text_backbone" in text
    hidden = next(i for i, line in enumerate(lines) if line.strip().startswith("--hidden_size"))
    assert "width `d` of the mode encoders" in lines[hidden] and "(default: 128)" in " ".join(lines[hidden:hidden + 2])
    # emoje options before the model fields, before TrainingArguments; generic PreTrainedConfig fields left out
    assert text.index("--data") < text.index("--hidden_size") < text.index("--learning_rate")
    assert "--use_joint_embedding" in text and "--output_hidden_states" not in text and "--modality_dims" not in text
    assert "--help-all" in text and "--gradient_checkpointing" in text


def test_help_follows_model_type(capsys):
    text = _help(capsys, "--model_type", "cmarr")
    assert "CMARRConfig" in text and "--flow_blocks" in text and "--use_joint_embedding" not in text


def test_help_all_lists_every_training_argument(capsys):
    with pytest.raises(SystemExit):
        main(["--help-all"])
    assert "--lr_scheduler_type" in capsys.readouterr().out


def test_config_docstring_entries_are_split_per_field():
    from modeling_emoje import CMARRConfig, EmoJEConfig

    class Documented:
        """A config.

        Args:
            a / b: shared meaning.
            c: first; d: second,
                continued.
        """

    assert config_field_docs(Documented) == {"a": "shared meaning.", "b": "shared meaning.", "c": "first", "d": "second, continued."}
    docs = config_field_docs(EmoJEConfig)
    assert docs["nce_weight"].startswith("weight of the guided NCE term")
    assert docs["guided_pairs"].startswith("``[student, guide]``")
    assert "training split" in docs["feature_normalization"]  # continuation lines joined
    assert config_field_docs(CMARRConfig)["flow_weight"].startswith("``beta``")


def _options(text: str) -> dict[str, str]:
    """``{--option: its description}`` of a help text (descriptions joined over their lines)."""
    options: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^  (--[\w-]+)(?: [A-Z]+| true)?\s*(.*)$", line)
        if match:
            current = match.group(1)
            assert current not in options, f"{current} is listed twice"
            options[current] = match.group(2)
        elif current and line.startswith(" " * 10) and line.strip():
            options[current] += " " + line.strip()
        elif not line.strip() or not line.startswith(" "):
            current = None
    return {name: re.sub(r"\s*\(default: [^)]*\)$", "", text).strip() for name, text in options.items()}


@pytest.mark.parametrize("model_type", ["emoje", "cmarr"])
def test_every_option_has_its_own_description(capsys, model_type):
    options = _options(_help(capsys, "--model_type", model_type))
    assert {"--output_dir", "--data", "--dropout", "--quiet", "--debug", "--hidden_size", "--max_steps"} <= set(options)
    empty = sorted(name for name, meaning in options.items() if not meaning)
    assert not empty, f"options without a description: {empty}"
    by_meaning: dict[str, list[str]] = {}
    for name, meaning in options.items():
        by_meaning.setdefault(meaning, []).append(name)
    shared = {meaning: names for meaning, names in by_meaning.items() if len(names) > 1}
    assert not shared, f"options sharing one description: {shared}"
    assert not [name for name, meaning in options.items() if meaning.endswith("...")], "a description was cut"


def test_help_says_both_spellings_work_and_both_are_accepted(capsys, tmp_path):
    text = _help(capsys)
    assert "--output-dir and --output_dir" in text and "--output_dir DIR" in text
    from training.train.options import parse_arguments

    dashed = parse_arguments(["--data", "d", "--output-dir", str(tmp_path / "a"), "--max-steps", "3", "--hidden-size", "16"])
    underscored = parse_arguments(["--data", "d", "--output_dir", str(tmp_path / "a"), "--max_steps", "3", "--hidden_size", "16"])
    assert dashed[1].output_dir == underscored[1].output_dir and dashed[1].max_steps == underscored[1].max_steps == 3
    assert dashed[2] == underscored[2] == {"hidden_size": 16}


def test_help_is_printed_again_from_the_cache_without_loading_torch(tmp_path):
    """The first --help builds the text (torch, transformers); the next one reads it back (target: well under 2 s)."""
    env = {**os.environ, "EMOJE_CACHE_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-c", "import sys; from training.cli.train import main; main(['--help'])"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0 and "--hidden_size" in first.stdout
    probe = [sys.executable, "-c", "import sys\nfrom training.cli.train import main\ntry:\n    main(['--help'])\n"
             "except SystemExit:\n    pass\nprint('TORCH', 'torch' in sys.modules, file=sys.stderr)"]
    started = time.perf_counter()
    second = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=300)
    seconds = time.perf_counter() - started
    assert second.stdout == first.stdout
    assert "TORCH False" in second.stderr  # nothing heavy was imported
    print(f"cached emoje-train --help: {seconds:.2f} s (target < 2 s)")


@pytest.mark.parametrize("option", ["--gradient_checkpointing", "--activation_checkpointing"])
def test_gradient_checkpointing_is_refused_with_one_line(option, tmp_path, capsys):
    code = main(["--data", str(tmp_path / "data"), "--output-dir", str(tmp_path / "run"), option, "true"])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.startswith("emoje-train: error: --gradient_checkpointing / --activation_checkpointing is not supported")
    assert "\n" not in error
    assert not (tmp_path / "run").exists()
