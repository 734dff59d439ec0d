"""The report reader on hand-made lm-eval output: metric names, escaping, missing input."""
from __future__ import annotations

import json

import pytest

from mrd_bench.errors import DataError
from mrd_bench.report.lmeval_report import build_report, metric_table


def test_metric_table_splits_bins_from_names():
    results = {"t": {"fa,none": 0.5, "fa_easy,none": 0.7, "fa_reweighted,none": 0.6, "fa_stderr,none": 0.1,
                     "acc_stem,none": 0.3, "alias": "t"}}
    table = metric_table(results)
    assert table["t"]["fa"] == {"overall": 0.5, "easy": 0.7, "reweighted": 0.6}
    assert table["t"]["acc_stem"] == {"overall": 0.3}  # a category, not a bin


def test_html_escapes_what_comes_from_files(tmp_path):
    run = tmp_path / "run" / "model"
    run.mkdir(parents=True)
    evil = "<script>alert(1)</script>"
    (run / "results_2026-01-01T00-00-00.json").write_text(json.dumps(
        {"results": {evil: {"acc,none": 0.25}}, "model_name": evil}))
    out = build_report(tmp_path / "run")
    page = (out / "report.html").read_text()
    assert evil not in page and "&lt;script&gt;" in page


def test_a_folder_without_results_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="--output_path DIR --log_samples"):
        build_report(tmp_path)
