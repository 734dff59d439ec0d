"""The tofu_forget_mrd task: its helpers by hand, the token-level model, and lm-eval end to end."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from mrd_bench.annotate import annotate
from mrd_bench.lmeval.paths import tasks_dir
from mrd_bench.errors import DataError
from mrd_bench.lmeval import aggregations
from mrd_bench.lmeval.aggregations import reweighted
from mrd_bench.lmeval.requests import DOC_KEY
from tests.e2e.test_cli import mrd_bench

def _load_task_utils():
    """The task folder's utils.py, imported from its file as lm-eval does."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("tofu_task_utils", tasks_dir() / "tofu" / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tofu = _load_task_utils()


WEIGHTS = {"easy": 0.25, "medium": 0.25, "hard": 0.5}


def _doc(member: int, b: str, answer: str = "Liesel wrote it.", **more) -> dict:
    return {"member": member, "mrd_bin": b, "bin_weight": WEIGHTS.get(b, 0.0), "bin_weights": WEIGHTS,
            "renormalize": False, "answer": answer, "sample_id": f"s{member}{b}{answer}", "retain_reference": "",
            "reference_model": "", **more}


def test_reweighting_by_hand():
    """Bins easy 0.9, hard 0.5; reference weights easy 0.25, medium 0.25, hard 0.5. medium is
    absent: NaN by default (the mix cannot be rebuilt); renormalised over 0.75 on request:
    (0.9·0.25 + 0.5·0.5)/0.75 = 0.6333."""
    assert math.isnan(reweighted({"easy": 0.9, "hard": 0.5}, WEIGHTS))
    assert reweighted({"easy": 0.9, "hard": 0.5}, WEIGHTS, renormalize=True) == \
        pytest.approx((0.9 * 0.25 + 0.5 * 0.5) / 0.75)
    assert reweighted({"easy": 0.9, "hard": 0.5}, {"easy": 0.5, "medium": 0.0, "hard": 0.5}) == \
        pytest.approx(0.7)  # a bin with no share may be empty


def test_process_results_and_aggregations_by_hand():
    """A member in bin easy with tokens correct [T, F, T, T] → FA 0.75; log-probs [-0.1, -2, -0.3, -0.2]
    → prob exp(-2.6/4) = 0.522, Min-K (k=0.4: max(1, ⌊1.6⌋) = 1 lowest) = -2."""
    out = tofu.process_mia(_doc(1, "easy"), [(-2.6, False, [-0.1, -2.0, -0.3, -0.2], [True, False, True, True])])
    assert out["fa"] == out["fa_easy"]["value"] == 0.75 and out["ua"] == 0.25  # overall: plain numbers
    assert out["prob"] == pytest.approx(math.exp(-2.6 / 4))
    assert out["min_k_auc"]["value"] == pytest.approx(-2.0) and out["min_k_auc"]["bin"] == "easy"
    holdout = tofu.process_mia(_doc(0, ""), [(-9.0, False, [-3.0, -4.0], [False, False])])
    assert set(holdout) == set(out)  # every document emits every key: one count per metric
    assert math.isnan(holdout["fa"]) and holdout["fa_easy"]["bin"] == "" and holdout["min_k_auc"]["value"] == -4.0
    from lm_eval.api.metrics import nanmean  # the overall aggregation the YAML names: members only
    assert nanmean([out["fa"], holdout["fa"]]) == 0.75
    assert tofu.count_easy(["easy", "", "hard", "easy"]) == 2

    def item(value, b):
        return {"value": value, "bin": b, "weights": WEIGHTS, "renormalize": False}

    # members easy -1, hard -5 and medium -2.5; non-members -2 and -3:
    # AUC_easy = 1, AUC_medium = 0.5 (beats -3, loses to -2), AUC_hard = 0, overall 3/6
    items = [item(-1.0, "easy"), item(-5.0, "hard"), item(-2.5, "medium"), item(-2.0, ""), item(-3.0, "")]
    assert tofu.auc(items) == 0.5
    assert (tofu.auc_easy(items), tofu.auc_medium(items), tofu.auc_hard(items)) == (1.0, 0.5, 0.0)
    assert tofu.auc_reweighted(items) == pytest.approx(0.25 * 1 + 0.25 * 0.5 + 0.5 * 0)
    means = [item(1.0, "easy"), item(0.0, "hard"), item(0.5, "hard"), item(0.2, "medium"), item(math.nan, "")]
    assert tofu.mean_hard(means) == 0.25
    assert tofu.mean_reweighted(means) == pytest.approx(0.25 * 1.0 + 0.25 * 0.2 + 0.5 * 0.25)


