"""open-unlearning's forget metrics in the TOFU tasks: the per-document values of the membership
attacks, extraction strength and the paraphrased / perturbed probabilities, and privleak's
aggregation against a retain model's scores, each by hand."""
from __future__ import annotations

import json
import math
import zlib

import pytest

from mrd_bench.lmeval import aggregations
from tests.lmeval.test_tofu_forget import WEIGHTS, _doc, tofu


def test_process_mia_gives_every_attack_extraction_strength_and_nan_where_unavailable(caplog):
    """A member in bin easy, tokens correct [T, F, T, T] (ES: suffix from k = 2, 1 - 2/4 = 0.5),
    log-probs [-0.1, -2, -0.3, -0.2] (mean -0.65), moments μ = -1 and σ² = 4 at every token:
    z = (0.45, -0.5, 0.35, 0.4), Min-K%++ keeps int(4 * 0.4) = 1 lowest: -0.5."""
    answer = "Liesel wrote it."
    result = (-2.6, False, [-0.1, -2.0, -0.3, -0.2], [True, False, True, True], [-1.0] * 4, [4.0] * 4)
    aggregations._WARNED.clear()
    with caplog.at_level("WARNING", logger="mrd_bench"):
        out = tofu.process_mia(_doc(1, "easy", answer), [result])
    assert out["extraction_strength"] == 0.5 and out["extraction_strength_easy"]["value"] == 0.5
    assert out["loss_auc"]["value"] == pytest.approx(-0.65)
    assert out["zlib_auc"]["value"] == pytest.approx(-0.65 / len(zlib.compress(answer.encode("utf-8"))))
    assert out["min_k_pp_auc"]["value"] == pytest.approx(-0.5)
    assert out["min_k_auc"]["value"] == pytest.approx(-2.0)
    assert math.isnan(out["reference_auc"]["value"]) and "reference_model" in caplog.text
    for attack, key in (("min_k_auc", "privleak"), ("loss_auc", "privleak_loss"), ("zlib_auc", "privleak_zlib"),
                        ("min_k_pp_auc", "privleak_min_k_pp"), ("reference_auc", "privleak_reference")):
        assert out[key]["attack"] == attack and out[key]["sample_id"] == _doc(1, "easy", answer)["sample_id"]
        for k in (key, f"{key}_easy", f"{key}_reweighted"):
            assert out[k]["value"] == out[attack]["value"] or math.isnan(out[attack]["value"])
    # a four-field result (cached by an older hf-mrd): Min-K%++ is NaN, with the reason
    old = tofu.process_mia(_doc(1, "easy", answer), [result[:4]])
    assert math.isnan(old["min_k_pp_auc"]["value"]) and old["min_k_auc"]["value"] == pytest.approx(-2.0)
    assert "drop --use_cache" in caplog.text
    holdout = tofu.process_mia(_doc(0, "", "Nobody wrote this one."), [result])
    assert set(holdout) == set(out) and math.isnan(holdout["extraction_strength"])
    assert holdout["loss_auc"]["value"] == pytest.approx(-0.65)  # non-members are scored by every attack


def test_reference_attack_joins_the_reference_models_file_by_sample_id(tmp_path, caplog):
    ref = tmp_path / "samples_tofu_forget_mrd_mia_2026.jsonl"
    member, other = _doc(1, "easy"), _doc(0, "")
    rows = [{"doc": {"sample_id": member["sample_id"]}, "loss_auc": {"value": -1.5, "bin": "easy"}},
            {"doc": {"sample_id": other["sample_id"]}, "loss_auc": {"value": -0.25, "bin": ""}}]
    ref.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    result = (-2.0, False, [-1.0, -1.0], [True, True])
    assert tofu.process_mia({**member, "reference_model": str(ref)}, [result])["reference_auc"]["value"] == \
        pytest.approx(-1.0 - -1.5)
    assert tofu.process_mia({**other, "reference_model": str(ref)}, [result])["reference_auc"]["value"] == \
        pytest.approx(-1.0 - -0.25)
    aggregations._WARNED.clear()
    with caplog.at_level("WARNING", logger="mrd_bench"):
        unknown = tofu.process_mia({**_doc(1, "hard"), "reference_model": str(ref)}, [result])
    assert math.isnan(unknown["reference_auc"]["value"]) and "lacks some of this run's documents" in caplog.text


def _items(values: dict[str, tuple[float, str]], reference: str = "", attack: str = "loss_auc") -> list[dict]:
    return [{"value": v, "bin": b, "weights": WEIGHTS, "renormalize": False, "sample_id": sid, "attack": attack,
             "reference": reference} for sid, (v, b) in values.items()]


