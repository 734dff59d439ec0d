"""The aggregations every stratified (`*_mrd`) task names in its YAML (`!function utils.<name>`).

Every document emits every key of a metric M (M, M_easy, M_medium, M_hard,
M_reweighted), so lm-eval sees one value per document for each key and no metric goes
missing when a bin is empty. The value a document gives the per-bin and reweighted keys is
an `item` (see mrd_bench.lmeval.stratified.item): its value, its bin ("" for a holdout
non-member) and the annotation's reference bin shares. Each aggregation below picks the
items it needs:

- `<kind>_<bin>`: the metric over that bin's documents; NaN (reason logged once) when the
  bin is empty here (`--limit`, or a small forget set).
- `<kind>_reweighted`: Σ_b w_b · metric_b over the annotation's bins. NaN when a bin with
  w_b > 0 is empty, unless the run passed --metadata '{"renormalize": true}', which
  reweights over the bins present (and so no longer means "at the annotation's mix").
- `count_<bin>`: how many documents the bin holds (n_easy, n_medium, n_hard).

Kinds: `mean` (a per-document value), `auc` (a membership attack's AUC: the bin's members
against every non-member), `privleak` (that AUC against a retain model's AUC for the same
attack on the same samples, or open-unlearning's fallback 0.5), `fq` (forget quality, a KS
test against a retain model's truth ratios; the reweighted form is a KS test with a weighted
empirical CDF).
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Sequence

from mrd_bench.errors import DataError
from mrd_bench.lmeval.reference import read_mia_reference, read_reference
from mrd_bench.metrics.forget_quality import forget_quality, weighted_forget_quality
from mrd_bench.metrics.membership_auc import membership_auc
from mrd_bench.metrics.privleak import FALLBACK_AUC_REF, privleak

BINS = ("easy", "medium", "hard")
# Fewer documents than this in a bin make its KS p-value uninformative (it cannot be small).
FEW_FOR_KS = 5
log = logging.getLogger("mrd_bench")
_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        log.warning(message)


def _members(items: Sequence[dict]) -> list[dict]:
    return [i for i in items if i["bin"]]


# ---- one group of items -> a number ----------------------------------------------------

def _mean(group: Sequence[dict], _all: Sequence[dict]) -> float:
    values = [i["value"] for i in group]
    return sum(values) / len(values) if values else math.nan


def _auc(group: Sequence[dict], everything: Sequence[dict]) -> float:
    """The attack's AUC, this group's members against every non-member; NaN when unavailable."""
    members = [i["value"] for i in group]
    others = [i["value"] for i in everything if not i["bin"]]
    if not members or not others or any(math.isnan(s) for s in members + others):
        return math.nan  # unavailable: no token log-probs, or --limit cut one side away
    return membership_auc(members, others)


FALLBACK_NOTE = ("privleak has no retain model's AUC to compare with: it uses open-unlearning's fallback "
                 "AUC_ref = 0.5 (a linear rescaling of the AUC, not a privacy measure); pass --metadata "
                 "'{\"retain_reference\": PATH}' (the retain model's samples_tofu_forget_mrd_tr_*.jsonl, with "
                 "its _mia_ file beside it)")


def reference_auc(group: Sequence[dict], everything: Sequence[dict]) -> float:
    """The retain model's AUC for this attack on the same members and non-members; the fallback
    0.5 (said once) without a retain model; NaN when the retain model lacks the attack or samples."""
    paths = {i["reference"] for i in group}
    if paths == {""}:
        warn_once(FALLBACK_NOTE)
        return FALLBACK_AUC_REF
    path, attack = next(iter(paths)), group[0]["attack"]
    try:
        scores = read_mia_reference(path).get(attack)
    except DataError as err:
        warn_once(f"privleak is NaN: {err}")
        return math.nan
    if scores is None:
        warn_once(f"privleak_{attack.removesuffix('_auc')} is NaN: the retain reference {path!r} has no {attack} "
                  "scores (run the retain model with hf-mrd, or with the gradnorm task for GradNorm)")
        return math.nan
    members = [i["sample_id"] for i in group]
    others = [i["sample_id"] for i in everything if not i["bin"]]
    if any(s not in scores for s in members + others):
        warn_once(f"privleak is NaN where the retain reference {path!r} lacks some of this run's samples "
                  "(another split or --limit): both runs must score the same documents")
        return math.nan
    return membership_auc([scores[s] for s in members], [scores[s] for s in others])


def _privleak(group: Sequence[dict], everything: Sequence[dict]) -> float:
    """privleak of this group's AUC against the retain model's on the same samples."""
    auc = _auc(group, everything)
    return math.nan if math.isnan(auc) else privleak(auc, reference_auc(group, everything))


def _reference(group: Sequence[dict]) -> dict[str, float] | None:
    paths = {i["reference"] for i in group}
    if paths == {""}:
        warn_once("forget quality needs the retain model's truth ratios: it is NaN (unavailable); pass "
                  "--metadata '{\"retain_reference\": PATH}' (that model's --log_samples file of this task), "
                  "or give it later to `mrd-bench report --retain-reference`")
        return None
    return read_reference(next(iter(paths)))


def _fq(group: Sequence[dict], _all: Sequence[dict]) -> float:
    """KS p-value of these truth ratios against the retain model's on the same samples."""
    reference = _reference(group)
    if reference is None:
        return math.nan
    ours = [i["value"] for i in group if not math.isnan(i["value"])]
    theirs = [reference[i["sample_id"]] for i in group if i["sample_id"] in reference]
    if not ours or not theirs:
        return math.nan
    return forget_quality(ours, theirs)