def test_an_empty_bin_is_nan_everywhere_unless_renormalised(caplog):
    def item(value, b, renormalize=False):
        return {"value": value, "bin": b, "weights": WEIGHTS, "renormalize": renormalize}

    no_medium = [item(1.0, "easy"), item(0.0, "hard")]
    aggregations._WARNED.clear()  # reasons are logged once per process
    with caplog.at_level("WARNING", logger="mrd_bench"):
        assert math.isnan(tofu.mean_medium(no_medium)) and math.isnan(tofu.mean_reweighted(no_medium))
        assert math.isnan(tofu.auc_medium(no_medium + [item(0.5, "")]))
    assert "medium difficulty bin has no documents" in caplog.text
    renormalised = [item(1.0, "easy", True), item(0.0, "hard", True)]
    assert tofu.mean_reweighted(renormalised) == pytest.approx(0.25 / 0.75)


def test_stock_results_are_unavailable_not_wrong(caplog):
    """A stock result (sum, is_greedy) has no per-token detail: FA and Min-K% are NaN, and so is
    the probability when the scored token count is unknown (no requests seen, no tokenizer)."""
    aggregations._WARNED.clear()  # reasons are logged once per process
    with caplog.at_level("WARNING", logger="mrd_bench"):
        out = tofu.process_mia(_doc(1, "hard"), [(-3.0, True)])
    assert math.isnan(out["fa"]) and math.isnan(out["min_k_auc"]["value"])
    assert math.isnan(out["prob"])
    assert "FA, UA, extraction strength, the Min-K% and Min-K%++ AUCs and their privleak need" in caplog.text
    assert "the scored token counts are unknown" in caplog.text


def test_token_level_model_agrees_with_hflm(tiny_checkpoint):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from mrd_bench.lmeval.model import TokenLevelHFLM

    pairs = [("Question: Who wrote it?\nAnswer:", " Liesel wrote it."), ("Where?", " In Tartu, Estonia.")]
    lm = TokenLevelHFLM(pretrained=str(tiny_checkpoint), device="cpu", batch_size=2)
    ours = {DOC_KEY: "tofu.load_forget:0123"}  # a document of ours, whatever the task's name
    requests = [Instance("loglikelihood", ours, p, i, ("a_variant_of_ours", i, 1)) for i, p in enumerate(pairs)]
    ours = lm.loglikelihood(requests)
    stock = HFLM.loglikelihood(lm, requests)
    for token_level, (ll, greedy) in zip(ours, stock):
        assert token_level.ll == pytest.approx(ll, abs=1e-4) and token_level.is_greedy == greedy
        assert sum(token_level.logprobs) == pytest.approx(ll, abs=1e-4)
    other = [Instance("loglikelihood", {"question": "?"}, pairs[0], 0, ("tofu_forget_mrd_mia", 0, 1))]
    assert len(lm.loglikelihood(other)[0]) == 2  # other documents pass through unchanged, whatever the task name


def test_shipped_annotation_covers_the_embedded_forget_split(monkeypatch):
    monkeypatch.delenv("MRD_BENCH_DATA_DIR", raising=False)
    docs = tofu.load_forget(split="forget20", benchmark="fictitious")["test"]
    members = [d for d in docs if d["member"]]
    assert len(members) == 20 and len(docs) == 40
    assert {d["mrd_bin"] for d in members} == {"easy", "medium", "hard"}
    assert docs["member"][:4] == [1, 0, 1, 0]  # interleaved: --limit keeps both sides
    with pytest.raises(DataError, match="no difficulty annotation fictitious_forget10.json is shipped"):
        tofu.load_forget(split="forget10", benchmark="fictitious")


