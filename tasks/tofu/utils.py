"""TOFU task helpers: documents, per-document values, and the aggregations lm-eval calls
through `!function`.

Forget tasks (`tofu_forget_mrd_*`) and the retain task (`tofu_retain_mrd_*`) report every
metric overall, per MRD bin and reweighted (mrd_bench.lmeval.stratified); real authors and
world facts are not stratified. FA, UA, extraction strength, Min-K% and Min-K%++ need per-token
log-probs, which the `hf-mrd` model returns; under a stock backend (`hf`, `vllm`) they are NaN,
with a warning that says so. Probabilities, truth ratios, forget quality and the LOSS, ZLib and
reference attacks need only each answer's summed log-likelihood and its scored token count
(mrd_bench.lmeval.requests), so every backend gives them.
"""
from __future__ import annotations

import math
from functools import lru_cache

from datasets import Dataset, DatasetDict

from mrd_bench.data import keep_authors, load
from mrd_bench.errors import DataError
from mrd_bench.lmeval import requests
from mrd_bench.lmeval.aggregations import *  # noqa: F401,F403  (the aggregations the YAMLs name)
from mrd_bench.lmeval.aggregations import warn_once
from mrd_bench.lmeval.stratified import annotate_docs, counts, generation, prompt_text, spread
from mrd_bench.lmeval.reference import read_mia_reference
from mrd_bench.metrics.accuracy import token_accuracy
from mrd_bench.metrics.answer_probability import answer_probability, mean_probability
from mrd_bench.metrics.extraction_strength import extraction_strength
from mrd_bench.metrics.gradnorm_attack import gradnorm_score
from mrd_bench.metrics.min_k import min_k_score
from mrd_bench.metrics.min_k_plus_plus import min_k_pp_score
from mrd_bench.metrics.reference_attack import reference_score
from mrd_bench.metrics.zlib_attack import zlib_score
from mrd_bench.metrics.model_utility import option_probability
from mrd_bench.metrics.rouge import rougeL_recall
from mrd_bench.metrics.truth_ratio import closer_to_one, true_better, truth_ratio

MIN_K = 0.4
PER_TOKEN = ("forget accuracy FA, UA, extraction strength, the Min-K% and Min-K%++ AUCs and their privleak need "
             "each answer token's log p and argmax, which this backend does not return: they are NaN here. "
             "`mrd-bench eval --model hf-mrd ...` computes them.")
NO_MOMENTS = ("Min-K%++ needs the next-token distribution's mean and variance at each answer token, which these "
              "results lack (cached by an older hf-mrd: drop --use_cache, or delete that cache): min_k_pp_auc is NaN.")
NO_REFERENCE_MODEL = ("reference_auc needs a reference model's scores of the same documents: it is NaN; pass "
                      "--metadata '{\"reference_model\": PATH}' (that model's samples_tofu_forget_mrd_mia_*.jsonl "
                      "from lm-eval --log_samples).")
# the membership attacks, each an AUC metric of the mia task with its privleak (Min-K%'s is plain `privleak`,
# the metric open-unlearning's TOFU evaluation reports)
ATTACKS = ("min_k", "loss", "zlib", "min_k_pp", "reference")
NO_COUNTS = ("{what}: this backend returned summed log-likelihoods only, and the scored token counts are unknown "
             "(no tokenizer named in the task metadata or none loadable, or requests this task did not build), so "
             "they are NaN; pass the model as --model_args pretrained=NAME (or --metadata '{{\"tokenizer\": NAME}}').")
requests.install()


def _qa(row: dict, prompt_format: str) -> dict:
    return {"question": row["question"], "prompt": prompt_text(row["question"], prompt_format),
            "prompt_format": prompt_format, "answer": row["answer"], "sample_id": row["sample_id"]}


def _perturbed(benchmark: str, split: str, data_dir) -> Dataset:
    """Rows with paraphrased and perturbed answers: TOFU keeps them in `<split>_perturbed`."""
    rows = load(benchmark, split, data_dir=data_dir)
    if "perturbed_answer" in rows.column_names:
        return rows
    if benchmark == "tofu" and not split.endswith("_perturbed"):
        return load(benchmark, f"{split}_perturbed", data_dir=data_dir)
    raise DataError(f"{benchmark}/{split} has no perturbed answers, which the truth ratio needs; "
                    "choose a split with 'perturbed_answer' (TOFU: forgetXX, retain_perturbed).")


