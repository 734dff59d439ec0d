import math

import pytest
import torch

from mrd_bench.models import encode_qa
from mrd_bench.scorers.baselines import grad_norms, rare_word_count


def test_rare_words_are_outside_the_frequent_list():
    # "the", "was", "in", "born" are among the most frequent English words; the invented
    # names are not
    assert rare_word_count("Zorvath Quillinax was born in the city") == 2


def test_grad_norm_matches_a_manual_backward(tokenizer, tiny_model):
    item = encode_qa(tokenizer, "Who wrote it?", "Liesel Varnakov wrote it.")
    (norm,) = grad_norms(tiny_model, [item], torch.device("cpu"))
    loss = tiny_model(input_ids=torch.tensor([item.input_ids]), labels=torch.tensor([item.labels])).loss
    loss.backward()
    manual = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in tiny_model.parameters() if p.grad is not None))
    assert norm == pytest.approx(manual, rel=1e-5) and norm > 0
