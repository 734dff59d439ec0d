"""The second pass's tests and decision rules, against values computed by hand or by simulation."""
import math

import numpy as np
import pytest
from scipy import stats as sps

from mrd_bench.reproduce import decide, stats

RHO = decide.Primary(test="Spearman", statistic="rho", expected="below", null=0.0, sesoi=0.1)


def test_spearman_test_ci_and_p_agree_and_match_fisher_z_by_hand():
    rng = np.random.default_rng(0)
    x = rng.normal(size=120)
    y = -0.3 * x + rng.normal(size=120)
    out = stats.spearman_test(x, y)
    r = sps.spearmanr(x, y)[0]
    se = math.sqrt((1 + r * r / 2) / 117)  # Bonett & Wright (2000)
    assert math.isclose(out["rho"], r)
    assert math.isclose(out["ci"][0], math.tanh(math.atanh(r) - 1.959964 * se), rel_tol=1e-5)
    assert math.isclose(out["p"], 2 * sps.norm.sf(abs(math.atanh(r)) / se), rel_tol=1e-9)
    # the p-value crosses 0.05 exactly where the CI's end crosses 0
    for n in (20, 40, 60):
        o = stats.spearman_test(x[:n], y[:n])
        assert (o["p"] < 0.05) == (o["ci"][1] < 0 or o["ci"][0] > 0)


def test_holm_by_hand():
    out = stats.holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert out["a"] == pytest.approx(0.03) and out["c"] == pytest.approx(0.06)
    assert out["b"] == pytest.approx(0.06)  # step-down keeps it monotone
    # a test that could not be computed stays NaN but still counts in the family: 4 tests, not 3
    out = stats.holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": math.nan})
    assert out["a"] == pytest.approx(0.04) and out["c"] == pytest.approx(0.09)
    assert out["b"] == pytest.approx(0.09) and math.isnan(out["d"])


def test_undirected_tests_share_the_holm_family():
    directed = {"t": (RHO, {"estimate": -0.2, "ci": [-0.33, -0.06], "p": 0.02, "n": 200})}
    alone = decide.secondary(directed, mdes={})
    assert alone["t"]["p_holm"] == pytest.approx(0.02) and alone["t"]["verdict"] == decide.REPRODUCED
    together = decide.secondary(directed, mdes={}, undirected={"u": 0.3, "v": 0.04})
    assert together["t"]["p_holm"] == pytest.approx(0.06) and together["t"]["verdict"] != decide.REPRODUCED
    assert together["v"] == {"p_raw": 0.04, "p_holm": pytest.approx(0.08)}
    assert together["u"]["p_holm"] == pytest.approx(0.3)


def test_mde_against_a_nonzero_null_hits_80_percent_in_simulation():
    rng = np.random.default_rng(4)
    n, null = 200, 0.9
    gap = stats.mde_spearman_above(n, null)
    assert 0 < gap < 0.1 and stats.mde_spearman_above(2 * n, null) < gap
    rho = null + gap
    r = 2 * math.sin(rho * math.pi / 6)  # for a normal pair, Spearman = (6/π)·asin(r/2)
    hits = [stats.spearman_test(*rng.multivariate_normal([0, 0], [[1, r], [r, 1]], n).T, null=null)["p"] < 0.05
            for _ in range(1500)]
    assert 0.74 < np.mean(hits) < 0.86
    assert math.isnan(stats.mde_spearman_above(3, null))


def test_t_interval_and_sign_flip_by_hand():
    out = stats.t_interval([1, 2, 3, 4, 5])
    half = sps.t.ppf(0.975, 4) * math.sqrt(2.5) / math.sqrt(5)
    assert out["ci"] == pytest.approx([3 - half, 3 + half])
    # all five positive: only the all-plus and all-minus of 32 sign patterns are as extreme
    assert stats.sign_flip([1, 2, 3, 4, 5]) == pytest.approx(2 / 32)
    assert stats.sign_flip([1, -1]) == 1.0


def test_power_functions_hit_80_percent_in_simulation():
    rng = np.random.default_rng(1)
    # paired t: at the reported d, about 80% of simulated studies reject
    d = stats.mde_paired(12)
    hits = [sps.ttest_1samp(rng.normal(d, 1, 12), 0).pvalue < 0.05 for _ in range(4000)]
    assert 0.77 < np.mean(hits) < 0.83
    # random effects: θ at the reported MDE rejects about 80% of the time
    k, r = 8, 2
    theta = stats.mde_random_effects(k, r)
    hits = []
    for _ in range(3000):
        means = rng.normal(0, math.sqrt(theta), k)
        groups = [m + rng.normal(0, 1, r) for m in means]
        hits.append(stats.random_effects_f(groups)["p"] < 0.05)
    assert 0.76 < np.mean(hits) < 0.84
    # Spearman at n = 200: about 0.2, and the simulated test finds it about 80% of the time
    rho = stats.mde_spearman(200)
    assert 0.18 < rho < 0.22 and stats.mde_spearman(800) < rho
    r = 2 * math.sin(rho * math.pi / 6)  # for a normal pair, Spearman = (6/π)·asin(r/2)
    hits = [stats.spearman_test(*rng.multivariate_normal([0, 0], [[1, r], [r, 1]], 200).T)["p"] < 0.05
            for _ in range(1500)]
    assert 0.75 < np.mean(hits) < 0.85
    assert stats.n_for_auc(stats.mde_auc(50, 50)) <= 100


