# Copyright 2025 The emoje authors. Licensed under the Apache License, Version 2.0.
"""CM-ARR: cross-modal alignment, reconstruction and refinement for missing-modality emotion recognition.

Pipeline (Sun et al., ICASSP 2025): UMC encoders (Linear -> LayerNorm -> GELU -> MLP -> attention pooling) per
modality -> one descriptor per *mode* (text, audio, visual = face + body) -> diagonal Gaussian heads ->
2-Wasserstein distribution contrastive alignment -> one normalizing flow per mode into a shared N(0, I)
latent, through which missing modes are reconstructed -> supervised contrastive refinement -> cross-modal
Transformer fusion over the mode tokens -> (optional dialogue context) -> classifier. The inputs are described in
`CMARRModel.forward` (the input contract both models share).

Example:
    >>> import torch
    >>> from modeling_emoje import CMARRConfig, CMARRForEmotionRecognition
    >>> config = CMARRConfig(modality_dims={"text": 8, "audio": 6, "face": 5}, num_labels=4, hidden_size=16,
    ...                      latent_size=8, flow_hidden_size=16, fusion_heads=2)
    >>> model = CMARRForEmotionRecognition(config).eval()
    >>> out = model(text_features=torch.randn(2, 3, 1, 8))      # audio and visual reconstructed by the flows
    >>> out.logits.shape, out.imputed_mask[0, 0].tolist()       # modes: text, audio, visual (= face here)
    (torch.Size([2, 3, 4]), [False, True, True, False])
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init

from .configuration_cmarr import DEFAULT_MODE_GROUPS, CMARRConfig
from .modalities import MODALITIES, MODALITY_INDEX
from .model_specs import ModelSpec
from .modeling_base import ConversationModelOutput, EmotionRecognitionOutput, EmotionRecognitionPreTrainedModel
from .modeling_inputs import documents_input_contract
from .modeling_layers import (
    AttentionPooling,
    DialogueContext,
    ModalityEncoder,
    encode_present_modalities,
    in_distributed_run,
    masked_mean,
    utterance_classifier,
)
from .modeling_losses import focal_loss, similarity_info_nce, supervised_contrastive
from .modeling_sampling import sample_missing_condition

_LOG_2PI = math.log(2 * math.pi)


def gaussian_w2_squared(
    mu1: torch.Tensor, logvar1: torch.Tensor, mu2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    """Pairwise squared 2-Wasserstein distances between diagonal Gaussians ``N(mu, exp(logvar))``.

    For diagonal covariances ``W2^2 = ||mu - mu'||^2 + ||sigma - sigma'||^2``. Inputs are ``(N1, Z)`` and
    ``(N2, Z)``; the result is ``(N1, N2)``.

    Example:
        >>> mu, logvar = torch.zeros(1, 2), torch.zeros(1, 2)
        >>> gaussian_w2_squared(mu, logvar, mu + 1.0, logvar + 2 * math.log(3.0))   # 2 * 1 + 2 * (3 - 1)^2
        tensor([[10.]])
    """
    first = torch.cat([mu1, (0.5 * logvar1).exp()], dim=-1)
    second = torch.cat([mu2, (0.5 * logvar2).exp()], dim=-1)
    # |a - b|^2 = |a|^2 + |b|^2 - 2 a.b: memory O(N1 * N2), and no square root, so gradients stay finite at 0.
    squared = first.pow(2).sum(-1)[:, None] + second.pow(2).sum(-1)[None, :] - 2.0 * first @ second.t()
    return squared.clamp_min(0.0)


class ActNorm(nn.Module):
    """Per-dimension affine step ``y = (x + bias) * exp(log_scale)``; identity at initialisation.

    (No data-dependent initialisation: it would differ between processes in distributed training.)
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = self.log_scale.sum().expand(x.shape[0])
        return (x + self.bias) * self.log_scale.exp(), logdet

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y * (-self.log_scale).exp() - self.bias


