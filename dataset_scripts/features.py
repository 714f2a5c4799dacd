"""Per-utterance feature extraction for built datasets: batched, cached, resumable, never crashing on bad media.

[`extract_features`] adds a `{m}_features` column (List(List(float32)), shape (T, D), `[]` when absent) for each
requested modality and rewrites `modality_mask` so that it says which modalities have features.

Extractors (from `modeling_emoje`, imported only when needed; ARCHITECTURE.md section 2):
- text: `TextFeatureEncoder(name_or_path)(texts) -> (N, D)`; rows are batched `batch_size` at a time.
- audio: an `AudioExtractor` of `modeling_emoje.audio_features_emoje` chosen by name (`logmel` (default, (T, 80)),
  `egemaps`, `compare`, a speech encoder's Hub id or path; [`resolve_audio_extractor`]), or any object with
  `extract_file(path) -> (T, D)`, on the wav or the clip's audio track. Its `describe()` record (name, settings,
  version, fingerprint) goes into the metadata (`features.audio.extractor.audio_features`), its `cache_key` into
  the cache folder's name, so each extractor and setting has its own cache.
- face/body: `EmoJEVideoProcessor(privacy=...)(video_path, start=None, end=None) -> {"face": (T, 204) | None,
  "body": (T, 88) | None}`; one pass over the video serves both; `start`/`end` cut dialogue videos (IEMOCAP).
  Each utterance's span is cut and extracted by `modeling_emoje.turn_media.TurnMedia` (the processor uses it too).
  `privacy=True` is the call's `Scenario.privacy()`: the processor runs without FaceMesh and no face column is
  written.

Cache (`feature_cache.py`). Results are stored under `cache_dir/<builder fingerprint>/<modality>-<extractor key>/shard-*.npz`, where
the builder fingerprint names the local corpus copy and the extractor key hashes the extractor's name and config.
Each row is looked up by a content key (the text itself; a media file's path, size, mtime and segment), so a
second run does no work, all folds of one corpus share the cache, and identical texts are encoded once.
Finished rows are written in shards (every `shard_rows` rows or `shard_seconds` seconds, and when the run stops on
an exception or Ctrl-C) by an atomic rename: an interrupted run resumes with only the rows it had not finished.
Failures are cached too (with their reason), so an undecodable clip is reported, not retried, on the next run.
A shard that cannot be read (truncated, bad CRC, not a shard) is named in a warning and renamed
`shard-*.npz.damaged` (kept, no longer read); only its rows are extracted again.

Parallel. Media is extracted per utterance by `media_extraction.MediaRunner` (one task = the audio and video jobs of one
utterance), in this process or, with `num_workers` > 1 or under `accelerate launch`, by the worker pool and the
process shares of `parallel.py`; each writer writes its own shards, and the result is assembled from the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict, List, Value

from modeling_emoje.modalities import PRIVATE_MODALITIES, Scenario, modalities_from

from .feature_cache import (
    FeatureCache,
    ShardWriter,
    content_hash,
    default_cache_dir,
    extractor_key,
    file_key,
    text_key,
)
from .feature_frames import frames_column
from .media_extraction import ABSENT_PREFIX, MediaExtraction, MediaTask
from .parallel import JobProgress, ProcessShare, run_media_tasks
from .schema import (
    MODALITIES,
    BuildSummary,
    attach_metadata,
    dataset_metadata,
    feature_column,
)

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 64

def resolve_text_encoder(text_encoder: Any = None) -> Any:
    """`None` -> the package default encoder, a name/path -> `TextFeatureEncoder(name_or_path)`, an object -> itself."""
    if text_encoder is None or isinstance(text_encoder, (str, os.PathLike)):
        try:
            from modeling_emoje.text_encoding_emoje import (
                TextFeatureEncoder,
                default_text_encoder,
            )
        except ImportError as error:
            raise ImportError(
                "text features need modeling_emoje.text_encoding_emoje (TextFeatureEncoder); pass text_encoder= "
                "an object with __call__(texts) -> (N, D) array instead"
            ) from error
        if text_encoder is None:
            default = default_text_encoder()
            return TextFeatureEncoder(default) if isinstance(default, (str, os.PathLike)) else default
        return TextFeatureEncoder(os.fspath(text_encoder))
    if not callable(text_encoder):
        raise TypeError(
            f"text_encoder must be None, a name/path or a callable encoder, got {type(text_encoder).__name__}"
        )
    return text_encoder


def resolve_audio_extractor(audio_extractor: Any = None, **options: Any) -> Any:
    """`None` -> the log-mel extractor; a name (`"logmel"`, `"egemaps"`, `"compare"`), a speech encoder's Hub id or
    path, settings or a saved record -> `build_audio_extractor(spec, **options)`; any other object (with
    `extract_file(path)`) -> itself.

    Example:
        >>> resolve_audio_extractor("logmel", max_frames=100).settings["max_frames"]
        100
    """
    from modeling_emoje.audio_features_emoje import AudioExtractor, build_audio_extractor

    if audio_extractor is None or isinstance(audio_extractor, (str, os.PathLike, dict, AudioExtractor)):
        return build_audio_extractor("logmel" if audio_extractor is None else audio_extractor, **options)
    if options:
        raise ValueError(f"audio options {sorted(options)} need an extractor given by name, not an object")
    if not callable(getattr(audio_extractor, "extract_file", None)):
        raise TypeError(
            f"audio_extractor must be a name, settings or an object with extract_file(path), got {type(audio_extractor).__name__}"
        )
    return audio_extractor


def _audio_device_for_process(extractor: Any, share: ProcessShare) -> None:
    """Under `accelerate launch`, a speech encoder with no device runs on this process' device (one GPU each)."""
    if share.num_processes > 1 and hasattr(extractor, "device") and getattr(extractor, "name", None) == "encoder":
        if extractor.device is None:
            from accelerate import PartialState

            extractor.device = str(PartialState().device)