def test_privleak_against_a_retain_models_scores_per_bin_and_reweighted(tmp_path):
    """Unlearned model: members e (easy) -1, m (medium) -2.5, h (hard) -5; non-members x -2, y -3:
    AUC = 0.5 overall, 1 / 0.5 / 0 per bin. Retain model's LOSS scores: e -2.5, m -1, h -2.5, x -2, y -3:
    AUC_ref = 4/6 overall (e and h beat y only, m beats both), easy 0.5, medium 1, hard 0.5.
    privleak = (AUC_ref - AUC) / (1 - AUC_ref) * 100 (open-unlearning's, on 1 - AUC)."""
    retain = {"e": -2.5, "m": -1.0, "h": -2.5, "x": -2.0, "y": -3.0}
    tr = tmp_path / "samples_tofu_forget_mrd_tr_2026-01-01.jsonl"
    tr.write_text("")  # forget quality's file; the _mia_ file of the same run sits beside it
    mia = tmp_path / "samples_tofu_forget_mrd_mia_2026-01-01.jsonl"
    mia.write_text("".join(json.dumps({"doc": {"sample_id": s}, "loss_auc": {"value": v},
                                       "min_k_auc": {"value": math.nan}}) + "\n" for s, v in retain.items()))
    items = _items({"e": (-1.0, "easy"), "m": (-2.5, "medium"), "h": (-5.0, "hard"), "x": (-2.0, ""),
                    "y": (-3.0, "")}, reference=str(tr))

    def pl(auc, ref):
        return ((1 - auc) - (1 - ref)) / ((1 - ref) + 1e-10) * 100

    assert tofu.privleak_agg(items) == pytest.approx(pl(0.5, 4 / 6), abs=1e-6) == pytest.approx(50.0)
    assert tofu.privleak_easy(items) == pytest.approx(pl(1.0, 0.5), abs=1e-6) == pytest.approx(-100.0)
    assert tofu.privleak_hard(items) == pytest.approx(pl(0.0, 0.5), abs=1e-6)  # +100
    assert math.isnan(tofu.privleak_medium(items))  # the retain model's AUC is 1: nothing left to leak
    # reweighted: Σ w_b privleak_b is NaN with a NaN bin; over easy and hard alone it is checked by hand
    no_medium = [i for i in items if i["bin"] != "medium"]
    for i in no_medium:
        i["weights"] = {"easy": 0.25, "medium": 0.0, "hard": 0.75}
    assert tofu.privleak_reweighted(no_medium) == pytest.approx(0.25 * pl(1.0, 0.5) + 0.75 * pl(0.0, 0.5), abs=1e-6)
    # an attack the retain model could not run (NaN there) gives NaN, never the fallback
    assert math.isnan(tofu.privleak_agg([{**i, "attack": "min_k_auc"} for i in items]))


def test_privleak_falls_back_to_half_and_says_so(caplog):
    items = _items({"a": (-1.0, "easy"), "b": (-3.0, "hard"), "c": (-2.0, "")})  # AUC 0.5
    aggregations._WARNED.clear()
    with caplog.at_level("WARNING", logger="mrd_bench"):
        assert tofu.privleak_agg(items) == pytest.approx(0.0, abs=1e-6)
        assert tofu.privleak_easy(items) == pytest.approx(-100.0, abs=1e-6)
    assert "open-unlearning's fallback AUC_ref = 0.5" in caplog.text


def test_privleak_is_nan_when_the_retain_model_lacks_samples(tmp_path, caplog):
    ref = tmp_path / "scores.json"
    ref.write_text(json.dumps({"membership_scores": {"loss_auc": {"a": -1.0}}}))
    items = _items({"a": (-1.0, "easy"), "c": (-2.0, "")}, reference=str(ref))
    aggregations._WARNED.clear()
    with caplog.at_level("WARNING", logger="mrd_bench"):
        assert math.isnan(tofu.privleak_agg(items))
    assert "lacks some of this run's samples" in caplog.text


def test_paraphrased_and_perturbed_probabilities_from_the_truth_ratio_likelihoods():
    """choices [paraphrased, perturbed x2] with mean log p -1, -2, -3 (stock sums over known counts
    are checked elsewhere): para_prob e^-1, pert_prob (e^-2 + e^-3) / 2 (open-unlearning's mean)."""
    doc = {**_doc(1, "medium"), "retain_reference": ""}
    results = [(-2.0, False, [-1.0, -1.0], [True, True]), (-2.0, False, [-2.0], [False]),
               (-9.0, False, [-3.0, -3.0, -3.0], [False] * 3)]
    out = tofu.process_forget_tr(doc, results)
    assert out["para_prob"] == pytest.approx(math.exp(-1)) and out["para_prob_medium"]["value"] == out["para_prob"]
    assert out["pert_prob"] == pytest.approx((math.exp(-2) + math.exp(-3)) / 2)