# ---- documents -------------------------------------------------------------------------

def load_forget(split: str = "forget10", benchmark: str = "tofu", difficulty: str | None = None,
                data_dir: str | None = None, prompt_format: str = "raw", renormalize: bool = False,
                retain_reference: str | None = None, reference_model: str | None = None,
                **_metadata) -> DatasetDict:
    """The forget split (members, annotated) and its matching holdout split (non-members),
    interleaved: `--limit N` keeps N/2 members and N/2 non-members. `retain_reference` (privleak's
    retain model) and `reference_model` (the reference attack's model) ride on each document."""
    # vocab_moments: hf-mrd computes the next-token distribution's moments (Min-K%++) for these documents only
    refs = {"retain_reference": retain_reference or "", "reference_model": reference_model or "", "vocab_moments": True}
    forget = annotate_docs([{**_qa(r, prompt_format), "member": 1, **refs}
                            for r in load(benchmark, split, data_dir=data_dir)],
                           benchmark, split, difficulty, renormalize)
    holdout = [{**_qa(r, prompt_format), "member": 0, "mrd": math.nan, "mrd_bin": "", "bin_weight": 0.0,
                "bin_weights": forget[0]["bin_weights"], "renormalize": forget[0]["renormalize"],
                "annotation": forget[0]["annotation"], "difficulty_metric": forget[0]["difficulty_metric"], **refs}
               for r in load(benchmark, split.replace("forget", "holdout"), data_dir=data_dir)]
    mixed = [doc for pair in zip(forget, holdout) for doc in pair]  # --limit keeps both sides
    return requests.dataset(mixed + forget[len(holdout):] + holdout[len(forget):], "tofu.load_forget")


def load_forget_gradnorm(split: str = "forget10", benchmark: str = "tofu", difficulty: str | None = None,
                         data_dir: str | None = None, prompt_format: str = "raw", renormalize: bool = False,
                         retain_reference: str | None = None, **_metadata) -> DatasetDict:
    """The membership task's documents, marked for hf-mrd's per-sample gradient norms (GradNorm)."""
    docs = load_forget(split, benchmark, difficulty, data_dir, prompt_format, renormalize, retain_reference)["test"]
    rows = [{k: v for k, v in d.items() if k != requests.DOC_KEY} | {"gradnorm": True} for d in docs]
    return requests.dataset(rows, "tofu.load_forget_gradnorm")


def load_forget_qa(split: str = "forget10", benchmark: str = "tofu", difficulty: str | None = None,
                   data_dir: str | None = None, prompt_format: str = "raw", renormalize: bool = False,
                   **_metadata) -> DatasetDict:
    """The forget split, annotated (for generation)."""
    docs = [_qa(r, prompt_format) for r in load(benchmark, split, data_dir=data_dir)]
    return requests.dataset(annotate_docs(docs, benchmark, split, difficulty, renormalize), "tofu.load_forget_qa")


def load_forget_perturbed(split: str = "forget10", benchmark: str = "tofu", difficulty: str | None = None,
                          data_dir: str | None = None, retain_reference: str | None = None,
                          prompt_format: str = "raw", renormalize: bool = False, **_metadata) -> DatasetDict:
    """Forget questions with choices [paraphrased answer, *perturbed answers], annotated."""
    docs = [{**_qa(r, prompt_format), "choices": [r["paraphrased_answer"], *r["perturbed_answer"]],
             "retain_reference": retain_reference or ""} for r in _perturbed(benchmark, split, data_dir)]
    return requests.dataset(annotate_docs(docs, benchmark, split, difficulty, renormalize), "tofu.load_forget_perturbed")


def load_retain(retain_split: str | None = None, benchmark: str = "tofu", difficulty: str | None = None,
                data_dir: str | None = None, prompt_format: str = "raw", renormalize: bool = False,
                **_metadata) -> DatasetDict:
    """Retain questions with choices [answer, paraphrased answer, *perturbed answers], annotated.

    TOFU's retain metrics use `retain_perturbed` (400 questions), as open-unlearning does.
    """
    split = retain_split or ("retain_perturbed" if benchmark == "tofu" else "retain80")
    docs = [{**_qa(r, prompt_format), "choices": [r["answer"], r["paraphrased_answer"], *r["perturbed_answer"]]}
            for r in _perturbed(benchmark, split, data_dir)]
    return requests.dataset(annotate_docs(docs, benchmark, split, difficulty, renormalize), "tofu.load_retain")