def _default_video_processor(scenario: Scenario) -> Any:
    from modeling_emoje.video_processing_emoje import EmoJEVideoProcessor

    return EmoJEVideoProcessor(privacy=scenario.is_private)


# ---------------------------------------------------------------------------------------------------- work


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="utt", disable=not enabled or total == 0)


def _run_text(todo: dict[str, str], encoder: Any, writer: ShardWriter, batch_size: int, progress: bool) -> None:
    keys = sorted(todo, key=lambda key: (len(todo[key]), key))  # similar lengths per batch: less padding
    with _progress(len(keys), "text features", progress) as bar:
        try:
            for begin in range(0, len(keys), batch_size):
                batch = keys[begin : begin + batch_size]
                output = np.asarray(encoder([todo[key] for key in batch]), dtype=np.float32)
                if output.ndim != 2 or output.shape[0] != len(batch):
                    raise ValueError(
                        f"text encoder returned shape {output.shape} for {len(batch)} texts, expected (N, D)"
                    )
                for key, vector in zip(batch, output, strict=True):
                    writer.add(key, vector[None, :])
                bar.update(len(batch))
        finally:
            writer.flush()


# ---------------------------------------------------------------------------------------------------- main


def _column(dataset: Dataset, name: str) -> list:
    return dataset.data.column(name).to_pylist() if name in dataset.column_names else [None] * dataset.num_rows


def _namespace(dataset_dict: DatasetDict, metadata: dict[str, Any]) -> str:
    fingerprint = metadata.get("builder_fingerprint")
    if fingerprint:
        return str(fingerprint)
    digest = hashlib.sha1()
    for split in sorted(dataset_dict):
        for column in ("dialogue_id", "source_id"):
            digest.update(json.dumps(_column(dataset_dict[split], column)).encode())
    return "rows-" + digest.hexdigest()[:16]


