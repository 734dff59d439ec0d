"""`mrd-bench reproduce` end to end on a tiny model: stages cached and resumed, a report that marks
what is not measured yet, and clear errors for bad settings and occupied folders."""
from __future__ import annotations

import json

import pytest

from tests.e2e.test_cli import assert_one_line_error, mrd_bench

TINY = ["--authors", "3", "--forget-authors", "2", "--seeds", "2", "--pairs", "2", "--alg1-draws", "2",
        "--hutchinson-draws", "2", "--sensitivity-samples", "6", "--max-updates", "6", "--horizon", "2",
        "--finetune-epochs", "1", "--updates-lr", "1e-3", "--variance-subsets", "2", "--variance-size", "6",
        "--variance-steps", "1", "--sampling-methods", "ga", "--sampling-steps", "2", "--sampling-check-every", "1",
        "--sampling-max-updates", "4",
        "--cud-label-steps", "2", "--cud-label-lr", "1e-3", "--cud-steps", "1", "--cud-top-edges", "5",
        "--cud-folds", "2", "--no-progress"]


@pytest.fixture()
def base(tmp_path, tokenizer):
    from tests.conftest import build_model

    folder = tmp_path / "base"
    build_model(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_stages_resume_and_the_report_says_what_is_pending(tmp_path, base, data_dir):
    work, out = tmp_path / "work", tmp_path / "report"
    args = ["reproduce", "--model", str(base), *TINY, "--work", str(work), "--out", str(out)]
    first = mrd_bench(*args, "--stages", "original,baselines,mrd_definition")
    assert first.returncode == 0, first.stderr
    results = json.loads((out / "results.json").read_text())["claims"]
    assert results["predicts"]["verdict"] == "pending" and "updates_ga" in results["predicts"]["needs"]
    assert results["characteristics"]["verdict"] != "pending"  # needs only baselines + MRD
    readme = (out / "README.md").read_text()
    assert "Stages not run yet" in readme and "updates_ga" in readme
    done = json.loads((work / "mrd_definition" / "done.json").read_text())

    assert_one_line_error(mrd_bench(*args), "already holds a reproduction report", "--overwrite")
    second = mrd_bench(*args, "--overwrite")  # the report is an output: replaced only on request
    assert second.returncode == 0, second.stderr
    assert json.loads((work / "mrd_definition" / "done.json").read_text()) == done  # kept, not redone
    results = json.loads((out / "results.json").read_text())["claims"]
    predicts = results["predicts"]
    assert predicts["verdict"] in ("reproduced", "not reproduced", "inconclusive")
    assert {e["method"] for e in predicts["table"]} == {"ga", "npo", "graddiff"}
    ga = next(e for e in predicts["table"] if e["method"] == "ga")
    assert {"definition/updates", "alg1/updates", "hutchinson/updates", "baseline/nll"} <= set(ga)
    assert ga["definition/updates"]["seeds"] == 2 and ga["definition/updates"]["n"] == 40
    rows = [json.loads(line) for line in (work / "updates_ga" / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and all(len(r["ma"]) >= 3 for r in rows)
    record = json.loads((out / "run_record.json").read_text())
    assert record["command"][:3] == ["mrd-bench", "reproduce", "--model"] and record["seeds"] == [0, 1]
    assert {"original", "baselines", "updates_ga", "sensitivity"} <= set(record["stages"])
    assert all(s["wall_s"] >= 0 for s in record["stages"].values()) and record["versions"]["torch"]
    for png in ("predicts_scatter.png", "predicts_spearman.png", "characteristics.png", "sensitivity.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    variance = results["variance"]
    assert variance["subsets"] == 2 and set(variance["table"]) == {"retain_prob", "real_authors_prob",
                                                                   "world_facts_prob"}
    assert all(len(e["graddiff"]["values"]) == 2 for e in variance["table"].values())
    noise = [json.loads(line) for line in (work / "variance_noise" / "runs.jsonl").read_text().splitlines()]
    # subset 0 again with the other seed (--seeds 2), same samples as its variance run
    first = json.loads((work / "variance" / "runs.jsonl").read_text().splitlines()[0])
    assert sorted(r["run"] for r in noise) == ["graddiff/subset-0/seed-100", "npo/subset-0/seed-100"]
    assert all(r["sample_id"] == first["sample_id"] and r["seed"] == 100 for r in noise)
    assert variance["noise_subsets"] == [0] and variance["seeds_per_noise_subset"] == 2
    for e in variance["table"].values():
        assert [len(g) for g in e["graddiff"]["seed_values"]] == [2] and e["graddiff"]["spread"]["df"] == [1, 1]
        assert 0 <= e["reversal_beyond_noise_share"] <= e["reversal_share"] <= 1
    sampling = results["sampling"]
    assert [e["method"] for e in sampling["table"]] == ["ga"] and sampling["table"][0]["seeds"] == 2
    assert sampling["reached_share"] in (0.0, 0.25, 0.5, 0.75, 1.0)  # 4 runs
    assert sampling["table"][0]["updates"]["censored"] == round(4 * (1 - sampling["reached_share"]))
    runs = [json.loads(line) for line in (work / "sampling" / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["run"] for r in runs) == ["cga+mrd/seed-0", "cga+mrd/seed-1", "ga+uniform/seed-0",
                                             "ga+uniform/seed-1"]
    assert all(0 <= r["forget_ua"] <= 1 and 0 <= r["forget_rougeL"] <= 1 for r in runs)
    for r in runs:  # evaluated at the budget; one not below the threshold there trained on to it or the cap
        assert r["steps"] == 2 and r["lr"] == 2e-5
        u = r["updates_to_threshold"]
        settled = r["plateau_at"] is not None  # MA no lower for --sampling-patience checks: stopped there
        assert (u is None and (r["trained"] == 4 or settled)) or (u is not None and u <= r["trained"] and
                                                                 (r["trained"] == 2) == (u <= 2) and not settled)
        assert not settled or r["plateau_at"] == r["trained"] or r["trained"] == 2  # (settled within the budget)
        assert [c["step"] for c in r["checks"]] == list(range((u if u is not None else r["trained"]) + 1))
    assert not list(work.glob("*/.model")) and not list(work.glob("*/.state"))  # scratch removed
    for png in ("variance.png", "sampling.png", "cud.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    cud = results["cud"]
    assert cud["verdict"] in ("reproduced", "not reproduced", "inconclusive")
    labels = json.loads((work / "cud_labels" / "labels.json").read_text())
    assert set(labels["losses"]) == {"ga", "graddiff", "npo", "po", "cga"}
    measured = cud["measured"]
    assert measured["n"] == 40 and measured["n_labelled"] == labels["n_easy"] + labels["n_hard"]
    assert 0 <= measured["separation"]["auc"] <= 1 and set(measured["depth"]) == {"mean_layer", "late_share",
                                                                                  "mean_span", "longest_path"}
    assert {"ga", "npo", "graddiff"} == set(measured["updates"]) and "mrd" in measured
    assert "## 6. CUD separates easy from hard" in (out / "README.md").read_text()

    (out / "notes.txt").write_text("mine")
    assert_one_line_error(mrd_bench(*args, "--stages", "report"), "did not write", "notes.txt")
    (out / "notes.txt").unlink()
    other = [a if a != "2" or i != args.index("--seeds") + 1 else "3" for i, a in enumerate(args)]
    assert_one_line_error(mrd_bench(*other, "--stages", "report"), "another setting", "seeds", "--overwrite")


@pytest.mark.parametrize("flags, needles", [
    (["--forget-authors", "3"], ["--forget-authors", "holdout"]),
    (["--benchmark", "wmdp"], ["tofu", "wmdp"]),
    (["--authors", "5", "--forget-authors", "10"], ["--forget-authors < --authors"]),
    (["--stages", "nonsense"], ["unknown stage", "nonsense", "mrd_definition"]),
    (["--device", "tpu"], ["--device", "tpu"]),
    (["--updates-lr-by-method", "npo=fast"], ["--updates-lr-by-method", "npo=fast"]),
    (["--updates-lr-by-method", "nop=1e-5"], ["nop"]),
])
def test_bad_settings_get_one_line(tmp_path, flags, needles):
    assert_one_line_error(mrd_bench("reproduce", *flags, "--work", str(tmp_path / "w"), "--out",
                                    str(tmp_path / "r")), *needles)
