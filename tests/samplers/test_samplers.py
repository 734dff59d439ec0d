import pytest
import torch

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.samplers import SAMPLERS, mrd_probabilities

SCORES = [4.0, 1.0, 0.5, 2.5, 0.0]


def test_probabilities_follow_mrd_to_the_tau_with_a_floor():
    p = mrd_probabilities(SCORES, tau=1.0, floor=0.1).tolist()
    assert p == pytest.approx([0.9 * v / sum(SCORES) + 0.1 / 5 for v in SCORES])
    s = [4.0, 1.0, 0.5, 2.5, 0.5]  # for τ < 0 the zero is raised to the smallest positive score
    inv = mrd_probabilities(SCORES, tau=-1.0, floor=0.0).tolist()
    assert inv == pytest.approx([(1 / v) / sum(1 / x for x in s) for v in s])
    assert min(mrd_probabilities([1e-9, 1.0, 1.0], floor=0.3)) >= 0.3 / 3


def test_mrd_sampler_frequencies_match_p():
    sampler = SAMPLERS.get("mrd")(n=5, scores=SCORES, tau=1.0, floor=0.1)
    gen = torch.Generator().manual_seed(0)
    counts = torch.zeros(5)
    for _ in range(4000):
        for i in sampler.next_batch(8, gen):
            counts[i] += 1
    freq = counts / counts.sum()
    p = sampler.probabilities.float()
    assert torch.allclose(freq, p, atol=0.01), (freq, p)  # 32,000 draws: se <= 0.003


def test_uniform_serves_each_sample_once_per_epoch():
    sampler = SAMPLERS.get("uniform")(n=7)
    gen = torch.Generator().manual_seed(1)
    epoch = [sampler.next_batch(3, gen) for _ in range(3)]
    assert [len(b) for b in epoch] == [3, 3, 1]
    assert sorted(i for b in epoch for i in b) == list(range(7))


def test_curriculum_goes_from_easy_to_hard_and_follows_updates():
    sampler = SAMPLERS.get("curriculum")(n=5, scores=SCORES)
    gen = torch.Generator()
    assert sampler.next_batch(5, gen) == [0, 3, 1, 2, 4]
    sampler.update([0.1, 0.2, 0.3, 0.4, 0.5])
    assert sampler.next_batch(2, gen) + sampler.next_batch(3, gen) == [4, 3, 2, 1, 0]


def test_refreshed_scores_change_the_draws():
    sampler = SAMPLERS.get("mrd")(n=3, scores=[1.0, 1.0, 1.0], floor=0.0)
    sampler.update([0.0, 0.0, 5.0])
    assert sampler.probabilities[2] > 0.99


def test_bad_sampler_input_is_refused():
    with pytest.raises(ConfigError, match="Did you mean 'uniform'"):
        SAMPLERS.get("unifrom")
    with pytest.raises(ConfigError, match="needs MRD scores"):
        SAMPLERS.get("mrd")(n=3)
    with pytest.raises(DataError, match="2 MRD scores for 3"):
        SAMPLERS.get("curriculum")(n=3, scores=[1.0, 2.0])
    with pytest.raises(ConfigError, match="floor"):
        mrd_probabilities([1.0], floor=1.5)