def _media_tasks(
    media_todo: dict[str, dict[str, tuple]],
    outputs: dict[str, tuple[str, ...]],
    row_keys: dict[str, dict[str, list[str | None]]],
    splits: list[str],
) -> list[MediaTask]:
    """One task per utterance (rows in split order) holding the media jobs it needs; each job appears once."""
    seen: set[tuple[str, str]] = set()
    tasks: list[MediaTask] = []
    kinds = [(kind, row_keys[outputs[kind][0]]) for kind in media_todo]
    for split in splits:
        for row in range(len(kinds[0][1][split]) if kinds else 0):
            task = []
            for kind, keys in kinds:
                key = keys[split][row]
                if key is not None and key in media_todo[kind] and (kind, key) not in seen:
                    seen.add((kind, key))
                    task.append((kind, key, media_todo[kind][key]))
            if task:
                tasks.append(tuple(task))
    return tasks


def _task_is_cached(task: MediaTask, outputs: dict[str, tuple[str, ...]], entries: dict[str, dict]) -> bool:
    return all(key in entries[modality] for kind, key, _ in task for modality in outputs[kind])


def _plan_inputs(
    dataset_dict: DatasetDict, splits: list[str], requested: list[str]
) -> tuple[dict[str, dict[str, list[str | None]]], dict[str, dict[str, Any]]]:
    """The input of every row, by modality: ``row_keys[m][split]`` is each row's content key (None = no input) and
    ``jobs[m]`` maps each distinct key to what its extractor takes (a text, ``(path,)`` or ``(path, start, end)``)."""
    row_keys: dict[str, dict[str, list[str | None]]] = {m: {} for m in requested}
    jobs: dict[str, dict[str, Any]] = {m: {} for m in requested}
    for split in splits:
        dataset = dataset_dict[split]
        if "text" in requested:
            keys = []
            for text in _column(dataset, "text"):
                key = text_key(text) if text and text.strip() else None
                if key is not None:
                    jobs["text"][key] = text
                keys.append(key)
            row_keys["text"][split] = keys
        if "audio" in requested:
            keys = []
            for path in _column(dataset, "audio_path"):
                key = file_key(path) if path else None
                if key is not None:
                    jobs["audio"][key] = (path,)
                keys.append(key)
            row_keys["audio"][split] = keys
        if set(modalities_from("video")) & set(requested):
            paths, starts, ends = (_column(dataset, c) for c in ("video_path", "video_start", "video_end"))
            keys = []
            for path, start, end in zip(paths, starts, ends, strict=True):
                key = file_key(path, start, end) if path else None
                if key is not None:
                    for modality in modalities_from("video"):
                        if modality in requested:
                            jobs[modality][key] = (path, start, end)
                keys.append(key)
            for modality in modalities_from("video"):
                if modality in requested:
                    row_keys[modality][split] = keys
    return row_keys, jobs


def _feature_columns(
    dataset_dict: DatasetDict,
    active: list[str],
    row_keys: dict[str, dict[str, list[str | None]]],
    jobs: dict[str, dict[str, Any]],
    entries: dict[str, dict[str, np.ndarray | str]],
    descriptions: dict[str, dict[str, Any]],
    summary: BuildSummary,
    feature_info: dict[str, Any],
    undecodable: list[dict[str, str]],
) -> dict[str, dict[str, list[np.ndarray | None]]]:
    """Each active modality's arrays per split (None where a row has none), read from the cache ``entries``; notes
    why inputs gave nothing in ``summary``, undecodable files in ``undecodable`` and dims/extractor in ``feature_info``."""
    splits = list(dataset_dict)
    reported: set[tuple[str, str, str]] = set()
    columns: dict[str, dict[str, list[np.ndarray | None]]] = {}
    for modality in active:
        per_split: dict[str, list[np.ndarray | None]] = {}
        have = {}
        dims = set()
        for split in splits:
            arrays = []
            paths = _column(
                dataset_dict[split],
                "text" if modality == "text" else f"{'audio' if modality == 'audio' else 'video'}_path",
            )
            for key, path in zip(row_keys[modality][split], paths, strict=True):
                value = entries[modality].get(key) if key is not None else None
                if isinstance(value, str):
                    if not value.startswith(ABSENT_PREFIX) and (modality, path, value) not in reported:
                        reported.add((modality, path, value))
                        undecodable.append({"split": split, "modality": modality, "file": path, "reason": value})
                    value = None
                if value is not None:
                    dims.add(value.shape[1])
                arrays.append(value)
            per_split[split] = arrays
            have[split] = sum(a is not None for a in arrays)
        absent_reasons: dict[str, int] = {}
        for key in jobs[modality]:
            value = entries[modality].get(key)
            if isinstance(value, str) and value.startswith(ABSENT_PREFIX):
                reason = value[len(ABSENT_PREFIX) :]
                absent_reasons[reason] = absent_reasons.get(reason, 0) + 1
        for reason, count in sorted(absent_reasons.items()):
            summary.notes.append(f"{modality}: {reason} in {count} input(s)")
        if len(dims) > 1:
            raise ValueError(f"{modality} features have inconsistent dims {sorted(dims)} (mixed cache entries?)")
        if sum(have.values()) == 0:
            summary.notes.append(f"{modality}: no row could be featurised; no {feature_column(modality)} column")
            continue
        columns[modality] = per_split
        feature_info[modality] = {"dim": dims.pop(), "extractor": descriptions[modality], "rows": have}
    return columns


