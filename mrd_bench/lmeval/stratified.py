"""What every stratified (`*_mrd`) task shares: documents joined to their difficulty
annotation, per-document values spread over overall / per-bin / reweighted metric keys,
and the aggregations lm-eval calls through `!function`.

A document carries `mrd` (its MRD under the original model), `mrd_bin` and `bin_weight`
(its bin's share in the annotation's reference set). Every metric M is reported as M,
M_easy, M_medium, M_hard and M_reweighted (Σ_b w_b · M_b, see
mrd_bench.report.stratify.reweighted), so results on different forget subsets compare.
Unannotated documents get bin "" and weight 0 (non-members of a membership test).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

from mrd_bench.annotate import read_annotation
from mrd_bench.errors import ConfigError, DataError
from mrd_bench.lmeval.reference import read_reference
from mrd_bench.metrics.forget_quality import forget_quality
from mrd_bench.metrics.min_k import min_k_auc
from mrd_bench.report.stratify import reweighted

BINS = ("easy", "medium", "hard")
# A shipped annotation covers these splits too (TOFU's smaller forget sets are tails of forget10).
COVERED_BY = {("tofu", "forget01"): "forget10", ("tofu", "forget05"): "forget10"}


def shipped_dir() -> Path:
    from mrd_bench.cli import tasks_dir

    return tasks_dir() / "annotations"


def annotation_path(benchmark: str, split: str, difficulty: str | None) -> Path:
    """The user's annotation (a file, or a folder of `<benchmark>_<split>.json` files, which one
    --metadata serves a whole group of tasks), else the one shipped for the embedded model."""
    folder = Path(difficulty) if difficulty else shipped_dir()
    if difficulty and not folder.is_dir():
        return folder
    for name in (split, COVERED_BY.get((benchmark, split), split)):
        path = folder / f"{benchmark}_{name.replace('/', '-')}.json"
        if path.is_file():
            return path
    where = f"in {str(folder)!r}" if difficulty else "is shipped"
    raise DataError(f"no difficulty annotation {benchmark}_{split}.json {where}; pass one with "
                    "--metadata '{\"difficulty\": \"PATH\"}' (a file, or a folder of <benchmark>_<split>.json; "
                    "make them with `mrd-bench score` and `mrd-bench annotate` on the original model).")


def annotate_docs(docs: list[dict], benchmark: str, split: str, difficulty: str | None) -> list[dict]:
    """Add mrd, mrd_bin, bin_weight and annotation to each doc; a doc with no annotation is an error."""
    path = annotation_path(benchmark, split, difficulty)
    annotation = read_annotation(path)
    if tuple(sorted(annotation["bins"])) != tuple(sorted(BINS)):
        raise DataError(f"the *_mrd tasks report bins {BINS}; {str(path)!r} has {annotation['bins']}. "
                        "Annotate with 3 bins (`mrd-bench score --bins 3`).")
    samples, weights = annotation["samples"], annotation["reference_weights"]
    missing = [d["sample_id"] for d in docs if d["sample_id"] not in samples]
    if missing:
        raise DataError(f"{len(missing)} sample(s) of {benchmark}/{split} have no difficulty annotation in "
                        f"{str(path)!r} (e.g. {missing[:3]}); run `mrd-bench score` and `mrd-bench annotate` "
                        f"for {benchmark}/{split}.")
    return [{**d, "mrd": samples[d["sample_id"]]["score"], "mrd_bin": samples[d["sample_id"]]["bin"],
             "bin_weight": weights[samples[d["sample_id"]]["bin"]], "annotation": str(path)} for d in docs]


def first_n(rows, n, what: str):
    """The first n rows of a dataset (the prefix a shipped annotation covers)."""
    if int(n) < 1:
        raise ConfigError(f"--metadata n must be a positive number of {what}, not {n}.")
    return rows.select(range(min(int(n), len(rows))))


def generation(results: list) -> str:
    """The generated text of a generate_until result."""
    return results[0] if isinstance(results[0], str) else results[0][0]


def keys(metric: str) -> list[str]:
    return [metric, *(f"{metric}_{b}" for b in BINS), f"{metric}_reweighted"]


def spread(metric: str, value: float, doc: dict) -> dict:
    """One doc's value under M, M_<its bin> and M_reweighted (as (value, bin, weight))."""
    b, w = doc["mrd_bin"], doc["bin_weight"]
    return {metric: value, f"{metric}_{b}": value, f"{metric}_reweighted": (value, b, w)}


def spread_items(metric: str, item: tuple, doc: dict) -> dict:
    """Like spread, for metrics aggregated over the whole set: every key gets the same item."""
    return {metric: item, f"{metric}_{doc['mrd_bin']}": item, f"{metric}_reweighted": item}


def reweighted_mean(items: Sequence[tuple]) -> float:
    """Σ_b w_b · mean_b over (value, bin, weight) items."""
    return _reweighted(items, lambda group: sum(v for v, *_ in group) / len(group))


def _reweighted(items: Sequence[tuple], metric: Callable[[list], float], others: Sequence = ()) -> float:
    groups: dict[str, list] = {}
    weights: dict[str, float] = {}
    for item in items:
        groups.setdefault(item[-2], []).append(item)
        weights[item[-2]] = item[-1]
    return reweighted({b: metric(group + list(others)) for b, group in groups.items()}, weights)


# Min-K% membership AUC: items (score, member, bin, weight); non-members carry bin "".

def auc(items: Sequence[tuple]) -> float:
    """Min-K% AUC, forget (members) vs holdout (non-members); NaN when unavailable."""
    members = [s for s, m, _, _ in items if m]
    others = [s for s, m, _, _ in items if not m]
    if not members or not others or any(math.isnan(s) for s in members + others):
        return math.nan  # unavailable: no token log-probs, or --limit cut one side away
    return min_k_auc(members, others)


def reweighted_auc(items: Sequence[tuple]) -> float:
    """Σ_b w_b · AUC_b, where AUC_b compares bin b's forget samples with all holdout samples."""
    members = [item for item in items if item[1]]
    others = [item for item in items if not item[1]]
    return _reweighted(members, auc, others)


# Forget quality: items (truth ratio, sample_id, reference path, bin, weight).

def forget_quality_agg(items: Sequence[tuple]) -> float:
    """KS p-value of these truth ratios against the retain model's on the same samples.

    NaN (with the reason logged once) when no retain reference was given.
    """
    paths = {p for _, _, p, _, _ in items}
    if paths == {""}:
        _warn_once("forget quality needs the retain model's truth ratios: it is NaN (unavailable); pass "
                   "--metadata '{\"retain_reference\": PATH}' (that model's --log_samples file of this task)")
        return math.nan
    reference = read_reference(next(iter(paths)))
    ours = [tr for tr, _, _, _, _ in items if not math.isnan(tr)]
    theirs = [reference[sid] for _, sid, _, _, _ in items if sid in reference]
    if not ours or not theirs:
        return math.nan
    return forget_quality(ours, theirs)


def reweighted_forget_quality(items: Sequence[tuple]) -> float:
    return _reweighted(items, forget_quality_agg)


_WARNED: set[str] = set()


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        import logging

        logging.getLogger("mrd_bench").warning(message)
