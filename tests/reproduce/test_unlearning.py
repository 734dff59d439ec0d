"""A study run that goes on from its budget's saved state is the same run as one uninterrupted
call: weights, checks and the update at which it reached the threshold (NPO: its reference stays
the original model)."""
import torch

from mrd_bench.reproduce.unlearning import unlearn


def test_going_on_from_the_budget_equals_one_uninterrupted_run(tokenizer, tmp_path, memorised):
    model, items = memorised
    original = {k: v.detach().clone() for k, v in model.state_dict().items()}
    args = dict(items=items, method="npo", sampler="uniform", lr=1e-2, seed=3, batch_size=2, check_every=1,
                eos_id=tokenizer.eos_token_id)
    _, probe = unlearn(model, original, steps=10, threshold_ma=-1.0, **args)  # never below: MA at every step
    ma = [c["ma"] for c in probe.checks]
    assert ma[0] > 0.9 > ma[-1], ma  # memorised, then forgotten
    # a threshold first crossed after the budget of 3 updates
    step = next(k for k in range(4, 11) if ma[k] < min(ma[:4]))
    threshold = (ma[step] + min(ma[:step])) / 2

    _, whole = unlearn(model, original, steps=10, threshold_ma=threshold, stop_early=True, **args)
    whole_weights = {k: v.clone() for k, v in model.state_dict().items()}
    state = tmp_path / "state"
    _, budget = unlearn(model, original, steps=3, threshold_ma=threshold, state=state, **args)
    assert budget.updates_to_threshold is None and (state / "state.pt").is_file()
    _, rest = unlearn(model, original, steps=10, threshold_ma=threshold, state=state, stop_early=True, **args)
    assert rest.updates_to_threshold == whole.updates_to_threshold == step
    assert rest.steps == whole.steps == step
    assert [c["ma"] for c in rest.checks] == [c["ma"] for c in whole.checks]
    assert rest.losses == whole.losses
    for k, v in model.state_dict().items():
        assert torch.equal(v, whole_weights[k]), k