def _with_feature_columns(
    dataset: Dataset,
    split: str,
    requested: list[str],
    scenario: Scenario,
    columns: dict[str, dict[str, list[np.ndarray | None]]],
    feature_info: dict[str, Any],
) -> Dataset:
    """``dataset`` (one split) with the new `{m}_features` columns, stale ones removed and `modality_mask` redone."""
    dropped = requested + [m for m in MODALITIES if m not in scenario]  # a dropped modality keeps no column
    stale = [feature_column(m) for m in dropped if feature_column(m) in dataset.column_names]
    if stale:  # re-extracted (or now featureless) modalities lose their old column
        dataset = dataset.remove_columns(stale)
    for modality in columns:
        name = feature_column(modality)
        dataset = dataset.add_column(
            name, frames_column(columns[modality][split], feature_info[modality]["dim"]), feature=List(List(Value("float32")))
        )
    available = []
    for modality in MODALITIES:
        name = feature_column(modality)
        if modality in columns:
            available.append([array is not None for array in columns[modality][split]])
        elif name in dataset.column_names:  # extracted by an earlier call: keep what it found
            lengths = pc.fill_null(pc.list_value_length(dataset.data.column(name)), 0)
            available.append([length > 0 for length in lengths.to_pylist()])
        else:
            available.append([False] * dataset.num_rows)
    masks = [list(row) for row in zip(*available, strict=True)] if dataset.num_rows else []
    mask_feature = (
        dataset.features["modality_mask"]
        if "modality_mask" in dataset.column_names
        else List(Value("bool"), length=len(MODALITIES))
    )
    if "modality_mask" in dataset.column_names:
        dataset = dataset.remove_columns("modality_mask")
    dataset = dataset.add_column("modality_mask", masks, feature=mask_feature)
    order = [c for c in dataset.column_names if not c.endswith("_features")]
    order += [feature_column(m) for m in MODALITIES if feature_column(m) in dataset.column_names]
    return dataset.select_columns(order)


