"""`emoje-train --help`: short, the emoje options and model fields first; options that cannot work are refused."""

from __future__ import annotations

import pytest

from training.cli.train import main
from training.train.options_help import config_field_docs


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

    docs = config_field_docs(EmoJEConfig)
    assert docs["nce_weight"] == "weight of the guided NCE term"
    assert docs["guided_pairs"].startswith("``[student, guide]``")
    assert docs["acn_heads"] == docs["acn_layers"]
    assert "training split" in docs["feature_normalization"]  # continuation lines joined
    assert config_field_docs(CMARRConfig)["flow_weight"].startswith("``alpha``")


@pytest.mark.parametrize("option", ["--gradient_checkpointing", "--activation_checkpointing"])
def test_gradient_checkpointing_is_refused_with_one_line(option, tmp_path, capsys):
    code = main(["--data", str(tmp_path / "data"), "--output-dir", str(tmp_path / "run"), option, "true"])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.startswith("emoje-train: error: --gradient_checkpointing / --activation_checkpointing is not supported")
    assert "\n" not in error
    assert not (tmp_path / "run").exists()