# ---- the aggregations lm-eval calls ------------------------------------------------------

def _in_bin(metric: Callable, b: str, name: str) -> Callable[[Sequence[dict]], float]:
    def aggregate(items: Sequence[dict]) -> float:
        group = [i for i in items if i["bin"] == b]
        if not group:
            warn_once(f"the {b} difficulty bin has no documents in this run (--limit, or a small forget set): "
                      f"its metrics (*_{b}) are NaN")
            return math.nan
        value = metric(group, items)
        if metric is _fq and len(group) < FEW_FOR_KS and not math.isnan(value):
            warn_once(f"forget_quality_{b} compares only {len(group)} document(s): a KS p-value on so few "
                      "cannot be small, so read it as uninformative")
        return value

    aggregate.__name__ = name
    return aggregate


def _reweighted(metric: Callable, name: str) -> Callable[[Sequence[dict]], float]:
    def aggregate(items: Sequence[dict]) -> float:
        members = _members(items)
        if not members:
            return math.nan
        weights, renormalize = members[0]["weights"], members[0]["renormalize"]
        per_bin = {b: metric([i for i in members if i["bin"] == b], items)
                   for b in weights if any(i["bin"] == b for i in members)}
        return reweighted(per_bin, weights, renormalize=renormalize)

    aggregate.__name__ = name
    return aggregate


def reweighted(per_bin: dict[str, float], weights: dict[str, float], *, renormalize: bool = False) -> float:
    """Σ_b w_b · metric_b: the metric at the annotation's difficulty mix.

    A bin with w_b > 0 missing from `per_bin` makes it NaN (reason logged once): the mix
    cannot be rebuilt. With `renormalize`, the weights of the bins present are rescaled
    to sum to one instead.
    """
    missing = [b for b, w in weights.items() if w > 0 and b not in per_bin]
    if missing and not renormalize:
        warn_once(f"*_reweighted is NaN: the {', '.join(missing)} bin(s) have no documents here, so the "
                  "annotation's difficulty mix cannot be rebuilt; pass --metadata '{\"renormalize\": true}' "
                  "to reweight over the bins present")
        return math.nan
    present = {b: w for b, w in weights.items() if w > 0 and b in per_bin}
    if not present:
        return math.nan
    total = sum(present.values())
    return sum(per_bin[b] * w for b, w in present.items()) / total


def auc(items: Sequence[dict]) -> float:
    return _auc(_members(items), items)


def privleak_agg(items: Sequence[dict]) -> float:
    return _privleak(_members(items), items)


def fq(items: Sequence[dict]) -> float:
    return _fq(_members(items), items)


def fq_reweighted(items: Sequence[dict]) -> float:
    """KS test with each sample weighted by w_b / n_b (its bin's reference share over the bin's
    size here), on both the unlearned and the retain model's truth ratios of the same samples."""
    members = [i for i in _members(items) if not math.isnan(i["value"])]
    reference = _reference(members) if members else None
    if reference is None:
        return math.nan
    weights, renormalize = members[0]["weights"], members[0]["renormalize"]
    sizes = {b: sum(i["bin"] == b for i in members) for b in weights}
    missing = [b for b, w in weights.items() if w > 0 and sizes[b] == 0]
    if missing and not renormalize:  # NaN, with the reason naming the empty bins
        return reweighted({b: math.nan for b in weights if sizes[b]}, weights)
    share = {b: weights[b] / sizes[b] for b in weights if sizes[b]}
    pairs = [(i["value"], reference[i["sample_id"]], share[i["bin"]]) for i in members if i["sample_id"] in reference]
    if not pairs:
        return math.nan
    ours, theirs, w = zip(*pairs)
    return weighted_forget_quality(ours, theirs, w, w)


def _count(b: str) -> Callable[[Sequence[str]], int]:
    def count(bins: Sequence[str]) -> int:
        return sum(x == b for x in bins)

    count.__name__ = f"count_{b}"
    return count


mean_easy, mean_medium, mean_hard = (_in_bin(_mean, b, f"mean_{b}") for b in BINS)
auc_easy, auc_medium, auc_hard = (_in_bin(_auc, b, f"auc_{b}") for b in BINS)
fq_easy, fq_medium, fq_hard = (_in_bin(_fq, b, f"fq_{b}") for b in BINS)
privleak_easy, privleak_medium, privleak_hard = (_in_bin(_privleak, b, f"privleak_{b}") for b in BINS)
privleak_reweighted = _reweighted(_privleak, "privleak_reweighted")
mean_reweighted = _reweighted(_mean, "mean_reweighted")
auc_reweighted = _reweighted(_auc, "auc_reweighted")
count_easy, count_medium, count_hard = (_count(b) for b in BINS)

__all__ = ["auc", "fq", "fq_reweighted", "mean_reweighted", "auc_reweighted", "privleak_agg", "privleak_easy",
           "privleak_medium", "privleak_hard", "privleak_reweighted",
           "mean_easy", "mean_medium", "mean_hard", "auc_easy", "auc_medium", "auc_hard",
           "fq_easy", "fq_medium", "fq_hard", "count_easy", "count_medium", "count_hard"]
