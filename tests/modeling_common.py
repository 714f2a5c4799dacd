"""A slim model tester shared by the EmoJE and CM-ARR model tests (transformers' ModelTesterMixin is not in the wheel)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from itertools import combinations
from pathlib import Path

import torch

from modeling_emoje import MODALITIES

TINY_DIMS = {"text": 12, "audio": 6, "face": 9, "body": 5}
FRAMES = {"text": 1, "audio": 7, "face": 4, "body": 4}

ALL_SUBSETS = [list(subset) for size in range(1, 5) for subset in combinations(MODALITIES, size)]
PRIVACY = ["text", "audio", "body"]


def make_batch(
    modalities: list[str] | tuple[str, ...] = MODALITIES,
    batch: int = 3,
    length: int = 6,
    num_labels: int = 4,
    dims: dict[str, int] = TINY_DIMS,
    seed: int = 0,
    lengths: list[int] | None = None,
    random_presence: bool = False,
) -> dict[str, torch.Tensor]:
    """A synthetic batch in the shared input contract: ``modalities`` present, the rest absent.

    ``lengths`` gives each dialogue's number of real utterances (the rest is padding at the end);
    ``random_presence`` drops modes at random per utterance (never all of them).
    """
    generator = torch.Generator().manual_seed(seed)
    lengths = lengths or [length - (index % 2) for index in range(batch)]
    utterance_mask = torch.zeros(batch, length, dtype=torch.long)
    for row, count in enumerate(lengths):
        utterance_mask[row, :count] = 1
    present = torch.zeros(batch, length, len(MODALITIES), dtype=torch.bool)
    for name in modalities:
        present[..., MODALITIES.index(name)] = True
    if random_presence:
        draws = torch.rand(present.shape, generator=generator) < 0.6
        kept = present & draws
        fallback = present & ~kept.any(-1, keepdim=True)
        present = kept | fallback
    present &= utterance_mask.bool()[..., None]
    inputs: dict[str, torch.Tensor] = {}
    for name in modalities:
        frames = FRAMES[name]
        inputs[f"{name}_features"] = torch.randn(batch, length, frames, dims[name], generator=generator)
        mask = torch.ones(batch, length, frames, dtype=torch.long)
        if frames > 2:
            mask[:, ::2, -1] = 0  # ragged frame counts
        inputs[f"{name}_attention_mask"] = mask
    labels = torch.randint(0, num_labels, (batch, length), generator=generator)
    labels[~utterance_mask.bool()] = -100
    inputs.update(
        modality_mask=present,
        utterance_mask=utterance_mask,
        speaker_ids=torch.randint(0, 2, (batch, length), generator=generator),
        labels=labels,
    )
    return inputs


def with_noise_in_absent(inputs: dict[str, torch.Tensor], seed: int = 1) -> dict[str, torch.Tensor]:
    """Replace every feature value the masks say is absent (modality, padding utterance or padding frame) by noise."""
    generator = torch.Generator().manual_seed(seed)
    noisy = dict(inputs)
    present = inputs["modality_mask"].bool() & inputs["utterance_mask"].bool()[..., None]
    for name in MODALITIES:
        key = f"{name}_features"
        if key not in inputs:
            continue
        real = present[..., MODALITIES.index(name), None, None] & inputs[f"{name}_attention_mask"].bool()[..., None]
        noise = 100 * torch.randn(inputs[key].shape, generator=generator)
        noisy[key] = torch.where(real, inputs[key], noise)
    return noisy


def pad_batch(inputs: dict[str, torch.Tensor], extra: int, seed: int = 2) -> dict[str, torch.Tensor]:
    """Append ``extra`` padding utterances (random values, masked out) to every dialogue."""
    generator = torch.Generator().manual_seed(seed)
    padded = {}
    for key, value in inputs.items():
        shape = (value.shape[0], extra, *value.shape[2:])
        if key.endswith("_features"):
            tail = torch.randn(shape, generator=generator)
        elif key == "labels":
            tail = torch.full(shape, -100, dtype=value.dtype)
        elif key == "speaker_ids":
            tail = torch.randint(0, 3, shape, generator=generator)
        elif key.endswith("_attention_mask"):
            tail = torch.ones(shape, dtype=value.dtype)
        else:
            tail = torch.zeros(shape, dtype=value.dtype)
        padded[key] = torch.cat([value, tail], dim=1)
    return padded


def assert_causal_matches_prefixes(model, inputs: dict[str, torch.Tensor], atol: float = 1e-5) -> None:
    """``model(..., causal=True)`` gives, for every turn ``t`` of every dialogue, what the model gives for the turns
    ``[:t + 1]`` (the last turn of that prefix): logits, modality weights and imputed modes; and it differs from the
    bidirectional model (the context mattered, so the check could fail). Redraws ``model``'s matrices, larger."""
    inputs = {key: value for key, value in inputs.items() if key != "labels"}
    real = inputs["utterance_mask"].bool()
    with torch.no_grad():
        generator = torch.Generator().manual_seed(0)
        for parameter in model.parameters():  # large weights: the context visibly changes the logits
            if parameter.dim() > 1:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
        streamed = model(**inputs, causal=True)
        for end in range(real.shape[1]):
            prefix = model(**{key: value[:, : end + 1] for key, value in inputs.items()})
            rows = real[:, end]
            torch.testing.assert_close(streamed.logits[rows, end], prefix.logits[rows, end], rtol=0.0, atol=atol)
            assert torch.equal(streamed.imputed_mask[rows, end], prefix.imputed_mask[rows, end])
            if prefix.modality_weights is not None:
                torch.testing.assert_close(
                    streamed.modality_weights[rows, end], prefix.modality_weights[rows, end], rtol=0.0, atol=atol
                )
        bidirectional = model(**inputs).logits
    assert not torch.allclose(streamed.logits[real], bidirectional[real], atol=1e-4)


