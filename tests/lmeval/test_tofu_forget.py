"""The tofu_forget_mrd task: its helpers by hand, the token-level model, and lm-eval end to end."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from mrd_bench.annotate import annotate
from mrd_bench.cli import tasks_dir
from mrd_bench.errors import DataError
from mrd_bench.report.stratify import reweighted
from tests.e2e.test_cli import mrd_bench

def _load_task_utils():
    """The task folder's utils.py, imported from its file as lm-eval does."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tofu_task_utils", tasks_dir() / "tofu" / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tofu = _load_task_utils()


def test_reweighting_by_hand():
    """Bins easy 0.9, hard 0.5; reference weights easy 0.25, medium 0.25, hard 0.5.
    medium is absent, so weights renormalise over 0.75: (0.9·0.25 + 0.5·0.5)/0.75 = 0.6333."""
    assert reweighted({"easy": 0.9, "hard": 0.5}, {"easy": 0.25, "medium": 0.25, "hard": 0.5}) == \
        pytest.approx((0.9 * 0.25 + 0.5 * 0.5) / 0.75)


def test_process_results_and_aggregations_by_hand():
    """A member in bin easy with tokens correct [T, F, T, T] → FA 0.75; log-probs [-0.1, -2, -0.3, -0.2]
    → Min-K (k=0.4: ⌈1.6⌉ = 2 lowest) = (-2 - 0.3)/2 = -1.15."""
    member = {"member": 1, "mrd_bin": "easy", "bin_weight": 0.5}
    out = tofu.process_mia(member, [(-2.6, False, [-0.1, -2.0, -0.3, -0.2], [True, False, True, True])])
    assert out["fa"] == out["fa_easy"] == 0.75 and out["ua"] == 0.25
    assert out["min_k_auc"] == pytest.approx((-1.15, 1, "easy", 0.5))
    holdout = tofu.process_mia({"member": 0, "mrd_bin": "", "bin_weight": 0.0},
                                   [(-9.0, False, [-3.0, -4.0], [False, False])])
    assert set(holdout) == {"min_k_auc", "min_k_auc_easy", "min_k_auc_medium", "min_k_auc_hard",
                            "min_k_auc_reweighted"}
    # members easy -1 and hard -5, non-members -2 and -3: AUC_easy = 1, AUC_hard = 0, overall 2/4
    items = [(-1.0, 1, "easy", 0.5), (-5.0, 1, "hard", 0.5), (-2.0, 0, "", 0.0), (-3.0, 0, "", 0.0)]
    assert tofu.auc(items) == 0.5
    assert tofu.reweighted_auc(items) == pytest.approx(0.5 * 1 + 0.5 * 0)
    assert tofu.reweighted_mean([(1.0, "easy", 0.25), (0.0, "hard", 0.75), (0.5, "hard", 0.75)]) == \
        pytest.approx(0.25 * 1.0 + 0.75 * 0.25)


def test_stock_results_are_unavailable_not_wrong():
    with pytest.warns(UserWarning, match="unavailable"):
        out = tofu.process_mia({"member": 1, "mrd_bin": "hard", "bin_weight": 0.3}, [(-3.0, True)])
    assert math.isnan(out["fa"]) and math.isnan(out["min_k_auc"][0])


def test_token_level_model_agrees_with_hflm(tiny_checkpoint):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from mrd_bench.lmeval.model import TokenLevelHFLM

    pairs = [("Question: Who wrote it?\nAnswer:", " Liesel wrote it."), ("Where?", " In Tartu, Estonia.")]
    lm = TokenLevelHFLM(pretrained=str(tiny_checkpoint), device="cpu", batch_size=2)
    requests = [Instance("loglikelihood", {}, p, i, ("tofu_forget_mrd_mia", i, 1)) for i, p in enumerate(pairs)]
    ours = lm.loglikelihood(requests)
    stock = HFLM.loglikelihood(lm, requests)
    for token_level, (ll, greedy) in zip(ours, stock):
        assert token_level.ll == pytest.approx(ll, abs=1e-4) and token_level.is_greedy == greedy
        assert sum(token_level.logprobs) == pytest.approx(ll, abs=1e-4)
    other = [Instance("loglikelihood", {}, pairs[0], 0, ("some_other_task", 0, 1))]
    assert len(lm.loglikelihood(other)[0]) == 2  # other tasks pass through unchanged


