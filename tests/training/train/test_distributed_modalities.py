"""Multi-process training whose processes see different modalities in the same step must not hang (issue 13).

DDP runs through ``accelerate launch`` with ``cpu_2proc.yaml`` (gloo). FSDP: accelerate (1.15) picks FSDP only on
GPUs — with ``fsdp.yaml`` and ``use_cpu: true`` it runs plain CPU data parallelism, and without ``use_cpu`` on a
machine without GPUs each process trains alone — so FSDP2 is driven directly (``torch.distributed.run``, gloo),
wrapped as accelerate wraps it with ``fsdp.yaml``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.synthetic_data import REPO_ROOT, TINY_DIMS, free_port, one_thread, subprocess_env, train_args  # noqa: F401

ACCELERATE_CONFIGS = REPO_ROOT / "training" / "configs" / "accelerate"


@pytest.fixture(scope="module")
def full_corpus(tmp_path_factory):
    """Every utterance has every modality, so dropping face on one process leaves each utterance something."""
    from dataset_scripts import save_prepared
    from dataset_scripts.synthetic import build_synthetic

    path = tmp_path_factory.mktemp("data") / "full"
    save_prepared(build_synthetic("prototype", (8, 3, 5), dims=TINY_DIMS, missing_rate=0.0, test_missing_rate=0.0), path)
    return path


def read_modalities(path) -> dict[int, list[str]]:
    return {entry["step"]: entry["modalities"] for entry in map(json.loads, path.read_text().splitlines())}


def test_ddp_processes_with_different_modalities_finish(full_corpus, tmp_path):
    """Rank 0 never has face, rank 1 always has: with the package's DDP settings the run completes."""
    output = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(ACCELERATE_CONFIGS / "cpu_2proc.yaml"),
        "--main_process_port", str(free_port()), "-m", "tests.training.train.rank_modalities",
        # the patched collator drops face on rank 0 in evaluation too, where a face-only selection scenario would
        # then have no input at all: this test is about training, so the checkpoint is chosen on the full data
        *train_args(full_corpus, output, "--eval_scenarios", "full", "--selection_scenarios", "full", max_steps=4, save_steps=4),
    ]
    completed = subprocess.run(command, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr[-3000:]
    first, second = read_modalities(output / "modalities-rank0.jsonl"), read_modalities(output / "modalities-rank1.jsonl")
    assert sorted(first) == sorted(second) == [0, 1, 2, 3]
    for step in first:
        assert "face" not in first[step] and "face" in second[step], (step, first[step], second[step])
    assert json.loads((output / "checkpoint-4" / "trainer_state.json").read_text())["global_step"] == 4


def tiny_models():
    from modeling_emoje import CMARRConfig, CMARRForEmotionRecognition, EmoJEConfig, EmoJEForEmotionRecognition
    from tests.synthetic_data import TINY_CONFIG

    emoje = EmoJEForEmotionRecognition(EmoJEConfig(modality_dims=dict(TINY_DIMS), num_labels=4, **TINY_CONFIG))
    cmarr = CMARRForEmotionRecognition(
        CMARRConfig(modality_dims=dict(TINY_DIMS), num_labels=4, hidden_size=16, latent_size=8, fusion_heads=2)
    )
    return {"emoje": emoje, "cmarr": cmarr}


@pytest.mark.parametrize("model_type", ["emoje", "cmarr"])
def test_fsdp_yaml_wraps_each_models_no_split_modules(model_type, monkeypatch):
    """fsdp.yaml names no layer classes: accelerate wraps the classes of the model's own ``_no_split_modules``."""
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy

    fsdp = yaml.safe_load((ACCELERATE_CONFIGS / "fsdp.yaml").read_text())["fsdp_config"]
    # What `accelerate launch` passes on from the yaml (`accelerate.utils.launch.prepare_multi_gpu_env`).
    monkeypatch.setenv("FSDP_AUTO_WRAP_POLICY", fsdp["fsdp_auto_wrap_policy"])
    monkeypatch.setenv("FSDP_VERSION", str(fsdp["fsdp_version"]))
    if "fsdp_transformer_layer_cls_to_wrap" in fsdp:
        monkeypatch.setenv("FSDP_TRANSFORMER_CLS_TO_WRAP", fsdp["fsdp_transformer_layer_cls_to_wrap"])
    model = tiny_models()[model_type]
    policy = fsdp2_prepare_auto_wrap_policy(FullyShardedDataParallelPlugin(), model)
    wrapped = {type(module).__name__ for module in model.modules() if policy(module)}
    assert wrapped == set(model._no_split_modules)


@pytest.mark.parametrize("model_type, dropped", [("emoje", "face"), ("cmarr", "face"), ("cmarr", "audio")])
def test_fsdp2_processes_with_different_modalities_stay_in_lockstep(model_type, dropped, tmp_path):
    """FSDP2 over gloo: rank 0 without ``dropped`` (for CM-ARR, audio is a whole mode), rank 1 with every modality;
    training steps and an evaluation forward finish and every gradient is the data-parallel mean."""
    output = tmp_path / model_type
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
        str(REPO_ROOT / "tests" / "training" / "train" / "fsdp_modalities.py"), model_type, str(output), dropped,
    ]
    completed = subprocess.run(command, cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr[-3000:]
    first, second = (json.loads((output / f"rank{rank}.json").read_text()) for rank in (0, 1))
    for step, (mine, theirs) in enumerate(zip(first["modalities"], second["modalities"], strict=True)):
        assert dropped not in mine and dropped in theirs, step
    assert len(first["modalities"]) == 2 and set(first["units"]) == set(tiny_models()[model_type]._no_split_modules)
    for report in (first, second):
        assert report["max_gradient_difference"] < 1e-5, report
        assert report["evaluation_logits"][-1] == 4


def test_emoje_weights_saved_with_a_scalar_logit_scale_still_load(tmp_path):
    """``logit_scale`` became one-element (FSDP2 cannot shard 0-d parameters); the 0-d form of older weights loads."""
    import torch
    from safetensors.torch import load_file, save_file

    model = tiny_models()["emoje"]
    with torch.no_grad():
        model.emoje.joint_embedding.logit_scale.fill_(1.25)
    model.save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    weights["emoje.joint_embedding.logit_scale"] = weights["emoje.joint_embedding.logit_scale"].reshape(())
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})

    loaded = type(model).from_pretrained(tmp_path)
    assert loaded.emoje.joint_embedding.logit_scale.tolist() == [1.25]
    fresh = tiny_models()["emoje"]
    fresh.load_state_dict(weights)  # how Trainer resumes from a checkpoint
    assert fresh.emoje.joint_embedding.logit_scale.tolist() == [1.25]
