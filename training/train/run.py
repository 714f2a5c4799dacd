"""The `emoje-train` run as a library function (`run`): train a model on a prepared corpus, evaluate every scenario
on test, export the checkpoint.

The model config is built from the data: ``modality_dims`` from the feature sizes, the label maps from the
``label`` ClassLabel, ``protocol`` from the data's metadata. Re-running the same command after an
interruption resumes from the last complete checkpoint in the output directory; a damaged or partial one is
skipped with a warning and kept as ``damaged-checkpoint-N``. The output directory carries a run record
(`training.train.run_folder`): a folder holding other files, or another run, is refused unless
``--overwrite_output_dir``. The finished model is exported to ``--export-dir`` (default ``OUTPUT_DIR/model``), the
folder a Hub repository holds; the checkpoints stay in ``OUTPUT_DIR``. Re-running a finished command trains nothing:
it says where the model is (raise ``--max_steps`` / ``--num_train_epochs`` to continue, or ``--overwrite_output_dir``
to start over). Resuming checks the checkpoint against the data's labels (same names in another order: remapped to
the checkpoint's order; other names: refused) and its weights against the model the options build.

Fine-tuning a text encoder inside the model (AM^2-EmoJE's ``text_config``): ``text_backbone`` (a local path, a
Hub id, or ``default`` for the offline all-MiniLM-L6-v2; in the ``model:`` section or ``--text_backbone``)
trains on the tokens of the data's ``text`` column (``max_text_length``) instead of ``text_features``, with the
pretrained encoder weights loaded into ``model.emoje.text_model`` (not when resuming: the checkpoint has them).
``backbone_learning_rate`` / ``backbone_weight_decay`` (``training:`` section) give the encoder its own optimizer
group; ``freeze_text_backbone`` keeps it fixed. ``max_train_minutes`` stops training after that much wall time.
See ``training/configs/meld_text_finetune.yaml``.

The options are parsed by `training.train.options`, checkpoints are checked by `training.train.checkpoints` and the
model is built by `modeling_emoje.model_specs.build_model`; the console script is `training.cli.train`.

Example:
    >>> from training.train.run import run
    >>> run(["--output-dir", "runs/x"])
    Traceback (most recent call last):
    ...
    ValueError: no prepared data: pass --data DIR (the output of emoje-prepare) or set `data:` in the config
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import set_seed

from modeling_emoje import model_specs

from ..evaluation.evaluate import evaluate_model, format_table
from ..evaluation.scenarios import build_scenarios, extra_conditions
from .checkpoints import (
    check_backbone_checkpoint,
    check_checkpoint_weights,
    checkpoint_labels,
    find_resume_checkpoint,
    validate_checkpoint,
)
from .collator import DialogueCollator, DialogueDataset, normalize_modalities
from .data import data_metadata, data_protocol, label_names, load_prepared_data, text_encoder_name
from .options import parse_arguments
from .run_folder import RecordedCheckpointRotation, claim_output_dir, finished_record, mark_finished, run_identity, training_plan
from .schedule import apply_schedule
from .text_backbone import (
    DEFAULT_BACKBONE,
    build_text_processor,
    load_text_backbone_weights,
    load_text_tokenizer,
    resolve_text_backbone,
    text_backbone_config,
)
from .trainer import ERCTrainer, checkpoint_selection, describe_feature_normalization, early_stopping

logger = logging.getLogger(__name__)


def build_model(
    model_type: str,
    dataset: DialogueDataset,
    labels: list[str],
    protocol: str | None,
    overrides: dict[str, Any],
    *,
    text_backbone: str | None = None,
    load_backbone_weights: bool = True,
):
    """The model for ``model_type`` with a config built from the data (feature sizes, label maps, protocol).

    With ``text_backbone`` (path, Hub id or ``"default"``) the config gets that encoder's config as
    ``text_config`` and ``modality_dims["text"]`` = its hidden size; with ``load_backbone_weights`` its pretrained
    weights are loaded into the model's text encoder (a ValueError naming the path if they do not fit).
    """
    dims = dict(dataset.feature_dims)
    extra: dict[str, Any] = {}
    if text_backbone is not None:
        if "text_config" not in model_specs.config_fields(model_type):
            raise ValueError(f"text_backbone: model_type {model_type!r} has no text encoder sub-model (text_config); use emoje")
        if "text_config" in overrides:
            raise ValueError("give either text_backbone or text_config, not both")
        text_config = text_backbone_config(text_backbone)
        text_config.name_or_path = _backbone_card_name(text_backbone)  # the Hub id, not a local path, in config.json
        dims["text"] = int(text_config.hidden_size)
        extra["text_config"] = text_config
    model = model_specs.build_model(model_type, dims, labels, overrides, protocol=protocol, **extra)
    if text_backbone is not None and load_backbone_weights:
        load_text_backbone_weights(model, text_backbone)
    return model


def _backbone_card_name(text_backbone: str) -> str:
    """How config.json and the card name the fine-tuned encoder: its Hub id (the packaged all-MiniLM-L6-v2 counts
    as its Hub id), or for an encoder that exists only locally the name of its folder (never an absolute path)."""
    from modeling_emoje.text_encoding_emoje import DEFAULT_HUB_TEXT_ENCODER, hub_id_of_local_copy

    if text_backbone == DEFAULT_BACKBONE:
        return DEFAULT_HUB_TEXT_ENCODER
    resolved = resolve_text_backbone(text_backbone)
    if not Path(resolved).exists():
        return resolved
    return hub_id_of_local_copy(resolved) or Path(resolved).name


def build_processor(spec: str, data, modalities: Sequence[str]):
    """The processor to save with the model: None, a saved one (path) or, for ``auto``, an `EmoJEProcessor` for the
    text encoder the data's text features came from and, when audio is trained, the audio extractor the data's audio
    features came from (its recorded `audio_features`; None when the text encoder is unknown or the package has no
    processor)."""
    if spec in ("none", "", None):
        return None
    if spec != "auto":
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(spec)
    encoder = text_encoder_name(data) if "text" in modalities else None
    audio_record = data_metadata(data).get("features", {}).get("audio", {}).get("extractor", {})
    audio_features = audio_record.get("audio_features") if "audio" in modalities and isinstance(audio_record, dict) else None
    try:
        from modeling_emoje import EmoJEProcessor
    except ImportError:
        return None
    if encoder is None:
        return None
    try:
        return EmoJEProcessor.from_text_encoder(encoder, audio_features=audio_features)
    except Exception as error:  # noqa: BLE001 - the model is still usable on features; say why there is no processor
        logger.warning("no processor saved with the model: EmoJEProcessor.from_text_encoder(%r) failed: %s", encoder, error)
        return None


def _backbone_processor(spec: str, tokenizer, max_text_length: int, modalities: Sequence[str]):
    """What is saved with a model that has its own text encoder: an `EmoJEProcessor` in ``input_ids`` mode
    (``auto``), a saved processor (path), or for ``none`` the bare tokenizer (evaluation needs it)."""
    if spec in ("none", "", None):
        tokenizer.model_max_length = max_text_length
        return tokenizer
    if spec != "auto":
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(spec)
    return build_text_processor(tokenizer, max_text_length, modalities)


def run(argv: Sequence[str] | None = None, callbacks: list | None = None) -> dict[str, Any]:
    """Train, evaluate and export as ``emoje-train`` does; returns a summary dict (also for tests)."""
    script, training_args, overrides = parse_arguments(argv)
    if not script.data:
        raise ValueError("no prepared data: pass --data DIR (the output of emoje-prepare) or set `data:` in the config")
    if training_args.output_dir in (None, "trainer_output"):
        raise ValueError("pass --output-dir DIR (or training.output_dir in the config)")
    set_seed(training_args.seed)
    started = time.perf_counter()

    data = load_prepared_data(script.data)
    modalities = normalize_modalities(script.modalities, field="--modalities")
    backbone = script.text_backbone or None
    if backbone is None and script.freeze_text_backbone:
        raise ValueError("freeze_text_backbone needs a text_backbone")
    if backbone is not None and modalities is not None and "text" not in modalities:
        raise ValueError(f"text_backbone is set but --modalities {sorted(modalities)} leaves out text")
    datasets_ = {
        split: DialogueDataset(data[split], modalities=modalities, name=split, raw_text=backbone is not None)
        for split in ("train", "validation", "test")
    }
    schedule = apply_schedule(script.schedule, script, training_args, data["train"])  # training/train/schedule.py
    if script.train_window:
        datasets_["train"] = datasets_["train"].windows(script.train_window, script.train_window_context)
    train_set = datasets_["train"]
    if backbone is not None and "text" not in train_set.available_modalities:
        raise ValueError(f"{script.data}: text_backbone is set but no utterance of the train split has text")
    if not train_set.available_modalities:
        raise ValueError(f"{script.data}: the train split has no {{modality}}_features column with data")

    export_dir = Path(script.export_dir) if script.export_dir else Path(training_args.output_dir) / "model"
    output_path = Path(training_args.output_dir).resolve()
    if export_dir.resolve() == output_path or output_path.is_relative_to(export_dir.resolve()):
        raise ValueError(
            f"--export-dir {export_dir} would hold --output-dir {training_args.output_dir}: an export replaces its folder "
            "whole, so the checkpoints must live elsewhere (default: --export-dir OUTPUT_DIR/model)"
        )
    identity = run_identity(script.data, script.model_type, sorted(modalities) if modalities else None, backbone, overrides)
    claim_output_dir(
        training_args.output_dir, identity, overwrite=script.overwrite_output_dir,
        resume=script.resume or bool(training_args.resume_from_checkpoint), write=training_args.should_save,
        resume_from=training_args.resume_from_checkpoint,
    )
    if schedule is not None and training_args.should_save:
        schedule.save(training_args.output_dir)
    plan = training_plan(training_args)
    if not script.overwrite_output_dir and not training_args.resume_from_checkpoint:
        finished = finished_record(training_args.output_dir, identity, plan, export_dir)
        if finished is not None:
            return _finished_summary(training_args, finished, export_dir)
    resume_from = None
    if training_args.resume_from_checkpoint:
        resume_from = Path(training_args.resume_from_checkpoint)
        validate_checkpoint(resume_from, require_optimizer=not training_args.save_only_model)
    elif script.resume and not script.overwrite_output_dir:
        resume_from = find_resume_checkpoint(
            training_args.output_dir, require_optimizer=not training_args.save_only_model,
            set_aside_damaged=training_args.should_save,
        )
    if backbone is not None and resume_from is not None:
        check_backbone_checkpoint(resume_from)

    labels = label_names(data)
    label_source = "the model"
    if resume_from is not None:
        labels, label_source = checkpoint_labels(resume_from, labels), f"checkpoint {resume_from}"
    datasets_ = {split: dataset.with_label_order(labels, source=label_source) for split, dataset in datasets_.items()}
    train_set = datasets_["train"]
    protocol = script.protocol or data_protocol(data)
    # Resuming: the checkpoint's weights (fine-tuned encoder included) replace the model's, so the pretrained
    # encoder is not loaded first.
    model = build_model(
        script.model_type, train_set, labels, protocol, overrides,
        text_backbone=backbone, load_backbone_weights=resume_from is None,
    )
    if resume_from is not None:
        check_checkpoint_weights(resume_from, model)
    if script.freeze_text_backbone:
        model.freeze_text_backbone()
    used = list(model.config.modality_dims) if hasattr(model.config, "modality_dims") else train_set.available_modalities
    tokenizer = load_text_tokenizer(backbone) if backbone is not None else None
    collator = DialogueCollator(keep_modalities=used, tokenizer=tokenizer, max_text_length=script.max_text_length)

    if tokenizer is not None:
        processor = _backbone_processor(script.processor, tokenizer, script.max_text_length, used)
    else:
        processor = build_processor(script.processor, data, used)
    # Rotation of this run's recorded checkpoints only (the Trainer's own deletes any `checkpoint-*` folder).
    rotation = RecordedCheckpointRotation(training_args.output_dir, training_args.save_total_limit)
    training_args.save_total_limit = None
    trainer = ERCTrainer(
        model=model,
        args=training_args,
        train_dataset=train_set,
        eval_dataset=datasets_["validation"],
        data_collator=collator,
        processing_class=processor,
        callbacks=early_stopping(script.early_stopping_patience) + [rotation] + list(callbacks or []),
    )
    if resume_from is not None and trainer.is_world_process_zero():
        print(f"Resuming from {resume_from}")
    wall0, cpu0 = time.perf_counter(), time.process_time()
    train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    test_set = datasets_["test"]
    available = [m for m in test_set.available_modalities if m in used]
    three_mode = script.three_mode_evaluation
    if three_mode is None:
        three_mode = extra_conditions(script.model_type, protocol)
    scenarios = build_scenarios(available, script.eval_scenarios, three_mode=three_mode)
    evaluation = evaluate_model(
        trainer.model, test_set, scenarios, batch_size=training_args.per_device_eval_batch_size, accelerator=trainer.accelerator,
        tokenizer=tokenizer, max_text_length=script.max_text_length, progress=False if training_args.disable_tqdm else None,
    )
    # What the best checkpoint was chosen for (evaluation.json and the model card say it).
    evaluation["selection"] = checkpoint_selection(training_args, available, trainer.state.best_metric)
    stopped_by_budget = bool(trainer.time_budget is not None and trainer.time_budget.stopped)
    summary: dict[str, Any] = {
        "output_dir": training_args.output_dir,
        "model_dir": str(export_dir),
        "already_finished": False,
        "global_step": trainer.state.global_step,
        "max_steps": trainer.state.max_steps,
        "schedule": schedule.to_dict() if schedule is not None else None,
        "resumed_from": str(resume_from) if resume_from else None,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "evaluation": evaluation,
        "train_loss": train_output.training_loss,
        # This call's training loop (evaluations during training included, the final test evaluation not).
        "training_seconds_wall": round(wall, 1),
        "training_seconds_cpu": round(cpu, 1),
        "stopped_by_time_budget": stopped_by_budget,
        "text_backbone": resolve_text_backbone(backbone) if backbone is not None else None,
        "best_validation_weighted_f1": trainer.state.best_metric,
        "validation_history": [
            {"step": entry["step"], "epoch": round(entry.get("epoch", 0.0), 2), "weighted_f1": round(entry["eval_weighted_f1"], 4)}
            for entry in trainer.state.log_history
            if "eval_weighted_f1" in entry
        ],
    }
    if trainer.is_world_process_zero():
        from ..publishing.export import export_model, push_to_hub

        print(format_table(evaluation))
        metadata = data_metadata(data)
        export_model(
            trainer.model,
            export_dir,
            evaluation=evaluation,
            processor=processor,
            protocol=protocol,
            dataset_name=script.dataset_name or metadata.get("name") or _corpus_display_name(metadata.get("corpus"), protocol),
            splits={
                split: {"dialogues": ds.num_dialogues, "utterances": ds.num_utterances}
                | ({"training windows": len(ds)} if len(ds) != ds.num_dialogues else {})
                for split, ds in datasets_.items()
            },
            training_summary={
                "model_type": model.config.model_type,
                "modalities": ", ".join(used),
                "global_step": trainer.state.global_step,
                **(
                    {"max_steps": training_args.max_steps}
                    if training_args.max_steps > 0
                    else {"num_train_epochs": training_args.num_train_epochs}
                ),
                "best_checkpoint": Path(trainer.state.best_model_checkpoint).name if trainer.state.best_model_checkpoint else None,
                f"best validation {evaluation['selection']['metric']}": trainer.state.best_metric,
                "seed": training_args.seed,
                "learning_rate": training_args.learning_rate,
                **(
                    {
                        "text backbone (fine-tuned inside the model)": _backbone_card_name(backbone)
                        + (" (frozen)" if script.freeze_text_backbone else ""),
                        "max_text_length": script.max_text_length,
                        "backbone_learning_rate": training_args.learning_rate
                        if training_args.backbone_learning_rate is None
                        else training_args.backbone_learning_rate,
                    }
                    if backbone is not None
                    else {}
                ),
                **({"feature normalisation": normalization} if (normalization := describe_feature_normalization(trainer.model)) else {}),
                "per_device_train_batch_size": training_args.per_device_train_batch_size,
                "world_size": training_args.world_size,
                "training time (wall s)": round(wall),
                **({"stopped by max_train_minutes": training_args.max_train_minutes} if stopped_by_budget else {}),
            },
        )
        if not stopped_by_budget:  # a run cut by max_train_minutes has more to train: a re-run resumes it
            mark_finished(training_args.output_dir, trainer.state.global_step, plan, export_dir)
        if script.push_to_hub_repo:
            summary["hub_url"] = push_to_hub(
                export_dir, script.push_to_hub_repo, token=training_args.hub_token, private=script.hub_private
            )
        print(f"Model, config, evaluation and model card exported to {export_dir} "
              f"({time.perf_counter() - started:.0f} s); checkpoints in {training_args.output_dir}")
    trainer.accelerator.wait_for_everyone()
    return summary


def _corpus_display_name(corpus: str | None, protocol: str | None) -> str | None:
    """How the model card names the data's corpus: its registered display name, else the protocol."""
    from dataset_scripts.corpora import get_corpus

    try:
        return get_corpus(corpus).display_name if corpus else protocol
    except ValueError:  # a corpus no module registers
        return protocol


def _finished_summary(training_args, finished: dict[str, Any], export_dir: Path) -> dict[str, Any]:
    """What a re-run of a finished command returns (nothing trained): the recorded step and the exported evaluation."""
    if training_args.should_save:
        print(
            f"emoje-train: this run already finished (step {finished['global_step']}); its model is in {export_dir}. "
            "Nothing to train: raise --max_steps / --num_train_epochs to continue it, or pass --overwrite_output_dir "
            "true to train it again."
        )
    evaluation_file = export_dir / "evaluation.json"
    evaluation = json.loads(evaluation_file.read_text()) if evaluation_file.is_file() else {"scenarios": {}}
    return {
        "output_dir": training_args.output_dir,
        "model_dir": str(export_dir),
        "already_finished": True,
        "global_step": finished["global_step"],
        "evaluation": evaluation,
        "best_checkpoint": None,
    }


__all__ = ["build_model", "build_processor", "run"]
