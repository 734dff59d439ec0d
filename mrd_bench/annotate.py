"""`mrd-bench annotate`: join difficulty scores of the original model to a split, with bin edges.

The scores are MRD's (high = easy) or CUD's (high = hard, `higher_is: harder` in their meta);
the annotation records which metric made it, and its bins mean the same (easy, hard) either way.

The annotation is what lm-eval tasks read (`--metadata '{"difficulty": PATH}'`): each
sample's MRD under the *original* (pre-unlearning) model and its bin, the bin edges, and
the reference weights (each bin's share of the annotated set) that difficulty-reweighted
metrics use. Every sample of the split must have a score: a missing one is an error that
names it, never a silent skip.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from mrd_bench.errors import DataError
from mrd_bench.io import finish_set, guard_output, loads, write_json
from mrd_bench.provenance import record
from mrd_bench.report.stratify import assign_bins, bin_labels, reference_weights


def annotate(scores_path: str | Path, sample_ids: list[str], out: str | Path, *, overwrite: bool = False,
             source: dict | None = None) -> Path:
    scores_path = Path(scores_path)
    out = guard_output(out, overwrite, what="an annotation", inputs={
        "--scores": scores_path, "the bin edges of --scores": scores_path.with_name(scores_path.stem + ".meta.json")})
    scores, meta = read_scores_file(scores_path)
    missing = [sid for sid in sample_ids if sid not in scores]
    if missing:
        raise DataError(f"{len(missing)}/{len(sample_ids)} samples of the split have no MRD score "
                        f"(e.g. {missing[:3]}); score this split with `mrd-bench score` first.")
    edges, higher = meta["bin_edges"], meta.get("higher_is", "easier")
    bins = assign_bins([scores[sid] for sid in sample_ids], edges, higher)
    labels = bin_labels(len(edges) + 1)  # hardest first, whichever metric
    write_json(out, record(metric=meta.get("metric", "mrd"), higher_is=higher, scores=scores_path.name, scores_cache_key=meta.get("cache_key"),
                           model_hash=meta.get("model_hash"), data_hash=meta.get("data_hash"),
                           score_config=meta.get("score_config"),
                           **(source or {}), bin_edges=edges, bins=labels,
                           reference_weights=reference_weights(bins, labels),
                           samples={sid: {"score": scores[sid], "bin": b} for sid, b in zip(sample_ids, bins)}))
    return out


def _finite_score(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def read_scores_file(path: str | Path, *, need_meta: bool = True) -> tuple[dict[str, float], dict]:
    """sample_id -> MRD from a `mrd-bench score` file, and its .meta.json (bin edges, provenance).

    Every line must be a JSON object with a sample_id and a finite, non-negative score; the
    meta file must hold ascending numeric bin_edges. Each problem names its line and the fix."""
    path = Path(path)
    meta_path = path.with_name(path.stem + ".meta.json")
    finish_set(path)  # a scoring run killed while committing its files: complete it (io.writing_together)
    if not path.is_file():
        raise DataError(f"scores file {str(path)!r} does not exist; run `mrd-bench score` first.")
    scores: dict[str, float] = {}
    lines: dict[str, int] = {}  # sample_id -> its line
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = loads(line)  # a non-finite score comes back as NaN from null (io.dumps), to be named below
        except json.JSONDecodeError:
            raise DataError(f"{str(path)}:{number} is not JSON (a truncated or foreign file?); re-run "
                            "`mrd-bench score`.") from None
        if not isinstance(row, dict) or not isinstance(row.get("sample_id"), str):
            raise DataError(f"{str(path)}:{number} has no sample_id; give a scores.jsonl from `mrd-bench score`.")
        if not _finite_score(row.get("score")):
            raise DataError(f"{str(path)}:{number} has score {row.get('score')!r}; an MRD score must be a finite "
                            "number >= 0. Re-score that sample with `mrd-bench score`.")
        if row["sample_id"] in lines:
            raise DataError(f"{str(path)}:{number} repeats sample_id {row['sample_id']!r} (first on line "
                            f"{lines[row['sample_id']]}); a scores file holds one row per sample: re-run "
                            "`mrd-bench score`, or keep one of the two rows.")
        lines[row["sample_id"]] = number
        scores[row["sample_id"]] = float(row["score"])
    if not scores:
        raise DataError(f"scores file {str(path)!r} is empty; run `mrd-bench score` first.")
    if not need_meta:
        return scores, {}
    if not meta_path.is_file():
        raise DataError(f"{str(meta_path)!r} (the bin edges of {path.name}) is missing; keep it beside the "
                        "scores, or re-run `mrd-bench score`.")
    try:
        meta = json.loads(meta_path.read_text())
        edges = meta["bin_edges"]
        ok = isinstance(edges, list) and all(_finite_score(e) for e in edges) and edges == sorted(edges)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise DataError(f"{str(meta_path)!r} has no valid bin_edges (a JSON list of ascending numbers); "
                        "re-run `mrd-bench score`.")
    return scores, meta


def read_annotation(path: str | Path) -> dict:
    """A difficulty annotation, checked: bins, reference weights, and a finite score and a known
    bin for every sample."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"difficulty annotation {str(path)!r} does not exist; make one with "
                        "`mrd-bench annotate`.")
    fix = "make it again with `mrd-bench annotate`."
    try:
        annotation = json.loads(path.read_text(), parse_constant=lambda c: float(c))
        bins, weights, samples = annotation["bins"], annotation["reference_weights"], annotation["samples"]
        bad = next((sid for sid, s in samples.items() if not _finite_score(s["score"]) or s["bin"] not in bins), None)
        ok = isinstance(weights, dict) and set(weights) == set(bins) and bool(samples)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise DataError(f"difficulty annotation {str(path)!r} is corrupt or incomplete "
                        f"({type(err).__name__}: {str(err)[:80]}); {fix}") from None
    if not ok:
        raise DataError(f"difficulty annotation {str(path)!r} lacks reference weights for its bins or samples; {fix}")
    if bad is not None:
        raise DataError(f"difficulty annotation {str(path)!r}: sample {bad} has no finite score or a bin outside "
                        f"{bins}; {fix}")
    return annotation
