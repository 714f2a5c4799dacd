"""emoje-train with a text encoder fine-tuned inside AM^2-EmoJE: token collation, pretrained weights, optimizer
groups, a short real-MELD run with export / pipeline / emoje-evaluate, resume, and the time budget."""

from __future__ import annotations

import json
import time
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from modeling_emoje.text_encoding_emoje import DEFAULT_HUB_TEXT_ENCODER

from tests.synthetic_data import TINY_CONFIG, TINY_MODEL_ARGS, one_thread  # noqa: F401  (one_thread: autouse fixture)
from training.train.collator import MODALITIES, DialogueCollator, DialogueDataset
from training.train.text_backbone import get_text_backbone, load_saved_tokenizer, load_text_backbone_weights, load_text_tokenizer
from training.train.trainer import ERCTrainer, ERCTrainingArguments, TimeBudgetCallback

TEXT = MODALITIES.index("text")
BACKBONE_PREFIX = "emoje.text_model."
# A few-second run of the tiny AM^2-EmoJE around the real MiniLM.
RUN_OPTIONS = {
    "max_text_length": 24, "per_device_train_batch_size": 2, "per_device_eval_batch_size": 4, "learning_rate": 3e-3,
    "backbone_learning_rate": 1e-3, "backbone_weight_decay": 0.01, "eval_strategy": "steps", "save_strategy": "steps",
    "eval_steps": 2, "save_steps": 2, "logging_steps": 1, "save_total_limit": 1, "disable_tqdm": "true", "seed": 0,
    "early_stopping_patience": 0,
}


def run_args(data: Path, output: Path, backbone: str, **changes) -> list[str]:
    """emoje-train arguments: the tiny model, `RUN_OPTIONS` updated with ``changes``."""
    options = {**RUN_OPTIONS, **changes}
    argv = ["--data", str(data), "--output-dir", str(output), "--text_backbone", backbone, *TINY_MODEL_ARGS]
    for key, value in options.items():
        argv += [f"--{key}", str(value)]
    return argv


# ----------------------------------------------------------------------------------------------- fixtures


def _text_split() -> datasets.Dataset:
    """Two dialogues with text and audio; some texts blank, one masked off, one utterance without text at all."""
    from dataset_scripts.schema import emoje_features

    features = emoje_features(["a", "b"], ["audio"])
    rows = {name: [] for name in features}
    texts = [["Hello there!", "   ", "How are you doing today, my old friend?"], ["Fine.", "Oh my God!"]]
    masked_off = {(1, 1)}  # text exists but modality_mask says it is absent
    for d, dialogue in enumerate(texts):
        for u, text in enumerate(dialogue):
            has_text = bool(text.strip()) and (d, u) not in masked_off
            row = {
                "dialogue_id": f"d{d}", "utterance_id": u, "speaker": f"s{u % 2}", "text": text, "label": u % 2,
                "audio_path": "", "video_path": "", "video_start": None, "video_end": None, "source_id": f"d{d}/{u}",
                "modality_mask": [has_text, True, False, False], "audio_features": np.ones((2, 3), np.float32),
            }
            for name in features:
                rows[name].append(row[name])
    return datasets.Dataset.from_dict(rows, features=features)


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return load_text_tokenizer(minilm_path)


@pytest.fixture(scope="module")
def meld_data(meld_dir, tmp_path_factory):
    """The first 3/2/2 dialogues of MELD's official train/dev/test CSVs, prepared without features (text only)."""
    from dataset_scripts import build_meld, save_prepared
    from training.demo.corpus import write_meld_subset

    root = tmp_path_factory.mktemp("meld")
    write_meld_subset(meld_dir, root / "csv", (3, 2, 2))
    save_prepared(build_meld(str(root / "csv")), root / "data")
    return root / "data"


@pytest.fixture(scope="module")
def finetuned(meld_data, minilm_path, tmp_path_factory):
    """A 2-step emoje-train run fine-tuning MiniLM (tiny model around it), evaluated and exported."""
    from training.train.run import run

    output = tmp_path_factory.mktemp("runs") / "finetune"
    summary = run(run_args(meld_data, output, minilm_path, max_steps=2))
    return output, summary


class RecordBackboneAtStart(TrainerCallback):
    """Copies the text encoder's weights when training (re)starts, i.e. after a checkpoint was loaded."""

    def __init__(self) -> None:
        self.weights: dict[str, torch.Tensor] | None = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.weights = {k: v.detach().clone() for k, v in get_text_backbone(model).state_dict().items()}


# ----------------------------------------------------------------------------------------------- collation


