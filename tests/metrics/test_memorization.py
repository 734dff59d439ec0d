import pytest

from mrd_bench.metrics.memorization import extraction_likelihood, memorization_accuracy, ngram_overlap


def test_memorization_accuracy_counts_matching_positions():
    assert memorization_accuracy([1, 2, 9, 4], [1, 2, 3, 4]) == 0.75
    with pytest.raises(ValueError):
        memorization_accuracy([1], [1, 2])


def test_ngram_overlap_is_the_share_of_reference_ngrams_generated():
    # reference bigrams {(1,2), (2,3), (3,4)}; generated bigrams {(1,2), (2,3), (3,9)}: 2 of 3
    assert ngram_overlap([1, 2, 3, 9], [1, 2, 3, 4], 2) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        ngram_overlap([1, 2], [1], 2)


def test_extraction_likelihood_averages_over_prefixes_and_skips_short_suffixes():
    continuations = [[1, 2, 3], [5, 6], [7]]
    suffixes = [[1, 2, 4], [5, 6], [8]]  # overlaps 1/2 and 1/1; the last suffix has no bigram
    assert extraction_likelihood(continuations, suffixes, 2) == pytest.approx((0.5 + 1.0) / 2)