def save_text_model_with_large_weights(config, directory: Path, text_encoder_path: str) -> Path:
    """Save a seeded AM^2-EmoJE of ``config`` whose weights are drawn large (so predictions depend visibly on inputs
    and context) with a processor that encodes text with ``text_encoder_path``; returns ``directory``."""
    from modeling_emoje import EmoJEForEmotionRecognition, EmoJEProcessor

    torch.manual_seed(0)
    model = EmoJEForEmotionRecognition(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() > 1:
                parameter.normal_(0.0, 0.3)
    model.save_pretrained(directory)
    EmoJEProcessor.from_text_encoder(text_encoder_path).save_pretrained(directory, save_text_encoder=False)
    return directory


def isolated_load_script(model_dir: Path, batch_file: Path) -> str:
    """Python source that loads ``model_dir`` with trust_remote_code while the emoje packages cannot be imported."""
    return textwrap.dedent(
        f"""
        import importlib.abc, json, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("modeling_emoje", "dataset_scripts", "training", "model_cards"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        import torch
        from transformers import AutoModelForSequenceClassification
        try:
            import modeling_emoje
            raise SystemExit("the package was importable")
        except ImportError:
            pass
        model = AutoModelForSequenceClassification.from_pretrained({str(model_dir)!r}, trust_remote_code=True).eval()
        batch = torch.load({str(batch_file)!r})
        with torch.no_grad():
            logits = model(**batch).logits
        print(json.dumps({{"module": type(model).__module__, "logits": logits.tolist()}}))
        """
    )


def load_in_isolated_process(model_dir: Path, batch: dict[str, torch.Tensor], workdir: Path) -> dict:
    """Run ``isolated_load_script`` in a fresh interpreter (cwd outside the repo) and return its JSON."""
    batch_file = workdir / "batch.pt"
    torch.save({key: value for key, value in batch.items() if key != "labels"}, batch_file)
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_MODULES_CACHE=str(workdir / "modules"))
    result = subprocess.run(
        [sys.executable, "-c", isolated_load_script(model_dir, batch_file)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


__all__ = [
    "ALL_SUBSETS",
    "FRAMES",
    "PRIVACY",
    "TINY_DIMS",
    "isolated_load_script",
    "load_in_isolated_process",
    "make_batch",
    "pad_batch",
    "save_text_model_with_large_weights",
    "with_noise_in_absent",
]