def test_gradient_norms_match_autograd_by_hand_and_leave_the_weights_alone(tiny_checkpoint):
    """hf-mrd's GradNorm documents: per parameter tensor, ‖∂(mean answer NLL)/∂W‖₂ (open-unlearning's
    per-tensor norms, batch 1), computed here with the model's own loss on the same tokens."""
    import torch
    from lm_eval.api.instance import Instance

    from mrd_bench.lmeval.model import TokenLevelHFLM
    from mrd_bench.lmeval.requests import DOC_KEY

    lm = TokenLevelHFLM(pretrained=str(tiny_checkpoint), device="cpu", batch_size=2)
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    pairs = [("Question: Who wrote it?\nAnswer:", " Liesel wrote it."), ("Where?", " In Tartu, Estonia.")]
    docs = [{DOC_KEY: "tofu.load_forget_gradnorm:0", "gradnorm": True}, {DOC_KEY: "tofu.load_forget:0"}]
    got = lm.loglikelihood([Instance("loglikelihood", docs[i // 2], p, i, ("t", i, 1))
                            for i, p in enumerate(pairs + pairs)])  # both pairs as GradNorm's, then as the mia's
    assert got[0].param_norms and got[1].param_norms and got[2].param_norms is None  # only GradNorm's documents
    assert got[0].logprobs == pytest.approx(got[2].logprobs, abs=1e-5)  # the same pair, the other path
    for result, (context, answer) in zip(got[:2], pairs):
        ctx, cont = lm._encode(context, answer)
        ids = torch.tensor([ctx + cont])
        labels = torch.tensor([[-100] * len(ctx) + cont])
        lm.model.zero_grad(set_to_none=True)
        with torch.enable_grad():
            lm.model(input_ids=ids, labels=labels).loss.backward()  # mean NLL over the answer tokens
        by_hand = [float(p.grad.norm(2)) for p in lm.model.parameters() if p.grad is not None]
        lm.model.zero_grad(set_to_none=True)
        assert result.param_norms == pytest.approx(by_hand, rel=1e-4, abs=1e-7)
    assert all(torch.equal(v, before[k]) for k, v in lm.model.state_dict().items())
    assert all(p.grad is None for p in lm.model.parameters())


def test_gradnorm_task_values_and_its_place_outside_the_default_group(caplog):
    from mrd_bench.lmeval.paths import tasks_dir

    doc = _doc(1, "hard")
    result = (-2.0, False, [-1.0, -1.0], [True, True], [-1.0, -1.0], [1.0, 1.0], [3.0, 1.0, 2.0])
    out = tofu.process_gradnorm(doc, [result])
    assert out["gradnorm_auc"]["value"] == pytest.approx(-2.0) and out["privleak_gradnorm"]["attack"] == "gradnorm_auc"
    aggregations._WARNED.clear()
    with caplog.at_level("WARNING", logger="mrd_bench"):
        assert math.isnan(tofu.process_gradnorm(doc, [(-2.0, True)])["gradnorm_auc"]["value"])
    assert "tofu_forget_mrd_gradnorm" in caplog.text
    group = (tasks_dir() / "tofu" / "tofu_forget_mrd.yaml").read_text()
    assert "tofu_forget_mrd_mia" in group and "gradnorm" not in group  # off by default


def test_a_retain_runs_gradnorm_file_joins_its_membership_scores(tmp_path):
    from mrd_bench.lmeval.reference import read_mia_reference

    stamp = "2026-01-01T00-00-00"
    (tmp_path / f"samples_tofu_forget_mrd_mia_{stamp}.jsonl").write_text(
        json.dumps({"doc": {"sample_id": "a"}, "loss_auc": {"value": -1.0}, "min_k_auc": {"value": math.nan}}) + "\n")
    (tmp_path / f"samples_tofu_forget_mrd_gradnorm_{stamp}.jsonl").write_text(
        json.dumps({"doc": {"sample_id": "a"}, "gradnorm_auc": {"value": -7.0}}) + "\n")
    scores = read_mia_reference(tmp_path / f"samples_tofu_forget_mrd_tr_{stamp}.jsonl")
    assert scores == {"loss_auc": {"a": -1.0}, "gradnorm_auc": {"a": -7.0}}  # NaN-only attacks are left out
