"""`mrd-bench reproduce` end to end on a tiny model: stages cached and resumed, a report that marks
what is not measured yet, and clear errors for bad settings and occupied folders."""
from __future__ import annotations

import json

import pytest

from tests.e2e.test_cli import assert_one_line_error, mrd_bench

TINY = ["--authors", "3", "--forget-authors", "2", "--seeds", "2", "--pairs", "2", "--alg1-draws", "2",
        "--hutchinson-draws", "2", "--sensitivity-samples", "6", "--max-updates", "6", "--horizon", "2",
        "--finetune-epochs", "1", "--updates-lr", "1e-3", "--variance-subsets", "2", "--variance-size", "6",
        "--variance-seeds", "2", "--protocol-max-updates", "4", "--protocol-check-every", "1",
        "--calibrate-runs", "1", "--calibrate-levels", "2", "--calibrate-start", "ga=1e-3,graddiff=1e-3,npo=1e-3",
        "--sampling-methods", "ga", "--sampling-seeds", "1", "--stability-samples", "6", "--stability-draws", "4",
        "--label-seeds", "2", "--cud-label-methods", "ga,npo",
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
    assert {e["method"] for e in predicts["table"]} == {"ga", "npo", "graddiff"}
    ga = next(e for e in predicts["table"] if e["method"] == "ga")
    assert {"mrd", "beyond_baselines", "estimator/alg1", "estimator/hutchinson", "baseline/nll"} <= set(ga)
    assert len(ga["per_seed"]) == 2 and ga["mrd"]["n"] == 40 and ga["beyond_baselines"]["controls"] == 4
    assert predicts["primary"]["estimate"] == ga["mrd"]["rho"] and predicts["primary"]["p"] == ga["mrd"]["p"]
    rows = [json.loads(line) for line in (work / "updates_ga" / "rows.jsonl").read_text().splitlines()]
    assert len(rows) == 40 and all(len(r["ma"]) >= 3 for r in rows)
    record = json.loads((out / "run_record.json").read_text())
    assert record["command"][:3] == ["mrd-bench", "reproduce", "--model"] and record["seeds"] == [0, 1]
    assert {"original", "baselines", "updates_ga", "sensitivity", "stability", "labels", "cud", "calibrate",
            "subsets", "samplers"} <= set(record["stages"])
    assert all(s["wall_s"] >= 0 for s in record["stages"].values()) and record["versions"]["torch"]
    for png in ("predicts_scatter.png", "variance.png", "stability.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    for claim in results.values():  # every claim: a verdict from the four, its primary test, a finding
        assert claim["verdict"] in ("reproduced", "reproduced, but not beyond the baselines", "not reproduced",
                                    "inconclusive"), claim["id"]
        assert {"test", "estimate", "ci", "p", "expected", "mde_80"} <= set(claim["primary"]) and claim["finding"]
        assert ("power" in claim) == (claim["verdict"] == "inconclusive")
    readme = (out / "README.md").read_text()
    assert readme.index("## Findings") < readme.index("## Claims and verdicts") < readme.index("## 1.")
    # calibration: the first rate reached the threshold, or the next one was tried
    cal = json.loads((work / "calibrate" / "calibration.json").read_text())
    assert set(cal["levels"]) == {"ga", "graddiff", "npo"}
    for method, levels in cal["levels"].items():
        assert levels[0]["lr"] == 1e-3 and all(b["lr"] == 2 * a["lr"] for a, b in zip(levels, levels[1:]))
        assert (method in cal["lr"]) == (levels[-1]["reached"] == levels[-1]["runs"])
    subsets = [json.loads(line) for line in (work / "subsets" / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["run"] for r in subsets) == sorted(f"{m}/subset-{k}/seed-{100 * k + r}" for k in range(2)
                                                        for r in range(2) for m in ("graddiff", "npo"))
    for r in subsets:  # stopped at the threshold, or censored at the budget or a plateau
        assert r["censored"] or r["checks"][-1]["ma"] < cal["threshold_ma"]
        assert r["trained"] <= 4 and (r["updates"] == r["trained"])
    samplers = [json.loads(line) for line in (work / "samplers" / "runs.jsonl").read_text().splitlines()]
    assert sorted(r["run"] for r in samplers) == sorted(f"ga+{arm}/seed-0" for arm in ("uniform", "mrd", "length",
                                                                                           "nll"))
    assert {r["run_method"] for r in samplers if r["arm"] == "mrd"} == {"cga"}
    labels = json.loads((work / "labels" / "labels.json").read_text())
    assert labels["runs"] == ["ga/seed-0", "npo/seed-0", "ga/seed-1", "npo/seed-1"] and labels["min_votes"] == 3
    stab = json.loads((work / "stability" / "stability.json").read_text())
    assert set(stab["alg1"]) == {"A", "B", "C"} and all(len(v["values"]) == 4 for v in stab["alg1"].values())
    assert len(stab["definition"]) == 4
    # the data folder alone gives back results.json, exactly
    again = tmp_path / "again"
    rerun = mrd_bench("reproduce", "--data", str(out / "data"), "--out", str(again))
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((again / "results.json").read_text()) == json.loads((out / "results.json").read_text())
    assert (again / "data" / "samples.csv").read_text() == (out / "data" / "samples.csv").read_text()
    assert not list(work.glob("*/.model"))  # scratch removed

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
    (["--cud-label-methods", "ga,cga"], ["cga", "samples by MRD"]),
    (["--calibrate-start", "ga=1e-5"], ["--calibrate-start", "graddiff"]),
    (["--sampling-arms", "mrd,length"], ["--sampling-arms", "uniform"]),
    (["--variance-seeds", "1"], ["--variance-seeds", "two runs"]),
    (["--data", "nowhere"], ["--data", "study.json"]),
])
def test_bad_settings_get_one_line(tmp_path, flags, needles):
    assert_one_line_error(mrd_bench("reproduce", *flags, "--work", str(tmp_path / "w"), "--out",
                                    str(tmp_path / "r")), *needles)


def test_an_original_fine_tuned_before_the_adamw_option_is_adopted_not_retrained(tmp_path, base, data_dir):
    """The study's original is trained with torch's default AdamW; a fine-tune whose record predates the
    --adamw option (no `adamw` in its loop) is the same run and is adopted, weights untouched."""
    work, out = tmp_path / "work", tmp_path / "report"
    args = ["reproduce", "--model", str(base), *TINY, "--work", str(work), "--out", str(out), "--stages", "original"]
    first = mrd_bench(*args)
    assert first.returncode == 0, first.stderr
    record_path = work / "original" / "run_record.json"
    record = json.loads(record_path.read_text())
    assert record["loop"].pop("adamw") == "default"
    record_path.write_text(json.dumps(record))
    weights = (work / "original" / "model.safetensors").read_bytes()
    (work / "original" / "done.json").unlink()
    again = mrd_bench(*args, "--overwrite")
    assert again.returncode == 0, again.stderr
    done = json.loads((work / "original" / "done.json").read_text())
    assert done["result"].get("adopted") is True
    assert (work / "original" / "model.safetensors").read_bytes() == weights
