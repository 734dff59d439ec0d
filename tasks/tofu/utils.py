"""TOFU task helpers: documents, per-document values, and the aggregations lm-eval calls
through `!function`.

Forget tasks (`tofu_forget_mrd_*`) and the retain task (`tofu_retain_mrd_*`) report every
metric overall, per MRD bin and reweighted (mrd_bench.lmeval.stratified); real authors and
world facts are not stratified. Token-level metrics (FA, Min-K%, probabilities, truth
ratios) need per-token log-probs, which the `hf-mrd` model returns; with stock `hf` they are
NaN, with a warning, never a silently different number.
"""
from __future__ import annotations

import math
import warnings

from datasets import Dataset, DatasetDict

from mrd_bench.data import keep_authors, load
from mrd_bench.errors import DataError
from mrd_bench.lmeval.aggregations import *  # noqa: F401,F403  (the aggregations the YAMLs name)
from mrd_bench.lmeval.stratified import annotate_docs, counts, generation, prompt_text, spread
from mrd_bench.metrics.accuracy import token_accuracy
from mrd_bench.metrics.min_k import min_k_score
from mrd_bench.metrics.model_utility import option_probability
from mrd_bench.metrics.rouge import rougeL_recall
from mrd_bench.metrics.truth_ratio import closer_to_one, true_better, truth_ratio

MIN_K = 0.4
UNAVAILABLE = ("{what} need(s) per-token log-probs: NaN (unavailable) with this model type; "
               "run through `mrd-bench eval --model hf-mrd`.")


def _dataset(docs: list[dict]) -> DatasetDict:
    return DatasetDict({"test": Dataset.from_list(docs)})


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
                **_metadata) -> DatasetDict:
    """The forget split (members, annotated) and its matching holdout split (non-members),
    interleaved: `--limit N` keeps N/2 members and N/2 non-members."""
    forget = annotate_docs([{**_qa(r, prompt_format), "member": 1} for r in load(benchmark, split, data_dir=data_dir)],
                           benchmark, split, difficulty, renormalize)
    holdout = [{**_qa(r, prompt_format), "member": 0, "mrd": math.nan, "mrd_bin": "", "bin_weight": 0.0,
                "bin_weights": forget[0]["bin_weights"], "renormalize": forget[0]["renormalize"],
                "annotation": forget[0]["annotation"], "difficulty_metric": forget[0]["difficulty_metric"]}
               for r in load(benchmark, split.replace("forget", "holdout"), data_dir=data_dir)]
    mixed = [doc for pair in zip(forget, holdout) for doc in pair]  # --limit keeps both sides
    return _dataset(mixed + forget[len(holdout):] + holdout[len(forget):])


def load_forget_qa(split: str = "forget10", benchmark: str = "tofu", difficulty: str | None = None,
                   data_dir: str | None = None, prompt_format: str = "raw", renormalize: bool = False,
                   **_metadata) -> DatasetDict:
    """The forget split, annotated (for generation)."""
    docs = [_qa(r, prompt_format) for r in load(benchmark, split, data_dir=data_dir)]
    return _dataset(annotate_docs(docs, benchmark, split, difficulty, renormalize))


def load_forget_perturbed(split: str = "forget10", benchmark: str = "tofu", difficulty: str | None = None,
                          data_dir: str | None = None, retain_reference: str | None = None,
                          prompt_format: str = "raw", renormalize: bool = False, **_metadata) -> DatasetDict:
    """Forget questions with choices [paraphrased answer, *perturbed answers], annotated."""
    docs = [{**_qa(r, prompt_format), "choices": [r["paraphrased_answer"], *r["perturbed_answer"]],
             "retain_reference": retain_reference or ""} for r in _perturbed(benchmark, split, data_dir)]
    return _dataset(annotate_docs(docs, benchmark, split, difficulty, renormalize))


def load_retain(retain_split: str | None = None, benchmark: str = "tofu", difficulty: str | None = None,
                data_dir: str | None = None, prompt_format: str = "raw", renormalize: bool = False,
                **_metadata) -> DatasetDict:
    """Retain questions with choices [answer, paraphrased answer, *perturbed answers], annotated.

    TOFU's retain metrics use `retain_perturbed` (400 questions), as open-unlearning does.
    """
    split = retain_split or ("retain_perturbed" if benchmark == "tofu" else "retain80")
    docs = [{**_qa(r, prompt_format), "choices": [r["answer"], r["paraphrased_answer"], *r["perturbed_answer"]]}
            for r in _perturbed(benchmark, split, data_dir)]
    return _dataset(annotate_docs(docs, benchmark, split, difficulty, renormalize))


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
    return _dataset([_qa(r, prompt_format) for r in rows])


