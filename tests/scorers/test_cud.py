"""CUD's circuit, distances, score, cross-fitting and depth statistics, against hand arithmetic."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.scorers.cud import (Circuit, circuit, circuit_stats, cosine_distance, cross_fit, cud,
                                   hamming_distance, jaccard_distance, longest_path)
from mrd_bench.scorers.eap import build_graph


def test_circuit_keeps_the_top_edges_by_absolute_score():
    c = circuit(np.array([0.1, -3.0, 2.0, 0.0, -2.0]), 3)
    assert c.edges.tolist() == [1, 2, 4]  # |-3| > |2| = |-2| (tie: lower index first)
    assert c.scores.tolist() == [-3.0, 2.0, -2.0]


def test_distances_by_hand():
    a = Circuit(np.array([0, 1]), np.array([3.0, 4.0]))  # dense (3, 4, 0, 0)
    b = Circuit(np.array([1, 2]), np.array([4.0, 3.0]))  # dense (0, 4, 3, 0)
    # cos = 16 / (5 * 5)
    assert cosine_distance(a, b, 4) == pytest.approx(1 - 16 / 25)
    # |A ∩ B| = 1 ({1}), |A ∪ B| = 3
    assert jaccard_distance(a, b, 4) == pytest.approx(1 - 1 / 3)
    # A Δ B = {0, 2}: 2 of 4 edges differ
    assert hamming_distance(a, b, 4) == pytest.approx(2 / 4)
    neg = Circuit(np.array([0, 1]), np.array([-3.0, -4.0]))
    assert cosine_distance(a, neg, 4) == pytest.approx(2.0)  # opposite direction
    assert cosine_distance(a, a, 4) == pytest.approx(0.0)


def test_cud_score_by_hand():
    assert cud(0.2, 0.6) == pytest.approx(0.25)  # nearer the easy anchor: easy-like
    assert cud(0.6, 0.2) == pytest.approx(0.75)
    assert cud(0.0, 0.0) == 0.5
    assert cud(0.0, 1.0) == 0.0


def _data():
    rng = np.random.default_rng(0)
    easy_dir, hard_dir = np.zeros(40), np.zeros(40)
    easy_dir[:10], hard_dir[20:30] = 1.0, 1.0
    rows, labels = [], []
    for i in range(30):
        kind = ["easy", "hard", None][i % 3]
        base = easy_dir if kind == "easy" else hard_dir if kind == "hard" else (easy_dir + hard_dir) / 2
        rows.append(base * rng.uniform(0.5, 2.0) + rng.normal(0, 0.05, 40))
        labels.append(kind)
    return np.array(rows), labels


def test_cross_fitting_never_uses_a_samples_own_circuit():
    attributions, labels = _data()
    scores, fold_anchors, fold = cross_fit(attributions, labels, n=8, k=3, seed=1)
    for i in range(len(attributions)):
        # rebuild the anchor by hand from the samples outside i's fold
        others = [j for j in range(len(attributions)) if fold[j] != fold[i]]
        assert i not in others
        easy = np.mean([attributions[j] for j in others if labels[j] == "easy"], axis=0)
        want = circuit(easy, 8)
        assert fold_anchors[fold[i]].easy.edges.tolist() == want.edges.tolist()
        np.testing.assert_allclose(fold_anchors[fold[i]].easy.scores, want.scores)
    # changing one sample's attribution never changes its own score's anchors
    moved = attributions.copy()
    moved[0] = -100.0
    again, _, _ = cross_fit(moved, labels, n=8, k=3, seed=1)
    same_fold = [j for j in range(1, 30) if fold[j] == fold[0]]
    for j in same_fold:
        assert again[j]["score"] == pytest.approx(scores[j]["score"])
    # and the scores separate the planted easy from the hard samples
    easy = [s["score"] for s, lab in zip(scores, labels) if lab == "easy"]
    hard = [s["score"] for s, lab in zip(scores, labels) if lab == "hard"]
    assert max(easy) < 0.3 and min(hard) > 0.7


def test_too_few_labels_per_fold_is_a_clear_error():
    attributions, labels = _data()
    only_one = ["easy" if lab == "easy" else None for lab in labels]
    with pytest.raises(DataError, match="easy and hard"):
        cross_fit(attributions, only_one, n=5, k=3)
    with pytest.raises(ConfigError, match="folds"):
        cross_fit(attributions, labels, n=5, k=1)


def test_circuit_statistics_by_hand():
    graph = build_graph(3)  # layers: emb 0, a0/m0 1, a1/m1 2, a2/m2 3, logits 4
    names = graph.edge_names()
    pick = ["emb->a0", "a0->m0", "m0->a2", "a2->logits"]
    c = Circuit(np.array([names.index(p) for p in pick]), np.array([1.0, -1.0, 2.0, 4.0]))
    stats = circuit_stats(graph, c)
    mids = [0.5, 1.0, 2.0, 3.5]  # (0+1)/2, (1+1)/2, (1+3)/2, (3+4)/2
    assert stats["mean_layer"] == pytest.approx((0.5 + 1.0 + 4.0 + 14.0) / 8)
    assert stats["late_share"] == pytest.approx(sum(m > 8 / 3 for m in mids) / 4)
    assert stats["mean_span"] == pytest.approx((1 + 0 + 2 + 1) / 4)
    assert stats["longest_path"] == 4  # emb -> a0 -> m0 -> a2 -> logits


def test_longest_path_with_a_shortcut():
    order = ["emb", "a0", "m0", "a1", "m1", "logits"]
    assert longest_path([("emb", "logits"), ("emb", "a1"), ("a1", "logits")], order) == 2
    assert longest_path([], order) == 0
    assert math.isfinite(longest_path([("m0", "m1")], order))