def test_collator_tokenizes_text_and_zeroes_absent_rows(tokenizer):
    dataset = DialogueDataset(_text_split(), raw_text=True)
    assert dataset.available_modalities == ["text", "audio"] and "text" not in dataset.feature_dims
    items = [dataset[0], dataset[1]]
    batch = DialogueCollator(tokenizer=tokenizer, max_text_length=32)(items)
    assert "text_features" not in batch and "text_attention_mask" not in batch
    ids, mask = batch["input_ids"], batch["attention_mask"]
    present = [(0, 0), (0, 2), (1, 0)]
    expected = {cell: tokenizer(items[cell[0]]["text"][cell[1]])["input_ids"] for cell in present}
    assert ids.shape == mask.shape == (2, 3, max(len(v) for v in expected.values())) and ids.dtype == torch.long
    for (b, u), tokens in expected.items():
        assert ids[b, u, : len(tokens)].tolist() == tokens and mask[b, u].sum() == len(tokens)
        assert batch["modality_mask"][b, u, TEXT]
    # blank text, text masked off by modality_mask, and the padding utterance: all-zero attention, no text
    for b, u in [(0, 1), (1, 1), (1, 2)]:
        assert mask[b, u].sum() == 0 and (ids[b, u] == tokenizer.pad_token_id).all()
        assert not batch["modality_mask"][b, u, TEXT]
    assert batch["modality_mask"][:, :, MODALITIES.index("audio")].sum() == 5  # the other modalities are untouched
    assert batch["audio_features"].shape == (2, 3, 2, 3)

    truncated = DialogueCollator(tokenizer=tokenizer, max_text_length=5)(items)
    assert truncated["input_ids"].shape[-1] == 5 and truncated["input_ids"][0, 2, -1] == tokenizer.sep_token_id


def test_scenarios_without_text_drop_the_tokens(tokenizer):
    dataset = DialogueDataset(_text_split(), raw_text=True)
    items = [dataset[0], dataset[1]]
    audio_only = DialogueCollator(keep_modalities={"audio"}, tokenizer=tokenizer)(items)
    assert "input_ids" not in audio_only and not audio_only["modality_mask"][..., TEXT].any()
    # the dataset view of a text-only scenario keeps only utterances with text, whose rows all have tokens
    text_view = dataset.with_scenario({"text"})
    assert text_view.num_labelled == 3 and text_view.num_skipped == 2
    batch = DialogueCollator(keep_modalities={"text"}, tokenizer=tokenizer)([text_view[0], text_view[1]])
    assert "audio_features" not in batch
    assert (batch["attention_mask"].any(-1) == batch["utterance_mask"].bool()).all()
    # items marking text present without carrying it (read without raw_text) are an error naming the dialogue
    without_text = {key: value for key, value in items[0].items() if key != "text"}
    with pytest.raises(ValueError, match=r"dialogue 0: .*no 'text'.*raw_text=True"):
        DialogueCollator(tokenizer=tokenizer)([without_text])


def test_raw_text_ignores_a_mask_written_by_an_extraction_without_text():
    split = _text_split().map(lambda row: {"modality_mask": [False, *row["modality_mask"][1:]]})  # as after --features audio
    dataset = DialogueDataset(split, raw_text=True)
    assert dataset.presence[:, TEXT].tolist() == [True, False, True, True, True]  # only the blank text is absent


# ----------------------------------------------------------------------------------------------- model and optimizer


@pytest.fixture(scope="module")
def backbone_model(minilm_path):
    from training.train.run import build_model

    dataset = DialogueDataset(_text_split(), raw_text=True)
    return build_model("emoje", dataset, ["a", "b"], None, dict(TINY_CONFIG), text_backbone=minilm_path)


def test_model_holds_the_pretrained_encoder(backbone_model, minilm_path):
    from transformers import AutoConfig, AutoModel

    config = backbone_model.config
    assert config.text_config.hidden_size == 384 and config.modality_dims == {"text": 384, "audio": 3}
    pretrained = AutoModel.from_pretrained(minilm_path).state_dict()
    own = backbone_model.emoje.text_model.state_dict()
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.5.output.dense.weight"):
        torch.testing.assert_close(own[name], pretrained[name], rtol=0, atol=0, msg=name)

    from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition

    tiny_text = AutoConfig.from_pretrained(minilm_path, num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=64)
    mismatched = EmoJEForEmotionRecognition(EmoJEConfig(modality_dims={"text": 32}, num_labels=2, text_config=tiny_text, **TINY_CONFIG))
    with pytest.raises(ValueError, match=f"text backbone '{minilm_path}': its weights do not match"):
        load_text_backbone_weights(mismatched, minilm_path)