def _options(split: str, data_dir, prompt_format: str) -> DatasetDict:
    docs = [{**_qa(r, prompt_format), "choices": [r["answer"], *r["perturbed_answer"]]}
            for r in load("tofu", split, data_dir=data_dir)]
    return _dataset(docs)


def load_real_authors(data_dir: str | None = None, prompt_format: str = "raw", **_metadata) -> DatasetDict:
    return _options("real_authors_perturbed", data_dir, prompt_format)


def load_world_facts(data_dir: str | None = None, prompt_format: str = "raw", **_metadata) -> DatasetDict:
    return _options("world_facts_perturbed", data_dir, prompt_format)


# ---- per-document values -------------------------------------------------------------

def _mean_logp(result) -> float:
    """Length-normalised log-likelihood (mean log p per token), NaN without token detail."""
    return sum(result[2]) / max(len(result[2]), 1) if len(result) >= 4 else math.nan


def _token_level(results, what: str) -> bool:
    if all(len(r) >= 4 for r in results):
        return True
    warnings.warn(UNAVAILABLE.format(what=what))
    return False


def process_mia(doc: dict, results: list) -> dict:
    """Forget accuracy FA, UA = 1 − FA and answer probability exp(mean log p) (open-unlearning's
    forget_Q_A_Prob) of members, and every document's Min-K% score (members and holdout).

    Every document emits every key (a non-member's FA item has bin "" and is skipped), so each
    metric is aggregated over the same documents."""
    result = results[0]
    if _token_level(results, "forget accuracy, probability and Min-K% AUC"):
        fa, score, prob = token_accuracy(result[3]), min_k_score(result[2], MIN_K), math.exp(_mean_logp(result))
    else:
        fa = score = prob = math.nan
    if not doc["member"]:
        fa = prob = math.nan
    return {**spread("fa", fa, doc, overall_item=True), **spread("ua", 1 - fa, doc, overall_item=True),
            **spread("prob", prob, doc, overall_item=True), **spread("min_k_auc", score, doc, overall_item=True),
            **counts(doc)}


def process_answer_prob(doc: dict, results: list) -> dict:
    """Answer probability exp(mean log p), unstratified."""
    prob = math.exp(_mean_logp(results[0])) if _token_level(results, "answer probability") else math.nan
    return {"prob": prob}


def process_rouge(doc: dict, results: list) -> dict:
    """ROUGE-L recall of the greedy answer, stratified."""
    return {**spread("rougeL_recall", rougeL_recall(generation(results), doc["answer"]), doc), **counts(doc)}


def process_rouge_plain(doc: dict, results: list) -> dict:
    return {"rougeL_recall": rougeL_recall(generation(results), doc["answer"])}


def _ratio(paraphrased: list, perturbed: list) -> float:
    return truth_ratio(_mean_logp(paraphrased), [_mean_logp(r) for r in perturbed])


def process_forget_tr(doc: dict, results: list) -> dict:
    """Truth ratio (closer to one = forgotten) and the item forget quality's KS test needs."""
    ratio = _ratio(results[0], results[1:]) if _token_level(results, "truth ratio and forget quality") else math.nan
    value = closer_to_one(ratio) if not math.isnan(ratio) else math.nan
    return {**spread("truth_ratio", value, doc), **counts(doc),
            **spread("forget_quality", ratio, doc, overall_item=True, sample_id=doc["sample_id"],
                     reference=doc["retain_reference"])}


def process_retain(doc: dict, results: list) -> dict:
    """Answer probability exp(mean log p) and truth ratio (true_better), stratified."""
    if _token_level(results, "answer probability and truth ratio"):
        prob = math.exp(_mean_logp(results[0]))
        tr = true_better(_ratio(results[1], results[2:]))
    else:
        prob = tr = math.nan
    return {**spread("prob", prob, doc), **spread("truth_ratio", tr, doc), **counts(doc)}


def process_options(doc: dict, results: list) -> dict:
    """Real authors / world facts: probability normalised over the options, and true_better truth ratio."""
    if _token_level(results, "answer probability and truth ratio"):
        right, wrong = _mean_logp(results[0]), [_mean_logp(r) for r in results[1:]]
        prob = option_probability(right, wrong)
        tr = true_better(truth_ratio(right, wrong))
    else:
        prob = tr = math.nan
    return {"prob": prob, "truth_ratio": tr}
