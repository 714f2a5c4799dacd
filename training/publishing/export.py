"""Export a trained model as the folder a Hub repository holds, and publish it on the Hugging Face Hub.

The folder holds exactly: the weights (``model.safetensors``), ``config.json`` (label maps, protocol, ``auto_map``
with ``AutoConfig``, ``AutoModel`` and ``AutoModelForSequenceClassification``, and ``custom_pipelines`` naming the
emotion-recognition-in-conversation pipeline), the code those entries name (so ``trust_remote_code=True`` loads the
model, the processor and the pipeline where this package is not installed), the processor when there is one
(``processor_config.json`` and tokenizer files; a public text encoder is referred to by its Hub id, a local one is
copied into ``text_encoder/``), ``evaluation.json``, ``evaluation.png`` (the per-scenario chart, when matplotlib is
installed) and a ``README.md`` model card. No training checkpoint, run record or absolute path; files readable by
everyone (the usual umask permissions). The folder is written beside its target and swapped in whole, so a kill
leaves the previous export or the new one, never a mix.

Example:
    >>> from training.publishing.export import EXPORT_IGNORE_PATTERNS
    >>> "checkpoint-*" in EXPORT_IGNORE_PATTERNS
    True
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dataset_scripts.files import write_folder_atomically
from model_cards import build_model_card

logger = logging.getLogger(__name__)

EVALUATION_FILE = "evaluation.json"
EVALUATION_CHART_FILE = "evaluation.png"
CARD_FILE = "README.md"
# Training leftovers in an output directory that must not be published with the model.
# emoje_run.json records the local data path of the run (training.train.run_folder); damaged-checkpoint-N are set aside.
EXPORT_IGNORE_PATTERNS: list[str] = [
    "checkpoint-*", "checkpoint-*/**", "damaged-checkpoint-*", "damaged-checkpoint-*/**", "emoje_run.json",
    "runs/**", "*.lock", "tmp-*", ".cache/**",
]
# Which Auto class the model class answers to in `auto_map` (the config is registered with AutoConfig).
AUTO_CLASS = "AutoModelForSequenceClassification"


class ExportError(ValueError):
    """The export target holds something that is not an exported model (it is never replaced)."""


def custom_pipeline_entry() -> dict[str, dict[str, Any]]:
    """The ``custom_pipelines`` entry of an exported config: what `transformers.pipeline(model=FOLDER,
    trust_remote_code=True)` reads to find the task and its code without this package installed.

    Example:
        >>> entry = custom_pipeline_entry()["emotion-recognition-in-conversation"]
        >>> entry["impl"], entry["pt"]
        ('pipeline_emoje.EmotionRecognitionInConversationPipeline', ['AutoModelForSequenceClassification'])
    """
    from modeling_emoje.pipeline_emoje import TASK, EmotionRecognitionInConversationPipeline

    impl = EmotionRecognitionInConversationPipeline
    module = impl.__module__.rsplit(".", 1)[-1]
    return {TASK: {"impl": f"{module}.{impl.__name__}", "pt": [AUTO_CLASS], "tf": [], "type": "multimodal"}}


def _check_export_target(path: Path) -> None:
    """An export replaces only a missing or empty folder, or an earlier export (it holds ``config.json``)."""
    if path.exists() and not path.is_dir():
        raise ExportError(f"cannot export to {path}: it is a file")
    if path.is_dir() and any(path.iterdir()) and not (path / "config.json").is_file():
        shown = sorted(child.name for child in path.iterdir())[:5]
        raise ExportError(
            f"cannot export to {path}: it holds files that are not an exported model ({', '.join(shown)}); "
            "an export replaces its folder whole: choose an empty or new folder"
        )


def _readable_by_all(folder: Path) -> None:
    """Give every file and folder of ``folder`` the permissions the umask gives new ones (temporary files that were
    renamed into place have 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    for root, folders, files in os.walk(folder):
        os.chmod(root, 0o777 & ~umask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~umask)


def _register_remote_code(model, processor=None) -> None:
    """Make ``save_pretrained`` copy the modeling files and write ``auto_map`` (if the package has not already)."""
    model_class = type(model)
    if model_class.__module__.startswith("transformers."):
        return
    if getattr(model_class, "_auto_class", None) is None:
        model_class.register_for_auto_class(AUTO_CLASS)
    config_class = type(model.config)
    if getattr(config_class, "_auto_class", None) is None:
        config_class.register_for_auto_class()
    if processor is not None and hasattr(processor, "register_for_auto_class"):
        if getattr(type(processor), "_auto_class", None) is None and not type(processor).__module__.startswith("transformers."):
            type(processor).register_for_auto_class("AutoProcessor")


def text_encoder_hub_id(model, processor=None) -> str | None:
    """The Hub id of the model's text encoder, for the card's ``base_model``: the fine-tuned ``text_config``
    backbone, else the frozen encoder of ``processor``; the offline all-MiniLM-L6-v2 counts as its Hub id. None
    when there is no text encoder or it is a local folder of unknown origin.

    Example:
        >>> from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition
        >>> text_encoder_hub_id(EmoJEForEmotionRecognition(EmoJEConfig(modality_dims={"audio": 4}, num_labels=2))) is None
        True
    """
    from modeling_emoje.text_encoding_emoje import DEFAULT_HUB_TEXT_ENCODER, default_text_encoder

    text_config = getattr(model.config, "text_config", None)
    candidates = [getattr(text_config, "name_or_path", None) if text_config is not None else None]
    if processor is not None and getattr(processor, "text_encoder_name_or_path", None):
        try:
            candidates.append(processor.resolve_text_encoder_path())
        except (AttributeError, ValueError):
            candidates.append(processor.text_encoder_name_or_path)
    for candidate in filter(None, candidates):
        candidate = str(candidate)
        if candidate in (default_text_encoder(), DEFAULT_HUB_TEXT_ENCODER):
            return DEFAULT_HUB_TEXT_ENCODER
        if not os.path.exists(candidate) and re.fullmatch(r"[\w.-]+/[\w.-]+", candidate):
            return candidate
    return None


def write_evaluation_chart(
    evaluation: Mapping[str, Any], path: str | os.PathLike, trained_on: str | None = None
) -> Path | None:
    """`training.publishing.charts.plot_evaluation` of ``evaluation`` at ``path`` (per class for a single-modality
    model, per scenario otherwise); None (and a log line saying why) when matplotlib is not installed."""
    from .charts import PlottingUnavailable, plot_evaluation

    try:
        return plot_evaluation(evaluation, path, trained_on=trained_on)
    except PlottingUnavailable as error:
        logger.info("no %s: %s", Path(path).name, error)
        return None


def export_model(
    model,
    output_dir: str | os.PathLike,
    *,
    evaluation: Mapping[str, Any] | None = None,
    processor=None,
    protocol: str | None = None,
    dataset_name: str | None = None,
    splits: Mapping[str, Mapping[str, int]] | None = None,
    training_summary: Mapping[str, Any] | None = None,
    repo_id: str | None = None,
) -> Path:
    """Write the publishable folder of ``model`` to ``output_dir`` (see the module docstring) and return its path.

    ``protocol`` is stored in the config; the label maps must already be in ``model.config``. ``output_dir`` must be
    missing, empty or an earlier export: it is replaced whole.
    """
    from transformers.dynamic_module_utils import custom_object_save

    from modeling_emoje.pipeline_emoje import EmotionRecognitionInConversationPipeline

    output_dir = Path(output_dir)
    config = model.config
    labels = [config.id2label[i] for i in range(config.num_labels)]
    if all(name == f"LABEL_{i}" for i, name in enumerate(labels)):
        raise ValueError("model.config has no label names (id2label is LABEL_0, ...); set id2label/label2id from the data")
    _check_export_target(output_dir)
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    if protocol is not None:
        config.protocol = protocol
    config.custom_pipelines = custom_pipeline_entry()
    _register_remote_code(model, processor)
    modalities = list(getattr(config, "modality_dims", {}) or [])

    def write(folder: Path) -> None:
        model.save_pretrained(folder)
        custom_object_save(EmotionRecognitionInConversationPipeline, folder)  # pipeline_emoje.py and what it imports
        if processor is not None:
            processor.save_pretrained(folder)
        chart = None
        if evaluation is not None:
            (folder / EVALUATION_FILE).write_text(json.dumps(evaluation, indent=2) + "\n")
            if evaluation.get("scenarios"):
                chart = write_evaluation_chart(evaluation, folder / EVALUATION_CHART_FILE, getattr(config, "trained_on", None))
        card = build_model_card(
            model_type=config.model_type,
            label_names=labels,
            modalities=modalities,
            evaluation=evaluation,
            protocol=getattr(config, "protocol", None),
            dataset_name=dataset_name,
            splits=splits,
            num_parameters=sum(p.numel() for p in model.parameters()),
            repo_id=repo_id,
            training_summary=training_summary,
            trained_on=getattr(config, "trained_on", None),
            base_model=text_encoder_hub_id(model, processor),
            evaluation_image=chart.name if chart is not None else None,
            audio_features=_saved_audio_features(folder),
        )
        card.save(folder / CARD_FILE)
        _readable_by_all(folder)

    write_folder_atomically(output_dir, write)
    return output_dir


def _saved_audio_features(folder: Path) -> dict[str, Any] | None:
    """The audio extractor record as the folder's `processor_config.json` holds it (a local encoder already
    referred to by its copy, so the card names no local path)."""
    config_file = folder / "processor_config.json"
    return json.loads(config_file.read_text()).get("audio_features") if config_file.is_file() else None


def push_to_hub(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload emoje model",
) -> str:
    """Upload an exported folder (without training checkpoints) to ``repo_id``; returns the commit URL."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    for required in ("config.json", CARD_FILE):
        if not (folder / required).is_file():
            raise ValueError(f"{folder} is not an exported model folder: {required} is missing (run export_model first)")
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=repo_id, folder_path=str(folder), commit_message=commit_message, ignore_patterns=EXPORT_IGNORE_PATTERNS
    )
    return str(getattr(commit, "commit_url", commit))


__all__ = [
    "CARD_FILE",
    "ExportError",
    "custom_pipeline_entry",
    "EVALUATION_CHART_FILE",
    "EVALUATION_FILE",
    "EXPORT_IGNORE_PATTERNS",
    "export_model",
    "push_to_hub",
    "text_encoder_hub_id",
    "write_evaluation_chart",
]
