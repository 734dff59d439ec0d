"""The membership attacks against open-unlearning's definitions, restated here by hand (OU is
not imported): its AUC labels forget 0 / holdout 1 and scores are loss-like."""
from __future__ import annotations

import math
import random
import zlib

import numpy as np
import pytest

from mrd_bench.metrics.gradnorm_attack import gradnorm_score
from mrd_bench.metrics.membership_auc import membership_auc
from mrd_bench.metrics.min_k_plus_plus import min_k_pp_score, standardised
from mrd_bench.metrics.reference_attack import reference_score
from mrd_bench.metrics.zlib_attack import zlib_length, zlib_score


def _pairwise_auc_ou(forget_losslike, holdout_losslike):
    """OU's labels: forget 0, holdout 1, decision = loss-like score: P(holdout > forget), ties half."""
    wins = 0.0
    for f in forget_losslike:
        for h in holdout_losslike:
            wins += 1.0 if h > f else 0.5 if h == f else 0.0
    return wins / (len(forget_losslike) * len(holdout_losslike))


def test_membership_auc_equals_ou_on_negated_scores_with_ties():
    rng = random.Random(3)
    members = [rng.choice([-1.0, -1.5, -2.0, -2.5]) for _ in range(37)]  # coarse values: many ties
    others = [rng.choice([-1.5, -2.0, -3.0]) for _ in range(29)]
    ours = membership_auc(members, others)
    ou = _pairwise_auc_ou([-m for m in members], [-o for o in others])
    assert ours == pytest.approx(ou, abs=1e-6)
    assert 0.5 < ours < 1.0  # members score higher on average here


def test_zlib_is_minus_ou_score():
    text = "The author was born in Kuwait City in 1956 to a family of bakers."
    assert zlib_length(text) == len(zlib.compress(text.encode("utf-8")))
    assert zlib_length("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") < zlib_length(text)
    ou = 1.7 / len(zlib.compress(text.encode("utf-8")))  # OU: avg NLL / zlib length
    assert zlib_score(-1.7, text) == pytest.approx(-ou, abs=1e-12)


def test_min_k_pp_worked_example():
    """3 tokens, k = 0.4: int(3 * 0.4) = 1 lowest z is kept.
    z = ((-1 - -2)/sqrt(4), (-3 - -1)/sqrt(1), (-0.5 - -0.5)/sqrt(1e-6 clamp)) = (0.5, -2, 0)."""
    assert standardised([-1.0, -3.0, -0.5], [-2.0, -1.0, -0.5], [4.0, 1.0, 1e-9]) == pytest.approx([0.5, -2.0, 0.0])
    assert min_k_pp_score([-1.0, -3.0, -0.5], [-2.0, -1.0, -0.5], [4.0, 1.0, 1e-9]) == pytest.approx(-2.0)
    # the clamp: a zero variance divides by sqrt(1e-6), not by zero
    assert standardised([-1.0], [-1.5], [0.0]) == pytest.approx([0.5 / 1e-3])


def test_min_k_pp_matches_ou_formula_on_random_distributions():
    """OU: mu = (exp(lp)*lp).sum(-1); sigma = (exp(lp)*lp**2).sum(-1) - mu**2; clamp 1e-6;
    scores = (target_lp - mu)/sqrt(sigma); -mean(sorted(scores)[:max(1, int(n*0.4))])."""
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 13):
        logits = rng.normal(size=(n, 50)) * 3
        lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        targets = rng.integers(0, 50, size=n)
        target_lp = lp[np.arange(n), targets]
        mu = (np.exp(lp) * lp).sum(-1)
        sigma = np.clip((np.exp(lp) * lp ** 2).sum(-1) - mu ** 2, 1e-6, None)
        scores = (target_lp - mu) / np.sqrt(sigma)
        ou = -np.mean(sorted(scores)[:max(1, int(n * 0.4))])
        var = (np.exp(lp) * lp ** 2).sum(-1) - mu ** 2
        assert min_k_pp_score(target_lp.tolist(), mu.tolist(), var.tolist()) == pytest.approx(-ou, abs=1e-6)


def test_min_k_pp_needs_one_moment_per_token():
    with pytest.raises(ValueError, match="one mean and variance per token"):
        standardised([-1.0, -2.0], [-1.0], [1.0, 1.0])


def test_gradnorm_is_minus_mean_of_per_tensor_norms():
    """OU: torch.stack([param.grad.norm(p=2) for each tensor]).mean(); not the global norm."""
    grads = [np.array([3.0, 4.0]), np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([12.0])]
    norms = [float(np.linalg.norm(g)) for g in grads]  # 5, 1, 12
    assert gradnorm_score(norms) == pytest.approx(-6.0)
    global_norm = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
    assert gradnorm_score(norms) != pytest.approx(-global_norm)
    with pytest.raises(ValueError):
        gradnorm_score([])


def test_reference_attack_auc_equals_ou():
    """OU: score = target_loss - ref_loss, forget labelled 0."""
    rng = random.Random(5)
    tgt_f = [rng.uniform(-3, 0) for _ in range(20)]
    ref_f = [rng.uniform(-3, 0) for _ in range(20)]
    tgt_h = [rng.uniform(-3, 0) for _ in range(15)]
    ref_h = [rng.uniform(-3, 0) for _ in range(15)]
    ours = membership_auc([reference_score(t, r) for t, r in zip(tgt_f, ref_f)],
                          [reference_score(t, r) for t, r in zip(tgt_h, ref_h)])
    ou = _pairwise_auc_ou([(-t) - (-r) for t, r in zip(tgt_f, ref_f)], [(-t) - (-r) for t, r in zip(tgt_h, ref_h)])
    assert ours == pytest.approx(ou, abs=1e-6)
