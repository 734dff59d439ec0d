"""Per-token MRD: the same number as the engine's `definition`, and the variants computed by hand."""
import math

import torch

from mrd_bench.models import encode_qa
from mrd_bench.reproduce.token_mrd import TokenDraws, merge, token_draws
from mrd_bench.scorers.runner import ScoreConfig, score_items
from tests.conftest import build_model

QA = [("Who wrote the novel?", "Liesel Varnakov wrote it."),
      ("Where was she born?", "In Tartu, Estonia."),
      ("What genre?", "Historical fiction about the sea.")]


def test_token_draws_equal_the_engine_definition_score(tokenizer):
    model = build_model(len(tokenizer))
    items = [encode_qa(tokenizer, q, a) for q, a in QA]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    draws = token_draws(model, items, sigma=1e-3, seed=3, pairs=3, batch_size=16, progress=False)
    rows, _ = score_items(model, items, ["a", "b", "c"], ["x"] * 3,
                          ScoreConfig(estimator="definition", sigma=1e-3, draws=3, seed=3, eps=1e-3,
                                      baselines=False, batch_size=16), progress=False)
    for d, row in zip(draws, rows):
        assert len(d.p0) == row["n_tokens"] and len(d.d) == 3
        assert math.isclose(d.mrd(1e-3), row["score"], rel_tol=1e-6)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # weights back bit-exactly


def test_variants_by_hand():
    d = TokenDraws(p0=[-2.0, -1e-4, -0.5], d=[[0.02, 1e-6, 0.01], [0.04, 3e-6, -0.03]])
    # mean over draws of Σ_t d_t / min(p0_t, -eps)
    per_draw = [0.02 / -2.0 + 1e-6 / -1e-3 + 0.01 / -0.5, 0.04 / -2.0 + 3e-6 / -1e-3 + -0.03 / -0.5]
    assert math.isclose(d.mrd(1e-3), abs(sum(per_draw) / 2))
    assert math.isclose(d.mrd(1e-3, per_token=True), abs(sum(per_draw) / 2) / 3)
    kept = [0.02 / -2.0 + 0.01 / -0.5, 0.04 / -2.0 + -0.03 / -0.5]
    assert math.isclose(d.mrd(1e-3, drop_clamped=True), abs(sum(kept) / 2))
    assert math.isclose(d.mrd(1e-3, draws=[1]), abs(per_draw[1]))
    assert d.n_clamped(1e-3) == 1 and d.n_clamped(1e-5) == 0
    both = merge([[d], [TokenDraws(p0=d.p0, d=[[0.0, 0.0, 0.0]])]])[0]
    assert len(both.d) == 3 and math.isclose(both.mrd(1e-3), abs(sum(per_draw) / 3))