def load_retain_qa(retain_split: str | None = None, benchmark: str = "tofu", subset_authors: int | None = None,
                   data_dir: str | None = None, prompt_format: str = "raw", **_metadata) -> DatasetDict:
    """Retain QA pairs, unstratified; `subset_authors` keeps the last N authors of TOFU's `full`
    (the setting `mrd-bench finetune --subset-authors N` trains), so utility measures what the
    original model learned."""
    split = retain_split or ("retain_perturbed" if benchmark == "tofu" else "retain80")
    rows = keep_authors(load(benchmark, split, data_dir=data_dir), benchmark, subset_authors, data_dir)
    if len(rows) == 0:
        raise DataError(f"{benchmark}/{split} has no rows within subset_authors={subset_authors}; choose a "
                        "retain split that holds the subset's retain authors (e.g. retain99 for 5 authors).")
    return requests.dataset([_qa(r, prompt_format) for r in rows], "tofu.load_retain_qa")


def _options(split: str, data_dir, prompt_format: str) -> DatasetDict:
    docs = [{**_qa(r, prompt_format), "choices": [r["answer"], *r["perturbed_answer"]]}
            for r in load("tofu", split, data_dir=data_dir)]
    return requests.dataset(docs, f"tofu.{split}")


def load_real_authors(data_dir: str | None = None, prompt_format: str = "raw", **_metadata) -> DatasetDict:
    return _options("real_authors_perturbed", data_dir, prompt_format)


def load_world_facts(data_dir: str | None = None, prompt_format: str = "raw", **_metadata) -> DatasetDict:
    return _options("world_facts_perturbed", data_dir, prompt_format)


# ---- per-document values -------------------------------------------------------------

def _per_token(results) -> bool:
    """Whether the backend returned per-token detail (`hf-mrd`); warns once when it did not."""
    if all(len(r) >= 4 for r in results):
        return True
    warn_once(PER_TOKEN)
    return False


def _means(doc: dict, results: list, what: str) -> list[float]:
    """Each result's mean log p per scored token (mrd_bench.lmeval.requests.mean_logp)."""
    means = [requests.mean_logp(r, doc, i) for i, r in enumerate(results)]
    if any(math.isnan(m) for m in means):
        warn_once(NO_COUNTS.format(what=what))
    return means


def _better(ratio: float) -> float:
    return true_better(ratio) if not math.isnan(ratio) else math.nan


@lru_cache(maxsize=4)
def _reference_scores(path: str) -> dict[str, float]:
    """The reference model's LOSS score (mean log p) of each document, by sample_id."""
    return read_mia_reference(path).get("loss_auc", {})


def _reference_attack(doc: dict, mean: float) -> float:
    if not doc.get("reference_model"):
        warn_once(NO_REFERENCE_MODEL)
        return math.nan
    theirs = _reference_scores(doc["reference_model"]).get(doc["sample_id"])
    if theirs is None:
        warn_once(f"reference_auc is NaN: the reference model's file {doc['reference_model']!r} lacks some of this "
                  "run's documents (another split or --limit); score the same documents with both models.")
        return math.nan
    return reference_score(mean, theirs)