class AffineCoupling(nn.Module):
    """RealNVP affine coupling: the first ``dim // 2`` values condition a scale and shift of the others.

    The log-scale is softly bounded, ``s = c * tanh(raw / c)``, so the step stays well conditioned.
    """

    def __init__(self, dim: int, hidden_size: int, max_log_scale: float = 3.0) -> None:
        super().__init__()
        self.split = dim // 2
        self.max_log_scale = max_log_scale
        self.net = nn.Sequential(
            nn.Linear(self.split, hidden_size), nn.GELU(), nn.Linear(hidden_size, hidden_size), nn.GELU(),
            nn.Linear(hidden_size, 2 * (dim - self.split)),
        )

    def _scale_and_shift(self, condition: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raw_scale, shift = self.net(condition).chunk(2, dim=-1)
        return self.max_log_scale * torch.tanh(raw_scale / self.max_log_scale), shift

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        condition, rest = x[:, : self.split], x[:, self.split :]
        log_scale, shift = self._scale_and_shift(condition)
        return torch.cat([condition, rest * log_scale.exp() + shift], dim=-1), log_scale.sum(-1)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        condition, rest = y[:, : self.split], y[:, self.split :]
        log_scale, shift = self._scale_and_shift(condition)
        return torch.cat([condition, (rest - shift) * (-log_scale).exp()], dim=-1)


class Permutation(nn.Module):
    """A fixed (seeded, saved) permutation that moves the transformed half of a coupling to the conditioning side.

    The order is a shuffle of the last ``dim - dim // 2`` positions followed by a shuffle of the first ``dim // 2``.
    """

    def __init__(self, dim: int, seed: int = 0) -> None:
        super().__init__()
        self.dim, self.seed = dim, seed
        self.register_buffer("indices", self.default_indices(dim, seed))

    @staticmethod
    def default_indices(dim: int, seed: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed)
        split = dim // 2
        second = split + torch.randperm(dim - split, generator=generator)
        first = torch.randperm(split, generator=generator)
        return torch.cat([second, first])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:, self.indices], x.new_zeros(x.shape[0])

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        return y[:, torch.argsort(self.indices)]


