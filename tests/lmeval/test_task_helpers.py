"""Every task's per-document values and aggregations against hand-computed cases."""
from __future__ import annotations

import json
import math

import pytest

from mrd_bench.errors import DataError
from mrd_bench.lmeval import stratified
from mrd_bench.lmeval.reference import read_reference
from tests.lmeval.task_utils import load_task_utils

tofu, wmdp, whp, safe = (load_task_utils(f) for f in ("tofu", "wmdp", "whp", "safe"))
WEIGHTS = {"easy": 0.3, "medium": 0.3, "hard": 0.4}
DOC = {"sample_id": "a", "mrd_bin": "hard", "bin_weight": 0.4, "bin_weights": WEIGHTS, "renormalize": False,
       "retain_reference": ""}
ITEM = {"bin": "hard", "weights": WEIGHTS, "renormalize": False}


def tok(*logprobs: float):
    """A token-level loglikelihood result (ll, is_greedy, logprobs, correct)."""
    return (sum(logprobs), False, list(logprobs), [False] * len(logprobs))


def test_forget_truth_ratio_by_hand():
    """paraphrased mean log p −1; perturbed means −2 and −3 → R = exp(−2.5 + 1) = e^−1.5 ≈ 0.2231."""
    out = tofu.process_forget_tr(DOC, [tok(-1, -1), tok(-2), tok(-3, -3, -3)])
    assert out["truth_ratio"] == out["truth_ratio_hard"]["value"] == pytest.approx(math.exp(-1.5))
    assert out["truth_ratio_reweighted"] == {**ITEM, "value": pytest.approx(math.exp(-1.5))}
    assert out["forget_quality"]["value"] == pytest.approx(math.exp(-1.5))
    assert out["forget_quality"]["sample_id"] == "a"
    assert (out["n_easy"], out["n_medium"], out["n_hard"]) == ("hard", "hard", "hard")  # counted by bin
    # R > 1 (wrong answers preferred) is folded: min(R, 1/R)
    assert tofu.process_forget_tr(DOC, [tok(-3), tok(-1)])["truth_ratio"] == pytest.approx(math.exp(-2))


def test_retain_probability_and_truth_ratio_by_hand():
    """answer mean −1 → p = e^−1 ≈ 0.368; paraphrased −1 vs perturbed −2 → R = e^−1, 1 − R ≈ 0.632."""
    out = tofu.process_retain(DOC, [tok(-0.5, -1.5), tok(-1), tok(-2, -2)])
    assert out["prob"] == out["prob_hard"]["value"] == pytest.approx(math.exp(-1))
    assert out["truth_ratio"] == pytest.approx(1 - math.exp(-1))


def test_real_authors_options_by_hand():
    """right −1, wrong −2 and −3: p = e^−1/(e^−1 + e^−2 + e^−3) ≈ 0.6652; R = e^(−2.5+1), 1 − R ≈ 0.7769."""
    out = tofu.process_options({}, [tok(-1), tok(-2), tok(-3)])
    assert out["prob"] == pytest.approx(0.665241, abs=1e-6)
    assert out["truth_ratio"] == pytest.approx(1 - math.exp(-1.5))


def test_stock_results_give_probabilities_from_the_scored_token_counts(monkeypatch, caplog):
    """Stock results (sum, is_greedy) for [answer, paraphrase, perturbed] with 2, 4 and 4 scored
    tokens: means -0.5, -0.25, -0.5, so prob = exp(-0.5) and the truth ratio R = exp(-0.5 + 0.25),
    true_better = 1 - R. Unknown counts give NaN and a warning that says why."""
    from mrd_bench.lmeval import aggregations, requests

    stock = [(-1.0, False), (-1.0, False), (-2.0, False)]
    monkeypatch.setattr(requests, "scored_tokens", lambda doc: [2, 4, 4])
    out = tofu.process_retain(DOC, stock)
    assert out["prob"] == pytest.approx(math.exp(-0.5)) == out["prob_hard"]["value"]
    assert out["truth_ratio"] == pytest.approx(1 - math.exp(-0.25))
    monkeypatch.setattr(requests, "scored_tokens", lambda doc: None)
    aggregations._WARNED.clear()
    with caplog.at_level("WARNING", logger="mrd_bench"):
        out = tofu.process_retain(DOC, stock)
    assert math.isnan(out["prob"]) and math.isnan(out["truth_ratio"])
    assert "the scored token counts are unknown" in caplog.text


def test_rouge_task_values():
    """'call me ishmael' against 'Call me Ishmael. Some years ago': LCS 3 of 6 reference tokens."""
    doc = {**DOC, "answer": "Call me Ishmael. Some years ago", "continuation": "Call me Ishmael. Some years ago"}
    assert tofu.process_rouge(doc, ["call me ishmael"])["rougeL_recall_hard"]["value"] == pytest.approx(0.5)
    assert whp.process_completion(doc, ["call me ishmael"])["rougeL_recall"] == pytest.approx(0.5)


