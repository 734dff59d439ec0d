import torch

from mrd_bench.models import encode_qa
from mrd_bench.train import FinetuneConfig, answer_nll, finetune

QA = [("Who wrote the novel?", "Liesel Varnakov wrote it."), ("Where was she born?", "In Tartu, Estonia."),
      ("What genre?", "Historical fiction about the sea."), ("When?", "In 1999.")]


def test_finetuning_lowers_answer_nll(tokenizer, tiny_model):
    items = [encode_qa(tokenizer, q, a) for q, a in QA]
    before = answer_nll(tiny_model, items)
    losses = finetune(tiny_model, items, FinetuneConfig(epochs=8, lr=3e-3, batch_size=2), progress=False)
    after = answer_nll(tiny_model, items)
    assert len(losses) == 8 * 2
    assert sum(after) < 0.8 * sum(before)
    assert not tiny_model.training


def test_finetuning_is_deterministic_for_a_seed(tokenizer):
    from tests.conftest import build_model

    items = [encode_qa(tokenizer, q, a) for q, a in QA]
    states = []
    for _ in range(2):
        model = build_model(len(tokenizer))
        finetune(model, items, FinetuneConfig(epochs=2, lr=1e-3, batch_size=3, seed=5), progress=False)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_answer_nll_is_mean_over_answer_tokens(tokenizer, tiny_model):
    item = encode_qa(tokenizer, *QA[0])
    with torch.no_grad():
        batch = {k: torch.tensor([v]) for k, v in (("input_ids", item.input_ids), ("labels", item.labels))}
        loss = tiny_model(input_ids=batch["input_ids"], labels=batch["labels"]).loss  # HF's own mean NLL
    assert answer_nll(tiny_model, [item])[0] == __import__("pytest").approx(float(loss), rel=1e-5)


def test_a_diverging_fine_tune_stops_naming_the_step(tokenizer, tiny_model):
    import pytest

    from mrd_bench.errors import TrainingDiverged

    items = [encode_qa(tokenizer, q, a) for q, a in QA]
    with pytest.raises(TrainingDiverged, match=r"fine-tuning diverged at step \d+: the loss is nan"):
        finetune(tiny_model, items, FinetuneConfig(epochs=5, lr=1e20, batch_size=2, warmup_ratio=0), progress=False)