def test_random_effects_f_by_hand():
    groups = [[1.0, 3.0], [5.0, 7.0], [9.0, 11.0]]
    out = stats.random_effects_f(groups)
    # grand mean 6; group means 2, 6, 10: MS_between = 2·(16 + 0 + 16) / 2 = 32; MS_within = 6·... = (2+2+2)/3 = 2
    assert out["f"] == pytest.approx(16) and out["df"] == [2, 3]
    assert out["p"] == pytest.approx(sps.f.sf(16, 2, 3))
    assert out["theta"] == pytest.approx((32 - 2) / 2 / 2)


@pytest.mark.parametrize("result, beyond, verdict", [
    ({"estimate": -0.35, "ci": [-0.47, -0.22], "p": 1e-6, "n": 200}, {"rho": -0.2, "ci": [-0.33, -0.06]},
     decide.REPRODUCED),
    ({"estimate": -0.35, "ci": [-0.47, -0.22], "p": 1e-6, "n": 200}, {"rho": -0.05, "ci": [-0.19, 0.09]},
     decide.NOT_BEYOND),
    ({"estimate": 0.3, "ci": [0.17, 0.42], "p": 1e-5, "n": 200}, None, decide.NOT_REPRODUCED),  # against
    ({"estimate": 0.02, "ci": [-0.08, 0.12], "p": 0.7, "n": 400}, None, decide.NOT_REPRODUCED),  # excluded
    ({"estimate": -0.1, "ci": [-0.24, 0.04], "p": 0.16, "n": 200}, None, decide.INCONCLUSIVE),
])
def test_the_four_verdicts(result, beyond, verdict):
    out = decide.decide(RHO, result, mde=0.2, beyond=beyond)
    assert out["verdict"] == verdict
    assert out["primary"]["test"] == "Spearman" and out["primary"]["expected"] == "below"
    assert ("power" in out) == (verdict == decide.INCONCLUSIVE)
    if verdict == decide.INCONCLUSIVE:
        assert "0.2" in out["power"]["statement"] and "80%" in out["power"]["statement"]


def test_secondary_tests_are_holm_corrected():
    tests = {f"t{i}": (RHO, {"estimate": -0.2, "ci": [-0.33, -0.06], "p": p, "n": 200})
             for i, p in enumerate((0.01, 0.02, 0.03))}
    out = decide.secondary(tests, mdes={})
    assert [round(out[f"t{i}"]["p_holm"], 6) for i in range(3)] == [0.03, 0.04, 0.04]
    assert all(o["verdict"] == decide.REPRODUCED for o in out.values())
    out = decide.secondary({**tests, "t3": (RHO, {"estimate": -0.2, "ci": [-0.33, -0.06], "p": 0.02, "n": 200})},
                           mdes={})
    assert out["t1"]["p_holm"] == pytest.approx(0.06) and out["t1"]["verdict"] != decide.REPRODUCED


def test_delta_test_by_hand_and_its_p_matches_its_ci():
    out = stats.delta_test([5, 6, 7, 8, 1, 2, 3, 4], [True] * 4 + [False] * 4)
    assert out["delta"] == 1.0 and out["n_high"] == 4 and out["median_high"] == 6.5
    rng = np.random.default_rng(3)
    for shift in (0.0, 0.3, 0.6):
        v = np.r_[rng.normal(shift, 1, 40), rng.normal(0, 1, 40)]
        o = stats.delta_test(v, [True] * 40 + [False] * 40)
        assert (o["p"] < 0.05) == (o["ci"][0] > 0 or o["ci"][1] < 0)
        assert o["delta"] == pytest.approx(stats.cliffs_delta(v[:40], v[40:]))


def test_theta_ci_matches_the_one_sided_f_test():
    from scipy.stats import f as fdist

    crit = fdist.ppf(0.95, 4, 10)
    lo, _ = stats.theta_ci(crit, 4, 10, 3)
    assert lo == pytest.approx(0, abs=1e-9)  # at the critical F the 90% interval's lower end is 0


