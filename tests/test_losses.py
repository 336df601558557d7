"""Policy loss against hand-computed values: token mean, clipping (and its zero gradient), masking, KL."""

import math

import pytest

torch = pytest.importorskip("torch")

from azr.selfplay.losses import policy_loss, token_logprobs  # noqa: E402


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_on_policy_loss_is_minus_advantage_token_mean():
    logp = t([[-1.0, -2.0], [-0.5, -9.0]])
    mask = t([[1, 1], [1, 0]])
    terms = policy_loss(logp, logp.clone(), t([1.0, -1.0]), mask)
    # tokens: -1, -1 (adv +1) and +1 (adv -1); the padded 4th token is ignored
    assert terms.loss.item() == pytest.approx(-1 / 3)
    assert terms.clipped_tokens == 0
    assert terms.ratio_sum == pytest.approx(3.0)


def test_clip_values_and_zero_gradient_outside_the_trust_region():
    old = t([[0.0, 0.0, 0.0, 0.0]])
    logp = t([[math.log(1.5), math.log(1.1), math.log(0.5), math.log(0.9)]]).requires_grad_()
    adv = t([[1.0, 1.0, -1.0, -1.0]])
    terms = policy_loss(logp, old, adv, torch.ones(1, 4), clip_low=0.2, clip_high=0.28)
    # per token: -min(1.5, 1.28) = -1.28; -1.1; -min(-0.5, -0.8) = 0.8; -min(-0.9, -0.9) = 0.9
    assert terms.loss.item() == pytest.approx((-1.28 - 1.1 + 0.8 + 0.9) / 4, abs=1e-6)
    assert terms.clipped_tokens == 2
    terms.loss.backward()
    grad = logp.grad[0]
    assert grad[0].item() == 0.0 and grad[2].item() == 0.0  # clipped: no gradient
    assert grad[1].item() == pytest.approx(-1.1 / 4, rel=1e-5)  # d(-r A)/dlogp = -r A
    assert grad[3].item() == pytest.approx(0.9 / 4, rel=1e-5)


def test_padding_never_affects_loss_or_gradient():
    old = t([[-1.0, -1.0, 0.0]])
    a = t([[-1.2, -0.8, 0.0]]).requires_grad_()
    b = t([[-1.2, -0.8, 123.0]]).requires_grad_()
    mask = t([[1, 1, 0]])
    la = policy_loss(a, old, t([0.7]), mask).loss
    lb = policy_loss(b, old, t([0.7]), mask).loss
    assert la.item() == pytest.approx(lb.item())
    la.backward()
    lb.backward()
    assert torch.equal(a.grad[0, :2], b.grad[0, :2])
    assert b.grad[0, 2].item() == 0.0


def test_kl_k3_and_entropy_terms():
    logp = t([[-1.0, -2.0]])
    ref = t([[-1.5, -2.0]])
    ent = t([[0.3, 0.1]])
    base = policy_loss(logp, logp.clone(), t([0.0]), torch.ones(1, 2)).loss.item()
    assert base == 0.0
    terms = policy_loss(
        logp, logp.clone(), t([0.0]), torch.ones(1, 2), ref_logp=ref, kl_coef=0.5, entropy=ent, entropy_coef=0.1
    )
    kl = math.exp(-0.5) + 0.5 - 1  # k3 on the first token; 0 on the second
    assert terms.kl_sum == pytest.approx(kl, rel=1e-5)
    assert terms.loss.item() == pytest.approx((0.5 * kl - 0.1 * 0.3 - 0.1 * 0.1) / 2, rel=1e-5)


def test_micro_batches_add_up_to_the_full_batch_token_mean():
    logp = t([[-1.0, -2.0, -3.0], [-0.5, -0.1, 0.0]])
    old = logp - 0.1
    mask = t([[1, 1, 1], [1, 1, 0]])
    adv = t([0.5, -2.0])
    full = policy_loss(logp, old, adv, mask).loss.item()
    parts = sum(
        policy_loss(logp[i : i + 1], old[i : i + 1], adv[i : i + 1], mask[i : i + 1], num_tokens=5).loss.item()
        for i in range(2)
    )
    assert parts == pytest.approx(full)


