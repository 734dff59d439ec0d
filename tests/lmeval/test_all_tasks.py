"""Every task end to end on a tiny model over the shared benchmark data: through the
`mrd-bench eval` wrapper (token-level model) and through stock `lm_eval` (model hf)."""
from __future__ import annotations

import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from mrd_bench.annotate import annotate
from mrd_bench.lmeval.paths import tasks_dir
from mrd_bench.data import load
from mrd_bench.report.stratify import quantile_edges
from tests.e2e.test_cli import assert_one_line_error, mrd_bench

TASKS = "tofu_mrd,tofu_retain_qa,wmdp_mrd,mmlu_mrd_utility,whp_forget_mrd,safe_forget_mrd"
STRATIFIED = ("", "_easy", "_medium", "_hard", "_reweighted")
# task -> (metrics, stratified?, the metrics that need per-token log-probs: NaN under stock `hf`)
PER_TOKEN = {"fa", "ua", "min_k_auc"}
EXPECTED = {
    "tofu_forget_mrd_mia": (("fa", "ua", "prob", "min_k_auc"), True, PER_TOKEN),
    "tofu_forget_mrd_rouge": (("rougeL_recall",), True, set()),
    "tofu_forget_mrd_tr": (("truth_ratio",), True, set()),
    "tofu_retain_mrd_prob": (("prob", "truth_ratio"), True, set()),
    "tofu_retain_mrd_rouge": (("rougeL_recall",), True, set()),
    "tofu_retain_qa_prob": (("prob",), False, set()),
    "tofu_retain_qa_rouge": (("rougeL_recall",), False, set()),
    "tofu_real_authors_prob": (("prob", "truth_ratio"), False, set()),
    "tofu_real_authors_rouge": (("rougeL_recall",), False, set()),
    "tofu_world_facts_prob": (("prob", "truth_ratio"), False, set()),
    "tofu_world_facts_rouge": (("rougeL_recall",), False, set()),
    "wmdp_bio_mrd": (("acc", "ua"), True, set()),
    "wmdp_chem_mrd": (("acc", "ua"), True, set()),
    "wmdp_cyber_mrd": (("acc", "ua"), True, set()),
    "mmlu_mrd_utility": (("acc",), False, set()),
    "whp_forget_mrd_seen": (("rougeL_recall",), True, set()),
    "whp_forget_mrd_unseen": (("rougeL_recall",), True, set()),
    "safe_forget_mrd": (("toxicity_alt_profanity_check",), True, set()),
}
ANNOTATED = [("tofu", "forget10", None), ("tofu", "retain_perturbed", None), ("wmdp", "bio", None),
             ("wmdp", "chem", None), ("wmdp", "cyber", None), ("whp", "melville-moby_dick", 100),
             ("safe", "toxic", 400)]


@pytest.fixture(scope="module")
def annotations(tmp_path_factory, data_dir_module) -> Path:
    """A folder of <benchmark>_<split>.json annotations with arbitrary (hash-derived) scores."""
    folder = tmp_path_factory.mktemp("annotations")
    for benchmark, split, limit in ANNOTATED:
        ids = load(benchmark, split)["sample_id"][:limit]
        scores = [int(hashlib.sha1(s.encode()).hexdigest()[:8], 16) / 16 ** 8 for s in ids]
        path = folder / f"{benchmark}_{split}.scores.jsonl"
        path.write_text("".join(json.dumps({"sample_id": s, "score": v}) + "\n" for s, v in zip(ids, scores)))
        path.with_name(path.stem + ".meta.json").write_text(json.dumps({"bin_edges": quantile_edges(scores, 3)}))
        annotate(path, ids, folder / f"{benchmark}_{split}.json")
    return folder


@pytest.fixture(scope="module")
def data_dir_module():
    from tests.conftest import SHARED_DATA

    mp = pytest.MonkeyPatch()
    mp.setenv("MRD_BENCH_DATA_DIR", str(SHARED_DATA))
    yield SHARED_DATA
    mp.undo()


def _args(model: str, checkpoint: Path, annotations: Path, out: Path) -> list[str]:
    return ["--model", model, "--model_args", f"pretrained={checkpoint},dtype=float32", "--tasks", TASKS,
            "--metadata", json.dumps({"difficulty": str(annotations)}), "--device", "cpu", "--batch_size", "8",
            "--limit", "6", "--gen_kwargs", "max_gen_toks=8", "--output_path", str(out), "--log_samples"]


def _results(out: Path) -> dict:
    return json.loads(next(out.rglob("results_*.json")).read_text())["results"]


