"""Training proper: `training.train.run` (the emoje-train run as a library function), its options (`options`,
`options_help`), `trainer` (`ERCTrainer`), `collator` (`DialogueDataset`, `DialogueCollator`), `data` (prepared
corpora), `labels` (label maps), `schedule` (``--schedule auto``), `checkpoints` and `run_folder` (resuming and the
run record), `text_backbone` (fine-tuning a text encoder inside the model)."""
