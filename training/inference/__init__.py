"""`emoje-predict`'s library: `training.inference.predict` (the pipeline over many conversations, resumable), its
inputs (`inputs`: JSONL or a prepared split; `transcripts`: STM/RTTM folders beside media) and its output
(`jsonl_output`: whole, fsynced lines). The command is `training.cli.predict`."""