def test_token_logprobs_use_the_sampling_temperature():
    logits = t([[[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]]])
    targets = torch.tensor([[0, 1]])
    logp, entropy = token_logprobs(logits, targets, temperature=0.5)
    expected = torch.log_softmax(logits / 0.5, dim=-1)
    assert logp[0, 0].item() == pytest.approx(expected[0, 0, 0].item())
    assert logp[0, 1].item() == pytest.approx(expected[0, 1, 1].item())
    p = expected.exp()
    assert entropy[0, 1].item() == pytest.approx(-(p[0, 1] * expected[0, 1]).sum().item(), rel=1e-6)


# --- rollout correction ---------------------------------------------------------------------------------------


def _grad(mode: str, logp_values: torch.Tensor, sampler: torch.Tensor, adv: torch.Tensor, mask: torch.Tensor):
    from azr.selfplay.losses import rollout_correction

    logp = logp_values.clone().requires_grad_(True)
    correction = rollout_correction(logp, sampler, mask, mode, tis_cap=2.0, band=(0.99, 1.01))  # type: ignore[arg-type]
    terms = policy_loss(logp, correction.old_logp, adv, mask, weights=correction.weights)
    terms.loss.backward()
    assert logp.grad is not None
    return logp.grad, correction, terms


def test_rollout_correction_with_equal_logprobs_is_exactly_todays_update():
    torch.manual_seed(0)
    logp = -torch.rand(3, 5) * 3
    mask = torch.tensor([[1.0] * 5, [1.0] * 3 + [0.0] * 2, [1.0] * 4 + [0.0]])
    adv = t([0.7, -1.2, 0.3])
    base, _, base_terms = _grad("none", logp, logp.clone(), adv, mask)
    for mode in ("tis", "seq_mask"):
        grad, correction, terms = _grad(mode, logp, logp.clone(), adv, mask)
        assert torch.equal(grad, base), mode
        assert terms.loss.item() == base_terms.loss.item()
        assert correction.abs_diff_sum == 0.0 and correction.corrected_tokens == 0.0


def test_tis_weights_and_gradient_match_a_reference_computation():
    torch.manual_seed(1)
    logp = -torch.rand(2, 6) * 2
    sampler = logp + torch.randn(2, 6) * 0.5  # a perturbed behaviour policy
    sampler[0, 0] = logp[0, 0] - 3.0  # a token the sampler thought unlikely: ratio e^3, truncated to 2
    mask = torch.tensor([[1.0] * 6, [1.0] * 4 + [0.0] * 2])
    adv = t([1.5, -0.5])
    grad, correction, _ = _grad("tis", logp, sampler, adv, mask)
    weights = torch.clamp(torch.exp(logp - sampler), max=2.0)
    assert torch.allclose(correction.weights * mask, weights * mask)  # type: ignore[operator]
    # d/dlogp of -(1/N) sum w A exp(logp - sg(logp)) = -(w A)/N on live tokens.
    expected = -(weights * adv.unsqueeze(-1) * mask) / mask.sum()
    assert torch.allclose(grad, expected, atol=1e-7)
    assert correction.corrected_tokens >= 1.0
    diff = (logp - sampler).abs() * mask
    assert correction.max_abs_diff == pytest.approx(float(diff.max()))
    assert correction.abs_diff_sum == pytest.approx(float(diff.sum()), rel=1e-6)
    r = torch.exp(logp - sampler)
    assert correction.kl_sum == pytest.approx(float(((r - 1 - (logp - sampler)) * mask).sum()), rel=1e-5)
    # `none` instead takes the PPO ratio against the sampler: another gradient, clipped where it leaves the band.
    other, _, _ = _grad("none", logp, sampler, adv, mask)
    assert not torch.allclose(other, grad)


def test_seq_mask_drops_the_sequences_whose_geometric_ratio_leaves_the_band():
    logp = -torch.ones(3, 4)
    sampler = logp.clone()
    sampler[1] -= 0.05  # geometric ratio e^0.05 = 1.05: outside (0.99, 1.01)
    sampler[2, 0] -= 0.02  # mean shift 0.005: inside
    mask = torch.ones(3, 4)
    grad, correction, _ = _grad("seq_mask", logp, sampler, t([1.0, 1.0, 1.0]), mask)
    assert torch.all(grad[1] == 0) and torch.all(grad[0] != 0) and torch.all(grad[2] != 0)
    assert correction.corrected_tokens == 4.0
