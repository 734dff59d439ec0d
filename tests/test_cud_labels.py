"""CUD's easy/hard labels: per-method calls, the vote, and Fleiss' kappa on a textbook table."""
from __future__ import annotations

import numpy as np
import pytest

from mrd_bench.cud_labels import LabelConfig, calls, fleiss_kappa, vote
from mrd_bench.errors import ConfigError


def test_fleiss_kappa_on_the_textbook_example():
    # Fleiss (1971) as tabulated in most references: 10 subjects, 14 raters, 5 categories;
    # P-bar = 0.378, P_e = 0.213, kappa = 0.210
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                      [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)
    assert fleiss_kappa(np.array([[3, 0], [0, 3], [3, 0]])) == pytest.approx(1.0)  # full agreement


def test_calls_mark_the_highest_losses_easy_and_the_lowest_hard():
    assert calls([0.5, 3.0, 1.0, 0.1, 2.0, 0.7, 0.2, 5.0], 0.25) == \
        ["middle", "easy", "middle", "hard", "middle", "middle", "hard", "easy"]


def test_a_label_needs_min_votes_and_a_majority():
    per_method = {"a": ["easy", "hard", "easy", "middle"], "b": ["easy", "hard", "hard", "middle"],
                  "c": ["easy", "middle", "hard", "easy"]}
    assert vote(per_method, 2) == ["easy", "hard", "hard", None]
    assert vote(per_method, 3) == ["easy", None, None, None]


def test_bad_settings_are_refused():
    with pytest.raises(ConfigError, match="--q"):
        LabelConfig(q=0.5)
    with pytest.raises(ConfigError, match="--min-votes"):
        LabelConfig(methods="ga,npo", min_votes=3)
    with pytest.raises(ConfigError, match="unknown method"):
        LabelConfig(methods="ga,nop")
