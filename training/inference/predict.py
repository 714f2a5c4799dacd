"""Per-turn emotions for many conversations, one JSONL line per conversation, resumable: `emoje-predict`'s library.

Conversations come from a JSONL file (`training.inference.inputs`), a folder of `NAME.stm`/`NAME.rttm` transcripts
beside `NAME.wav`/`NAME.mp4` media (one conversation per name, `training.inference.transcripts`) or a prepared split
(gold labels written beside the predictions). `predict_to_jsonl` runs `pipeline("emotion-recognition-in-conversation")`
with `batch_size` conversations padded into one model forward pass, and appends to the output one line per
conversation: `{"id": ..., "turns": [{"label", "score", "scores", "modality_weights", "modalities", "imputed"[,
"gold"]}, ...]}`, each line written whole and fsynced (`training.inference.jsonl_output`). A re-run skips the ids
already in the output (a partial last line left by a kill is removed first). The output belongs to one run
(`training.inference.output_run`): its model and options are recorded beside it and a re-run with others is
refused, one process writes it at a time, a file that is not a predictions file is never changed, and `--input`
cannot be the output. With a prepared split, the split's label names must be the model's. Under `accelerate launch` every process
predicts its share of the conversations into `OUTPUT.part-K-of-N`; the main process then appends them to the output
in input order and deletes the parts.

A model that reads features only works from the features the input carries: a model exported without a processor
(a features-only `emoje-train` run saves none) or whose processor has no text encoder predicts a prepared split from
its `{modality}_features` columns, and JSONL turns from their `text_features` / `audio_features` / `face` / `body`
arrays. Raw input it cannot read (text without a text encoder, audio or video without a processor) is refused before
anything is predicted, in one sentence naming the model folder, the conversation and turn, and what to give instead.

Example:
    >>> from training.inference.predict import features_only_tokenizer
    >>> features_only_tokenizer()("anything")["input_ids"]
    [0]
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from .inputs import Conversation, raw_fields, read_jsonl_conversations, split_conversations
from .jsonl_output import append_record, encode_record, finished_ids, merge_parts
from .output_run import check_not_input, claim_output, output_lock, prediction_run

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 16  # conversations per model forward pass
DEFAULT_TEXT_BATCH_SIZE = 64  # texts per text-encoder forward pass


def load_conversations(
    config,
    *,
    model_dir: str,
    input_path: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    text_encoder: bool = True,
) -> list[Conversation]:
    """The conversations of ``input_path`` (a JSONL file or a folder of transcripts and media) or of ``data_dir``'s
    ``split``, in input order, for the model of ``model_dir`` (its ``config``).

    `text_encoder`: whether the processor can turn raw text into the model's text features. Without one, a split
    without `text_features` gives its turns no text (the model predicts from its other modalities, as evaluation
    does) instead of raw text it could not read.
    """
    if input_path is not None:
        if Path(input_path).is_dir():
            from .transcripts import read_transcript_folder

            return read_transcript_folder(input_path)
        return read_jsonl_conversations(input_path)
    from ..train.data import check_same_audio_features, load_prepared_data

    data = load_prepared_data(data_dir)
    if split not in data:
        raise ValueError(f"{data_dir} has no split {split!r} (has {sorted(data)})")
    check_same_audio_features(model_dir, data, data_source=f"--data {data_dir}")
    rows = data[split]
    dims = dict(config.modality_dims)
    name = f"split {split!r} of {data_dir}"
    check_gold_labels(rows, config, name=name, model_source=f"--model {model_dir}")
    own_text_encoder = getattr(config, "text_config", None) is not None
    without_text_features = "text" in dims and "text_features" not in rows.column_names
    if without_text_features and not own_text_encoder and not text_encoder:
        logger.info(
            "%s has no text_features and --model %s has no text encoder to compute them: its turns carry the other "
            "modalities only", name, model_dir,
        )
    raw_text = own_text_encoder or (without_text_features and text_encoder)
    return split_conversations(rows, list(dims), raw_text, name=name, model_source=f"--model {model_dir}")


def check_gold_labels(rows, config, *, name: str, model_source: str) -> None:
    """The gold labels of a prepared split are written beside the model's predictions only when both name the same
    classes (in any order): other names are a `LabelMapError` (a ValueError) naming both lists, as in evaluation."""
    from ..train.labels import label_order_mapping, model_label_names

    label = rows.features.get("label") if hasattr(rows, "features") else None
    data_labels = getattr(label, "names", None)
    model_labels = model_label_names(config)
    if data_labels and model_labels:
        label_order_mapping(data_labels, model_labels, data_source=name, model_source=model_source)


def check_readable(
    conversations: Sequence[Conversation],
    model_dir: str,
    config,
    processor,
    saved_processor: bool,
    privacy: bool = False,
) -> None:
    """Refuse, before anything is predicted, the first turn whose raw input the model cannot read: text for a model
    that reads text features but has no text encoder, audio or video for a model exported without a processor (it
    cannot say how its features were extracted). The ValueError names the model folder, the conversation and turn,
    and what to give instead."""
    from modeling_emoje.modalities import MODALITY_TABLE, Scenario

    dims = dict(config.modality_dims)
    wanted = Scenario.of_call(privacy).select(dims)
    no_text_encoder = getattr(config, "text_config", None) is None and processor.text_encoder_name_or_path is None
    for conversation in conversations:
        for index, turn in enumerate(conversation.turns):
            if not isinstance(turn, Mapping):
                continue  # the processor names a turn that is not a dict
            fields = raw_fields(turn, wanted)
            where = f"{conversation.source}, turn {index}"
            if "text" in fields and no_text_encoder:
                raise ValueError(
                    f"--model {model_dir} has no text encoder: give text features (`text_features`, {dims['text']} "
                    f"values per turn from the encoder the model was trained with) or use a model exported with its "
                    f"text encoder; {where} gives 'text' without 'text_features'"
                )
            media = [field for field in fields if field != "text"]
            if media and not saved_processor:
                arrays = [m.turn_key for m in MODALITY_TABLE if m.source == media[0] and m.name in wanted]
                raise ValueError(
                    f"--model {model_dir} was exported without a processor (no processor_config.json), so it reads "
                    f"pre-extracted features only: give {' / '.join(repr(a) for a in arrays)} arrays instead of "
                    f"{media[0]!r}, or use a model exported with its processor; {where} gives {media[0]!r}"
                )


def predict_records(erc, conversations: Sequence[Conversation], options: dict[str, Any]) -> list[dict]:
    """The output records of `conversations` (one padded model batch). A bad conversation is a ValueError naming
    its id and where it came from."""
    try:
        results = erc([conversation.turns for conversation in conversations], **options)
    except ValueError:
        for conversation in conversations:  # run them alone, to name the one at fault
            try:
                erc(conversation.turns, **{k: v for k, v in options.items() if k != "conversation_batch_size"})
            except ValueError as err:
                raise ValueError(f"conversation {conversation.id!r} ({conversation.source}): {err}") from err
        raise
    records = []
    for conversation, turns in zip(conversations, results):
        if conversation.gold is not None:
            turns = [{**turn, "gold": gold} for turn, gold in zip(turns, conversation.gold)]
        records.append({"id": conversation.id, "turns": turns})
    return records


def progress_bar(total: int, enabled: bool | None, main_process: bool):
    """A tqdm bar over conversations on stderr (on a terminal, the main process, unless disabled)."""
    from tqdm.auto import tqdm

    shown = main_process and (enabled if enabled is not None else sys.stderr.isatty())
    return tqdm(total=total, desc="conversations", unit="conv", disable=not shown, file=sys.stderr)


def predict_to_jsonl(
    model_dir: str,
    output: str | os.PathLike,
    *,
    input_path: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
    split: str = "test",
    batch_size: int = DEFAULT_BATCH_SIZE,
    text_batch_size: int = DEFAULT_TEXT_BATCH_SIZE,
    privacy: bool = False,
    causal: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Predict the conversations of ``input_path`` (or ``data_dir``'s ``split``) with the model of ``model_dir`` into
    ``output`` (see the module docstring); returns `{conversations, turns, skipped, seconds}`: what was predicted (by
    all processes) and the wall time from the first prediction until every process was done and merged."""
    from accelerate import PartialState
    from transformers import pipeline

    import modeling_emoje  # noqa: F401  (registers the task)
    from modeling_emoje.model_folder import load_model
    from modeling_emoje.pipeline_emoje import TASK

    from ..train.trainer import several_processes_without_accelerator

    output = Path(output)
    check_not_input(output, input_path)
    state = PartialState(cpu=several_processes_without_accelerator())
    model = load_model(model_dir)
    processor, saved_processor = load_processor(model_dir, model.config)
    erc = pipeline(TASK, model=model, processor=processor, device=state.device)
    conversations = load_conversations(
        model.config, model_dir=model_dir, input_path=input_path, data_dir=data_dir, split=split,
        text_encoder=processor.text_encoder_name_or_path is not None,
    )
    check_readable(conversations, model_dir, model.config, processor, saved_processor, privacy=privacy)
    order = [conversation.id for conversation in conversations]
    with ExitStack() as held:
        if state.is_main_process:  # one writer per output; its run record first, then parts a killed run left
            held.enter_context(output_lock(output))
            claim_output(output, prediction_run(model_dir, model.config, privacy=privacy, causal=causal))
            leftovers = sorted(output.parent.glob(f"{output.name}.part-*"))
            if leftovers:
                merge_parts(output, leftovers, order)
        state.wait_for_everyone()
        done = finished_ids(output) if state.is_main_process else None
        state.wait_for_everyone()
        done = done if done is not None else finished_ids(output)
        pending = [conversation for conversation in conversations if conversation.id not in done]
        if state.is_main_process:
            logger.info(
                "%d conversations, %d already in %s, %d to predict on %d process(es)",
                len(conversations), len(conversations) - len(pending), output, len(pending), state.num_processes,
            )
        options = dict(privacy=privacy, causal=causal, batch_size=text_batch_size, conversation_batch_size=batch_size)
        part_name = f"{output.name}.part-{state.process_index}-of-{state.num_processes}"
        part = output if state.num_processes == 1 else output.with_name(part_name)
        started = time.perf_counter()
        with state.split_between_processes(pending) as share:
            bar = progress_bar(len(share), progress, state.is_main_process)
            with open(part, "ab") as stream, bar:
                for start in range(0, len(share), batch_size):
                    chunk = share[start : start + batch_size]
                    lines = [encode_record(record) for record in predict_records(erc, chunk, options)]
                    for line in lines:
                        append_record(stream, line)
                    bar.update(len(chunk))
        state.wait_for_everyone()
        if state.num_processes > 1 and state.is_main_process:
            parts = [
                output.with_name(f"{output.name}.part-{rank}-of-{state.num_processes}")
                for rank in range(state.num_processes)
            ]
            merge_parts(output, [path for path in parts if path.exists()], order)
    seconds = time.perf_counter() - started
    turns = sum(len(conversation.turns) for conversation in pending)
    summary = {"conversations": len(pending), "turns": turns, "skipped": len(conversations) - len(pending), "seconds": seconds}
    if state.is_main_process:
        logger.info(
            "predicted %d conversations (%d turns) in %.2f s (%.1f conversations/s, %.1f turns/s) on %d process(es); "
            "predictions in %s",
            len(pending), turns, seconds, len(pending) / max(seconds, 1e-9), turns / max(seconds, 1e-9),
            state.num_processes, output,
        )
    return summary


