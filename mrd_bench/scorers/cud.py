"""CUD, circuit-guided unlearning difficulty (arXiv 2601.09624): pure functions on edge attributions.

- A sample's circuit is its top-n edges by |EAP-IG score|, a sparse vector over the graph's edges.
- The easy anchor E and the hard anchor H are the attributions averaged over the easy and the hard
  samples, sparsified the same way.
- CUD(x) = d(C_x, E) / (d(C_x, E) + d(C_x, H)), 0.5 when both distances are 0: 0 is easy-like,
  1 hard-like. d is 1 − cosine (default), or the Jaccard or the normalised Hamming distance of the
  edge sets.
- Cross-fitting: samples are dealt into k folds, and a sample is scored against anchors built
  from the other folds' labelled samples only, so no score ever uses the sample's own circuit.
- Per-circuit statistics for the paper's mechanistic finding (easy: short, shallow, early-to-middle
  pathways; hard: long, deep, late ones). An edge's depth is the mean of its endpoints' layers
  (embedding 0, layer n → n + 1, logits L + 1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.registry import Registry
from mrd_bench.scorers.eap import Graph

DISTANCES: Registry = Registry("distance")


@dataclass(frozen=True)
class Circuit:
    """The kept edges: indices into the graph's edges, by decreasing |score|, and their scores."""

    edges: np.ndarray  # [n] int
    scores: np.ndarray  # [n] float

    @property
    def support(self) -> frozenset:
        return frozenset(int(e) for e in self.edges)

    def dense(self, n_edges: int) -> np.ndarray:
        out = np.zeros(n_edges)
        out[self.edges] = self.scores
        return out


def circuit(attribution: np.ndarray, n: int) -> Circuit:
    """Top-n edges by |score| (ties broken by edge index, so the choice is deterministic)."""
    attribution = np.asarray(attribution, dtype=float)
    if n < 1:
        raise ConfigError(f"a circuit keeps at least 1 edge; got --top-edges {n}.")
    order = np.lexsort((np.arange(attribution.size), -np.abs(attribution)))[:n]
    return Circuit(order, attribution[order])


@DISTANCES.register("cosine")
def cosine_distance(a: Circuit, b: Circuit, n_edges: int) -> float:
    """1 − cos(a, b) of the sparse score vectors; 1 when either is all zeros."""
    va, vb = a.dense(n_edges), b.dense(n_edges)
    norm = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return 1.0 if norm == 0 else 1.0 - float(va @ vb) / norm


@DISTANCES.register("jaccard")
def jaccard_distance(a: Circuit, b: Circuit, n_edges: int) -> float:
    """1 − |A ∩ B| / |A ∪ B| of the kept edge sets."""
    union = a.support | b.support
    return 0.0 if not union else 1.0 - len(a.support & b.support) / len(union)


@DISTANCES.register("hamming")
def hamming_distance(a: Circuit, b: Circuit, n_edges: int) -> float:
    """|A Δ B| / n_edges: the Hamming distance of the 0/1 edge-membership vectors, per edge."""
    return len(a.support ^ b.support) / n_edges


def cud(d_easy: float, d_hard: float) -> float:
    total = d_easy + d_hard
    return 0.5 if total == 0 else d_easy / total


def folds(n: int, k: int, seed: int) -> np.ndarray:
    """The fold of each of n samples: a seeded shuffle dealt round-robin into k folds."""
    if k < 2:
        raise ConfigError(f"cross-fitting needs at least 2 folds; got --folds {k}.")
    out = np.empty(n, dtype=int)
    out[np.random.default_rng(seed).permutation(n)] = np.arange(n) % k
    return out


@dataclass(frozen=True)
class Anchors:
    easy: Circuit
    hard: Circuit
    n_easy: int
    n_hard: int


def anchors(attributions: np.ndarray, labels: Sequence[Optional[str]], use: np.ndarray, n: int) -> Anchors:
    """E and H from the rows where `use` is true: mean attribution per label, then top-n."""
    labels = np.asarray([lab or "" for lab in labels])
    easy, hard = use & (labels == "easy"), use & (labels == "hard")
    if not easy.any() or not hard.any():
        raise DataError(f"an anchor needs easy and hard samples outside the scored fold; this fold has "
                        f"{int(easy.sum())} easy and {int(hard.sum())} hard. Label more samples "
                        "(a larger --label-q) or use fewer --folds.")
    return Anchors(circuit(attributions[easy].mean(0), n), circuit(attributions[hard].mean(0), n),
                   int(easy.sum()), int(hard.sum()))


def cross_fit(attributions: np.ndarray, labels: Sequence[Optional[str]], *, n: int = 75, k: int = 5,
              seed: int = 0, distance: str = "cosine") -> tuple[list[dict], list[Anchors], np.ndarray]:
    """CUD of every row, each against the anchors of the folds it is not in.

    Returns per-row {"score", "d_easy", "d_hard", "fold"}, the anchors of each fold, and the folds."""
    d = DISTANCES.get(distance)
    attributions = np.asarray(attributions, dtype=float)
    n_edges = attributions.shape[1]
    fold = folds(len(attributions), k, seed)
    fold_anchors = [anchors(attributions, labels, fold != f, n) for f in range(k)]
    rows = []
    for i, row in enumerate(attributions):
        c, a = circuit(row, n), fold_anchors[fold[i]]
        d_easy, d_hard = d(c, a.easy, n_edges), d(c, a.hard, n_edges)
        rows.append({"score": cud(d_easy, d_hard), "d_easy": d_easy, "d_hard": d_hard, "fold": int(fold[i])})
    return rows, fold_anchors, fold


def _node(name: str) -> str:
    return name.split(".h")[0]  # a head belongs to its layer's attention node


def circuit_stats(graph: Graph, c: Circuit) -> dict[str, float]:
    """Depth statistics of a circuit: weighted mean layer, late share, mean span, longest path."""
    src = [graph.sources[graph.edges[e][0]] for e in c.edges]
    dst = [graph.destinations[graph.edges[e][1]] for e in c.edges]
    lo = np.array([graph.layer[s] for s in src], dtype=float)
    hi = np.array([graph.layer[t] for t in dst], dtype=float)
    mid, weight = (lo + hi) / 2, np.abs(c.scores)
    top = graph.n_layers + 1
    return {"mean_layer": float((weight * mid).sum() / weight.sum()) if weight.sum() > 0 else float(mid.mean()),
            "late_share": float((mid > 2 * top / 3).mean()),
            "mean_span": float((hi - lo).mean()),
            "longest_path": float(longest_path(list(zip(map(_node, src), dst)), _stream_order(graph)))}


def _stream_order(graph: Graph) -> list[str]:
    return ["emb"] + [x for n in range(graph.n_layers) for x in (f"a{n}", f"m{n}")] + ["logits"]


def longest_path(edges: Sequence[tuple[str, str]], order: Sequence[str]) -> int:
    """The number of edges on the longest path through the given edges (a DAG in `order`)."""
    rank = {name: i for i, name in enumerate(order)}
    best = {name: 0 for name in order}
    for u, v in sorted(set(edges), key=lambda e: rank[e[1]]):  # every edge into v after all edges into u
        best[v] = max(best[v], best[u] + 1)
    return max(best.values(), default=0)


Distance = Callable[[Circuit, Circuit, int], float]