class NormalizingFlow(nn.Module):
    """Invertible map to a standard normal latent: ``num_blocks`` x (ActNorm -> AffineCoupling -> Permutation).

    ``forward(x) -> (z, logdet)`` with the exact ``log |det dz/dx|`` per row; ``inverse(z) -> x``.

    Example:
        >>> flow = NormalizingFlow(dim=4, num_blocks=2, hidden_size=8)
        >>> x = torch.randn(3, 4)
        >>> z, logdet = flow(x)
        >>> torch.allclose(flow.inverse(z), x, atol=1e-6), logdet.shape
        (True, torch.Size([3]))
    """

    def __init__(self, dim: int, num_blocks: int, hidden_size: int, max_log_scale: float = 3.0) -> None:
        super().__init__()
        steps: list[nn.Module] = []
        for block in range(num_blocks):
            steps += [ActNorm(dim), AffineCoupling(dim, hidden_size, max_log_scale), Permutation(dim, seed=block)]
        self.steps = nn.ModuleList(steps)

    def forward(self, x: torch.Tensor, reverse: bool = False) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor:
        """``(z, logdet)`` of ``x``; with ``reverse=True``, ``x`` of a latent ``z`` (what `inverse` returns).

        Both directions go through ``__call__``, so hooks on the module run for either: FSDP gathers the flow's
        sharded weights in its forward hooks, and a direct call of a non-forward method would see the shards.
        """
        if reverse:
            for step in reversed(self.steps):
                x = step.inverse(x)
            return x
        logdet = x.new_zeros(x.shape[0])
        for step in self.steps:
            x, step_logdet = step(x)
            logdet = logdet + step_logdet
        return x, logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return self(z, reverse=True)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(x)`` under the flow with a standard normal base, per row."""
        z, logdet = self(x)
        return -0.5 * (z.pow(2) + _LOG_2PI).sum(-1) + logdet


class LogVarianceProjection(nn.Linear):
    """The ``log sigma^2`` projection; its bias starts at ``initial_log_variance`` (little sampling noise at first)."""

    def __init__(self, in_features: int, out_features: int, initial_log_variance: float = -4.0) -> None:
        super().__init__(in_features, out_features)
        self.initial_log_variance = initial_log_variance


class GaussianHead(nn.Module):
    """Diagonal Gaussian of a mode descriptor: ``mu`` and ``log sigma^2`` (clamped to [-10, 10])."""

    def __init__(self, hidden_size: int, latent_size: int) -> None:
        super().__init__()
        self.mean = nn.Linear(hidden_size, latent_size)
        self.log_variance = LogVarianceProjection(hidden_size, latent_size)

    def forward(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.mean(hidden), self.log_variance(hidden).clamp(-10.0, 10.0)


class CrossModalFusion(nn.Module):
    """A small Transformer over the mode tokens of each utterance, attention-pooled to one vector.

    Tokens are projected latents plus a mode embedding and a present/reconstructed embedding; unavailable
    tokens are masked, and utterances with no token at all (padding) give zeros.
    """

    def __init__(self, num_modes: int, latent_size: int, hidden_size: int, num_layers: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.input_projection = nn.Linear(latent_size, hidden_size)
        self.mode_embeddings = nn.Embedding(num_modes, hidden_size)
        self.reconstructed_embeddings = nn.Embedding(2, hidden_size)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                hidden_size, num_heads, dim_feedforward=2 * hidden_size, dropout=dropout, activation="gelu",
                batch_first=True, norm_first=True,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(hidden_size)
        self.pooling = AttentionPooling(hidden_size)

    def forward(self, tokens: torch.Tensor, token_mask: torch.Tensor, reconstructed: torch.Tensor) -> torch.Tensor:
        """``tokens`` (N, M, Z), ``token_mask``/``reconstructed`` (N, M) bool -> (N, hidden_size)."""
        rows = token_mask.any(-1)
        mask = token_mask[rows]
        states = (
            self.input_projection(tokens[rows])
            + self.mode_embeddings.weight[None]
            + self.reconstructed_embeddings(reconstructed[rows].long())
        )
        for layer in self.layers:
            states = layer(states, src_key_padding_mask=~mask)
        pooled = self.pooling(self.norm(states), mask)
        return pooled.new_zeros(tokens.shape[0], pooled.shape[-1]).index_put((rows.nonzero().flatten(),), pooled)


@dataclass
class CMARRModelOutput(ConversationModelOutput):
    """Outputs of [`CMARRModel`]. Per-mode tensors are ``(B, U, M, ...)`` in ``config.mode_names`` order.

    latent_means / latent_logvars: the Gaussian heads' outputs for every *present* mode (zeros elsewhere),
        including modes dropped by training-time masking (the reconstruction targets).
    latent_samples: ``mu + sigma * eps`` while training, ``mu`` at eval (present modes).
    mode_tokens: what the fusion sees: the sample for available modes, the flow reconstruction for
        reconstructed ones, zeros otherwise.
    present_modes / available_modes / reconstructed_modes: (B, U, M) bool — present in the input, kept after
        training-time masking, and reconstructed by the flows.
    """

    latent_means: torch.Tensor | None = None
    latent_logvars: torch.Tensor | None = None
    latent_samples: torch.Tensor | None = None
    mode_tokens: torch.Tensor | None = None
    present_modes: torch.Tensor | None = None
    available_modes: torch.Tensor | None = None
    reconstructed_modes: torch.Tensor | None = None
    imputed_mask: torch.Tensor | None = None
    utterance_mask: torch.Tensor | None = None


@dataclass
class CMARREmotionRecognitionOutput(EmotionRecognitionOutput):
    """Outputs of [`CMARRForEmotionRecognition`]: ``loss`` is the weighted total, ``loss_terms`` each detached term.

    ``modality_weights`` is always None (CM-ARR has no per-modality weights); ``imputed_mask`` (B, U, 4) marks
    the modalities of the modes reconstructed by the flows; the per-mode fields are those of [`CMARRModelOutput`].
    """

    loss_terms: dict[str, torch.Tensor] | None = None
    latent_means: torch.Tensor | None = None
    latent_logvars: torch.Tensor | None = None
    mode_tokens: torch.Tensor | None = None
    available_modes: torch.Tensor | None = None
    reconstructed_modes: torch.Tensor | None = None


class CMARRPreTrainedModel(EmotionRecognitionPreTrainedModel):
    config: CMARRConfig
    config_class = CMARRConfig
    base_model_prefix = "cmarr"
    _no_split_modules = ["ModalityEncoder", "NormalizingFlow", "CrossModalFusion"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, ActNorm):
            init.zeros_(module.bias)
            init.zeros_(module.log_scale)
        elif isinstance(module, Permutation):
            init.copy_(module.indices, Permutation.default_indices(module.dim, module.seed))
        elif isinstance(module, LogVarianceProjection):
            init.constant_(module.bias, module.initial_log_variance)


class CMARRModel(CMARRPreTrainedModel):
    """CM-ARR without the classification head: mode latents, flow reconstructions and the fused utterance vectors."""

    def __init__(self, config: CMARRConfig) -> None:
        super().__init__(config)
        hidden, latent = config.hidden_size, config.latent_size
        self.mode_names = config.mode_names
        self.mode_groups = config.mode_groups
        self.encoders = nn.ModuleDict(
            {
                name: ModalityEncoder(
                    dim, hidden, num_layers=0, dropout=config.dropout, use_mlp=True, normalization=config.feature_normalization
                )
                for name, dim in config.modality_dims.items()
            }
        )
        self.pooling = nn.ModuleDict({name: AttentionPooling(hidden) for name in config.modality_dims})
        self.gaussian_heads = nn.ModuleDict({mode: GaussianHead(hidden, latent) for mode in self.mode_names})
        self.flows = nn.ModuleDict(
            {
                mode: NormalizingFlow(latent, config.flow_blocks, config.flow_hidden_size, config.flow_max_log_scale)
                for mode in self.mode_names
            }
        )
        self.fusion = CrossModalFusion(
            len(self.mode_names), latent, hidden, config.fusion_layers, config.fusion_heads, config.dropout
        )
        self.context = (
            DialogueContext(hidden, config.context_hidden_size, config.context_layers, config.context_dropout, causal=config.causal)
            if config.use_dialogue_context
            else None
        )
        self.output_size = hidden + (2 * self.context.output_size if self.context is not None else 0)
        # The training conditions as kept *modality* indices (a mode keeps all of its modalities).
        self.condition_modalities = [
            [MODALITY_INDEX[name] for mode in condition for name in self.mode_groups[self.mode_names[mode]]]
            for condition in config.training_conditions
        ]
        self.post_init()

    def reconstruct(self, means: torch.Tensor, sources: torch.Tensor) -> torch.Tensor:
        """``f_n^{-1}(mean over source modes m of f_m(mu_m))`` for every mode n.

        ``means`` (N, M, Z), ``sources`` (N, M) bool -> (N, M, Z); rows without a source give ``f_n^{-1}(0)``.
        """
        shared = torch.stack([self.flows[mode](means[:, index])[0] for index, mode in enumerate(self.mode_names)], 1)
        anchor = masked_mean(shared, sources, dim=1)
        return torch.stack([self.flows[mode].inverse(anchor) for mode in self.mode_names], 1)

    def sample_kept_modalities(self, present: torch.Tensor) -> torch.Tensor:
        """Training-time masking: each utterance keeps the modes of one of ``config.training_conditions``."""
        return sample_missing_condition(present, self.condition_modalities) if len(self.mode_names) > 1 else present

    # The named inputs of the input contract, the same as EmoJEModel.forward's (a deliberate twin: the signature is the
    # documented contract); the modality inputs come from the modality table (`**modality_inputs`).
    @documents_input_contract
    def forward(
        self,
        modality_mask: torch.Tensor | None = None,
        utterance_mask: torch.Tensor | None = None,
        speaker_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        causal: bool = False,
        return_dict: bool | None = None,
        **modality_inputs: torch.Tensor | None,
    ) -> CMARRModelOutput:
        r"""CM-ARR on a batch of dialogues; see the module docstring for an example. It has no text backbone:
        ``input_ids`` are an error (pass ``text_features``).

        While training, each utterance keeps the modes of one of the ``config.training_conditions`` drawn
        uniformly; the dropped modes are reconstructed by the flows and their real latents are returned as
        reconstruction targets. At eval every configured mode that is not present is reconstructed.

        ``causal=True`` (streaming inference): each utterance's output from the utterances up to it only, as if the
        dialogue were cut after it. Everything before the dialogue context works per utterance, so only the context
        runs on the prefixes (`DialogueContext.prefix_states`); without a context, or with a causal one
        (``config.causal``), the model is causal already.
        """
        if input_ids is not None:
            raise ValueError("input_ids: CM-ARR has no text backbone; pass text_features (e.g. from TextFeatureEncoder)")
        config = self.config
        inputs = self.prepare_inputs(modality_inputs, modality_mask, utterance_mask, speaker_ids, labels)
        features, frame_masks, present, kept = inputs.features, inputs.frame_masks, inputs.present, inputs.kept
        utterance_mask = inputs.utterance_mask
        batch, length = utterance_mask.shape
        flat_present, flat_kept = present.flatten(0, 1), kept.flatten(0, 1)

        encoded = encode_present_modalities(self.encoders, features, frame_masks, present)
        descriptors = {name: self.pooling[name](states, mask) for name, (states, mask) in encoded.items()}
        num_rows = flat_present.shape[0]
        mode_hidden, present_modes, kept_modes = [], [], []
        for mode, members in self.mode_groups.items():
            columns = [MODALITY_INDEX[name] for name in members]
            present_modes.append(flat_present[:, columns].any(-1))
            kept_modes.append(flat_kept[:, columns].any(-1))
            given = [name for name in members if name in descriptors]
            if given:
                # visual = mean of the present visual streams' descriptors (face and/or body).
                stacked = torch.stack([descriptors[name] for name in given], 1)
                mode_hidden.append(masked_mean(stacked, flat_present[:, [MODALITY_INDEX[name] for name in given]], dim=1))
            else:
                mode_hidden.append(None)
        reference = next(iter(descriptors.values()))
        mode_hidden = [value if value is not None else reference.new_zeros(reference.shape) for value in mode_hidden]
        present_modes, kept_modes = torch.stack(present_modes, 1), torch.stack(kept_modes, 1)  # (N, M)

        gaussians = [self.gaussian_heads[mode](mode_hidden[index]) for index, mode in enumerate(self.mode_names)]
        means = torch.stack([mean for mean, _ in gaussians], 1)  # (N, M, Z)
        logvars = torch.stack([logvar for _, logvar in gaussians], 1)
        samples = means + (0.5 * logvars).exp() * torch.randn_like(means) if self.training else means
        present_float = present_modes[..., None].to(means.dtype)
        means, logvars, samples = means * present_float, logvars * present_float, samples * present_float

        if config.reconstruct_missing and len(self.mode_names) > 1:
            reconstructed = ~kept_modes & kept_modes.any(-1, keepdim=True)
        else:
            reconstructed = torch.zeros_like(kept_modes)
        tokens = torch.where(kept_modes[..., None], samples, torch.zeros_like(samples))
        # With several processes the flows run even where nothing is reconstructed, so every process executes the
        # same modules whatever its batch holds (FSDP gathers each flow's weights when it runs).
        if reconstructed.any() or in_distributed_run():
            tokens = torch.where(reconstructed[..., None], self.reconstruct(means, kept_modes), tokens)
        fused = self.fusion(tokens, kept_modes | reconstructed, reconstructed).reshape(batch, length, -1)

        hidden_state = fused
        if self.context is not None:
            context = self.context(fused, utterance_mask, inputs.speaker_ids, causal=causal)
            hidden_state = torch.cat([fused, context], dim=-1)

        imputed = torch.zeros(num_rows, len(MODALITIES), dtype=torch.bool, device=reconstructed.device)
        for index, members in enumerate(self.mode_groups.values()):
            for name in members:
                imputed[:, MODALITY_INDEX[name]] = reconstructed[:, index]

        def per_utterance(values: torch.Tensor) -> torch.Tensor:
            return values.reshape(batch, length, *values.shape[1:])

        output = CMARRModelOutput(
            last_hidden_state=hidden_state,
            fused=fused,
            latent_means=per_utterance(means),
            latent_logvars=per_utterance(logvars),
            latent_samples=per_utterance(samples),
            mode_tokens=per_utterance(tokens),
            present_modes=per_utterance(present_modes),
            available_modes=per_utterance(kept_modes),
            reconstructed_modes=per_utterance(reconstructed),
            imputed_mask=per_utterance(imputed),
            utterance_mask=utterance_mask,
        )
        return self.as_requested(output, return_dict)


class CMARRForEmotionRecognition(CMARRPreTrainedModel):
    """CM-ARR with its utterance classifier and training losses.

    ``loss = CE + alignment_weight * align + flow_weight * (flow NLL + reconstruction) + supcon_weight * SupCon``
    (CE is focal with ``focal_gamma`` > 0); each term is reported, detached, in ``loss_terms``:

    - ``align``: symmetric InfoNCE with similarity ``-W2^2 / tau`` for every pair of modes present on the same
      utterances (all present modes, including those dropped by training-time masking: no labels are used);
    - ``flow_nll``: exact negative log-likelihood per latent dimension of the present modes' latents under
      their flow (latents detached: the density is fitted to the encoders, it does not pull them together);
    - ``reconstruction``: MSE between each dropped mode's reconstruction and its real (detached) mean;
    - ``supcon``: supervised contrastive loss over the normalised tokens of available and reconstructed modes.
    """

    def __init__(self, config: CMARRConfig) -> None:
        super().__init__(config)
        self.cmarr = CMARRModel(config)
        self.classifier = utterance_classifier(
            self.cmarr.output_size, config.hidden_size, config.num_labels, config.classifier_dropout
        )
        self.post_init()

    def forward(
        self, labels: torch.Tensor | None = None, return_dict: bool | None = None, **inputs
    ) -> CMARREmotionRecognitionOutput:
        r"""Takes the inputs of [`CMARRModel`] plus ``labels`` (B, U) with -100 for padding; ``causal=True`` gives each
        turn's prediction from the turns up to it only (streaming; see [`CMARRModel`])."""
        outputs, logits, loss, loss_terms = self.classify(labels, inputs)
        output = CMARREmotionRecognitionOutput(
            loss=loss,
            logits=logits,
            modality_weights=None,
            imputed_mask=outputs.imputed_mask,
            loss_terms=loss_terms,
            latent_means=outputs.latent_means,
            latent_logvars=outputs.latent_logvars,
            mode_tokens=outputs.mode_tokens,
            available_modes=outputs.available_modes,
            reconstructed_modes=outputs.reconstructed_modes,
        )
        return self.as_requested(output, return_dict)

    def _losses(self, outputs: CMARRModelOutput, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
        config = self.config
        present = outputs.present_modes.flatten(0, 1)
        available = outputs.available_modes.flatten(0, 1)
        reconstructed = outputs.reconstructed_modes.flatten(0, 1)
        means, logvars = outputs.latent_means.flatten(0, 1), outputs.latent_logvars.flatten(0, 1)
        samples, tokens = outputs.latent_samples.flatten(0, 1), outputs.mode_tokens.flatten(0, 1)
        flat_labels = labels.flatten()
        zero = logits.sum() * 0.0
        terms = {"ce": focal_loss(logits, labels, config.focal_gamma)}

        align = []
        for first, second in combinations(range(present.shape[1]), 2):
            rows = present[:, first] & present[:, second]
            if rows.sum() > 1:
                distances = gaussian_w2_squared(means[rows, first], logvars[rows, first], means[rows, second], logvars[rows, second])
                align.append(similarity_info_nce(-distances / config.alignment_temperature))
        terms["align"] = torch.stack(align).mean() if align else zero

        # Every mode's flow runs, on no rows where the mode is absent (the same modules on every process, as above).
        nll = torch.cat(
            [
                -self.cmarr.flows[mode].log_prob(samples[present[:, index], index].detach()) / samples.shape[-1]
                for index, mode in enumerate(self.cmarr.mode_names)
            ]
        )
        terms["flow_nll"] = nll.mean() if nll.numel() else zero

        targets = present & reconstructed  # dropped by training-time masking, so the real latent is known
        terms["reconstruction"] = F.mse_loss(tokens[targets], means[targets].detach()) if targets.any() else zero

        use = (available | reconstructed) & (flat_labels != -100)[:, None]
        rows, modes = use.nonzero(as_tuple=True)
        terms["supcon"] = supervised_contrastive(F.normalize(tokens[rows, modes], dim=-1), flat_labels[rows], config.supcon_temperature)

        total = (
            terms["ce"]
            + config.alignment_weight * terms["align"]
            + config.flow_weight * (terms["flow_nll"] + terms["reconstruction"])
            + config.supcon_weight * terms["supcon"]
        )
        return total, {name: value.detach() for name, value in terms.items()}


# CM-ARR's evaluation protocol: its six missing-modality conditions over three modes, visual = face + body.
THREE_MODE_CONDITIONS: tuple[tuple[str, ...], ...] = tuple(
    tuple("+".join(DEFAULT_MODE_GROUPS[mode]) for mode in condition)
    for condition in (("audio",), ("text",), ("visual",), ("audio", "text"), ("audio", "visual"), ("text", "visual"))
)

# The model's entry in the registry (`modeling_emoje.model_specs`); `modeling_emoje/__init__.py` registers it.
MODEL_SPEC = ModelSpec(
    model_type=CMARRConfig.model_type,
    display_name="CM-ARR",
    config_class=CMARRConfig,
    base_model_class=CMARRModel,
    model_class=CMARRForEmotionRecognition,
    description=(
        "CM-ARR (Sun et al., ICASSP 2025): Gaussian modality encoders, distribution-based contrastive alignment, "
        "normalizing-flow reconstruction of missing modalities and supervised contrastive refinement."
    ),
    citation_bibtex="""@inproceedings{sun2025cmarr,
  title     = {Enhancing Emotion Recognition in Incomplete Data: A Novel Cross-Modal Alignment, Reconstruction, and Refinement Framework},
  author    = {Sun, Haoqin and Zhao, Shiwan and Li, Shaokai and Kong, Xiangyu and Wang, Xuechen and Zhou, Jiaming and Kong, Aobo and Chen, Yong and Zeng, Wenjia and Qin, Yong},
  booktitle = {IEEE International Conference on Acoustics, Speech and Signal Processing (ICASSP)},
  year      = {2025},
  eprint    = {2407.09029},
  archivePrefix = {arXiv}
}""",
    extra_scenarios=THREE_MODE_CONDITIONS,
)


__all__ = [
    "MODEL_SPEC",
    "THREE_MODE_CONDITIONS",
    "ActNorm",
    "AffineCoupling",
    "CMARREmotionRecognitionOutput",
    "CMARRForEmotionRecognition",
    "CMARRModel",
    "CMARRModelOutput",
    "CMARRPreTrainedModel",
    "CrossModalFusion",
    "GaussianHead",
    "LogVarianceProjection",
    "NormalizingFlow",
    "Permutation",
    "gaussian_w2_squared",
]