def features_only_tokenizer():
    """A one-token tokenizer filling the processor's `tokenizer` part for a model that never tokenizes.

    The processor tokenizes only for a model with its own text encoder (`config.text_config`); every other model
    reads text as features (given, or from the processor's frozen text encoder, which has its own tokenizer). Such a
    model may be exported without a processor, or with one whose tokenizer files are absent, and still predict from
    features: `load_processor` then fills the part with this stand-in, which is never called.

    Example:
        >>> features_only_tokenizer()("anything")["input_ids"]
        [0]
    """
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    unknown = "[UNK]"
    backend = Tokenizer(models.WordLevel({unknown: 0}, unk_token=unknown))
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token=unknown)


def load_processor(model_dir: str, config) -> tuple[Any, bool]:
    """`(processor, saved)`: the `EmoJEProcessor` saved with the model (`saved` True) or, for a model without one that
    reads features only, a processor with the default audio/video extractors and no text encoder (`saved` False;
    `check_readable` then refuses raw media). A model with its own text encoder needs its saved processor (its
    tokenizer); a saved processor whose tokenizer cannot be loaded is used without it when the model never tokenizes.
    """
    from modeling_emoje.feature_extraction_emoje import EmoJEFeatureExtractor
    from modeling_emoje.processing_emoje import EmoJEProcessor
    from modeling_emoje.video_processing_emoje import EmoJEVideoProcessor

    own_text_encoder = getattr(config, "text_config", None) is not None
    if (Path(model_dir) / "processor_config.json").is_file():
        try:
            return EmoJEProcessor.from_pretrained(model_dir), True
        except (OSError, ValueError) as err:
            if own_text_encoder:
                raise ValueError(f"--model {model_dir}: its processor cannot be loaded ({err})") from err
            reason = " ".join(str(err).split()) or type(err).__name__
        try:  # the tokenizer is the one part with files of its own: without it, the rest may still load
            processor = EmoJEProcessor.from_pretrained(model_dir, tokenizer=features_only_tokenizer())
        except (OSError, ValueError) as err:
            raise ValueError(f"--model {model_dir}: its processor cannot be loaded ({err})") from err
        logger.info(
            "--model %s: its processor's tokenizer cannot be loaded (%s); this model never tokenizes, so the processor "
            "is used without it", model_dir, reason,
        )
        return processor, True
    if own_text_encoder:
        raise ValueError(
            f"--model {model_dir} has no processor (processor_config.json), which a model with its own text encoder "
            "needs for its tokenizer: export the model with its processor (emoje-train does)"
        )
    parts = (EmoJEFeatureExtractor(), EmoJEVideoProcessor(), features_only_tokenizer())
    return EmoJEProcessor(*parts, text_encoder_name_or_path=None), False


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_TEXT_BATCH_SIZE",
    "check_gold_labels",
    "check_readable",
    "features_only_tokenizer",
    "load_conversations",
    "load_processor",
    "predict_records",
    "predict_to_jsonl",
    "progress_bar",
]
