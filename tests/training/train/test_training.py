"""emoje-train: arguments, resume after a kill, damaged checkpoints, 2-process training and evaluation."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from tests.synthetic_data import REPO_ROOT, free_port, one_thread, subprocess_env, train_args, write_corpus  # noqa: F401
from training.cli.train import main
from training.train.checkpoints import CheckpointError, validate_checkpoint
from training.train.options import parse_arguments
from training.train.run import run

CONFIGS = sorted((REPO_ROOT / "training" / "configs").glob("*.yaml"))
ACCELERATE_CONFIGS = sorted((REPO_ROOT / "training" / "configs" / "accelerate").glob("*.yaml"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    # 5 test dialogues: with 2 processes x 2 dialogues per batch the last batch is padded with a repeated dialogue.
    return write_corpus(tmp_path_factory.mktemp("data") / "tiny", num_dialogues=(8, 3, 5))


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory):
    """An uninterrupted 6-step run (checkpoints every 2 steps)."""
    output = tmp_path_factory.mktemp("runs") / "reference"
    summary = run(train_args(corpus, output, "--eval_scenarios", "full"))
    return output, summary


class KillAfterSave(TrainerCallback):
    """Dies right after the checkpoint of ``step`` is written, as a killed job would."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt(f"killed after checkpoint-{self.step}")


class CountSteps(TrainerCallback):
    def __init__(self) -> None:
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        self.steps += 1


# ----------------------------------------------------------------------------------------------- arguments


