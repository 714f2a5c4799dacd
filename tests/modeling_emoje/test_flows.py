"""CM-ARR normalizing flows: exact inverses and exact log-determinants (checked against autograd Jacobians)."""

from __future__ import annotations

import math

import pytest
import torch

from modeling_emoje.modeling_cmarr import ActNorm, AffineCoupling, NormalizingFlow, Permutation
from tests.synthetic_data import one_thread  # noqa: F401 (autouse: one torch thread on the shared cores)



def randomized(module: torch.nn.Module, std: float = 0.5, seed: int = 0) -> torch.nn.Module:
    """Float64 copy with every parameter drawn at random, so the flow is far from the identity it starts as."""
    generator = torch.Generator().manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64) * std)
    return module


STEPS = {
    "actnorm": lambda dim: ActNorm(dim),
    "coupling": lambda dim: AffineCoupling(dim, hidden_size=8, max_log_scale=2.0),
    "permutation": lambda dim: Permutation(dim, seed=3),
    "flow": lambda dim: NormalizingFlow(dim, num_blocks=3, hidden_size=8, max_log_scale=2.0),
}


@pytest.mark.parametrize("dim", [2, 5, 6])
@pytest.mark.parametrize("kind", list(STEPS))
def test_inverse_of_forward_is_the_identity(kind, dim):
    module = randomized(STEPS[kind](dim))
    x = torch.randn(16, dim, dtype=torch.float64) * 2
    z, logdet = module(x)
    assert z.shape == x.shape and logdet.shape == (16,)
    if kind != "permutation":
        assert not torch.allclose(z, x)  # the randomized step really transforms
    torch.testing.assert_close(module.inverse(z), x, rtol=0, atol=1e-5)
    torch.testing.assert_close(module(module.inverse(x))[0], x, rtol=0, atol=1e-5)


@pytest.mark.parametrize("dim", [3, 6])
@pytest.mark.parametrize("kind", list(STEPS))
def test_log_determinant_equals_the_autograd_jacobians(kind, dim):
    module = randomized(STEPS[kind](dim), seed=dim)
    for x in torch.randn(4, dim, dtype=torch.float64):
        jacobian = torch.autograd.functional.jacobian(lambda v: module(v[None])[0][0], x)
        _, expected = torch.linalg.slogdet(jacobian)
        _, logdet = module(x[None])
        torch.testing.assert_close(logdet[0], expected, rtol=0, atol=1e-8)
    if kind in ("coupling", "flow"):
        assert abs(expected.item()) > 1e-3  # a volume-preserving bug would go unnoticed otherwise


def test_float32_flow_at_initialisation_is_invertible_to_1e_5():
    flow = NormalizingFlow(8, num_blocks=4, hidden_size=16)
    x = torch.randn(32, 8) * 3
    z, _ = flow(x)
    torch.testing.assert_close(flow.inverse(z), x, rtol=0, atol=1e-5)


def test_log_prob_is_the_change_of_variables_density():
    flow = randomized(NormalizingFlow(4, num_blocks=2, hidden_size=8), std=0.3)
    x = torch.randn(5, 4, dtype=torch.float64)
    z, logdet = flow(x)
    base = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    torch.testing.assert_close(flow.log_prob(x), base + logdet)
    # A standard normal passes an identity flow unchanged: log_prob is the N(0, I) density.
    identity = NormalizingFlow(4, num_blocks=2, hidden_size=8).double()
    with torch.no_grad():
        for step in identity.steps:
            if isinstance(step, AffineCoupling):
                step.net[-1].weight.zero_()
                step.net[-1].bias.zero_()
    expected = -0.5 * (x.pow(2).sum(-1) + 4 * math.log(2 * math.pi))
    torch.testing.assert_close(identity.log_prob(x), expected)


def test_coupling_log_scale_is_softly_bounded():
    coupling = randomized(AffineCoupling(4, hidden_size=8, max_log_scale=1.5), std=5.0)
    _, logdet = coupling(torch.randn(64, 4, dtype=torch.float64) * 10)
    assert logdet.abs().max() <= 1.5 * 2  # two transformed dimensions, each |s| <= 1.5


@pytest.mark.parametrize("dim", [2, 7, 64])
def test_permutation_is_fixed_and_swaps_the_coupling_halves(dim):
    first, second = Permutation(dim, seed=1), Permutation(dim, seed=1)
    assert torch.equal(first.indices, second.indices)
    assert sorted(first.indices.tolist()) == list(range(dim))
    split = dim // 2
    # The values the coupling transformed (positions >= split) become the next coupling's condition.
    assert (first.indices[:split] >= split).all()
    assert "indices" in first.state_dict()  # saved with the weights
