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
    assert table["t"]["fa"] == {"overall": 0.5, "easy": 0.7, "reweighted": 0.6, "stderr": 0.1}
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


def _item(value, b):
    return {"value": value, "bin": b, "weights": {"easy": 0.5, "medium": 0.0, "hard": 0.5}, "renormalize": False}


def test_report_gives_counts_intervals_directions_and_why_nan(tmp_path):
    """Four documents: easy FA 1.0 and 0.8, hard 0.2 and 0.4, none medium; no retain reference."""
    run = tmp_path / "run" / "model"
    run.mkdir(parents=True)
    nan = float("nan")
    results = {"t": {"fa,none": 0.6, "fa_stderr,none": 0.18, "fa_easy,none": 0.9, "fa_medium,none": nan,
                     "fa_hard,none": 0.3, "fa_reweighted,none": nan, "forget_quality,none": nan,
                     "n_easy,none": 2, "n_medium,none": 0, "n_hard,none": 2}}
    (run / "results_2026-01-01T00-00-00.json").write_text(json.dumps(
        {"results": results, "higher_is_better": {"t": {"fa": False, "forget_quality": True}},
         "config": {"model": "hf-mrd", "model_args": "pretrained=x", "limit": 4.0}, "model_name": "x"}))
    rows = [{"doc": {"mrd": m, "mrd_bin": b, "prompt_format": "raw"}, "fa_reweighted": _item(v, b)}
            for m, b, v in ((0.9, "easy", 1.0), (0.8, "easy", 0.8), (0.1, "hard", 0.2), (0.2, "hard", 0.4))]
    (run / "samples_t_2026-01-01T00-00-00.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = build_report(tmp_path / "run")
    report = json.loads((out / "report.json").read_text())
    assert report["bin_counts"] == {"t": {"easy": 2, "medium": 0, "hard": 2}}
    low, high = report["intervals"]["t"]["fa"]["easy"]
    assert 0.8 <= low <= 0.9 <= high <= 1.0  # resamples of [1.0, 0.8]: means 0.8, 0.9 or 1.0
    reasons = report["nan_reasons"]["t"]
    assert "no documents in the medium bin" in reasons["fa"]["medium"]
    assert "renormalize" in reasons["fa"]["reweighted"]
    assert "--retain-reference" in reasons["forget_quality"]["overall"]
    page = (out / "report.html").read_text()
    for text in ("easy (n=2)", "medium (n=0)", "4 documents per task", "fa ↓", "0.6000 ± 0.1800",
                 "Bins are by each sample", "raw"):
        assert text in page, text
    markdown = (out / "report.md").read_text()
    assert "| fa ↓ |" in markdown and "[^1]" in markdown
    for name in ("bins.png", "per_sample.png"):
        assert (out / name).stat().st_size > 0


def test_attacks_are_drawn_together_with_privleak_intervals_and_reasons(tmp_path):
    """Members easy (-1, -1.2), hard (-3, -3.5); non-members -2, -2.5, -4 (LOSS scores): AUC easy 1,
    hard 1/3, overall 2/3; privleak against the fallback 0.5 is (0.5 - AUC) * 200."""
    from mrd_bench.report.lmeval_report import kind_of

    run = tmp_path / "run" / "model"
    run.mkdir(parents=True)
    nan = float("nan")
    results = {"tofu_forget_mrd_mia": {
        **{f"loss_auc{s},none": v for s, v in (("", 2 / 3), ("_easy", 1.0), ("_medium", nan), ("_hard", 1 / 3),
                                                 ("_reweighted", nan))},
        **{f"privleak_loss{s},none": v for s, v in (("", -100 / 3), ("_easy", -100.0), ("_medium", nan),
                                                      ("_hard", 100 / 3), ("_reweighted", nan))},
        **{f"reference_auc{s},none": nan for s in ("", "_easy", "_medium", "_hard", "_reweighted")},
        "n_easy,none": 2, "n_medium,none": 0, "n_hard,none": 2}}
    (run / "results_2026-01-01T00-00-00.json").write_text(json.dumps(
        {"results": results, "higher_is_better": {"tofu_forget_mrd_mia": {"loss_auc": False, "privleak_loss": True}},
         "config": {"model": "hf-mrd", "model_args": "pretrained=x", "limit": None}, "model_name": "x"}))
    rows = []
    for k, (v, b) in enumerate(((-1.0, "easy"), (-1.2, "easy"), (-3.0, "hard"), (-3.5, "hard"), (-2.0, ""),
                                (-2.5, ""), (-4.0, ""))):
        item = _item(v, b)
        rows.append({"doc": {"mrd": 0.5 if b else nan, "mrd_bin": b, "prompt_format": "raw"},
                     "loss_auc_reweighted": item, "reference_auc_reweighted": _item(nan, b),
                     "privleak_loss_reweighted": {**item, "attack": "loss_auc", "sample_id": f"s{k}", "reference": ""}})
    (run / "samples_tofu_forget_mrd_mia_2026-01-01T00-00-00.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows))
    assert (kind_of("loss_auc"), kind_of("privleak_loss"), kind_of("privleak"), kind_of("para_prob")) == \
        ("auc", "privleak", "privleak", "mean")
    out = build_report(tmp_path / "run")
    report = json.loads((out / "report.json").read_text())
    cis = report["intervals"]["tofu_forget_mrd_mia"]
    low, high = cis["loss_auc"]["overall"]
    assert 0.0 <= low <= 2 / 3 <= high <= 1.0
    low, high = cis["privleak_loss"]["overall"]  # the AUC's interval through (0.5 - AUC) * 200, reversed
    assert low == pytest.approx((0.5 - cis["loss_auc"]["overall"][1]) * 200, abs=1e-6)
    assert high == pytest.approx((0.5 - cis["loss_auc"]["overall"][0]) * 200, abs=1e-6)
    assert "reference_model" in report["nan_reasons"]["tofu_forget_mrd_mia"]["reference_auc"]["overall"]
    assert "attacks.png" in report["figures"] and (out / "attacks.png").stat().st_size > 10_000


def test_retain_reference_recomputes_privleak_from_the_samples(tmp_path):
    """The same run as above, with a retain model whose LOSS scores rank the 3 non-members above
    both hard members and below both easy ones: AUC_ref = 6/12 overall, so privleak_loss =
    ((1 - 2/3) - (1 - 1/2)) / (1 - 1/2) * 100 = -33.3 for the run's AUC 2/3; easy: AUC 1 vs AUC_ref 1 is
    NaN (no room left to leak); hard: AUC 1/3 vs AUC_ref 0 gives (2/3 - 1) / 1 * 100 = -33.3."""
    test_attacks_are_drawn_together_with_privleak_intervals_and_reasons(tmp_path)
    run = tmp_path / "run"
    retain = tmp_path / "retain" / "samples_tofu_forget_mrd_mia_2026.jsonl"
    retain.parent.mkdir()
    scores = {"s0": -0.5, "s1": -0.6, "s2": -9.0, "s3": -9.5, "s4": -2.0, "s5": -2.5, "s6": -4.0}
    retain.write_text("".join(json.dumps({"doc": {"sample_id": s}, "loss_auc": {"value": v}}) + "\n"
                              for s, v in scores.items()))
    out = build_report(run, tmp_path / "with_ref", retain_reference=str(retain))
    report = json.loads((out / "report.json").read_text())
    leak = report["table"]["tofu_forget_mrd_mia"]["privleak_loss"]
    assert leak["overall"] == pytest.approx(((1 - 2 / 3) - (1 - 1 / 2)) / (1 / 2) * 100, abs=1e-6)
    assert leak["hard"] == pytest.approx(((1 - 1 / 3) - 1) / 1 * 100, abs=1e-6)
    assert leak["easy"] is None  # NaN, written as null
    assert report["derived"]["privleak"]["retain_reference"] == str(retain)
