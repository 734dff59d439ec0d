"""The training loop: early stopping on a model that memorised its forget set, and MRD refresh."""
from pathlib import Path

import pytest
import torch

from mrd_bench.errors import ConfigError
from mrd_bench.methods import METHODS
from mrd_bench.methods.loop import LoopConfig, Stopper, train
from mrd_bench.methods.stopping import Memorization, Threshold
from mrd_bench.models import encode_qa
from mrd_bench.samplers import SAMPLERS
from mrd_bench.samplers.uniform import Uniform
from tests.conftest import build_model

UNSEEN = [("What genre does she write?", "She writes historical fiction about the sea."),
          ("What did the fox do?", "the quick brown fox jumps over the lazy dog")]


def test_ga_stops_when_ma_and_el_fall_below_the_threshold(tokenizer, memorised):
    model, items = memorised
    memo = Memorization(n=2, stride=2)
    unseen = memo.threshold(model, [encode_qa(tokenizer, q, a) for q, a in UNSEEN], tokenizer.eos_token_id)
    start = memo.check(model, items, tokenizer.eos_token_id, unseen)
    assert start["ma"] > 0.9 > unseen.ma and not start["below"]  # memorised: far above never-seen samples
    # a tiny model's never-seen EL is 0, which nothing falls below; halve the memorised values instead
    threshold = Threshold(ma=start["ma"] / 2, el=memo.threshold(model, items, tokenizer.eos_token_id).el / 2)
    assert threshold.el > 0
    model, result = train(model, items, METHODS.get("ga")(), Uniform(2), LoopConfig(lr=1e-2, max_steps=30,
                          batch_size=2), stopper=Stopper(memo, threshold, tokenizer.eos_token_id),
                          stop_early=True, progress=False)
    assert result.updates_to_threshold is not None
    assert result.steps == result.updates_to_threshold < 30  # stopped at the first check below
    last, before = result.checks[-1], result.checks[-2]
    assert last["below"] and last["ma"] < threshold.ma and last["el"] < threshold.el
    assert not before["below"]


def test_mrd_is_refreshed_every_m_steps_with_the_current_weights(tokenizer, memorised):
    model, items = memorised
    seen = []

    def rescore(current):
        seen.append({k: v.clone() for k, v in current.state_dict().items()})
        return [1.0, 2.0 + len(seen)]

    sampler = SAMPLERS.get("mrd")(n=2, scores=[1.0, 1.0])
    _, result = train(model, items, METHODS.get("cga")(), sampler, LoopConfig(lr=1e-3, max_steps=7, batch_size=2,
                      refresh_every=3), rescore=rescore, progress=False)
    assert result.refreshes == [3, 6]
    assert sampler.scores == [1.0, 4.0]
    assert not all(torch.equal(seen[0][k], seen[1][k]) for k in seen[0])  # scored with the weights of then


def brute_force_el(model, items, n, stride, eos):
    """EL_n by generating from every prefix, one at a time."""
    from mrd_bench.metrics.memorization import extraction_likelihood
    from mrd_bench.models import IGNORE

    out = []
    for e in items:
        start = next(i for i, label in enumerate(e.labels) if label != IGNORE)
        conts, sufs = [], []
        for t in range(start, len(e.input_ids) - n + 1, stride):
            suffix = e.input_ids[t:]
            new = model.generate(input_ids=torch.tensor([e.input_ids[:t]]), do_sample=False, pad_token_id=0,
                                 eos_token_id=eos, max_new_tokens=len(suffix))[0, t:].tolist()[:len(suffix)]
            conts.append(new[:new.index(eos) + 1] if eos in new else new)
            sufs.append(suffix)
        out.append(extraction_likelihood(conts, sufs, n))
    return out


@pytest.mark.parametrize("trained", [True, False])
def test_el_reuses_true_tokens_and_matches_generating_from_every_prefix(tokenizer, memorised, trained):
    model, items = memorised if trained else (build_model(len(tokenizer), hidden=64), memorised[1])
    memo = Memorization(n=2, stride=3)
    expected = brute_force_el(model, items, 2, 3, tokenizer.eos_token_id)
    assert memo.el(model, items, tokenizer.eos_token_id) == pytest.approx(expected)
    assert (max(expected) > 0.5) == trained


def test_plateau_means_no_lower_ma_for_patience_checks():
    from mrd_bench.methods.stopping import plateaued

    checks = [{"ma": m} for m in (0.99, 0.90, 0.80, 0.81, 0.80, 0.85)]
    assert plateaued(checks, 3)  # 0.81, 0.80, 0.85: none below 0.80
    assert not plateaued(checks[:5], 3)  # 0.80, 0.81, 0.80 against 0.90: the first went lower
    assert not plateaued(checks, 0) and not plateaued(checks[:3], 3)  # off; too few checks


def test_a_run_that_settles_above_the_threshold_stops_after_patience_checks(tokenizer, memorised):
    model, items = memorised
    memo = Memorization(n=2, stride=2)
    never = Threshold(ma=-1.0, el=float("nan"))  # nothing falls below it
    _, result = train(model, items, METHODS.get("ga")(), Uniform(2), LoopConfig(lr=1e-12, max_steps=20, batch_size=2),
                      stopper=Stopper(memo, never, tokenizer.eos_token_id, with_el=False), stop_early=True,
                      plateau=3, progress=False)
    # lr ~ 0: MA stays put, so checks 1, 2, 3 find nothing lower than check 0's
    assert result.plateau_at == result.steps == 3 and result.updates_to_threshold is None
    assert [c["step"] for c in result.checks] == [0, 1, 2, 3]