def test_retain_qa_keeps_the_author_subsets_retain_authors(data_dir):
    from mrd_bench.data import load
    from mrd_bench.errors import ConfigError

    docs = tofu.load_retain_qa(retain_split="retain99", subset_authors=5)["test"]
    full = load("tofu", "full")["sample_id"]
    forget01 = set(load("tofu", "forget01")["sample_id"])
    # 5 authors x 20 QA = the last 100 of full; 2 authors are forget01, so 3 x 20 are retain
    assert len(docs) == 60 and set(docs["sample_id"]) == set(full[-100:]) - forget01
    assert len(tofu.load_retain_qa(benchmark="fictitious")["test"]) == 80
    with pytest.raises(ConfigError, match="TOFU only"):
        tofu.load_retain_qa(benchmark="fictitious", subset_authors=2)
    assert tofu.process_answer_prob({}, [(-2.0, False, [-1.0, -1.0], [False, False])]) == {"prob": pytest.approx(math.exp(-1))}


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


def _lm_eval_args(model: str, checkpoint: Path, annotation: Path, out: Path, **more) -> list[str]:
    metadata = json.dumps({"benchmark": "fictitious", "split": "forget10", "difficulty": str(annotation), **more})
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
    for metric in ("fa", "ua", "min_k_auc", "rougeL_recall", "truth_ratio", "extraction_strength", "loss_auc",
                   "zlib_auc", "min_k_pp_auc", "para_prob", "pert_prob"):
        for suffix in ("", "_easy", "_medium", "_hard", "_reweighted"):
            assert 0.0 <= res[f"{metric}{suffix},none"] <= 1.0, metric + suffix
    for attack in ("min_k", "loss", "zlib", "min_k_pp"):  # against the fallback 0.5: (0.5 - AUC) / 0.5 * 100
        name = "privleak" if attack == "min_k" else f"privleak_{attack}"
        assert res[f"{name},none"] == pytest.approx((0.5 - res[f"{attack}_auc,none"]) / 0.5 * 100, abs=1e-6)
        assert res[f"{name}_easy,none"] == pytest.approx((0.5 - res[f"{attack}_auc_easy,none"]) * 200, abs=1e-6)
    assert math.isnan(res["forget_quality,none"])  # no retain reference given
    assert math.isnan(res["reference_auc,none"]) and math.isnan(res["privleak_reference,none"])  # no reference model
    assert "open-unlearning's fallback AUC_ref = 0.5" in proc.stderr
    assert res["fa,none"] + res["ua,none"] == pytest.approx(1.0)
    by_bin = sum(res[f"fa_{b},none"] * w for b, w in weights.items())
    assert res["fa_reweighted,none"] == pytest.approx(by_bin)


