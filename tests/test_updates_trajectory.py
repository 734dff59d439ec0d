"""Updates to forget (mrd_bench/updates.py): the curves are those of an independent AdamW loop, the
count is where MA first falls below the threshold, PO draws its refusal answer like GradDiff its
retain sample, and `mrd-bench updates-to-forget` counts what `trajectory` counts."""
import math

import pytest
import torch

from mrd_bench.methods import METHODS
from mrd_bench.methods.stopping import Memorization
from mrd_bench.models import collate, encode_qa
from mrd_bench.updates import Budget, trajectory
from mrd_bench.train import answer_nll
from tests.conftest import FORGET

def test_ga_curve_matches_a_plain_adamw_loop(memorised):
    model, items = memorised
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    budget = Budget(lr=3e-3, max_updates=6, horizon=4, threshold_ma=-1.0)  # never reached: censored
    row = trajectory(model, original, items[0], METHODS.get("ga")(), budget)
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
                     threshold_ma=0.5))
    assert not row["censored"]
    n = row["updates"]
    assert row["ma"][n] < 0.5 and all(m >= 0.5 for m in row["ma"][:n]) and n >= 1
    assert len(row["ma"]) == max(n, 2) + 1  # it stops at the count (or the horizon, if later)
    above = trajectory(model, original, items[0], METHODS.get("ga")(), Budget(lr=3e-3, max_updates=5, horizon=2,
                       threshold_ma=1.5))
    assert above["updates"] == 0 and not above["censored"]  # already below a threshold above its MA
    # GradDiff's retain samples come in the same order for every sample: the same row whatever ran before
    retain = items[1:]
    one = trajectory(model, original, items[0], METHODS.get("graddiff")(), Budget(3e-3, 3, 3, -1.0),
                     retain=retain * 3)
    trajectory(model, original, items[1], METHODS.get("graddiff")(), Budget(3e-3, 3, 3, -1.0), retain=retain * 3)
    two = trajectory(model, original, items[0], METHODS.get("graddiff")(), Budget(3e-3, 3, 3, -1.0),
                     retain=retain * 3)
    assert one["nll"] == two["nll"]


def test_po_curve_matches_a_plain_adamw_loop_on_refusal_and_retain(memorised, tokenizer):
    model, items = memorised
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    refusal = encode_qa(tokenizer, FORGET[0][0], "I don't know anything about that subject.")
    row = trajectory(model, original, items[0], METHODS.get("po")(retain_weight=0.5), Budget(3e-3, 4, 4, -1.0),
                     retain=items[1:], refusals=[refusal])
    model.load_state_dict(original)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    expected = []
    for _ in range(5):
        with torch.no_grad():
            expected.append(answer_nll(model, [items[0]])[0])
        loss = model(**collate([refusal], 0)).loss + 0.5 * model(**collate(items[1:], 0)).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    for got, want in zip(row["nll"], expected):
        assert math.isclose(got, want, rel_tol=1e-4, abs_tol=1e-5)
    assert row["nll"][-1] > row["nll"][0]  # pulled toward the refusal, away from the answer


def test_the_command_counts_what_trajectory_counts(tiny_checkpoint, tmp_path, data_dir):
    """`run_updates` (the command) and `trajectory` on the same sample give the same count and MAs."""
    import json

    from mrd_bench.methods.loop import LoopConfig
    from mrd_bench.models import load_model
    from mrd_bench.unlearn import Inputs, Settings, encode
    from mrd_bench.updates import run_updates

    inputs = Inputs(model=str(tiny_checkpoint), benchmark="fictitious", forget="forget10",
                    threshold_split="holdout10", retain="retain90")
    settings = Settings(method="graddiff")
    out = run_updates(inputs, settings, LoopConfig(lr=5e-2, seed=3), tmp_path / "u.jsonl", max_updates=4,
                      progress=False, sample_ids=None)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    threshold = json.loads(out.with_name("u.meta.json").read_text())["threshold"]["ma"]
    model, tok = load_model(str(tiny_checkpoint))
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    forget, retain = inputs.load("forget10"), encode(tok, inputs.load("retain90"), settings)
    j = 2
    again = trajectory(model, original, encode(tok, forget, settings)[j], settings.build_method(),
                       Budget(5e-2, 4, 0, threshold, seed=3), retain=retain)
    assert rows[j]["sample_id"] == forget["sample_id"][j]
    assert (rows[j]["updates"], rows[j]["censored"]) == (again["updates"], again["censored"])
    assert (rows[j]["ma_initial"], rows[j]["ma_final"]) == (again["ma"][0], again["ma"][-1])


def test_graddiff_without_retain_samples_is_refused(memorised):
    from mrd_bench.errors import ConfigError

    model, items = memorised
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with pytest.raises(ConfigError, match="needs retain samples"):
        trajectory(model, original, items[0], METHODS.get("graddiff")(), Budget(3e-3, 3, 3, -1.0))
