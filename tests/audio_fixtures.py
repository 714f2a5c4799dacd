"""Fixtures of the audio-extractor tests: tiny randomly initialised speech encoders saved to a temporary folder (no
download), a deterministic speech-like signal, the real call. Test modules import the fixtures they use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

TINY_ENCODER = dict(
    hidden_size=32,
    num_hidden_layers=3,
    num_attention_heads=2,
    intermediate_size=64,
    conv_dim=(16,) * 7,
    num_conv_pos_embeddings=16,
    num_conv_pos_embedding_groups=2,
)


def save_tiny_encoder(folder: Path, kind: str = "wavlm", seed: int = 0, layer_norm: bool = False) -> Path:
    """A randomly initialised WavLM or HuBERT with 3 layers of width 32, and its feature extractor, in `folder`."""
    import torch
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor, WavLMConfig, WavLMModel

    norm = dict(feat_extract_norm="layer", do_stable_layer_norm=True) if layer_norm else {}
    torch.manual_seed(seed)
    if kind == "wavlm":
        model = WavLMModel(WavLMConfig(**TINY_ENCODER, num_buckets=32, max_bucket_distance=100, **norm))
    else:
        model = HubertModel(HubertConfig(**TINY_ENCODER, **norm))
    model.eval().save_pretrained(folder)
    Wav2Vec2FeatureExtractor(return_attention_mask=kind == "wavlm" or layer_norm).save_pretrained(folder)
    return Path(folder)


@pytest.fixture(scope="session")
def tiny_wavlm(tmp_path_factory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny_wavlm"), "wavlm")


@pytest.fixture(scope="session")
def tiny_hubert(tmp_path_factory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny_hubert"), "hubert")


@pytest.fixture(scope="session")
def tiny_hubert_layer_norm(tmp_path_factory) -> Path:
    return save_tiny_encoder(tmp_path_factory.mktemp("tiny_hubert_ln"), "hubert", layer_norm=True)


@pytest.fixture
def speech() -> np.ndarray:
    """3 s of a deterministic speech-like signal (a gliding harmonic tone with noise) at 16 kHz."""
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    pitch = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    tone = sum(np.sin(2 * np.pi * k * np.cumsum(pitch) / 16000) / k for k in range(1, 6))
    return (0.2 * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t)) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="session")
def call_wav(media_dir) -> Path:
    """The real 30 s two-speaker call (16 kHz mono)."""
    return media_dir / "conversation" / "sample.wav"



__all__ = ["TINY_ENCODER", "call_wav", "save_tiny_encoder", "speech", "tiny_hubert", "tiny_hubert_layer_norm", "tiny_wavlm"]