def test_stock_lm_eval_gives_every_metric_but_the_per_token_ones(tiny_checkpoint, annotation, tmp_path):
    """lm-eval's own CLI and `hf` backend, --limit 4: the probability, truth ratio and ROUGE are
    numbers overall and reweighted (over the bins present: --limit leaves some empty), and so are
    the LOSS and ZLib attacks and the paraphrased / perturbed probabilities; only the per-token
    metrics (FA, UA, extraction strength, Min-K%, Min-K%++ and their privleak) are NaN, and
    the warning names them and the command that computes them."""
    lm_eval = Path(sys.executable).with_name("lm_eval")
    proc = subprocess.run([str(lm_eval), "run", "--include_path", str(tasks_dir()),
                           *_lm_eval_args("hf", tiny_checkpoint, annotation, tmp_path / "out", renormalize=True),
                           "--limit", "4"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = _results(tmp_path / "out")
    finite = {k.split(",")[0] for k, v in res.items() if k.endswith(",none") and isinstance(v, float)
              and not math.isnan(v)}
    nan = {k.split(",")[0] for k, v in res.items() if k.endswith(",none") and isinstance(v, float) and math.isnan(v)}
    for metric in ("prob", "truth_ratio", "rougeL_recall", "loss_auc", "zlib_auc", "privleak_loss", "para_prob",
                   "pert_prob"):
        assert {metric, f"{metric}_reweighted"} <= finite, (metric, sorted(nan))
    for metric in ("fa", "ua", "min_k_auc", "extraction_strength", "min_k_pp_auc", "privleak", "privleak_min_k_pp"):
        assert {metric, f"{metric}_reweighted"} <= nan, metric
    assert "forget accuracy FA, UA, extraction strength, the Min-K% and Min-K%++ AUCs" in proc.stderr
    assert "mrd-bench eval --model hf-mrd" in proc.stderr


def test_task_yaml_loads_through_the_task_manager():
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(tasks_dir()))
    for name in ("tofu_forget_mrd", "tofu_retain_mrd", "tofu_real_authors", "tofu_world_facts", "tofu_mrd",
                 "wmdp_bio_mrd", "wmdp_chem_mrd", "wmdp_cyber_mrd", "mmlu_mrd_utility", "whp_forget_mrd",
                 "safe_forget_mrd"):
        assert name in manager.all_tasks, name


CHAT_TEMPLATE = ("{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
                 "{% if add_generation_prompt %}<s>assistant\n{% endif %}")  # the prompt ends in whitespace


@pytest.fixture(scope="module")
def chat_checkpoint(tmp_path_factory):
    from tests.conftest import build_model, build_tokenizer

    folder = tmp_path_factory.mktemp("tiny-chat")
    tokenizer = build_tokenizer()
    tokenizer.chat_template = CHAT_TEMPLATE
    build_model(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_hf_mrd_scores_exactly_the_answer_tokens_under_a_chat_template(chat_checkpoint):
    """lm-eval moves the generation prompt's trailing newline into the continuation; hf-mrd must
    score the answer's own tokens, in the prompt `mrd-bench finetune` trains on (encode_qa, chat)."""
    import torch
    from lm_eval.api.instance import Instance

    from mrd_bench.lmeval.model import TokenLevelHFLM
    from mrd_bench.models import IGNORE, encode_qa

    lm = TokenLevelHFLM(pretrained=str(chat_checkpoint), device="cpu", batch_size=2)
    question, answer = "Who wrote the novel?", "Liesel Varnakov wrote it in 1999."
    context = lm.apply_chat_template([{"role": "user", "content": question}])
    assert context.endswith("assistant\n")
    [result] = lm.loglikelihood([Instance("loglikelihood", {DOC_KEY: "tofu.load_forget:0"}, (context, answer), 0,
                                          ("tofu_forget_mrd_mia", 0, 1))])

    trained = encode_qa(lm.tokenizer, question, answer, fmt="chat")  # prompt + answer + eos, answer scored
    scored = [t for t in trained.labels if t != IGNORE][:-1]  # the answer, without the end-of-turn token
    assert len(result.logprobs) == len(scored)
    ids = torch.tensor([trained.input_ids[:-1]])
    with torch.no_grad():
        logp = lm.model(ids).logits[0, :-1].log_softmax(-1)
    start = len(trained.input_ids) - 1 - len(scored)
    expected = [float(logp[start - 1 + k, t]) for k, t in enumerate(scored)]
    assert result.logprobs == pytest.approx(expected, abs=1e-4)
    # what lm-eval's own split would have scored: the newline joins the continuation
    _, stock_continuation = lm._encode_pair(context, answer)
    assert len(stock_continuation) > len(scored)


def test_reweighted_forget_quality_names_only_the_empty_bin(tmp_path, caplog):
    import json as _json

    ref = tmp_path / "ref.json"
    ref.write_text(_json.dumps({"truth_ratios": {"a": 0.1, "b": 0.2}}))
    items = [{"value": v, "bin": b, "weights": WEIGHTS, "renormalize": False, "sample_id": s, "reference": str(ref)}
             for v, b, s in ((0.1, "easy", "a"), (0.3, "medium", "b"))]
    aggregations._WARNED.clear()  # reasons are logged once per process
    with caplog.at_level("WARNING", logger="mrd_bench"):
        assert math.isnan(tofu.fq_reweighted(items))
    assert "the hard bin(s) have no documents" in caplog.text