@pytest.mark.parametrize("result, verdict", [
    ({"estimate": 0.62, "ci": [0.55, 0.69], "p": 1e-4, "n": 90}, decide.REPRODUCED),
    ({"estimate": 0.52, "ci": [0.505, 0.535], "p": 0.01, "n": 900}, decide.REPRODUCED),  # small, but significant
    ({"estimate": 0.51, "ci": [0.48, 0.54], "p": 0.5, "n": 900}, decide.NOT_REPRODUCED),  # 0.05 excluded
    ({"estimate": 0.40, "ci": [0.31, 0.49], "p": 0.03, "n": 90}, decide.NOT_REPRODUCED),  # against
    ({"estimate": 0.56, "ci": [0.44, 0.68], "p": 0.3, "n": 90}, decide.INCONCLUSIVE),
])
def test_the_verdicts_above_the_null(result, verdict):
    auc = decide.Primary(test="AUC", statistic="AUC", expected="above", null=0.5, sesoi=0.05)
    assert decide.decide(auc, result, mde=0.1)["verdict"] == verdict


def test_not_beyond_says_whether_the_partial_covers_0_or_lies_against():
    significant = {"estimate": -0.35, "ci": [-0.47, -0.22], "p": 1e-6, "n": 200}
    covers = decide.decide(RHO, significant, mde=0.2, beyond={"rho": -0.05, "ci": [-0.19, 0.09], "label": "ρ | L"})
    against = decide.decide(RHO, significant, mde=0.2, beyond={"rho": 0.2, "ci": [0.06, 0.33], "label": "ρ | L"})
    assert covers["verdict"] == against["verdict"] == decide.NOT_BEYOND
    assert "covers 0" in covers["why"] and "ρ | L" in covers["why"]
    assert "other side" in against["why"] and "covers 0" not in against["why"]


def test_the_protocol_is_judged_per_method():
    significant = {"estimate": -0.35, "ci": [-0.47, -0.22], "p": 1e-6, "n": 200}
    by = {"graddiff": 1.0, "npo": 0.6}
    out = decide.decide(RHO, significant, mde=0.2, protocol={"reached": min(by.values()), "by": by, "required": 0.8})
    assert out["verdict"] == decide.INCONCLUSIVE and "npo 60%" in out["why"] and "graddiff" not in out["why"]


def test_exclusion_needs_permission_and_the_protocol_must_be_met():
    excluded = {"estimate": 0.02, "ci": [-0.08, 0.05], "p": 0.7, "n": 400}
    assert decide.decide(RHO, excluded, mde=0.2)["verdict"] == decide.NOT_REPRODUCED
    assert decide.decide(RHO, excluded, mde=0.2, allow_exclusion=False)["verdict"] == decide.INCONCLUSIVE
    strong = {"estimate": -0.35, "ci": [-0.47, -0.22], "p": 1e-6, "n": 200}
    out = decide.decide(RHO, strong, mde=0.2, protocol={"reached": 0.5, "required": 0.8})
    assert out["verdict"] == decide.INCONCLUSIVE and "50%" in out["why"] and "power" in out
    assert decide.decide(RHO, strong, mde=0.2, protocol={"reached": 0.9, "required": 0.8})["verdict"] == \
        decide.REPRODUCED


def _stability(tmp_path, c_signal, b_noise):
    """A synthetic claim5_stability.json: runs A, B at one σ, C at another, 16 draws of 120 samples."""
    import json

    rng = np.random.default_rng(5)
    n, k = 120, 16
    signal = rng.normal(size=n)

    def run(base, noise, sigma):
        return {"sigma": sigma, "values": (base + noise * rng.normal(size=(k, n)) * math.sqrt(k)).tolist()}

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "study.json").write_text(json.dumps({"sigma": 1e-4}))
    (folder / "samples.csv").write_text("sample_id\n" + "\n".join(f"s{i}" for i in range(n)) + "\n")
    stab = {"alg1": {"A": run(signal, 0.05, 1e-5), "B": run(signal, b_noise, 1e-5), "C": run(c_signal(signal), 0.05, 1e-3)},
            "definition": {"float64/sigma=0.0001": {"mrd": signal.tolist(), "zero_share": 0.0}}}
    (folder / "claim5_stability.json").write_text(json.dumps(stab))
    from mrd_bench.reproduce.data import Data

    return Data(folder)


@pytest.mark.parametrize("c_signal, b_noise, verdict, against", [
    (lambda s: s, 0.05, decide.REPRODUCED, None),  # stable in σ, and two runs agree above 0.9
    (lambda s: np.random.default_rng(9).normal(size=len(s)), 0.05, decide.NOT_REPRODUCED, "σ"),  # σ changes the ranking
    (lambda s: s, 1.5, decide.NOT_REPRODUCED, "K"),  # two runs at one σ agree far below 0.9
])
def test_claim5_needs_both_sigma_and_k(tmp_path, c_signal, b_noise, verdict, against):
    from mrd_bench.reproduce.claims import sensitivity

    out = sensitivity.analyse(_stability(tmp_path, c_signal, b_noise))
    assert out["verdict"] == verdict
    assert out["co_primary"]["primary"]["null"] == 0.9 and out["primary"]["statistic"] == "Δρ"
    assert math.isfinite(out["co_primary"]["primary"]["mde_80"])  # the K test states its power too
    if against:
        assert f"against the paper after Holm: {against}" in out["why"]