def test_yaml_then_command_line_precedence(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(
        "data: from_yaml\nmodalities: [text, audio]\nmodel:\n  hidden_size: 32\n  dropout: 0.2\n"
        "training:\n  learning_rate: 5.0e-4\n  max_steps: 10\n  output_dir: runs/yaml\n"
    )
    script, args, model = parse_arguments(
        ["--config", str(config), "--max_steps", "3", "--dropout", "0.3", "--output-dir", str(tmp_path / "o"), "--push-to-hub", "me/repo"]
    )
    assert script.data == "from_yaml" and script.modalities == "text,audio" and script.push_to_hub_repo == "me/repo"
    assert args.learning_rate == 5e-4 and args.max_steps == 3 and args.output_dir == str(tmp_path / "o")
    assert model == {"hidden_size": 32, "dropout": 0.3}
    assert args.remove_unused_columns is False and args.metric_for_best_model == "scenario_mean_weighted_f1" and not args.push_to_hub


def test_unknown_and_data_derived_options_are_errors():
    with pytest.raises(ValueError, match="unknown options \\['hiden_size'\\]"):
        parse_arguments(["--hiden_size", "3"])
    with pytest.raises(ValueError, match="come from the data"):
        parse_arguments(["--num_labels", "3"])


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
def test_shipped_configs_parse(config):
    script, args, model = parse_arguments(["--config", str(config)])
    assert args.metric_for_best_model in ("weighted_f1", "scenario_mean_weighted_f1") and model
    assert script.model_type in ("emoje", "cmarr")


def test_shipped_accelerate_configs_load():
    from accelerate.commands.config.config_args import load_config_from_file

    kinds = {path.stem: load_config_from_file(str(path)).distributed_type.value for path in ACCELERATE_CONFIGS}
    assert kinds == {
        "cpu_2proc": "MULTI_GPU", "single_gpu": "NO", "multi_gpu": "MULTI_GPU", "deepspeed_zero2": "DEEPSPEED", "fsdp": "FSDP",
    }


# ----------------------------------------------------------------------------------------------- resume


def test_kill_after_checkpoint_then_same_command_resumes(corpus, reference, tmp_path):
    reference_dir, reference_summary = reference
    output = tmp_path / "killed"
    argv = train_args(corpus, output, "--eval_scenarios", "full")
    with pytest.raises(KeyboardInterrupt):
        run(argv, callbacks=[KillAfterSave(4)])
    assert (output / "checkpoint-4").is_dir() and not (output / "checkpoint-6").exists()

    counter = CountSteps()
    summary = run(argv, callbacks=[counter])  # the same command again
    assert summary["resumed_from"] == str(output / "checkpoint-4")
    assert counter.steps == 2
    assert summary["global_step"] == reference_summary["global_step"] == 6
    state = json.loads((output / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["global_step"] == 6
    # Resumed training continues the same trajectory: same final weights as the uninterrupted run.
    resumed = load_file(output / "checkpoint-6" / "model.safetensors")
    uninterrupted = load_file(reference_dir / "checkpoint-6" / "model.safetensors")
    for name, value in uninterrupted.items():
        torch.testing.assert_close(resumed[name], value, rtol=1e-5, atol=1e-6, msg=name)


def _damaged_copy(reference_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(reference_dir, copy)
    return copy


def test_truncated_weights_are_skipped_for_the_previous_checkpoint_and_kept(corpus, reference, tmp_path, capsys, caplog):
    """A damaged last checkpoint is set aside (renamed, bytes untouched) and the previous complete one resumed;
    the same checkpoint named with --resume_from_checkpoint is an error naming it."""
    output = _damaged_copy(reference[0], tmp_path)
    weights = output / "checkpoint-6" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    damaged = weights.read_bytes()
    explicit = train_args(corpus, tmp_path / "elsewhere", "--resume_from_checkpoint", str(output / "checkpoint-6"))
    with pytest.raises(CheckpointError, match=r"checkpoint-6/model.safetensors is truncated"):
        run(explicit)
    assert main(explicit) == 2
    assert "checkpoint-6" in capsys.readouterr().err

    previous = max((c for c in output.glob("checkpoint-*") if c.name != "checkpoint-6"), key=lambda c: int(c.name[11:]))
    summary = run(train_args(corpus, output))
    assert summary["resumed_from"] == str(previous) and summary["global_step"] == 6
    assert (output / "damaged-checkpoint-6" / "model.safetensors").read_bytes() == damaged
    assert "damaged-checkpoint-6" in caplog.text and "is truncated" in caplog.text


def test_partial_checkpoints_are_errors(reference, tmp_path):
    output = _damaged_copy(reference[0], tmp_path)
    checkpoint = output / "checkpoint-6"
    (checkpoint / "optimizer.pt").write_bytes((checkpoint / "optimizer.pt").read_bytes()[:50])
    with pytest.raises(CheckpointError, match="optimizer.pt is truncated"):
        validate_checkpoint(checkpoint)
    (checkpoint / "trainer_state.json").unlink()
    with pytest.raises(CheckpointError, match=r"checkpoint-6 is incomplete: trainer_state.json is missing"):
        validate_checkpoint(checkpoint)


def test_cmarr_trains_through_the_same_path_with_three_mode_evaluation(corpus, tmp_path):
    from modeling_emoje.model_specs import get_model_spec

    try:
        get_model_spec("cmarr")
    except ValueError as error:
        pytest.skip(f"CM-ARR is not available: {error}")
    cmarr = ["--model_type", "cmarr", "--hidden_size", "16", "--latent_size", "8", "--flow_blocks", "1",
             "--flow_hidden_size", "16", "--fusion_heads", "2", "--three_mode_evaluation", "true"]
    argv = train_args(corpus, tmp_path / "cmarr", max_steps=2)
    for flag in ("--hidden_size", "--encoder_heads", "--acn_heads", "--acn_layers", "--joint_embedding_size", "--context_hidden_size", "--context_layers"):
        index = argv.index(flag)
        del argv[index : index + 2]
    summary = run(argv + cmarr)
    scenarios = summary["evaluation"]["scenarios"]
    assert {"three_mode_mean", "three_mode_pooled", "privacy"} <= set(scenarios)
    config = json.loads((tmp_path / "cmarr" / "model" / "config.json").read_text())
    assert config["model_type"] == "cmarr" and config["auto_map"]["AutoModelForSequenceClassification"].startswith("modeling_cmarr.")


# ----------------------------------------------------------------------------------------------- multi-process


def test_two_process_run_matches_single_process_evaluation(corpus, tmp_path):
    output = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--config_file", str(REPO_ROOT / "training" / "configs" / "accelerate" / "cpu_2proc.yaml"),
        "--main_process_port", str(free_port()),
        "-m", "training.cli.train", *train_args(corpus, output, max_steps=4),
    ]
    completed = subprocess.run(command, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=400)
    assert completed.returncode == 0, completed.stderr[-3000:]
    distributed = json.loads((output / "model" / "evaluation.json").read_text())

    from training.cli.evaluate import main as evaluate_main

    assert evaluate_main(["--model", str(output / "model"), "--data", str(corpus), "--output", str(tmp_path / "single.json")]) == 0
    single = json.loads((tmp_path / "single.json").read_text())
    assert list(distributed["scenarios"]) == list(single["scenarios"])
    from datasets import load_from_disk

    labelled = load_from_disk(str(corpus))["test"].num_rows
    for name, scores in single["scenarios"].items():
        theirs = distributed["scenarios"][name]
        assert theirs["n"] == scores["n"] and theirs.get("n_skipped", 0) == scores.get("n_skipped", 0), name
        assert scores["n"] + scores.get("n_skipped", 0) == labelled, name
        for metric in ("weighted_f1", "macro_f1", "accuracy", "uar"):
            assert theirs[metric] == pytest.approx(scores[metric], abs=1e-12), (name, metric)
    state = json.loads((output / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert any("loss_focal" in entry for entry in state["log_history"]), "loss terms were not logged"