def test_shipped_annotation_covers_the_embedded_forget_split(monkeypatch):
    monkeypatch.delenv("MRD_BENCH_DATA_DIR", raising=False)
    docs = tofu.load_forget(split="forget20", benchmark="fictitious")["test"]
    members = [d for d in docs if d["member"]]
    assert len(members) == 20 and len(docs) == 40
    assert {d["mrd_bin"] for d in members} == {"easy", "medium", "hard"}
    assert docs["member"][:4] == [1, 0, 1, 0]  # interleaved: --limit keeps both sides
    with pytest.raises(DataError, match="no difficulty annotation fictitious_forget10.json is shipped"):
        tofu.load_forget(split="forget10", benchmark="fictitious")


def test_annotation_names_unscored_samples(tmp_path):
    scores = tmp_path / "scores.jsonl"
    scores.write_text('{"sample_id": "a", "score": 1.0}\n')
    scores.with_name("scores.meta.json").write_text('{"bin_edges": [0.5, 2.0]}')
    with pytest.raises(DataError, match=r"1/2 samples .*\['b'\]"):
        annotate(scores, ["a", "b"], tmp_path / "ann.json")


@pytest.fixture(scope="module")
def annotation(tiny_checkpoint, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("annotation")
    proc = mrd_bench("score", "--model", str(tiny_checkpoint), "--benchmark", "fictitious", "--split",
                     "forget10", "--k", "2", "--sigma", "1e-2", "--no-baselines", "--no-progress",
                     "--out", str(folder / "scores.jsonl"))
    assert proc.returncode == 0, proc.stderr
    proc = mrd_bench("annotate", "--scores", str(folder / "scores.jsonl"), "--benchmark", "fictitious",
                     "--split", "forget10", "--out", str(folder / "ann.json"))
    assert proc.returncode == 0, proc.stderr
    return folder / "ann.json"


def _lm_eval_args(model: str, checkpoint: Path, annotation: Path, out: Path) -> list[str]:
    metadata = json.dumps({"benchmark": "fictitious", "split": "forget10", "difficulty": str(annotation)})
    return ["--model", model, "--model_args", f"pretrained={checkpoint},dtype=float32", "--tasks",
            "tofu_forget_mrd", "--metadata", metadata, "--device", "cpu", "--batch_size", "4",
            "--gen_kwargs", "max_gen_toks=16", "--output_path", str(out)]


def _results(out: Path) -> dict:
    """The forget group's metrics, merged over its three tasks."""
    results = json.loads(next(out.rglob("results_*.json")).read_text())["results"]
    merged = {}
    for name in ("tofu_forget_mrd_mia", "tofu_forget_mrd_rouge", "tofu_forget_mrd_tr"):
        merged.update(results[name])
    return merged


def test_wrapper_reports_every_metric_per_bin(tiny_checkpoint, annotation, tmp_path):
    proc = mrd_bench("eval", *_lm_eval_args("hf-mrd", tiny_checkpoint, annotation, tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = _results(tmp_path / "out")
    weights = json.loads(annotation.read_text())["reference_weights"]
    for metric in ("fa", "ua", "min_k_auc", "rougeL_recall", "truth_ratio"):
        for suffix in ("", "_easy", "_medium", "_hard", "_reweighted"):
            assert 0.0 <= res[f"{metric}{suffix},none"] <= 1.0
    assert math.isnan(res["forget_quality,none"])  # no retain reference given
    assert res["fa,none"] + res["ua,none"] == pytest.approx(1.0)
    by_bin = sum(res[f"fa_{b},none"] * w for b, w in weights.items())
    assert res["fa_reweighted,none"] == pytest.approx(by_bin)


def test_stock_lm_eval_runs_the_task_and_marks_token_metrics_unavailable(tiny_checkpoint, annotation, tmp_path):
    lm_eval = Path(sys.executable).with_name("lm_eval")
    proc = subprocess.run([str(lm_eval), "run", "--include_path", str(tasks_dir()),
                           *_lm_eval_args("hf", tiny_checkpoint, annotation, tmp_path / "out")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = _results(tmp_path / "out")
    assert math.isnan(res["fa,none"]) and math.isnan(res["min_k_auc,none"])
    assert math.isnan(res["truth_ratio,none"])
    assert 0.0 <= res["rougeL_recall,none"] <= 1.0  # generation needs no token detail


def test_task_yaml_loads_through_the_task_manager():
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(tasks_dir()))
    for name in ("tofu_forget_mrd", "tofu_retain_mrd", "tofu_real_authors", "tofu_world_facts", "tofu_mrd",
                 "wmdp_bio_mrd", "wmdp_chem_mrd", "wmdp_cyber_mrd", "mmlu_mrd_utility", "whp_forget_mrd",
                 "safe_forget_mrd"):
        assert name in manager.all_tasks, name
