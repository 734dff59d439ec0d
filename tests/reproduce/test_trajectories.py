"""Per-sample trajectories: the curves are those of an independent AdamW loop, and the count is
where MA first falls below the threshold."""
import math

import pytest
import torch

from mrd_bench.methods import METHODS
from mrd_bench.methods.stopping import Memorization
from mrd_bench.models import collate, encode_qa
from mrd_bench.reproduce.trajectories import Budget, trajectory
from mrd_bench.train import FinetuneConfig, answer_nll, finetune
from tests.conftest import build_model

QA = [("Who wrote the novel?", "Liesel Varnakov wrote it in 1999."),
      ("Where was she born?", "The author was born in Tartu, Estonia.")]


@pytest.fixture()
def memorised(tokenizer):
    model = build_model(len(tokenizer), hidden=64)
    items = [encode_qa(tokenizer, q, a) for q, a in QA]
    finetune(model, items, FinetuneConfig(epochs=40, lr=1e-2, batch_size=2, warmup_ratio=0.0), progress=False)
    return model.eval(), items


def test_ga_curve_matches_a_plain_adamw_loop(memorised):
    model, items = memorised
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    budget = Budget(lr=3e-3, max_updates=6, horizon=4, threshold_ma=-1.0)  # never reached: censored
    row = trajectory(model, original, items[0], METHODS.get("ga")(), budget, index=0)
    assert row["censored"] and row["updates"] == 6 and len(row["nll"]) == 7

    # the same updates, written out: ascent on the mean answer NLL with AdamW
    model.load_state_dict(original)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    batch = collate([items[0]], 0)
    expected = []
    for _ in range(7):
        with torch.no_grad():
            expected.append(answer_nll(model, [items[0]])[0])
        loss = -model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    for got, want in zip(row["nll"], expected):
        assert math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5)
    assert row["nll"][-1] > row["nll"][0] + 0.5  # ascent raises the loss
    assert math.isclose(row["loss_increase"], row["nll"][4] - row["nll"][0])
    assert math.isclose(row["ma_auc"], sum(row["ma"][:5]) / 5)


def test_count_is_the_first_update_below_the_threshold(memorised):
    model, items = memorised
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    ma0 = Memorization().ma(model, items[:1])[0]
    assert ma0 > 0.7
    row = trajectory(model, original, items[0], METHODS.get("npo")(), Budget(lr=3e-3, max_updates=40, horizon=2,
                     threshold_ma=0.5), index=0)
    assert not row["censored"]
    n = row["updates"]
    assert row["ma"][n] < 0.5 and all(m >= 0.5 for m in row["ma"][:n]) and n >= 1
    assert len(row["ma"]) == max(n, 2) + 1  # it stops at the count (or the horizon, if later)
    above = trajectory(model, original, items[0], METHODS.get("ga")(), Budget(lr=3e-3, max_updates=5, horizon=2,
                       threshold_ma=1.5), index=0)
    assert above["updates"] == 0 and not above["censored"]  # already below a threshold above its MA
    # the retain sample of GradDiff is drawn per sample index: the same row whatever ran before
    retain = items[1:]
    one = trajectory(model, original, items[0], METHODS.get("graddiff")(), Budget(3e-3, 3, 3, -1.0), index=7,
                     retain=retain * 3)
    two = trajectory(model, original, items[0], METHODS.get("graddiff")(), Budget(3e-3, 3, 3, -1.0), index=7,
                     retain=retain * 3)
    assert one["nll"] == two["nll"]
