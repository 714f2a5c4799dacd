"""An exported folder is what a Hub repository holds, and it works from the Hub without the package installed.

The "without the package" checks run in a child interpreter that sees only site-packages (``-I -S``: no editable
install, no checkout on the path), so every class it uses comes from the folder's own code
(``transformers_modules...``). The full suite runs them at the versions of constraints.txt, ``make test-newest`` at
the newest ones pyproject.toml allows (marker ``compat``).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import textwrap

import numpy as np
import pytest
import torch

from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition, EmoJEProcessor
from modeling_emoje.text_encoding_emoje import DEFAULT_HUB_TEXT_ENCODER
from tests.synthetic_data import isolated_python_command, one_thread, subprocess_env  # noqa: F401  (one_thread: autouse fixture)
from training.publishing.export import export_model

pytestmark = pytest.mark.compat

LABELS = ["neutral", "joy", "sadness", "anger"]
TURNS = [
    {"speaker": "Ann", "text": "Hello? I am so happy to see you!"},
    {"speaker": "Ben", "text": "Oh no. I lost my keys again, I hate this."},
    {"speaker": "Ann", "audio": {"array": np.sin(np.linspace(0, 900, 16000)).astype(np.float32) * 0.3, "sampling_rate": 16000}},
]
# What the child prints: the classes it used, whether any package module was imported, and the predictions.
REMOTE_SCRIPT = """
import json, sys
import numpy as np
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoProcessor, pipeline
folder = {folder!r}
processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
model = AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)
erc = pipeline(model=folder, trust_remote_code=True)  # the task comes from config.json's custom_pipelines
named = pipeline("emotion-recognition-in-conversation", model=folder, trust_remote_code=True)  # the card's call
assert type(named).__name__ == type(erc).__name__ and type(named).__module__.startswith("transformers_modules.")
turns = {turns}
turns[2]["audio"] = {{"array": np.sin(np.linspace(0, 900, 16000)).astype(np.float32) * 0.3, "sampling_rate": 16000}}
result = erc(turns)
print(json.dumps({{
    "processor": type(processor).__module__ + "." + type(processor).__name__,
    "model": type(model).__module__ + "." + type(model).__name__,
    "pipeline": type(erc).__module__ + "." + type(erc).__name__,
    "task": erc.task,
    "package_modules": sorted(m for m in sys.modules if m.split(".")[0] in ("modeling_emoje", "training", "dataset_scripts")),
    "labels": [turn["label"] for turn in result],
    "scores": [turn["scores"] for turn in result],
    "modalities": [turn["modalities"] for turn in result],
}}))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory, minilm_path):
    """A (random, tiny) text + audio AM^2-EmoJE exported with the processor of the offline MiniLM, copied elsewhere."""
    torch.manual_seed(0)
    config = EmoJEConfig(
        modality_dims={"text": 384, "audio": 80}, num_labels=len(LABELS), hidden_size=16, joint_embedding_size=8,
        context_hidden_size=8, context_layers=1, acn_layers=1, id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
    )
    model = EmoJEForEmotionRecognition(config).eval()
    processor = EmoJEProcessor.from_text_encoder(minilm_path)
    root = tmp_path_factory.mktemp("hub")
    export_model(model, root / "export", processor=processor, protocol="meld/emotion", dataset_name="MELD")
    published = root / "elsewhere" / "repo"  # as a Hub user gets it: the folder alone, somewhere else
    shutil.copytree(root / "export", published)
    return published


def test_the_folder_holds_what_a_hub_repository_holds(exported):
    names = sorted(path.name for path in exported.iterdir())
    assert not [name for name in names if name.startswith(("checkpoint", "damaged-", "emoje_run", "."))], names
    for required in ("config.json", "model.safetensors", "processor_config.json", "README.md", "pipeline_emoje.py",
                     "processing_emoje.py", "modeling_emoje.py", "configuration_emoje.py", "tokenizer.json"):
        assert required in names, required
    # The public MiniLM is referred to by its Hub id, not copied (88 MB).
    assert not (exported / "text_encoder").exists()
    assert json.loads((exported / "processor_config.json").read_text())["text_encoder_name_or_path"] == DEFAULT_HUB_TEXT_ENCODER
    assert sum(path.stat().st_size for path in exported.iterdir()) < 5_000_000
    config = json.loads((exported / "config.json").read_text())
    assert config["custom_pipelines"]["emotion-recognition-in-conversation"]["impl"] == (
        "pipeline_emoje.EmotionRecognitionInConversationPipeline"
    )
    tokenizer_config = json.loads((exported / "tokenizer_config.json").read_text())
    assert "local_files_only" not in tokenizer_config and "is_local" not in tokenizer_config


