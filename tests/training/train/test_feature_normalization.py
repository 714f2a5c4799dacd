"""Feature normalisation that travels with the model: fitted on the training split only, saved in the weights,
applied by from_pretrained, evaluation and the pipeline; training-time mode switching (`sample_modality_subsets`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import DatasetDict

from dataset_scripts import load_prepared, save_prepared
from modeling_emoje import EmoJEConfig, EmoJEForEmotionRecognition
from modeling_emoje.modeling_layers import FeatureStandardizer, feature_standardizers
from modeling_emoje.modeling_sampling import sample_modality_subsets, sample_training_modalities
from tests.synthetic_data import TINY_CONFIG, one_thread, train_args, write_corpus  # noqa: F401
from training.train.collator import DialogueCollator, DialogueDataset
from training.train.run import run
from training.train.trainer import fit_feature_normalization


def tiny_model(dims, **changes) -> EmoJEForEmotionRecognition:
    torch.manual_seed(0)
    return EmoJEForEmotionRecognition(EmoJEConfig(modality_dims=dims, num_labels=7, **TINY_CONFIG, **changes))


def test_standardizer_is_identity_until_fitted_then_standardizes():
    standardizer = FeatureStandardizer(3)
    x = torch.tensor([[1.0, -2.0, 5.0]])
    assert torch.equal(standardizer(x), x) and not standardizer.is_fitted
    frames = torch.randn(500, 3, generator=torch.Generator().manual_seed(0)) * torch.tensor([1e-3, 10.0, 300.0]) + torch.tensor([5.0, -66.0, 1e4])
    standardizer.fit(frames)
    out = standardizer(frames)
    assert standardizer.is_fitted and int(standardizer.num_frames) == 500
    assert torch.allclose(out.mean(0), torch.zeros(3), atol=1e-3) and torch.allclose(out.std(0, correction=0), torch.ones(3), atol=1e-3)


def test_robust_standardizer_ignores_outliers_and_constant_dimensions_keep_scale_one():
    frames = torch.cat([torch.randn(1000, 2, generator=torch.Generator().manual_seed(1)), torch.tensor([[1e6, 1e6]])])
    frames = torch.cat([frames, torch.full((1001, 1), 7.0)], 1)  # a constant dimension
    robust, standard = FeatureStandardizer(3, "robust"), FeatureStandardizer(3, "standard")
    robust.fit(frames)
    standard.fit(frames)
    assert robust.scale[:2].max() < 2 and standard.scale[:2].min() > 1000  # one outlier dominates the std
    assert robust.scale[2] == 1 and standard.scale[2] == 1
    assert robust(frames)[:1000, 2].abs().max() == 0  # the constant dimension is centred, not blown up


def test_standardizer_refuses_non_finite_training_frames():
    with pytest.raises(ValueError, match="NaN or infinite"):
        FeatureStandardizer(2).fit(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))


def _scaled_corpus(corpus, factor: np.ndarray, offset: np.ndarray):
    """The same corpus with audio features mapped x -> x * factor + offset (per dimension), as raw MFCCs would be."""

    def scale(row):
        row["audio_features"] = [list(np.asarray(frame) * factor + offset) for frame in row["audio_features"]]
        return row

    return DatasetDict({name: split.map(scale) for name, split in corpus.items()})


def test_training_is_invariant_to_feature_scale(tmp_path):
    """Two emoje-train runs on data that differ by a per-dimension affine map of the audio features give the same
    predictions: the model standardises what it gets, with statistics fitted on the training split."""
    plain = write_corpus(tmp_path / "plain", num_dialogues=(6, 2, 3))
    factor, offset = np.array([1e3, 1e-3, 50.0, 1.0]), np.array([-66.0, 4.0, 1e3, 0.0])
    scaled = tmp_path / "scaled"
    save_prepared(_scaled_corpus(load_prepared(plain), factor, offset), scaled)
    summaries = [run(train_args(data, tmp_path / f"run-{data.name}", max_steps=4)) for data in (plain, scaled)]
    models = [EmoJEForEmotionRecognition.from_pretrained(tmp_path / f"run-{data.name}" / "model") for data in (plain, scaled)]
    stats = [feature_standardizers(model)["audio"] for model in models]
    assert torch.allclose(stats[1].shift, stats[0].shift * torch.tensor(factor, dtype=torch.float32) + torch.tensor(offset, dtype=torch.float32), rtol=1e-4, atol=1e-3)
    batches = [DialogueCollator()([DialogueDataset(load_prepared(data)["test"])[i] for i in range(3)]) for data in (plain, scaled)]
    with torch.no_grad():
        logits = [model.eval()(**{k: v for k, v in batch.items() if k != "labels"}).logits for model, batch in zip(models, batches)]
    assert torch.allclose(logits[0], logits[1], atol=1e-3)
    assert summaries[0]["evaluation"] == summaries[1]["evaluation"]


def test_statistics_come_from_the_training_split_only():
    corpus = load_prepared_synthetic()
    train, validation = DialogueDataset(corpus["train"]), DialogueDataset(corpus["validation"])
    model = tiny_model(train.feature_dims)
    fitted = fit_feature_normalization(model, train)
    audio = feature_standardizers(model)["audio"]
    frames = train.modality_frames("audio")
    assert fitted["audio"] == len(frames) and int(audio.num_frames) == len(frames)
    assert torch.allclose(audio.shift, torch.from_numpy(frames.mean(0)), atol=1e-5)
    # Already fitted: a second call (e.g. on validation) changes nothing.
    assert fit_feature_normalization(model, validation) == {}
    assert torch.allclose(audio.shift, torch.from_numpy(frames.mean(0)), atol=1e-5)


def load_prepared_synthetic():
    from dataset_scripts.synthetic import make_prototype_corpus

    return make_prototype_corpus(num_dialogues=(6, 3, 3), modality_dims={"text": 8, "audio": 4, "face": 6, "body": 5}, seed=0)


def test_statistics_are_saved_and_loaded_with_the_weights(tmp_path):
    train = DialogueDataset(load_prepared_synthetic()["train"])
    model = tiny_model(train.feature_dims)
    fit_feature_normalization(model, train)
    model.save_pretrained(tmp_path / "m")
    loaded = EmoJEForEmotionRecognition.from_pretrained(tmp_path / "m")
    for modality, standardizer in feature_standardizers(model).items():
        other = feature_standardizers(loaded)[modality]
        assert torch.equal(other.shift, standardizer.shift) and torch.equal(other.scale, standardizer.scale)
        assert other.is_fitted


def test_weights_saved_without_statistics_load_as_identity(tmp_path):
    """A checkpoint written before normalisation existed (no standardizer buffers) loads and behaves as before."""
    from safetensors.torch import load_file, save_file

    model = tiny_model({"text": 8, "audio": 4})
    model.save_pretrained(tmp_path / "old")
    weights = load_file(tmp_path / "old" / "model.safetensors")
    save_file({k: v for k, v in weights.items() if ".standardizer." not in k}, tmp_path / "old" / "model.safetensors", metadata={"format": "pt"})
    loaded = EmoJEForEmotionRecognition.from_pretrained(tmp_path / "old")
    for standardizer in feature_standardizers(loaded).values():
        assert not standardizer.is_fitted and torch.equal(standardizer.scale, torch.ones_like(standardizer.scale))
        assert torch.equal(standardizer.shift, torch.zeros_like(standardizer.shift))


def test_feature_normalization_none_has_no_standardizer_and_backbone_text_is_never_standardized(minilm_path):
    assert feature_standardizers(tiny_model({"text": 8, "audio": 4}, feature_normalization="none")) == {}
    from transformers import AutoConfig

    config = EmoJEConfig(modality_dims={"text": 384, "audio": 4}, num_labels=3, text_config=AutoConfig.from_pretrained(minilm_path), **TINY_CONFIG)
    assert sorted(feature_standardizers(EmoJEForEmotionRecognition(config))) == ["audio"]
    with pytest.raises(ValueError, match="feature_normalization must be one of"):
        EmoJEConfig(feature_normalization="zscore")


def test_mode_switching_draws_every_subset_of_the_present_modes_uniformly():
    generator = torch.Generator().manual_seed(0)
    present = torch.ones(30000, 4, dtype=torch.bool)
    present[:10000, 3] = False  # three present modes: 7 subsets
    kept = sample_modality_subsets(present, 1.0, generator)
    assert not (kept & ~present).any() and kept.any(-1).all()
    codes = (kept.long() * torch.tensor([1, 2, 4, 8])).sum(-1)
    three = torch.bincount(codes[:10000], minlength=16)[1:8].float() / 10000
    four = torch.bincount(codes[10000:], minlength=16)[1:].float() / 20000
    assert torch.allclose(three, torch.full((7,), 1 / 7), atol=0.015)
    assert torch.allclose(four, torch.full((15,), 1 / 15), atol=0.01)
    partly = sample_modality_subsets(present, 0.25, torch.Generator().manual_seed(1))
    assert 0.70 < (partly == present).all(-1).float().mean() < 0.85  # 75 % untouched + full subsets drawn
    with pytest.raises(ValueError, match="masking scheme"):
        sample_training_modalities(present, 0.3, "bernoulli")
