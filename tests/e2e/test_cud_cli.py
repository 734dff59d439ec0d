"""End-to-end CUD through the CLI on a tiny model and TOFU forget01: labels from the unlearners,
attribution and cross-fitted scores, the annotation the lm-eval tasks stratify by (and the report
says CUD), the circuit plot, and the comparison with MRD."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tests.e2e.test_cli import assert_one_line_error, mrd_bench

DATA = ["--benchmark", "tofu", "--split", "forget01"]


@pytest.fixture(scope="module")
def labelled(tiny_checkpoint, tmp_path_factory, data_dir_module):
    folder = tmp_path_factory.mktemp("cud")
    labels = folder / "labels.json"
    proc = mrd_bench("cud-labels", "--model", str(tiny_checkpoint), *DATA, "--retain", "retain99",
                     "--methods", "ga,graddiff,npo,po", "--steps", "2", "--lr", "1e-3", "--q", "0.3",
                     "--min-votes", "2", "--out", str(labels), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    return folder, labels


@pytest.fixture(scope="module")
def data_dir_module():
    import os

    from tests.conftest import SHARED_DATA

    old = os.environ.get("MRD_BENCH_DATA_DIR")
    os.environ["MRD_BENCH_DATA_DIR"] = str(SHARED_DATA)
    yield SHARED_DATA
    if old is None:
        os.environ.pop("MRD_BENCH_DATA_DIR")
    else:
        os.environ["MRD_BENCH_DATA_DIR"] = old


def test_labels_come_from_the_unlearners_with_their_agreement(labelled):
    _, labels = labelled
    data = json.loads(labels.read_text())
    assert set(data["losses"]) == {"ga", "graddiff", "npo", "po"}
    assert data["n"] == 40 and data["n_easy"] >= 2 and data["n_hard"] >= 2
    for sid, label in data["labels"].items():  # a label is what at least 2 of the 4 methods called
        votes = data["agreement"]["votes"][sid]
        assert votes[label] >= 2 and votes[label] > votes["hard" if label == "easy" else "easy"]
    assert -1 <= data["agreement"]["fleiss_kappa"] <= 1
    assert len(data["model_hash"]) == 64


def test_cud_scores_annotate_stratify_draw_and_compare(labelled, tiny_checkpoint):
    folder, labels = labelled
    out = folder / "cud.jsonl"
    proc = mrd_bench("score", "--metric", "cud", "--model", str(tiny_checkpoint), *DATA, "--labels", str(labels),
                     "--steps", "2", "--folds", "2", "--top-edges", "6", "--out", str(out), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    meta = json.loads((folder / "cud.meta.json").read_text())
    assert len(rows) == 40 and meta["metric"] == "cud" and meta["higher_is"] == "harder"
    assert meta["cud_config"]["baseline"] == "corrupt" and meta["graph"]["n_edges"] == 15
    assert all(0 <= r["score"] <= 1 and r["baseline"]["baseline"] in ("corrupt", "zero") for r in rows)
    # TOFU questions name their author; with the test's 300-token vocabulary not every name finds an
    # equal-length one among forget01's two authors, and those rows say why they are zero-ablated
    assert sum(r["baseline"]["baseline"] == "corrupt" for r in rows) >= 15
    assert all(r["baseline"]["reason"] for r in rows if r["baseline"]["baseline"] == "zero")
    top = max(rows, key=lambda r: r["score"])
    low = min(rows, key=lambda r: r["score"])
    assert top["bin"] == "hard" and low["bin"] == "easy"  # CUD: high = hard
    for r in rows:
        assert {"mean_layer", "late_share", "mean_span", "longest_path", "fold", "d_easy", "d_hard"} <= set(r)
        total = r["d_easy"] + r["d_hard"]
        assert r["score"] == pytest.approx(r["d_easy"] / total if total else 0.5)
    npz = np.load(folder / "cud.attributions.npz")
    assert npz["attribution"].shape == (40, 15) and npz["easy_edges"].shape == (2, 6)

    # the annotation records the metric, and its bins mean the same as MRD's
    ann = folder / "cud_annotation.json"
    proc = mrd_bench("annotate", "--scores", str(out), *DATA, "--out", str(ann))
    assert proc.returncode == 0, proc.stderr
    annotation = json.loads(ann.read_text())
    assert annotation["metric"] == "cud" and annotation["higher_is"] == "harder"
    assert annotation["samples"][top["sample_id"]]["bin"] == "hard"

    # lm-eval's task stratifies by it with no change, and the report says it is CUD
    evald = folder / "eval"
    proc = mrd_bench("eval", "--model", "hf-mrd", "--model_args", f"pretrained={tiny_checkpoint}",
                     "--tasks", "tofu_forget_mrd", "--metadata", json.dumps({"split": "forget01", "difficulty": str(ann)}),
                     "--limit", "6", "--device", "cpu", "--log_samples", "--output_path", str(evald))
    assert proc.returncode == 0, proc.stderr
    proc = mrd_bench("report", str(evald))
    assert proc.returncode == 0, proc.stderr
    report = next(evald.rglob("report.md")).read_text()
    assert "by each sample's CUD" in report and "Difficulty annotations (by CUD)" in report

    # one sample's circuit beside the anchors
    png = folder / "circuit.png"
    proc = mrd_bench("circuits", top["sample_id"], "--scores", str(out), "--out", str(png))
    assert proc.returncode == 0, proc.stderr
    assert png.stat().st_size > 20_000
    missing = mrd_bench("circuits", "tofu/nope", "--scores", str(out), "--out", str(folder / "x.png"))
    assert_one_line_error(missing, "not in cud.jsonl")

    # agreement with MRD
    mrd = folder / "mrd.jsonl"
    proc = mrd_bench("score", "--model", str(tiny_checkpoint), *DATA, "--k", "2", "--no-baselines", "--out", str(mrd),
                     "--no-progress")
    assert proc.returncode == 0, proc.stderr
    proc = mrd_bench("compare-difficulty", str(mrd), str(out), "--out", str(folder / "cmp"), "--resamples", "200")
    assert proc.returncode == 0, proc.stderr
    result = json.loads((folder / "cmp" / "compare.json").read_text())
    from scipy.stats import spearmanr

    mrd_rows = {json.loads(line)["sample_id"]: json.loads(line) for line in mrd.read_text().splitlines()}
    ids = [r["sample_id"] for r in rows]
    want = spearmanr([mrd_rows[i]["score"] for i in ids], [r["score"] for r in rows]).statistic
    assert result["n"] == 40 and result["spearman"]["value"] == pytest.approx(want)
    assert result["spearman"]["oriented"] == pytest.approx(-want)  # MRD high = easy, CUD high = hard
    lo, hi = result["spearman"]["ci95"]
    assert lo <= want <= hi
    assert (folder / "cmp" / "compare.png").stat().st_size > 10_000


def test_cud_refuses_bad_input(labelled, tiny_checkpoint, tmp_path):
    folder, labels = labelled
    no_labels = mrd_bench("score", "--metric", "cud", "--model", str(tiny_checkpoint), *DATA, "--out",
                          str(tmp_path / "a.jsonl"))
    assert_one_line_error(no_labels, "--labels")
    other = json.loads(labels.read_text())
    other["model_hash"] = "0" * 64
    (tmp_path / "other.json").write_text(json.dumps(other))
    wrong_model = mrd_bench("score", "--metric", "cud", "--model", str(tiny_checkpoint), *DATA, "--labels",
                            str(tmp_path / "other.json"), "--out", str(tmp_path / "b.jsonl"))
    assert_one_line_error(wrong_model, "different model")
    (tmp_path / "junk.json").write_text("[1, 2]")
    junk = mrd_bench("score", "--metric", "cud", "--model", str(tiny_checkpoint), *DATA, "--labels",
                     str(tmp_path / "junk.json"), "--out", str(tmp_path / "c.jsonl"))
    assert_one_line_error(junk, "not a labels file")
    bad = mrd_bench("score", "--metric", "cud", "--model", str(tiny_checkpoint), *DATA, "--labels", str(labels),
                    "--distance", "cosin", "--out", str(tmp_path / "d.jsonl"))
    assert_one_line_error(bad, "Did you mean 'cosine'")
    cga = mrd_bench("cud-labels", "--model", str(tiny_checkpoint), *DATA, "--methods", "ga,cga", "--min-votes", "1",
                    "--out", str(tmp_path / "l.json"))
    assert_one_line_error(cga, "--scores")
    metric = mrd_bench("score", "--metric", "cdu", "--model", str(tiny_checkpoint), *DATA, "--out",
                       str(tmp_path / "e.jsonl"))
    assert_one_line_error(metric, "mrd or cud")


def test_cud_scores_the_same_in_one_and_in_two_processes(labelled, tiny_checkpoint, tmp_path):
    from tests.e2e.test_cli import one_and_two_processes

    _, labels = labelled
    args = ["score", "--metric", "cud", "--model", str(tiny_checkpoint), *DATA, "--labels", str(labels), "--steps", "2",
            "--folds", "2", "--top-edges", "6", "--chunk-batches", "1", "--no-progress"]
    one_and_two_processes(args, tmp_path / "one.jsonl", tmp_path / "two.jsonl", port=29533)
    one = [json.loads(x) for x in (tmp_path / "one.jsonl").read_text().splitlines()]
    two = [json.loads(x) for x in (tmp_path / "two.jsonl").read_text().splitlines()]
    assert [r["sample_id"] for r in one] == [r["sample_id"] for r in two]
    for a, b in zip(one, two):
        assert a["score"] == pytest.approx(b["score"], abs=1e-6) and a["bin"] == b["bin"]
    assert json.loads((tmp_path / "two.meta.json").read_text())["metric"] == "cud"