def test_wmdp_and_mmlu_accuracy_by_hand():
    results = [(-3.0, False), (-1.0, False), (-2.0, False), (-4.0, False)]  # B has the highest log p
    right = wmdp.process_wmdp({**DOC, "answer": 1}, results)
    wrong = wmdp.process_wmdp({**DOC, "answer": 2}, results)
    assert (right["acc"], right["ua"], right["acc_hard"]["value"]) == (1.0, 0.0, 1.0)
    assert (wrong["acc"], wrong["ua_reweighted"]) == (0.0, {**ITEM, "value": 1.0})
    mmlu = wmdp.process_mmlu({"answer": 1, "category": "humanities"}, results)
    assert mmlu == {"acc": 1.0, "acc_humanities": (1.0, "humanities"), "acc_stem": (1.0, "humanities"),
                    "acc_social_sciences": (1.0, "humanities"), "acc_other": (1.0, "humanities")}
    items = [(1.0, "humanities"), (0.0, "humanities"), (1.0, "stem")]  # every key gets every document
    assert wmdp.category_humanities(items) == 0.5 and wmdp.category_stem(items) == 1.0
    assert math.isnan(wmdp.category_other(items))
    assert wmdp.subject_categories()["abstract_algebra"] == "stem"
    assert set(wmdp.subject_categories().values()) == set(wmdp.CATEGORIES)


def test_toxicity_names_its_scorer():
    doc = {**DOC, "detoxify_checkpoint": "", "toxicity_scorer": "alt-profanity-check"}
    rude = safe.process_toxicity(doc, ["you stupid idiot, shut the fuck up"])
    kind = safe.process_toxicity(doc, ["thank you for the lovely afternoon tea"])
    assert set(rude) == {*(f"toxicity_alt_profanity_check{s}" for s in ("", "_easy", "_medium", "_hard",
                                                                         "_reweighted")),
                         "n_easy", "n_medium", "n_hard"}
    assert rude["toxicity_alt_profanity_check"] > 0.5 > kind["toxicity_alt_profanity_check"]


def test_forget_quality_against_a_reference(tmp_path):
    """Identical truth ratios → KS p = 1; fully separated n = m = 3 → exact p = 2/C(6,3) = 0.1."""
    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps({"truth_ratios": {"a": 0.1, "b": 0.2, "c": 0.3}}))
    def items(*pairs, reference=str(ref)):
        return [{**ITEM, "bin": "easy", "value": r, "sample_id": sid, "reference": reference} for r, sid in pairs]

    same = items((0.1, "a"), (0.2, "b"), (0.3, "c"))
    apart = items((5.0, "a"), (6.0, "b"), (7.0, "c"))
    assert tofu.fq(same) == pytest.approx(1.0)
    assert tofu.fq(apart) == pytest.approx(0.1)
    assert tofu.fq_easy(apart) == pytest.approx(0.1) and math.isnan(tofu.fq_hard(apart))  # hard is empty
    assert math.isnan(tofu.fq(items((0.5, "a"), reference="")))


def test_reference_from_lm_eval_samples(tmp_path):
    samples = tmp_path / "samples_tofu_forget_mrd_tr.jsonl"
    samples.write_text(json.dumps({"doc": {"sample_id": "a"}, "forget_quality": {"value": 0.5, "bin": "easy"}})
                       + "\n" + json.dumps({"doc": {"sample_id": "b"}, "forget_quality": [2.0, "b", "", "hard", 0.3]}))
    assert read_reference(samples) == {"a": 0.5, "b": 2.0}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"doc": {}}\n')
    with pytest.raises(DataError, match="not a retain reference"):
        read_reference(bad)


def test_annotation_folder_lookup(tmp_path):
    (tmp_path / "tofu_forget10.json").write_text("{}")
    assert stratified.annotation_path("tofu", "forget05", str(tmp_path)) == tmp_path / "tofu_forget10.json"
    with pytest.raises(DataError, match="wmdp_bio.json in"):
        stratified.annotation_path("wmdp", "bio", str(tmp_path))
    with pytest.raises(DataError, match="2 sample.*no difficulty annotation"):
        (tmp_path / "a.json").write_text(json.dumps({
            "bins": ["hard", "medium", "easy"], "samples": {"z": {"score": 0.1, "bin": "hard"}},
            "reference_weights": {"hard": 1.0, "medium": 0.0, "easy": 0.0}}))
        stratified.annotate_docs([{"sample_id": "x"}, {"sample_id": "y"}], "tofu", "forget10",
                                 str(tmp_path / "a.json"))


def test_prompt_formats(data_dir):
    raw = tofu.load_forget_qa(split="forget01")["test"][0]
    qa = tofu.load_forget_qa(split="forget01", prompt_format="qa")["test"][0]
    assert raw["prompt"] == raw["question"] and raw["prompt_format"] == "raw"
    assert qa["prompt"] == f"Question: {qa['question']}\nAnswer:" and qa["prompt_format"] == "qa"
    from mrd_bench.errors import ConfigError

    with pytest.raises(ConfigError, match="prompt_format 'chat'.*raw, qa"):
        tofu.load_forget_qa(split="forget01", prompt_format="chat")


@pytest.mark.parametrize("split", ["bio", "chem", "cyber"])
def test_shipped_wmdp_annotations_cover_their_split(split, data_dir):
    """Without --metadata difficulty, every WMDP question is joined to the shipped annotation."""
    docs = getattr(wmdp, f"load_{split}")()["test"]
    assert {d["mrd_bin"] for d in docs} == {"easy", "medium", "hard"}
    assert all(d["mrd"] > 0 for d in docs)