class _InfiniteGradient:
    """A finite loss whose gradient is not: sqrt(x - x) is 0, its derivative at 0 is inf."""

    retain = "none"
    needs_reference = False
    needs_refusals = False

    def per_sample_loss(self, batch) -> torch.Tensor:  # [B]
        nll = batch.forget_nll
        return nll + torch.sqrt(nll - nll.detach())


def test_non_finite_weights_after_an_update_stop_the_run_naming_the_step(tokenizer, tmp_path):
    from mrd_bench.errors import TrainingDiverged
    from mrd_bench.methods.loop import Resume

    items = [encode_qa(tokenizer, q, a) for q, a in UNSEEN]
    resume = Resume(tmp_path / "out.partial", every=1)
    resume.folder.mkdir()
    with pytest.raises(TrainingDiverged, match=r"training diverged at step 1: after the update \(loss [0-9.]+\), "
                                               r"\d+ of \d+ weight tensors hold NaN or Inf, e\.g\. '"):
        train(build_model(len(tokenizer)), items, _InfiniteGradient(), Uniform(2),
              LoopConfig(lr=1e-3, max_steps=3, batch_size=2), resume=resume, progress=False)
    assert not resume.folder.exists()  # a state that would only diverge again is not kept


def test_a_non_finite_loss_stops_the_run_before_its_update(tokenizer):
    from mrd_bench.errors import TrainingDiverged

    class NanLoss(_InfiniteGradient):
        def per_sample_loss(self, batch) -> torch.Tensor:  # [B]
            return batch.forget_nll * float("nan")

    model = build_model(len(tokenizer))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TrainingDiverged, match="training diverged at step 1: the loss is nan"):
        train(model, [encode_qa(tokenizer, q, a) for q, a in UNSEEN], NanLoss(), Uniform(2),
              LoopConfig(lr=1e-3, max_steps=2, batch_size=2), progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # no update applied


def test_a_warm_up_longer_than_the_run_is_warned_about(tokenizer):
    items = [encode_qa(tokenizer, q, a) for q, a in UNSEEN]
    with pytest.warns(UserWarning, match="--warmup-steps 100 is not below the 1 step"):
        train(build_model(len(tokenizer)), items, METHODS.get("ga")(), Uniform(2),
              LoopConfig(lr=1e-5, max_steps=1, warmup_steps=100, batch_size=2), progress=False)


def test_a_learning_rate_that_overflows_adam_is_refused():
    from mrd_bench.errors import ConfigError

    with pytest.raises(ConfigError, match="overflows a float32"):
        LoopConfig(lr=1e38)
    LoopConfig(lr=1e30)  # large, but AdamW's step fits: divergence is the loop's to catch


def test_watch_sees_each_step_before_its_update_and_can_stop_it(tokenizer):
    """watch(n, batch) gets the number of updates so far and the step's own forward; True stops
    before the update, so the weights are those after n updates."""
    from mrd_bench.errors import ConfigError
    from mrd_bench.methods.loop import Resume

    model = build_model(len(tokenizer))
    item = encode_qa(tokenizer, "Who wrote it?", "Liesel Varnakov wrote it.")
    seen = []

    def watch(n, batch):
        total, count, hits = batch.forget_pass
        seen.append((n, float(-total / count), int(hits) <= int(count)))
        return n == 2

    start = {k: v.clone() for k, v in model.state_dict().items()}
    train(model, [item], METHODS.get("ga")(), Uniform(1), LoopConfig(lr=1e-2, max_steps=10, batch_size=1),
          watch=watch, progress=False)
    assert [n for n, _, _ in seen] == [0, 1, 2] and all(ok for _, _, ok in seen)
    assert seen[0][1] < seen[1][1] < seen[2][1]  # ascent: the NLL each step saw rises
    # two updates, replayed without watch, give the same weights
    after_watch = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(start)
    train(model, [item], METHODS.get("ga")(), Uniform(1), LoopConfig(lr=1e-2, max_steps=2, batch_size=1),
          progress=False)
    assert all(torch.equal(after_watch[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ConfigError, match="runs in one process and without resume"):
        train(model, [item], METHODS.get("ga")(), Uniform(1), LoopConfig(lr=1e-2, max_steps=2, batch_size=1),
              watch=watch, resume=Resume(Path("unused"), every=0), progress=False)


def test_fused_adamw_takes_torchs_own_update_up_to_rounding(memorised, monkeypatch):
    """--adamw fused builds AdamW's fused kernel, default (the default) torch's own choice; the two runs
    agree up to float rounding."""
    model, items = memorised
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    built, runs = [], {}
    adamw = torch.optim.AdamW

    def spy(*args, **kwargs):
        built.append(kwargs.get("fused"))
        return adamw(*args, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", spy)
    for impl in ("fused", "default"):
        model.load_state_dict(original)
        trained, _ = train(model, items, METHODS.get("ga")(), Uniform(2),
                           LoopConfig(lr=1e-3, max_steps=4, batch_size=2, adamw=impl), progress=False)
        runs[impl] = {k: v.detach().clone() for k, v in trained.state_dict().items()}
    assert built == [True, None]  # None: torch decides (its per-tensor loop on a CPU)
    assert LoopConfig().adamw == "default"
    assert any(not torch.equal(runs["fused"][k], original[k]) for k in original)  # the runs trained
    for k in original:
        assert torch.allclose(runs["fused"][k], runs["default"][k], rtol=1e-5, atol=1e-6), k


def test_an_unknown_adamw_implementation_is_refused():
    with pytest.raises(ConfigError, match="--adamw must be one of default, fused"):
        LoopConfig(adamw="apex")


def test_the_resume_key_names_adamw_only_when_it_is_not_the_default():
    assert "adamw" not in LoopConfig().keyed()  # partial runs made before the option still resume
    assert LoopConfig(adamw="fused").keyed()["adamw"] == "fused"