def process_mia(doc: dict, results: list) -> dict:
    """Forget accuracy FA, UA = 1 − FA, extraction strength and answer probability exp(mean log p)
    (open-unlearning's forget_Q_A_Prob) of members, and every document's score under each
    membership attack (members and holdout): Min-K%, LOSS, ZLib, Min-K%++ and the reference
    model's, each an AUC and a privleak.

    Every document emits every key, so each metric is aggregated over the same documents: a
    non-member gives FA, UA, ES and prob NaN (their overall aggregation is lm-eval's `nanmean`,
    with its bootstrap standard error) and per-bin items with bin "", which the bins skip."""
    result = results[0]
    mean = _means(doc, results, "the answer probability and the LOSS, ZLib and reference attacks")[0]
    score = dict.fromkeys(ATTACKS, math.nan)
    fa = es = math.nan
    if _per_token(results):
        fa, es, score["min_k"] = token_accuracy(result[3]), extraction_strength(result[3]), min_k_score(result[2], MIN_K)
        if len(result) >= 6 and result[4] is not None:
            score["min_k_pp"] = min_k_pp_score(result[2], result[4], result[5], MIN_K)
        else:
            warn_once(NO_MOMENTS)
    score["loss"] = mean  # LOSS (Yeom et al., 2018): the mean log p, i.e. −open-unlearning's avg_loss
    score["zlib"] = zlib_score(mean, doc["answer"])
    score["reference"] = _reference_attack(doc, mean)
    prob = math.exp(mean)
    if not doc["member"]:
        fa = es = prob = math.nan
    out = {**spread("fa", fa, doc), **spread("ua", 1 - fa, doc), **spread("prob", prob, doc),
           **spread("extraction_strength", es, doc), **counts(doc)}
    for attack, value in score.items():
        out.update(spread(f"{attack}_auc", value, doc, overall_item=True))
        out.update(spread("privleak" if attack == "min_k" else f"privleak_{attack}", value, doc, overall_item=True,
                          attack=f"{attack}_auc", sample_id=doc["sample_id"], reference=doc["retain_reference"]))
    return out


NO_GRADIENTS = ("gradnorm_auc needs each sample's gradient norms, which only hf-mrd computes: it is NaN here; "
                "`mrd-bench eval --model hf-mrd --tasks tofu_forget_mrd_gradnorm` computes it.")


def process_gradnorm(doc: dict, results: list) -> dict:
    """Every document's GradNorm score (−mean per-tensor gradient norm), as an AUC and a privleak."""
    result = results[0]
    if len(result) >= 7 and result[6]:
        value = gradnorm_score(result[6])
    else:
        warn_once(NO_GRADIENTS)
        value = math.nan
    return {**spread("gradnorm_auc", value, doc, overall_item=True), **counts(doc),
            **spread("privleak_gradnorm", value, doc, overall_item=True, attack="gradnorm_auc",
                     sample_id=doc["sample_id"], reference=doc["retain_reference"])}


def process_answer_prob(doc: dict, results: list) -> dict:
    """Answer probability exp(mean log p), unstratified."""
    return {"prob": math.exp(_means(doc, results, "the answer probability")[0])}


def process_rouge(doc: dict, results: list) -> dict:
    """ROUGE-L recall of the greedy answer, stratified."""
    return {**spread("rougeL_recall", rougeL_recall(generation(results), doc["answer"]), doc), **counts(doc)}


def process_rouge_plain(doc: dict, results: list) -> dict:
    return {"rougeL_recall": rougeL_recall(generation(results), doc["answer"])}


def process_forget_tr(doc: dict, results: list) -> dict:
    """Truth ratio (closer to one = forgotten), the item forget quality's KS test needs, and the
    paraphrased answer's probability and the perturbed answers' mean probability
    (open-unlearning's forget_Q_A_PARA_Prob and forget_Q_A_PERT_Prob), from the same likelihoods."""
    means = _means(doc, results, "the truth ratio and forget quality")
    ratio = truth_ratio(means[0], means[1:])
    value = closer_to_one(ratio) if not math.isnan(ratio) else math.nan
    return {**spread("truth_ratio", value, doc), **counts(doc),
            **spread("para_prob", answer_probability(means[0]), doc),
            **spread("pert_prob", mean_probability(means[1:]), doc),
            **spread("forget_quality", ratio, doc, overall_item=True, sample_id=doc["sample_id"],
                     reference=doc["retain_reference"])}


def process_retain(doc: dict, results: list) -> dict:
    """Answer probability exp(mean log p) and truth ratio (true_better), stratified."""
    means = _means(doc, results, "the answer probability and truth ratio")
    prob, tr = math.exp(means[0]), _better(truth_ratio(means[1], means[2:]))
    return {**spread("prob", prob, doc), **spread("truth_ratio", tr, doc), **counts(doc)}


def process_options(doc: dict, results: list) -> dict:
    """Real authors / world facts: probability normalised over the options, and true_better truth ratio."""
    means = _means(doc, results, "the answer probability and truth ratio")
    right, wrong = means[0], means[1:]
    return {"prob": option_probability(right, wrong), "truth_ratio": _better(truth_ratio(right, wrong))}