def extract_features(
    dataset_dict: DatasetDict,
    modalities: Iterable[str] = MODALITIES,
    text_encoder: Any = None,
    audio_extractor: Any = None,
    video_processor: Any = None,
    cache_dir: str | os.PathLike | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    privacy: bool = False,
    progress: bool = True,
    shard_rows: int = 512,
    shard_seconds: float = 60.0,
    num_workers: int = 1,
) -> DatasetDict | None:
    """Add `{m}_features` columns to every split and update `modality_mask`; results are cached and resumable.

    Args:
        dataset_dict: a builder's output (or any DatasetDict with the emoje schema).
        modalities: any of `("text", "audio", "face", "body")`; a modality with no usable input in any split gets
            no column (a text-only corpus stays text-only).
        text_encoder: `None` (the package default), a Hugging Face encoder name or path, or an object with
            `__call__(list[str]) -> (N, D)`.
        audio_extractor: `None` (log-mel), a name (`"logmel"`, `"egemaps"`, `"compare"`), a speech encoder's Hub id
            or path, settings, an `AudioExtractor`, or any object with `extract_file(path) -> (T, D)`.
        video_processor: callable `(path, start=None, end=None) -> {"face", "body"}` (default
            `EmoJEVideoProcessor(privacy=privacy)`); `start`/`end` are passed only for dialogue-level videos.
        cache_dir: cache root (default [`default_cache_dir`]).
        batch_size: texts per encoder call.
        privacy: never extract face features (the `face` modality is dropped).
        progress: show tqdm progress bars.
        shard_rows, shard_seconds: how often finished rows are committed to the cache.
        num_workers: processes extracting media (audio, face, body) in parallel, each with its own extractors
            (`dataset_scripts.parallel`); text is encoded in batches by the calling process. Under `accelerate
            launch` each launched process extracts its share of the utterances (with `num_workers` each) and only
            the main process assembles the result: the other processes return `None`.

    Returns:
        A new `DatasetDict`; its metadata gains `features` (extractor, dim, rows per split) and the summary's
        `undecodable` list (`{"split", "modality", "file", "reason"}`).

    Example:
        >>> from dataset_scripts import build_meld, extract_features
        >>> dataset = build_meld("../shared/data/meld")  # doctest: +SKIP
        >>> dataset = extract_features(dataset, ["text"], text_encoder="sentence-transformers/all-MiniLM-L6-v2")  # doctest: +SKIP
        >>> len(dataset["test"][0]["text_features"][0])  # doctest: +SKIP
        384
    """
    requested = list(dict.fromkeys(modalities))
    unknown = [m for m in requested if m not in MODALITIES]
    if unknown:
        raise ValueError(f"unknown modalities {unknown}; expected a subset of {MODALITIES}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if num_workers < 1:
        raise ValueError(f"num_workers must be >= 1, got {num_workers}")
    metadata = dataset_metadata(dataset_dict)
    summary = (
        BuildSummary.from_dict(metadata["summary"]) if "summary" in metadata else BuildSummary("custom", "custom")
    )
    # notes of an earlier extraction of the same modalities are replaced, not repeated
    summary.notes = [
        n for n in summary.notes if not n.startswith(tuple(f"{m}: " for m in requested) + ("privacy mode",))
    ]
    scenario = Scenario.of_call(privacy)  # the one decision: every step below asks the scenario
    requested = [m for m in requested if m in scenario]
    if scenario.is_private:
        summary.notes.append(f"privacy mode: {', '.join(sorted(PRIVATE_MODALITIES))} features not extracted (and none kept)")
        for name in PRIVATE_MODALITIES:
            metadata.get("features", {}).pop(name, None)
    dataset_dict = DatasetDict(
        {s: d.flatten_indices() if d._indices is not None else d for s, d in dataset_dict.items()}
    )  # `Dataset.data` below must be the rows the user sees, not the table under a `select`
    cache_root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    namespace = cache_root / _namespace(dataset_dict, metadata)
    splits = list(dataset_dict)

    # 1. the input of every row, by modality: content key per row (None = no input)
    row_keys, jobs = _plan_inputs(dataset_dict, splits, requested)

    # 2. run the extractors on what the cache does not hold yet (media: here, in workers, or shared by processes)
    share = ProcessShare.current()
    active = [m for m in requested if jobs[m]]
    entries: dict[str, dict[str, np.ndarray | str]] = {}
    descriptions: dict[str, dict[str, Any]] = {}
    caches: dict[str, FeatureCache] = {}

    def prepare(modality: str, extractor: Any, **extra: Any) -> dict[str, Any]:
        key, description = extractor_key(extractor, **extra)
        descriptions[modality] = description
        caches[modality] = FeatureCache(namespace / f"{modality}-{key}")
        entries[modality] = caches[modality].load()
        todo = {k: v for k, v in jobs[modality].items() if k not in entries[modality]}
        if share.is_main:
            logger.info(
                "%s: %d inputs, %d cached, %d to extract",
                modality,
                len(jobs[modality]),
                len(jobs[modality]) - len(todo),
                len(todo),
            )
        return todo

    text_todo: dict[str, str] = {}
    if "text" in active and share.is_main:  # text is encoded in batches by the main process alone
        encoder = resolve_text_encoder(text_encoder)
        text_todo = prepare("text", encoder)
    media_todo: dict[str, dict[str, tuple]] = {}
    outputs: dict[str, tuple[str, ...]] = {}
    extractor = processor = None
    if "audio" in active:
        extractor = resolve_audio_extractor(audio_extractor)
        _audio_device_for_process(extractor, share)
        media_todo["audio"], outputs["audio"] = prepare("audio", extractor), ("audio",)
        if callable(getattr(extractor, "describe", None)):  # name, settings, version: what a model trained on it records
            descriptions["audio"]["audio_features"] = extractor.describe()
    video_modalities = tuple(m for m in modalities_from("video") if m in active)
    if video_modalities:
        processor = video_processor if video_processor is not None else _default_video_processor(scenario)
        media_todo["video"], outputs["video"] = {}, video_modalities
        for modality in video_modalities:
            media_todo["video"].update(prepare(modality, processor, privacy=scenario.is_private))
    extraction = MediaExtraction(
        audio_extractor=extractor,
        video_processor=processor,
        scenario=scenario,
        caches={m: caches[m].root for kind in outputs for m in outputs[kind]},
        shard_rows=shard_rows,
        shard_seconds=shard_seconds,
        outputs=outputs,
    )
    tasks = _media_tasks(media_todo, outputs, row_keys, splits)
    job = content_hash([key for task in tasks for _, key, _ in task])[:16]
    bar = JobProgress(len(tasks), "media features", progress, share, namespace / ".progress", job)
    try:
        if share.num_processes > 1:
            if share.is_main:
                bar.clear()
            share.wait_for_everyone()  # all have read the cache before any writes: one plan, split the same way
        if text_todo:
            writer = ShardWriter(caches["text"], entries["text"], shard_rows, shard_seconds)
            _run_text(text_todo, encoder, writer, batch_size, progress)
        in_process = num_workers == 1 and share.num_processes == 1
        run_media_tasks(share.take(tasks), extraction, num_workers, entries if in_process else None, bar)
        bar.finish()  # with several processes: the main one waits until every other one has written its share
    finally:
        bar.close()
    if not share.is_main:
        return None
    if tasks and not in_process:  # the results are in the cache, written by other processes
        for modality in extraction.caches:
            entries[modality] = caches[modality].load()
        missing = [task for task in tasks if not _task_is_cached(task, outputs, entries)]
        if missing:
            logger.warning(
                "%d utterances were not extracted by the other processes; extracting them here",
                len(missing),
            )
            run_media_tasks(missing, extraction, 1, entries)

    # 3. assemble columns, masks and the summary
    undecodable = [item for item in summary.undecodable if item.get("modality") not in active]
    feature_info = dict(metadata.get("features", {}))
    for modality in requested:
        feature_info.pop(modality, None)
    columns = _feature_columns(dataset_dict, active, row_keys, jobs, entries, descriptions, summary, feature_info, undecodable)
    for modality in requested:
        if modality not in active:
            summary.notes.append(f"{modality}: no input in any split; no {feature_column(modality)} column")
    summary.undecodable = undecodable

    result = {
        split: _with_feature_columns(dataset_dict[split], split, requested, scenario, columns, feature_info)
        for split in splits
    }

    metadata["features"] = feature_info
    metadata["summary"] = summary.to_dict()
    metadata["feature_cache"] = str(namespace)
    return attach_metadata(DatasetDict(result), metadata)


__all__ = ["DEFAULT_BATCH_SIZE", "extract_features", "resolve_audio_extractor", "resolve_text_encoder"]