def test_backbone_has_its_own_parameter_groups(backbone_model, tmp_path):
    args = ERCTrainingArguments(
        output_dir=str(tmp_path), learning_rate=1e-3, weight_decay=2e-4, backbone_learning_rate=1e-5,
        backbone_weight_decay=0.01, report_to="none", use_cpu=True,
    )
    trainer = ERCTrainer(model=backbone_model, args=args)
    optimizer = trainer.create_optimizer()
    backbone = {id(p) for p in backbone_model.emoje.text_model.parameters()}
    seen = [id(p) for group in optimizer.param_groups for p in group["params"]]
    assert sorted(seen) == sorted(id(p) for p in backbone_model.parameters() if p.requires_grad)  # each once
    for group in optimizer.param_groups:
        in_backbone = {id(p) in backbone for p in group["params"]}
        assert len(in_backbone) == 1, "a group mixes encoder and model parameters"
        lr, decay = (1e-5, 0.01) if in_backbone.pop() else (1e-3, 2e-4)
        assert group["lr"] == lr and group["weight_decay"] in (decay, 0.0)
    assert optimizer.param_groups[0]["lr"] == 1e-3  # the logged learning_rate stays the model's
    scheduler = trainer.create_scheduler(num_training_steps=10, optimizer=optimizer)
    optimizer.step()
    scheduler.step()
    rates = scheduler.get_last_lr()
    assert rates[0] == pytest.approx(0.9e-3) and rates[trainer._backbone_group] == pytest.approx(0.9e-5)

    backbone_model.freeze_text_backbone()
    try:
        frozen = ERCTrainer(model=backbone_model, args=args).create_optimizer()
        assert not {id(p) for group in frozen.param_groups for p in group["params"]} & backbone
    finally:
        backbone_model.emoje.text_model.requires_grad_(True)


def test_time_budget_stops_and_evaluates_the_last_step():
    from transformers import TrainerControl, TrainerState

    args = ERCTrainingArguments(output_dir="unused", eval_strategy="steps", eval_steps=100, save_strategy="steps", save_steps=100)
    state, control = TrainerState(global_step=3, max_steps=100), TrainerControl()
    budget = TimeBudgetCallback(max_minutes=1e-6)
    budget.on_step_end(args, state, control)
    assert not control.should_training_stop  # training has not begun: nothing is counted yet
    budget.on_train_begin(args, state, control)
    time.sleep(0.01)  # > the 60 us budget
    budget.on_step_end(args, state, control)
    assert control.should_training_stop and control.should_evaluate and control.should_save
    assert budget.stopped and budget.stopped_at_step == 3 and budget.wall_seconds > 0
    with pytest.raises(ValueError, match="max_minutes must be > 0"):
        TimeBudgetCallback(0)


def test_time_budget_on_the_cpu_clock_ignores_waiting():
    """clock='cpu' counts this process' CPU time per torch thread: sleeping (a neighbour holding the core) is free."""
    from transformers import TrainerControl, TrainerState

    args = ERCTrainingArguments(output_dir="unused", time_budget_clock="cpu")
    state, control = TrainerState(global_step=1, max_steps=10), TrainerControl()
    budget = TimeBudgetCallback(max_minutes=0.05 / 60, clock="cpu")  # 50 ms
    budget.on_train_begin(args, state, control)
    time.sleep(0.2)
    budget.on_step_end(args, state, control)
    assert not control.should_training_stop and budget.wall_seconds > 0.2 > budget.budget_seconds
    started = time.process_time()
    while time.process_time() - started < 0.2 * torch.get_num_threads():  # busy: CPU time does count
        sum(range(1000))
    budget.on_step_end(args, state, control)
    assert control.should_training_stop and budget.stopped
    with pytest.raises(ValueError, match="clock must be one of"):
        TimeBudgetCallback(1, clock="gpu")
    with pytest.raises(ValueError, match="time_budget_clock"):
        ERCTrainingArguments(output_dir="unused", time_budget_clock="gpu")


# ----------------------------------------------------------------------------------------------- end to end on MELD


def test_training_fine_tunes_and_exports_the_encoder(finetuned, minilm_path):
    output, summary = finetuned
    assert summary["global_step"] == 2 and summary["text_backbone"] == minilm_path
    assert summary["training_seconds_wall"] > 0 and summary["training_seconds_cpu"] > 0
    assert summary["stopped_by_time_budget"] is False
    assert set(summary["evaluation"]["scenarios"]) == {"text"} and summary["evaluation"]["scenarios"]["text"]["n"] > 0

    export = output / "model"
    config = json.loads((export / "config.json").read_text())
    assert config["text_config"]["model_type"] == "bert" and config["modality_dims"] == {"text": 384}
    assert config["text_config"]["_name_or_path"] == DEFAULT_HUB_TEXT_ENCODER  # the packaged copy's Hub id, no local path
    weights = load_file(export / "model.safetensors")
    pretrained = load_file(Path(minilm_path) / "model.safetensors")
    name = "encoder.layer.0.attention.self.query.weight"
    pretrained_value = next(v for k, v in pretrained.items() if k.endswith(name))
    assert not torch.equal(weights[BACKBONE_PREFIX + name], pretrained_value), "the encoder was not fine-tuned"

    processor = json.loads((export / "processor_config.json").read_text())
    assert processor["text_input"] == "input_ids" and processor["max_text_length"] == 24
    assert processor["text_encoder_name_or_path"] is None and not (export / "text_encoder").exists()
    assert (export / "tokenizer.json").is_file() and (output / "checkpoint-2" / "tokenizer.json").is_file()
    state = json.loads((output / "checkpoint-2" / "trainer_state.json").read_text())
    logged = [entry for entry in state["log_history"] if "backbone_learning_rate" in entry]
    assert logged and all(entry["backbone_learning_rate"] < entry["learning_rate"] for entry in logged)


