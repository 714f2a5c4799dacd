"""Tiny corpora, model settings and an oracle model shared by the training/evaluation tests."""

from __future__ import annotations

import os
import socket
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_DIMS = {"text": 8, "audio": 4, "face": 6, "body": 5}
# A tiny AM^2-EmoJE (hidden 16, one layer everywhere) as emoje-train options.
TINY_MODEL_ARGS = [
    "--hidden_size", "16", "--encoder_heads", "2", "--acn_heads", "2", "--acn_layers", "1",
    "--joint_embedding_size", "8", "--context_hidden_size", "8", "--context_layers", "1",
]
TINY_CONFIG = dict(
    hidden_size=16, encoder_heads=2, acn_heads=2, acn_layers=1, joint_embedding_size=8, context_hidden_size=8, context_layers=1
)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and tests share 2 cores with other workers (import it into a module)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_corpus(path: Path, num_dialogues=(8, 3, 5), dims=None, seed: int = 0) -> Path:
    """A synthetic prepared corpus (dataset_scripts format) saved at ``path``."""
    from dataset_scripts import save_prepared
    from dataset_scripts.synthetic import make_prototype_corpus as make_synthetic_corpus

    corpus = make_synthetic_corpus(num_dialogues=num_dialogues, modality_dims=dims or TINY_DIMS, utterances_per_dialogue=(3, 6), seed=seed)
    save_prepared(corpus, path)
    return path


def save_tiny_model(directory: Path, dims: dict[str, int], labels: list[str]) -> Path:
    """A tiny AM^2-EmoJE on `dims` with named `labels` (seed 0), saved to `directory` without a processor."""
    from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition

    config = EmoJEConfig(
        modality_dims=dims, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: index for index, label in enumerate(labels)}, **TINY_CONFIG,
    )
    torch.manual_seed(0)
    EmoJEForEmotionRecognition(config).save_pretrained(directory)
    return Path(directory)


def train_args(data: Path, output_dir: Path, *extra: str, max_steps: int = 6, save_steps: int = 2) -> list[str]:
    """emoje-train arguments for a few-second run of the tiny model."""
    return [
        "--data", str(data), "--output-dir", str(output_dir), *TINY_MODEL_ARGS,
        "--max_steps", str(max_steps), "--per_device_train_batch_size", "2", "--per_device_eval_batch_size", "2",
        "--learning_rate", "3e-3", "--eval_strategy", "steps", "--save_strategy", "steps",
        "--eval_steps", str(save_steps), "--save_steps", str(save_steps), "--logging_steps", "1",
        "--disable_tqdm", "true", "--seed", "0", *extra,
    ]


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: offline, one thread each, the checkout importable."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false", PYTHONPATH=str(REPO_ROOT),
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def site_packages() -> list[str]:
    """The interpreter's site-packages directories (purelib/platlib) without anything .pth files add."""
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    return sorted(p for p in paths if os.path.isdir(p))


def isolated_python_command(code: str) -> list[str]:
    """``python -I -S -c code`` with only site-packages on sys.path.

    ``-I`` drops PYTHONPATH, the user site and the script/cwd entry; ``-S`` skips ``site``, so no ``.pth`` file
    runs: the editable install of this package (a .pth path entry or import hook) is not active, and neither is
    the checkout. Only the third-party libraries in site-packages stay importable.
    """
    prelude = f"import sys; sys.path[:0] = {site_packages()!r}\n"
    return [sys.executable, "-I", "-S", "-c", prelude + code]


@dataclass
class OracleOutput:
    logits: torch.Tensor
    modality_weights: torch.Tensor | None = None


class OracleModel(torch.nn.Module):
    """Predicts from the first ``num_labels`` values of the first frame of the first present modality.

    With `oracle_corpus`, text votes for the true label and audio for the next one, so the expected score of
    every scenario is known in advance.
    """

    def __init__(self, num_labels: int = 4) -> None:
        super().__init__()
        self.num_labels = num_labels
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, modality_mask, utterance_mask, speaker_ids=None, labels=None, **inputs):
        batch, length, _ = modality_mask.shape
        logits = torch.zeros(batch, length, self.num_labels)
        decided = torch.zeros(batch, length, dtype=torch.bool)
        for index, name in enumerate(("text", "audio", "face", "body")):
            features = inputs.get(f"{name}_features")
            if features is None:
                continue
            use = modality_mask[..., index] & ~decided
            logits[use] = features[..., 0, : self.num_labels][use]
            decided |= use
        if (utterance_mask.bool() & ~decided).any():
            raise ValueError("an utterance without any modality reached the model")
        return OracleOutput(logits=logits + self.anchor)


def oracle_corpus(num_dialogues: int = 5, seed: int = 0):
    """A test split where text = one-hot(label), audio = one-hot(label + 1); some utterances lack one of them."""
    import datasets
    from dataset_scripts.schema import emoje_features

    rng = np.random.default_rng(seed)
    features = emoje_features(["a", "b", "c", "d"], ["text", "audio"])
    rows = {name: [] for name in features}
    for d in range(num_dialogues):
        for u in range(int(rng.integers(2, 6))):
            label = int(rng.integers(4))
            has_text, has_audio = [(True, True), (True, False), (False, True)][int(rng.integers(3))]
            row = {
                "dialogue_id": f"d{d}", "utterance_id": u, "speaker": f"s{u % 2}", "text": "", "label": label,
                "audio_path": "", "video_path": "", "video_start": None, "video_end": None, "source_id": f"d{d}/{u}",
                "modality_mask": [has_text, has_audio, False, False],
                "text_features": np.eye(4, dtype=np.float32)[[label]] if has_text else np.zeros((0, 4), np.float32),
                "audio_features": np.eye(4, dtype=np.float32)[[(label + 1) % 4] * 2] if has_audio else np.zeros((0, 4), np.float32),
            }
            for name in features:
                rows[name].append(row[name])
    return datasets.Dataset.from_dict(rows, features=features)
