"""CM-ARR: config, W2 alignment, training-time masking, flow reconstruction, invariances, gradients, serialisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import modeling_emoje
from modeling_emoje.configuration_cmarr import CMARRConfig
from modeling_emoje.modeling_cmarr import CMARRForEmotionRecognition, CMARRModel, gaussian_w2_squared
from modeling_emoje.modalities import MODALITIES
from tests.modeling_common import (
    ALL_SUBSETS,
    PRIVACY,
    TINY_DIMS,
    assert_causal_matches_prefixes,
    load_in_isolated_process,
    make_batch,
    pad_batch,
    with_noise_in_absent,
)
from tests.synthetic_data import one_thread  # noqa: F401 (autouse: one torch thread on the shared cores)

NUM_LABELS = 4
LOSS_TERMS = {"ce", "align", "flow_nll", "reconstruction", "supcon"}
MODES = {"text": ["text"], "audio": ["audio"], "visual": ["face", "body"]}

requires_registration = pytest.mark.skipif(
    "CMARRConfig" not in getattr(modeling_emoje, "__all__", []),
    reason="CM-ARR is not registered in modeling_emoje/__init__.py yet (Auto classes / auto_map)",
)


class CMARRModelTester:
    """Tiny config and synthetic batches for CM-ARR (batches come from tests.modeling_common.make_batch)."""

    @staticmethod
    def config(**overrides) -> CMARRConfig:
        values = dict(
            modality_dims=dict(TINY_DIMS), num_labels=NUM_LABELS, hidden_size=16, latent_size=6, flow_blocks=2,
            flow_hidden_size=16, fusion_heads=2, context_hidden_size=8, context_layers=1,
            id2label={i: name for i, name in enumerate(["neutral", "happy", "angry", "sad"])},
        )
        values.update(overrides)
        return CMARRConfig(**values)

    @classmethod
    def model(cls, **overrides) -> CMARRForEmotionRecognition:
        torch.manual_seed(0)
        return CMARRForEmotionRecognition(cls.config(**overrides))

    @staticmethod
    def shared_latent_corpus(seed: int = 0, latent: int = 4, noise: float = 0.1):
        """A batch factory whose modalities are random linear maps (plus noise) of one latent per utterance."""
        generator = torch.Generator().manual_seed(seed)
        centers = torch.randn(NUM_LABELS, latent, generator=generator) * 1.5
        maps = {name: torch.randn(latent, dim, generator=generator) for name, dim in TINY_DIMS.items()}

        def batch(dialogues: int = 4, length: int = 6) -> dict[str, torch.Tensor]:
            labels = torch.randint(0, NUM_LABELS, (dialogues, length), generator=generator)
            shared = centers[labels] + 0.7 * torch.randn(dialogues, length, latent, generator=generator)
            inputs = {"labels": labels}
            for name, dim in TINY_DIMS.items():
                frames = 1 if name == "text" else 2
                noise_values = noise * torch.randn(dialogues, length, frames, dim, generator=generator)
                inputs[f"{name}_features"] = (shared @ maps[name])[:, :, None, :] + noise_values
            return inputs

        return batch


tester = CMARRModelTester()



def keep_only(batch: dict[str, torch.Tensor], modalities: list[str]) -> torch.Tensor:
    """A modality_mask keeping only ``modalities`` on every utterance of ``batch``."""
    first = next(value for key, value in batch.items() if key.endswith("_features"))
    mask = torch.zeros(*first.shape[:2], len(MODALITIES), dtype=torch.bool)
    for name in modalities:
        mask[..., MODALITIES.index(name)] = True
    return mask


# --- config ---------------------------------------------------------------------------------------------------


def test_config_groups_face_and_body_into_one_visual_mode_with_seven_conditions():
    config = tester.config()
    assert config.model_type == "cmarr"
    assert config.mode_groups == MODES
    assert len(config.training_conditions) == 7
    assert config.alignment_weight == 0.1 and config.flow_weight == 1.0 and config.supcon_weight == 0.1
    assert config.use_dialogue_context is False


@pytest.mark.parametrize(
    "dims, groups",
    [
        ({"text": 3, "audio": 2, "face": 4}, {"text": ["text"], "audio": ["audio"], "visual": ["face"]}),
        ({"text": 3, "body": 4}, {"text": ["text"], "visual": ["body"]}),
        ({"audio": 2, "text": 3}, {"text": ["text"], "audio": ["audio"]}),
    ],
)
def test_visual_mode_is_the_visual_stream_the_data_has(dims, groups):
    config = CMARRConfig(modality_dims=dims, num_labels=2)
    assert config.mode_groups == groups
    assert len(config.training_conditions) == 2 ** len(groups) - 1


def test_four_independent_modes_and_config_round_trip(tmp_path):
    groups = {"body": ["body"], "face": ["face"], "audio": ["audio"], "text": ["text"]}
    config = tester.config(mode_groups=groups)
    assert config.mode_names == ["text", "audio", "face", "body"]
    assert len(config.training_conditions) == 15
    config.save_pretrained(tmp_path)
    reloaded = CMARRConfig.from_pretrained(tmp_path)
    assert reloaded.mode_groups == config.mode_groups and reloaded.id2label[2] == "angry"


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(mode_groups={"text": ["text"], "audio": ["audio"], "visual": ["face"]}), r"has \['body'\] but no mode"),
        (dict(mode_groups={"a": ["text", "audio"], "b": ["audio"], "v": ["face", "body"]}), "'audio' is in both"),
        (dict(mode_groups={"t": ["txt"]}), "unknown modality 'txt'"),
        (dict(latent_size=1), "latent_size must be at least 2"),
        (dict(hidden_size=15), "divisible by fusion_heads"),
        (dict(alignment_temperature=0.0), "alignment_temperature must be positive"),
        (dict(modality_dims={"txt": 3}), "unknown modalities"),
    ],
)
def test_bad_config_raises(overrides, message):
    with pytest.raises(ValueError, match=message):
        tester.config(**overrides)


# --- alignment ------------------------------------------------------------------------------------------------


def test_w2_distance_equals_the_general_gaussian_formula():
    sqrtm = pytest.importorskip("scipy.linalg", reason="scipy (the [audio] extra) gives the matrix square root").sqrtm
    generator = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.randn(3, 4, generator=generator, dtype=torch.float64), torch.randn(5, 4, generator=generator, dtype=torch.float64)
    logvar1 = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    logvar2 = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    distances = gaussian_w2_squared(mu1, logvar1, mu2, logvar2)
    assert distances.shape == (3, 5)
    for i in range(3):
        for j in range(5):
            first, second = np.diag(logvar1[i].exp().numpy()), np.diag(logvar2[j].exp().numpy())
            root = sqrtm(second)
            cross = np.real(sqrtm(root @ first @ root))
            expected = np.sum((mu1[i].numpy() - mu2[j].numpy()) ** 2) + np.trace(first + second - 2 * cross)
            assert distances[i, j].item() == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_w2_is_zero_for_identical_gaussians_and_has_finite_gradients():
    mu = torch.randn(4, 3, requires_grad=True)
    logvar = torch.randn(4, 3, requires_grad=True)
    distances = gaussian_w2_squared(mu, logvar, mu, logvar)
    torch.testing.assert_close(distances.diagonal(), torch.zeros(4), rtol=0, atol=1e-5)
    torch.testing.assert_close(distances, distances.t())
    distances.sum().backward()
    assert torch.isfinite(mu.grad).all() and torch.isfinite(logvar.grad).all()


# --- forward contract -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("modalities", ALL_SUBSETS + [PRIVACY], ids=lambda m: "+".join(m))
def test_every_modality_subset_gives_shapes_and_finite_loss(modalities):
    model = tester.model().train()
    batch = make_batch(modalities)
    out = model(**batch)
    assert out.logits.shape == (3, 6, NUM_LABELS)
    assert out.modality_weights is None
    assert out.imputed_mask.shape == (3, 6, 4) and out.imputed_mask.dtype == torch.bool
    assert out.latent_means.shape == (3, 6, 3, 6)
    assert torch.isfinite(out.loss) and set(out.loss_terms) == LOSS_TERMS
    assert all(not value.requires_grad and value.dim() == 0 for value in out.loss_terms.values())
    model.eval()
    with torch.no_grad():
        out = model(**batch)
    assert torch.isfinite(out.logits).all()
    real = batch["utterance_mask"].bool()
    # At test time a mode with none of its modalities is reconstructed by the flows; the others are not.
    for mode, members in MODES.items():
        missing = not any(name in modalities for name in members)
        for name in members:
            assert (out.imputed_mask[real][:, MODALITIES.index(name)] == missing).all(), (mode, name)
    assert not out.imputed_mask[~real].any()
    assert torch.equal(out.reconstructed_modes[real], ~out.available_modes[real])


def test_privacy_mode_keeps_visual_through_the_body():
    model = tester.model().eval()
    with torch.no_grad():
        out = model(**make_batch(PRIVACY))
    assert not out.imputed_mask.any()  # face withheld, but body carries the visual mode


def test_model_with_only_a_face_stream_reconstructs_visual_from_text():
    model = tester.model(modality_dims={"text": 12, "audio": 6, "face": 9}).eval()
    with torch.no_grad():
        out = model(**make_batch(["text"]))
    real = make_batch(["text"])["utterance_mask"].bool()
    assert out.imputed_mask[real][:, [1, 2]].all() and not out.imputed_mask[real][:, [0, 3]].any()


def test_single_mode_model_trains_and_predicts_without_reconstruction():
    model = tester.model(modality_dims={"text": 12}).train()
    assert model.config.training_conditions == [[0]]
    batch = make_batch(["text"])
    out = model(**batch)
    assert torch.isfinite(out.loss) and out.loss_terms["align"] == 0 and out.loss_terms["reconstruction"] == 0
    assert not out.imputed_mask.any()


def test_absent_modality_values_do_not_change_logits():
    model = tester.model().eval()
    batch = make_batch(random_presence=True)
    noisy = with_noise_in_absent(batch)
    assert not torch.equal(noisy["face_features"], batch["face_features"])
    with torch.no_grad():
        clean, dirty = model(**batch), model(**noisy)
    real = batch["utterance_mask"].bool()
    torch.testing.assert_close(dirty.logits[real], clean.logits[real], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(dirty.mode_tokens[real], clean.mode_tokens[real], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("use_dialogue_context", [False, True])
def test_padding_utterances_do_not_change_real_ones(use_dialogue_context):
    model = tester.model(use_dialogue_context=use_dialogue_context).eval()
    batch = make_batch(random_presence=True)
    padded = pad_batch(batch, extra=3)
    with torch.no_grad():
        logits = model(**batch).logits
        padded_logits = model(**padded).logits[:, : logits.shape[1]]
    real = batch["utterance_mask"].bool()
    torch.testing.assert_close(padded_logits[real], logits[real], rtol=1e-5, atol=1e-5)


def test_utterance_level_model_ignores_the_other_utterances():
    model = tester.model().eval()
    batch = make_batch(batch=2, lengths=[6, 6])
    changed = {key: value.clone() for key, value in batch.items()}
    for name in MODALITIES:
        changed[f"{name}_features"][:, 3:] = torch.randn_like(changed[f"{name}_features"][:, 3:])
    with torch.no_grad():
        before, after = model(**batch).logits, model(**changed).logits
    torch.testing.assert_close(after[:, :3], before[:, :3], rtol=1e-5, atol=1e-5)
    assert not torch.allclose(after[:, 3:], before[:, 3:])
    # With dialogue context, other utterances do matter (so the check above can fail).
    contextual = tester.model(use_dialogue_context=True).eval()
    with torch.no_grad():
        assert not torch.allclose(contextual(**batch).logits[:, :3], contextual(**changed).logits[:, :3])


def test_eval_reconstruction_is_the_inverse_flow_of_the_mean_shared_latent():
    model = tester.model().eval()
    batch = make_batch(random_presence=True)
    with torch.no_grad():
        out = model(**batch)
        flows = model.cmarr.flows
        real = batch["utterance_mask"].bool()
        means, available = out.latent_means[real], out.available_modes[real]
        shared = torch.stack([flows[mode](means[:, i])[0] for i, mode in enumerate(model.config.mode_names)], 1)
        anchor = (shared * available[..., None]).sum(1) / available.sum(1, keepdim=True)
        for i, mode in enumerate(model.config.mode_names):
            rows = ~available[:, i]
            assert rows.any()
            expected = flows[mode].inverse(anchor[rows])
            torch.testing.assert_close(out.mode_tokens[real][rows, i], expected, rtol=1e-5, atol=1e-5)
            # At eval z = mu for the present modes.
            torch.testing.assert_close(out.mode_tokens[real][~rows, i], means[~rows, i])


def test_without_reconstruction_missing_modes_are_masked_not_imputed():
    model = tester.model(reconstruct_missing=False).eval()
    batch = make_batch(["text", "audio"])
    noisy = with_noise_in_absent(batch)
    with torch.no_grad():
        out = model(**batch)
        out_noisy = model(**noisy)
    assert not out.imputed_mask.any() and not out.reconstructed_modes.any()
    assert (out.mode_tokens[..., 2, :] == 0).all() and torch.isfinite(out.logits).all()
    torch.testing.assert_close(out_noisy.logits, out.logits)  # masked modes: their values never matter


# --- training-time masking ------------------------------------------------------------------------------------


def test_training_keeps_one_of_the_seven_conditions_uniformly_and_targets_the_dropped_modes():
    model = tester.model().train()
    batch = make_batch(batch=8, length=40, lengths=[40] * 8)
    torch.manual_seed(0)
    out = model(**batch)
    available = out.available_modes.flatten(0, 1)
    conditions = [tuple(torch.nonzero(row).flatten().tolist()) for row in available]
    expected = {tuple(condition) for condition in model.config.training_conditions}
    assert set(conditions) == expected
    counts = np.array([conditions.count(condition) for condition in sorted(expected)])
    assert counts.min() > 320 / 7 * 0.5 and counts.max() < 320 / 7 * 1.6, counts  # uniform, 320 draws
    # Every dropped mode is reconstructed and its real latent is kept as the target.
    dropped = ~available
    assert torch.equal(out.reconstructed_modes.flatten(0, 1), dropped)
    assert (out.latent_means.flatten(0, 1)[dropped].abs().sum(-1) > 0).all()
    assert out.loss_terms["reconstruction"] > 0
    # z = mu + sigma * eps while training.
    model.eval()
    with torch.no_grad():
        eval_out = model(**batch)
    assert torch.equal(eval_out.available_modes.flatten(0, 1), torch.ones_like(dropped))
    assert eval_out.loss_terms["reconstruction"] == 0


def test_training_samples_around_the_mean():
    model = tester.model().train()
    out = model.cmarr(**make_batch())
    present = out.present_modes
    assert not torch.allclose(out.latent_samples[present], out.latent_means[present])
    noise = (out.latent_samples - out.latent_means)[present]
    sigma = (0.5 * out.latent_logvars[present]).exp()
    assert (noise.abs() / sigma).mean() < 2  # standard-normal noise scaled by sigma


# --- losses and optimisation ----------------------------------------------------------------------------------


def test_every_parameter_gets_a_gradient_and_loss_is_the_weighted_sum():
    model = tester.model(use_dialogue_context=True).train()
    torch.manual_seed(0)
    out = model(**make_batch(batch=4, length=8))
    out.loss.backward()
    missing = [name for name, parameter in model.named_parameters() if parameter.grad is None]
    assert missing == []
    dead = {name for name, parameter in model.named_parameters() if parameter.grad.abs().max() < 1e-8}
    # Structurally zero: the bias of every attention-pooling score (softmax is shift-invariant, so its exact
    # gradient is 0 and only rounding noise remains), and the pooling score of text, which has one frame per
    # utterance here (a softmax over one frame is constant).
    structural = {name for name, _ in model.named_parameters() if "pooling" in name and name.endswith("score.bias")}
    structural.add("cmarr.pooling.text.score.weight")
    assert dead <= structural and "cmarr.pooling.text.score.weight" in dead, dead - structural
    terms, config = out.loss_terms, model.config
    expected = (
        terms["ce"] + config.alignment_weight * terms["align"]
        + config.flow_weight * (terms["flow_nll"] + terms["reconstruction"]) + config.supcon_weight * terms["supcon"]
    )
    torch.testing.assert_close(out.loss.detach(), expected)
    assert terms["align"] > 0 and terms["reconstruction"] > 0 and terms["supcon"] > 0


def test_flow_nll_does_not_pull_the_encoders():
    model = tester.model(alignment_weight=0.0, supcon_weight=0.0).train()
    batch = make_batch()
    out = model.cmarr(**batch)
    logits = model.classifier(out.last_hidden_state)
    _, terms = model._losses(out, logits, batch["labels"])
    nll_only = model.cmarr.flows["text"].log_prob(out.latent_samples[out.present_modes[..., 0]][:, 0].detach()).sum()
    nll_only.backward()
    assert all(p.grad is None for p in model.cmarr.encoders.parameters())
    assert any(p.grad is not None for p in model.cmarr.flows["text"].parameters())


def test_one_optimisation_step_lowers_the_loss():
    model = tester.model(dropout=0.0, classifier_dropout=0.0).train()
    batch = make_batch(batch=4, length=6)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    torch.manual_seed(1)
    first = model(**batch).loss
    first.backward()
    optimizer.step()
    torch.manual_seed(1)  # same masking draws and sampling noise
    with torch.no_grad():
        second = model(**batch).loss
    assert second < first


def test_reconstruction_beats_the_zero_vector_after_short_training():
    corpus = tester.shared_latent_corpus()
    model = tester.model(dropout=0.0, classifier_dropout=0.0, latent_size=8).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    test_batch = corpus(dialogues=8)

    def relative_errors() -> dict[str, float]:
        """Per mode, when only that mode is withheld: MSE(reconstruction, real latent) relative to the MSE of the
        zero vector and of the batch-mean latent."""
        model.eval()
        errors, versus_mean = {}, {}
        with torch.no_grad():
            real = model(**test_batch).latent_means
            for index, (mode, members) in enumerate(model.config.mode_groups.items()):
                kept = [name for name in MODALITIES if name not in members]
                out = model(**test_batch, modality_mask=keep_only(test_batch, kept))
                assert out.reconstructed_modes[..., index].all()
                target = real[..., index, :]
                error = (out.mode_tokens[..., index, :] - target).pow(2).mean()
                errors[mode] = (error / target.pow(2).mean()).item()
                versus_mean[mode] = (error / (target - target.mean((0, 1))).pow(2).mean()).item()
        model.train()
        return errors, versus_mean

    before, _ = relative_errors()
    for _ in range(20):
        loss = model(**corpus()).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after, versus_mean = relative_errors()
    # Measured: 0.05-0.14 of the zero vector's error and 0.15-0.41 of the batch mean's (1.3-2.0 before training).
    assert all(value < 0.5 for value in after.values()), (before, after)
    assert all(after[mode] < before[mode] for mode in after), (before, after)
    assert all(value < 0.75 for value in versus_mean.values()), versus_mean


# --- serialisation --------------------------------------------------------------------------------------------


def test_save_and_load_round_trip_gives_identical_logits(tmp_path):
    model = tester.model().eval()
    batch = make_batch(random_presence=True)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    reloaded = CMARRForEmotionRecognition.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**batch).logits, model(**batch).logits, rtol=0, atol=0)
    assert reloaded.config.id2label[1] == "happy"
    for name, buffer in model.named_buffers():
        assert torch.equal(buffer, dict(reloaded.named_buffers())[name])


def test_initialisation_is_the_documented_one():
    model = tester.model()
    flow = model.cmarr.flows["audio"]
    actnorm = flow.steps[0]
    assert (actnorm.bias == 0).all() and (actnorm.log_scale == 0).all()
    head = model.cmarr.gaussian_heads["text"].log_variance
    assert (head.bias == head.initial_log_variance).all()


@requires_registration
def test_auto_classes_load_a_saved_directory(tmp_path):
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    tester.model().save_pretrained(tmp_path)
    assert type(AutoConfig.from_pretrained(tmp_path)) is CMARRConfig
    assert type(AutoModelForSequenceClassification.from_pretrained(tmp_path)) is CMARRForEmotionRecognition
    assert type(AutoModel.from_pretrained(tmp_path)) in (CMARRModel, CMARRForEmotionRecognition)


@requires_registration
@pytest.mark.slow  # a fresh interpreter importing torch and transformers: tens of seconds on a busy machine
def test_remote_code_load_in_a_process_that_cannot_import_the_package(tmp_path):
    model = tester.model().eval()
    model_dir = tmp_path / "model"
    model.save_pretrained(model_dir)
    for name in ("modeling_cmarr.py", "configuration_cmarr.py", "modeling_layers.py", "configuration_emoje.py"):
        assert (model_dir / name).exists(), name
    batch = make_batch(random_presence=True)
    result = load_in_isolated_process(model_dir, batch, tmp_path)
    assert result["module"].startswith("transformers_modules")
    with torch.no_grad():
        expected = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    torch.testing.assert_close(torch.tensor(result["logits"]), expected, rtol=1e-5, atol=1e-5)


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b.update(text_features=torch.randn(3, 6, 1, 5)), "text_features has feature size 5"),
        (lambda b: b["modality_mask"].__setitem__((0, 2), False), "modality_mask has no modality for real utterance 2 of dialogue 0"),
        (lambda b: b["labels"].__setitem__((1, 0), 9), r"labels\[1, 0\] = 9 is out of range"),
        (lambda b: b.update(labels=torch.full((3, 6), -3)), "out of range"),
        (lambda b: b.pop("audio_features"), r"modality_mask marks \['audio'\] present but no audio_features"),
        (lambda b: b.update(face_attention_mask=torch.zeros(3, 6, 4, dtype=torch.long)), "face_attention_mask has no real frame"),
        (lambda b: b.update(video_features=torch.randn(3, 6, 1, 4)), r"unknown modality inputs \['video_features'\]"),
        (lambda b: b.update(input_ids=torch.ones(3, 6, 4, dtype=torch.long)), "input_ids: CM-ARR has no text backbone"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_input(mutate, message):
    model = tester.model().eval()
    batch = make_batch()
    mutate(batch)
    with pytest.raises(ValueError, match=message):
        model(**batch)


@pytest.mark.parametrize("modes", [None, ["text", "audio"]], ids=["three-modes", "two-modes"])
def test_causal_forward_equals_the_model_on_each_prefix(modes):
    """Streaming with CM-ARR's dialogue context: each turn as the model sees the dialogue cut after it, with padding,
    modalities missing at random (reconstructed by the flows) and several dialogues in the batch."""
    overrides = {} if modes is None else {"modality_dims": {name: TINY_DIMS[name] for name in modes}}
    model = CMARRModelTester.model(use_dialogue_context=True, **overrides).eval()
    batch = make_batch(modes or MODALITIES, batch=3, length=6, lengths=[6, 3, 5], random_presence=True, seed=4)
    assert_causal_matches_prefixes(model, batch)


def test_causal_forward_without_dialogue_context_is_the_plain_forward():
    model = CMARRModelTester.model(use_dialogue_context=False).eval()
    batch = make_batch(random_presence=True)
    batch.pop("labels")
    with torch.no_grad():
        torch.testing.assert_close(model(**batch, causal=True).logits, model(**batch).logits, rtol=0.0, atol=0.0)