def test_no_absolute_path_and_usual_permissions(exported, minilm_path):
    umask = os.umask(0)
    os.umask(umask)
    for path in exported.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o777 if path.is_dir() else 0o666) & ~umask, (path.name, oct(mode))
        if path.suffix in (".json", ".md", ".py", ".txt"):
            text = path.read_text()
            for local in (str(exported.parent.parent), minilm_path, os.path.expanduser("~")):
                assert local not in text, (path.name, local)


def test_card_metadata_is_valid_for_the_hub(exported):
    from huggingface_hub import ModelCard

    card = ModelCard.load(exported / "README.md")
    assert card.data.pipeline_tag is None  # no Hub task fits a conversation of multimodal turns; the card says why
    assert 'pipeline("emotion-recognition-in-conversation", model=' in card.text and "trust_remote_code=True" in card.text
    assert card.data.datasets == ["declare-lab/MELD"]
    assert card.data.base_model == DEFAULT_HUB_TEXT_ENCODER
    assert card.data.library_name == "transformers"


def test_a_local_text_encoder_is_copied_into_the_folder(tmp_path, minilm_path):
    local = tmp_path / "my-encoder"
    shutil.copytree(minilm_path, local)  # an encoder that exists only on this machine
    model = EmoJEForEmotionRecognition(
        EmoJEConfig(modality_dims={"text": 384}, num_labels=2, hidden_size=16, joint_embedding_size=8,
                    context_hidden_size=8, context_layers=1, acn_layers=0, id2label={0: "a", 1: "b"}, label2id={"a": 0, "b": 1})
    )
    export_model(model, tmp_path / "export", processor=EmoJEProcessor.from_text_encoder(local))
    assert (tmp_path / "export" / "text_encoder" / "model.safetensors").is_file()
    saved = json.loads((tmp_path / "export" / "processor_config.json").read_text())
    assert saved["text_encoder_name_or_path"] == "./text_encoder"


def test_pipeline_runs_from_the_folder_without_the_package(exported, tmp_path):
    import modeling_emoje  # noqa: F401  (the in-package reference below)
    from transformers import pipeline

    code = textwrap.dedent(REMOTE_SCRIPT).format(folder=str(exported), turns=repr([dict(t) for t in TURNS[:2]] + [{"speaker": "Ann"}]))
    completed = subprocess.run(
        isolated_python_command(code), cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Do you wish to run the custom code" not in completed.stderr  # trust_remote_code reaches every load
    remote = json.loads(completed.stdout.strip().splitlines()[-1])
    assert remote["package_modules"] == []
    for key in ("processor", "model", "pipeline"):
        assert remote[key].startswith("transformers_modules."), remote[key]
    assert remote["task"] == "emotion-recognition-in-conversation"
    assert remote["modalities"] == [["text"], ["text"], ["audio"]]

    local = pipeline("emotion-recognition-in-conversation", model=str(exported))(TURNS)
    assert remote["labels"] == [turn["label"] for turn in local]
    for remote_scores, turn in zip(remote["scores"], local):
        for label, score in turn["scores"].items():
            assert remote_scores[label] == pytest.approx(score, abs=1e-5)


def test_with_the_package_the_installed_pipeline_serves_the_task(exported):
    """The folder's `custom_pipelines` entry is for users without the package: with it, no remote code is asked for."""
    import modeling_emoje  # noqa: F401
    from transformers import AutoProcessor, pipeline

    from modeling_emoje.pipeline_emoje import EmotionRecognitionInConversationPipeline

    erc = pipeline("emotion-recognition-in-conversation", model=str(exported))
    assert type(erc) is EmotionRecognitionInConversationPipeline
    assert type(AutoProcessor.from_pretrained(exported)) is EmoJEProcessor
    # The card's call (task named, trust_remote_code=True) works in both worlds: here the installed code serves it.
    named = pipeline("emotion-recognition-in-conversation", model=str(exported), trust_remote_code=True)
    assert type(named) is EmotionRecognitionInConversationPipeline
    assert [turn["label"] for turn in named(TURNS)] == [turn["label"] for turn in erc(TURNS)]
