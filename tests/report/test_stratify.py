import pytest

from mrd_bench.errors import ConfigError
from mrd_bench.report.stratify import assign_bins, quantile_edges


def test_tercile_edges_and_labels_by_hand():
    """Scores 1..6: numpy's linear quantiles sit at positions 5·(1/3) and 5·(2/3) of the
    sorted list, i.e. 2 + 2/3 and 4 + 1/3. Low MRD = hard, high MRD = easy."""
    edges = quantile_edges([6, 1, 5, 2, 4, 3], 3)
    assert edges == pytest.approx([2 + 2 / 3, 4 + 1 / 3])
    assert assign_bins([1, 2, 3, 4, 5, 6], edges) == ["hard", "hard", "medium", "medium", "easy", "easy"]


def test_saved_edges_bin_another_models_scores_the_same_way():
    assert assign_bins([0.0, 2.0, 9.0], [1.0, 2.0]) == ["hard", "easy", "easy"]  # on an edge: higher bin


def test_too_few_scores_for_the_bins():
    with pytest.raises(ConfigError, match="cannot fill 3 bins"):
        quantile_edges([1.0, 2.0], 3)
