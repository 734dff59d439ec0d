"""The study's statistics against cases whose answers are known without the code."""
import math

import numpy as np

from mrd_bench.reproduce import stats


def test_partial_spearman_removes_a_shared_cause():
    rng = np.random.default_rng(0)
    z = rng.normal(size=400)
    x, y = z + 0.3 * rng.normal(size=400), z + 0.3 * rng.normal(size=400)
    assert stats.spearman(x, y) > 0.8
    assert abs(stats.partial_spearman(x, y, [z])) < 0.15
    # x and y related beyond z stay related
    y2 = z + x
    assert stats.partial_spearman(x, y2, [z]) > 0.5


def test_correlation_ci_covers_and_pools_seeds():
    rng = np.random.default_rng(1)
    t = rng.normal(size=300)
    seeds = [-t + 0.5 * rng.normal(size=300) for _ in range(3)]
    out = stats.correlation(seeds, t, n_boot=500)
    assert out["ci"][0] < out["rho"] < out["ci"][1] < 0 and out["seeds"] == 3 and out["p"] < 1e-6
    assert math.isclose(out["rho"], np.mean(out["per_seed"]))


def test_kendall_w_extremes():
    same = [[1, 2, 3, 4, 5]] * 3
    assert math.isclose(stats.kendall_w(same)["w"], 1.0)
    opposed = [[1, 2, 3, 4], [4, 3, 2, 1]]
    assert math.isclose(stats.kendall_w(opposed)["w"], 0.0, abs_tol=1e-12)
    # by hand: 3 raters, 3 items, rank sums 3, 6, 9 → S = 18, W = 12·18 / (9·24) = 1
    # a tie: rows [1,1,2] and [1,2,3]
    w = stats.kendall_w([[1, 1, 2], [1, 2, 3]])["w"]
    ranks = np.array([[1.5, 1.5, 3], [1, 2, 3]])
    s = ((ranks.sum(0) - 2 * 2) ** 2).sum()
    assert math.isclose(w, 12 * s / (4 * 24 - 2 * 6))


def test_cliffs_delta_and_ties():
    assert stats.cliffs_delta([3, 4], [1, 2]) == 1.0
    assert stats.cliffs_delta([1, 2], [1, 2]) == 0.0
    assert math.isclose(stats.cliffs_delta([2], [1, 2, 3]), 0.0)
    assert stats.ties([1, 1, 2, 3, 3, 3]) == {"distinct": 3, "tied_share": 5 / 6, "largest_tie": 3}


def test_stage_clock_sums_invocations_of_the_same_key(tmp_path):
    import json
    import time

    from mrd_bench.reproduce.study import StageClock

    path = tmp_path / "clock.json"
    with StageClock(path, "k1", every=0.05):
        time.sleep(0.3)
        mid = json.loads(path.read_text())
    assert 0.1 <= mid["wall_s"] <= 0.5  # written while running: a killed run keeps its time
    with StageClock(path, "k1") as clock:
        time.sleep(0.1)
    assert clock.invocations == 2 and 0.35 <= clock.total <= 1.0
    with StageClock(path, "k2") as other:  # other settings start from zero
        pass
    assert other.invocations == 1 and other.total < 0.2