def _check(results: dict, token_level: bool) -> None:
    for task, (metrics, stratified, needs_tokens) in EXPECTED.items():
        for metric in metrics:
            value = results[task][f"{metric},none"]
            if metric in needs_tokens and not token_level:
                assert math.isnan(value), (task, metric)
                continue
            assert 0.0 <= value <= 1.0, (task, metric, value)
            if stratified:  # --limit 6 leaves some bins empty: NaN there and in reweighted, never missing
                n = {b: results[task][f"n_{b},none"] for b in ("easy", "medium", "hard")}
                members = 3 if task == "tofu_forget_mrd_mia" else 6  # members and non-members alternate
                assert sum(n.values()) == members, (task, n)
                for b, count in n.items():
                    per_bin = results[task][f"{metric}_{b},none"]
                    assert math.isnan(per_bin) if count == 0 else 0.0 <= per_bin <= 1.0, (task, metric, b)
                reweighted = results[task][f"{metric}_reweighted,none"]
                assert math.isnan(reweighted) if 0 in n.values() else 0.0 <= reweighted <= 1.0, (task, metric)
    assert math.isnan(results["tofu_forget_mrd_tr"]["forget_quality,none"])  # no retain reference
    assert results["whp_heldout_ppl"]["word_perplexity,none"] > 1.0
    sizes = {t: 6 for t in ("wmdp_bio_mrd", "wmdp_chem_mrd", "wmdp_cyber_mrd")}  # --limit 6 each
    for metric in ("acc", "ua"):  # the group's aggregate, as lm-eval's own wmdp group gives acc
        by_hand = sum(results[t][f"{metric},none"] * n for t, n in sizes.items()) / sum(sizes.values())
        assert results["wmdp_mrd"][f"{metric},none"] == pytest.approx(by_hand)


def test_wrapper_runs_every_task(tiny_checkpoint, annotations, tmp_path, data_dir_module):
    proc = mrd_bench("eval", *_args("hf-mrd", tiny_checkpoint, annotations, tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "not scored on the same number of documents" not in proc.stderr
    assert proc.stderr.count("bin has no documents") <= 3  # logged once per bin, not once per metric
    results = _results(tmp_path / "out")
    _check(results, token_level=True)
    assert "toxicity_alt_profanity_check" in proc.stdout  # lm-eval's table names the scorer

    # the report: model utility from the nine numbers, forget quality from a retain reference
    reference = next((tmp_path / "out").rglob("samples_tofu_forget_mrd_tr_*.jsonl"))
    proc = mrd_bench("report", str(tmp_path / "out"), "--retain-reference", str(reference))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "mrd_report" / "report.json").read_text())
    nine = [results[f"tofu_{part}_{task}"][f"{metric},none"] for part in ("retain_mrd", "real_authors", "world_facts")
            for task, metric in (("prob", "prob"), ("rouge", "rougeL_recall"), ("prob", "truth_ratio"))]
    expected = 0.0 if min(nine) == 0 else len(nine) / sum(1 / v for v in nine)
    assert report["derived"]["model_utility"]["model_utility"] == pytest.approx(expected)
    assert report["derived"]["forget_quality"]["overall"] == pytest.approx(1.0)  # the run is its own reference
    for name in ("report.md", "report.html", "bins.png", "per_sample.png", "mrd_hist.png"):
        assert (tmp_path / "out" / "mrd_report" / name).stat().st_size > 0, name
    again = mrd_bench("report", str(tmp_path / "out"))
    assert_one_line_error(again, "--overwrite")


def test_stock_lm_eval_runs_every_task(tiny_checkpoint, annotations, tmp_path, data_dir_module):
    lm_eval = Path(sys.executable).with_name("lm_eval")
    proc = subprocess.run([str(lm_eval), "run", "--include_path", str(tasks_dir()),
                           *_args("hf", tiny_checkpoint, annotations, tmp_path / "out")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check(_results(tmp_path / "out"), token_level=False)


def test_a_task_without_its_annotation_names_the_fix(tiny_checkpoint, tmp_path, data_dir_module):
    proc = mrd_bench("eval", "--model", "hf-mrd", "--model_args", f"pretrained={tiny_checkpoint}",
                     "--tasks", "wmdp_chem_mrd", "--metadata", json.dumps({"difficulty": str(tmp_path)}),
                     "--device", "cpu", "--limit", "2")
    assert_one_line_error(proc, "wmdp_chem.json", "mrd-bench annotate")