def test_exported_model_runs_in_the_pipeline_on_text_turns(finetuned):
    import modeling_emoje  # noqa: F401  (registers the task)
    from transformers import pipeline

    erc = pipeline("emotion-recognition-in-conversation", model=str(finetuned[0] / "model"))
    turns = [{"speaker": "Ross", "text": "We were on a break!"}, {"speaker": "Rachel", "text": "Oh, really?"},
             {"speaker": "Ross", "text": "Yes."}]
    result = erc(turns)
    labels = set(json.loads((finetuned[0] / "model" / "config.json").read_text())["id2label"].values())
    assert len(result) == 3 and all(turn["label"] in labels and turn["modalities"] == ["text"] for turn in result)
    assert all(sum(turn["scores"].values()) == pytest.approx(1.0, abs=1e-5) for turn in result)


def test_emoje_evaluate_collates_tokens_for_export_and_checkpoint(finetuned, meld_data, tmp_path):
    from training.cli.evaluate import main as evaluate_main

    output, summary = finetuned
    for model_dir in (output / "model", output / "checkpoint-2"):  # the final model is the best = last checkpoint
        target = tmp_path / f"{model_dir.name}.json"
        assert evaluate_main(["--model", str(model_dir), "--data", str(meld_data), "--output", str(target)]) == 0
        scores = json.loads(target.read_text())["scenarios"]["text"]
        expected = summary["evaluation"]["scenarios"]["text"]
        assert scores["n"] == expected["n"] and scores["weighted_f1"] == pytest.approx(expected["weighted_f1"], abs=1e-9)


def test_resume_keeps_the_fine_tuned_encoder(finetuned, meld_data, minilm_path, tmp_path, monkeypatch):
    import training.train.run as train_module

    def never(*args, **kwargs):
        raise AssertionError("pretrained weights reloaded on resume")

    monkeypatch.setattr(train_module, "load_text_backbone_weights", never)
    checkpoint = finetuned[0] / "checkpoint-2"
    recorder = RecordBackboneAtStart()
    summary = train_module.run(
        run_args(
            meld_data, tmp_path / "resumed", minilm_path, resume_from_checkpoint=checkpoint, max_steps=3,
            eval_strategy="no", save_strategy="no", load_best_model_at_end="false",
        ),
        callbacks=[recorder],
    )
    assert summary["resumed_from"] == str(checkpoint) and summary["global_step"] == 3
    saved = load_file(checkpoint / "model.safetensors")
    compared = [name for name in recorder.weights if BACKBONE_PREFIX + name in saved]
    assert len(compared) > 100  # every weight of MiniLM's 6 layers
    for name in compared:
        torch.testing.assert_close(recorder.weights[name], saved[BACKBONE_PREFIX + name], rtol=0, atol=0, msg=name)


def test_time_budget_stops_a_real_run(meld_data, minilm_path, tmp_path):
    from training.train.run import run

    output = tmp_path / "budget"
    summary = run(
        run_args(meld_data, output, minilm_path, max_steps=50, max_train_minutes=1e-6, freeze_text_backbone="true", processor="none")
    )
    assert summary["stopped_by_time_budget"] is True and summary["global_step"] == 1
    assert (output / "checkpoint-1").is_dir()  # the step where the budget ran out was evaluated and saved
    state = json.loads((output / "checkpoint-1" / "trainer_state.json").read_text())
    assert any("eval_weighted_f1" in entry for entry in state["log_history"])
    weights = load_file(output / "model" / "model.safetensors")
    pretrained = load_file(Path(minilm_path) / "model.safetensors")
    name = "encoder.layer.0.attention.self.query.weight"
    torch.testing.assert_close(weights[BACKBONE_PREFIX + name], next(v for k, v in pretrained.items() if k.endswith(name)))
    # --processor none: no processor, but the tokenizer (with the truncation length) is saved for emoje-evaluate
    assert not (output / "model" / "processor_config.json").exists() and load_saved_tokenizer(output / "model")[1] == 24
