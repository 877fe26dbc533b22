"""Closed-form identities of the pure losses (issue 4, point 2)."""
import math

import pytest
import torch

from realignbench.train import losses as L

DELTAS = torch.linspace(-30.0, 30.0, 121, dtype=torch.float64)


@pytest.fixture(autouse=True)
def _float64():
    """Identities are checked in fp64; the default dtype is restored for other test modules."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def test_dpo_at_zero_margin_is_log2_with_gradient_beta_over_2():
    d = torch.zeros(3, requires_grad=True)
    loss = L.dpo_loss(d, beta=0.3)
    assert torch.allclose(loss, torch.full((3,), math.log(2.0)))
    loss.sum().backward()
    assert torch.allclose(d.grad, torch.full((3,), -0.15))


def test_dpo_matches_logsigmoid_form_and_margin_sign():
    beta = 0.1
    assert torch.allclose(L.dpo_loss(DELTAS, beta), -torch.nn.functional.logsigmoid(beta * DELTAS))
    pw, rw, pl, rl = torch.tensor([-3.0]), torch.tensor([-5.0]), torch.tensor([-7.0]), torch.tensor([-4.0])
    assert L.margin(pw, rw, pl, rl).item() == pytest.approx(2.0 + 3.0)


@pytest.mark.parametrize("beta", [0.1, 0.3, 1.0])
def test_rdpo_with_zero_eps_equals_dpo(beta):
    assert torch.allclose(L.rdpo_loss(DELTAS, beta, 0.0), L.dpo_loss(DELTAS, beta), atol=0, rtol=1e-15)


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.2, 0.4])
def test_rdpo_expectation_over_flips_equals_clean_dpo(eps):
    beta = 0.1
    # A flip of the observed label negates the margin; it happens with probability eps.
    expected = (1 - eps) * L.rdpo_loss(DELTAS, beta, eps) + eps * L.rdpo_loss(-DELTAS, beta, eps)
    assert torch.allclose(expected, L.dpo_loss(DELTAS, beta), atol=1e-12)


def test_rdpo_monte_carlo_average_over_random_flips_is_unbiased():
    beta, eps = 0.2, 0.2
    gen = torch.Generator().manual_seed(0)
    flips = torch.rand(400_000, DELTAS.numel(), generator=gen) < eps
    observed = torch.where(flips, -DELTAS, DELTAS)
    mc = L.rdpo_loss(observed, beta, eps).mean(0)
    assert torch.allclose(mc, L.dpo_loss(DELTAS, beta), atol=0.02)
    # The biased cDPO average differs: the de-biasing factor matters.
    cdpo = (1 - eps) * L.dpo_loss(observed, beta) + eps * L.dpo_loss(-observed, beta)
    assert not torch.allclose(cdpo.mean(0), L.dpo_loss(DELTAS, beta), atol=0.1)


def test_rdpo_rejects_eps_at_or_above_half():
    with pytest.raises(ValueError, match="eps"):
        L.rdpo_loss(DELTAS, 0.1, 0.5)


@pytest.mark.parametrize("beta", [0.05, 0.1, 0.3])
def test_npo_at_reference_is_2_over_beta_log2(beta):
    r = torch.zeros(4)
    assert torch.allclose(L.npo_loss(r, beta, "standard"),
                          torch.full((4,), 2.0 / beta * math.log(2.0)))
    assert torch.allclose(L.npo_loss(r, beta, "paper"), torch.full((4,), math.log(2.0)))


@pytest.mark.parametrize("beta", [0.1, 0.3])
def test_npo_standard_is_exactly_2_over_beta_times_paper_in_value_and_gradient(beta):
    r = torch.tensor([-40.0, -2.0, 0.0, 0.7, 5.0], dtype=torch.float64, requires_grad=True)
    paper = L.npo_loss(r, beta)                       # the default is the paper's form
    (g_paper,) = torch.autograd.grad(paper.sum(), r)
    standard = L.npo_loss(r, beta, "standard")
    (g_std,) = torch.autograd.grad(standard.sum(), r)
    assert torch.allclose(standard, (2.0 / beta) * paper, rtol=1e-12)
    assert torch.allclose(g_std, (2.0 / beta) * g_paper, rtol=1e-12)
    # Paper form: -log σ(-β r) (Algorithm 1), whose derivative is β σ(β r).
    assert torch.allclose(paper, -torch.log(torch.sigmoid(-beta * r.detach())), rtol=1e-9)
    assert torch.allclose(g_paper, beta * torch.sigmoid(beta * r.detach()), rtol=1e-12)


def test_npo_rejects_unknown_scale():
    with pytest.raises(ValueError, match="NPO scale"):
        L.npo_loss(torch.zeros(1), 0.1, "half")


def _toy_sequence_logp(theta: torch.Tensor, tokens: list[int]) -> torch.Tensor:
    """log π(y) of a sequence under a tiny autoregressive model: a bigram table θ[prev, next]."""
    logp = torch.log_softmax(theta, dim=-1)
    return sum(logp[a, b] for a, b in zip(tokens[:-1], tokens[1:]))


def test_npo_gradient_at_reference_equals_gradient_of_log_likelihood():
    gen = torch.Generator().manual_seed(1)
    theta_ref = torch.randn(5, 5, generator=gen)
    tokens = [0, 3, 1, 4, 4, 2]
    theta = theta_ref.clone().requires_grad_(True)
    ref = _toy_sequence_logp(theta_ref, tokens)
    L.npo_loss(_toy_sequence_logp(theta, tokens) - ref, beta=0.1, scale="standard").backward()
    theta2 = theta_ref.clone().requires_grad_(True)
    _toy_sequence_logp(theta2, tokens).backward()
    assert torch.allclose(theta.grad, theta2.grad, atol=1e-12)


def test_npo_away_from_reference_weights_gradient_by_2_sigmoid():
    r = torch.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    beta = 0.3
    L.npo_loss(r, beta, "standard").sum().backward()
    assert torch.allclose(r.grad, 2 * torch.sigmoid(beta * r.detach()))


@pytest.mark.parametrize("beta", [0.1, 0.5, 2.0])
def test_ipo_is_minimal_exactly_at_half_inverse_beta(beta):
    target = 1.0 / (2.0 * beta)
    grid = torch.linspace(target - 3, target + 3, 601)
    values = L.ipo_loss(grid, beta)
    assert grid[values.argmin()].item() == pytest.approx(target, abs=1e-9)
    d = torch.tensor(target, requires_grad=True)
    loss = L.ipo_loss(d, beta)
    loss.backward()
    assert loss.item() == 0.0 and d.grad.item() == 0.0
    assert L.ipo_loss(torch.tensor(0.0), beta).item() == pytest.approx(target ** 2)


def test_ipo_gradient_descent_converges_to_target_margin():
    d = torch.tensor(0.0, requires_grad=True)
    opt = torch.optim.SGD([d], lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        L.ipo_loss(d, 0.25).backward()
        opt.step()
    assert d.item() == pytest.approx(2.0, abs=1e-6)


def test_kl_anchor_zero_at_reference_positive_elsewhere_and_matches_definition():
    gen = torch.Generator().manual_seed(2)
    ref = torch.log_softmax(torch.randn(3, 7, 11, generator=gen), -1)
    assert torch.all(L.kl_anchor(ref, ref).abs() < 1e-14)
    pol = torch.log_softmax(torch.randn(3, 7, 11, generator=gen), -1)
    kl = L.kl_anchor(pol, ref)
    assert kl.shape == (3, 7) and torch.all(kl > 0)
    explicit = (ref.exp() * (ref - pol)).sum(-1)
    assert torch.allclose(kl, explicit, atol=1e-12)
    # Forward KL(ref‖π), not the reverse: swapping the arguments gives another number.
    assert not torch.allclose(kl, L.kl_anchor(ref, pol))


def test_kl_anchor_gradient_vanishes_at_reference():
    ref = torch.log_softmax(torch.randn(4, 9), -1)
    logits = ref.clone().requires_grad_(True)
    L.kl_anchor(torch.log_softmax(logits, -1), ref).sum().backward()
    assert logits.grad.abs().max() < 1e-12


def test_nll_is_per_token_mean():
    out = L.nll_loss(torch.tensor([-6.0, -2.0]), torch.tensor([3, 4]))
    assert torch.allclose(out, torch.tensor([2.0, 0.5]))


def test_preference_loss_dispatch_and_unknown_kind():
    d, dt = torch.tensor([1.0]), torch.tensor([0.2])
    assert L.preference_loss("dpo", d, dt, 0.1) == L.dpo_loss(d, 0.1)
    assert L.preference_loss("ipo", d, dt, 0.1) == L.ipo_loss(dt, 0.1)
    assert L.preference_loss("rdpo", d, dt, 0.1, 0.1) == L.rdpo_loss(d, 0.1, 0.1)
    with pytest.raises(ValueError, match="unknown preference loss"):
        L.preference_loss("kto", d, dt, 0.1)
