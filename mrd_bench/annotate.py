"""`mrd-bench annotate`: join a difficulty signal of the original model to a split, with bins.

The signal is any of the registry's (mrd_bench/signals/): MRD by each estimator, MRD per token,
CUD, answer NLL, Min-K%, answer length, or measured updates-to-forget, read from the file the
command that measures it wrote (`mrd-bench score`, `mrd-bench updates-to-forget`). Without
--signal, the file's own (MRD by its estimator, CUD, or updates) is used. The annotation
records the signal, its label and its direction (`higher_is`), and its bins mean the same
(easy, hard) whichever the direction: every consumer reads the direction from here.

The annotation is what lm-eval tasks read (`--metadata '{"difficulty": PATH}'`): each
sample's value of the signal under the *original* (pre-unlearning) model and its bin, the bin
edges, and the reference weights (each bin's share of the annotated set) that
difficulty-reweighted metrics use. Every sample of the split must have a value: a missing one
is an error that names it, never a silent skip.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

from mrd_bench.errors import DataError
from mrd_bench.io import finish_set, guard_output, loads, write_json
from mrd_bench.provenance import record
from mrd_bench.report.stratify import assign_bins, bin_labels, quantile_edges, reference_weights


def annotate(scores_path: str | Path, sample_ids: list[str], out: str | Path, *, overwrite: bool = False,
             source: dict | None = None, signal: Optional[str] = None, bins: Optional[int] = None) -> Path:
    """Annotate `sample_ids` with `signal` read from `scores_path` (a per-sample file and its
    .meta.json). The bin edges are the file's own where the signal is the one it was binned by
    and `bins` does not ask otherwise; else equal quantiles of the signal over the whole file."""
    from mrd_bench.signals import SIGNALS

    scores_path = Path(scores_path)
    out = guard_output(out, overwrite, what="an annotation", inputs={
        "--scores": scores_path, "the bin edges of --scores": scores_path.with_name(scores_path.stem + ".meta.json")})
    rows, meta = read_signal_file(scores_path)
    own = own_signal(meta, rows)
    chosen = SIGNALS.get(signal or own)
    values = chosen.values(rows, meta, str(scores_path))
    missing = [sid for sid in sample_ids if sid not in values]
    if missing:
        raise DataError(f"{len(missing)}/{len(sample_ids)} samples of the split have no {chosen.label} in "
                        f"{str(scores_path)!r} (e.g. {missing[:3]}); measure this split with `mrd-bench score` "
                        "(or `updates-to-forget`) first.")
    bad = next((sid for sid in sample_ids if not math.isfinite(values[sid])), None)
    if bad is not None:
        raise DataError(f"{str(scores_path)!r}: sample {bad!r} has {chosen.label} {values[bad]!r}, not a finite number; "
                        "measure it again.")
    edges = meta.get("bin_edges") if chosen.name == own else None
    if edges is None or (bins is not None and bins != len(edges) + 1):
        edges = quantile_edges(list(values.values()), bins or 3)
    labels_of = assign_bins([values[sid] for sid in sample_ids], edges, chosen.higher_is)
    labels = bin_labels(len(edges) + 1)  # hardest first, whichever direction
    write_json(out, record(signal=chosen.name, signal_label=chosen.label, higher_is=chosen.higher_is,
                           metric=chosen.name, scores=scores_path.name, scores_cache_key=meta.get("cache_key"),
                           model_hash=meta.get("model_hash"), data_hash=meta.get("data_hash"),
                           score_config=meta.get("score_config"),
                           **(source or {}), bin_edges=list(edges), bins=labels,
                           reference_weights=reference_weights(labels_of, labels),
                           samples={sid: {"score": values[sid], "bin": b} for sid, b in zip(sample_ids, labels_of)}))
    return out


def own_signal(meta: dict, rows: list[dict]) -> str:
    """The signal a file was written for: updates for `updates-to-forget`'s, CUD for CUD scores,
    else MRD by the estimator that made it."""
    if meta.get("kind") == "updates_to_forget":
        return "updates"
    if meta.get("metric") == "cud":
        return "cud"
    estimator = (meta.get("score_config") or {}).get("estimator") or (rows[0].get("estimator") if rows else None)
    return f"mrd_{estimator or 'definition'}"


def read_signal_file(path: Path) -> tuple[list[dict], dict]:
    """The rows of a per-sample file (one JSON object with a sample_id per line, no repeats) and
    its .meta.json ({} if there is none)."""
    finish_set(path)  # a run killed while committing its files: complete it (io.writing_together)
    if not path.is_file():
        raise DataError(f"scores file {str(path)!r} does not exist; run `mrd-bench score` (or `updates-to-forget`) "
                        "first.")
    rows, seen = [], {}
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = loads(line)
        except json.JSONDecodeError:
            raise DataError(f"{str(path)}:{number} is not JSON (a truncated or foreign file?); write it again.") from None
        if not isinstance(row, dict) or not isinstance(row.get("sample_id"), str):
            raise DataError(f"{str(path)}:{number} has no sample_id; give a file from `mrd-bench score` or "
                            "`updates-to-forget`.")
        if row["sample_id"] in seen:
            raise DataError(f"{str(path)}:{number} repeats sample_id {row['sample_id']!r} (first on line "
                            f"{seen[row['sample_id']]}); a per-sample file holds one row per sample.")
        seen[row["sample_id"]] = number
        rows.append(row)
    if not rows:
        raise DataError(f"scores file {str(path)!r} is empty; run `mrd-bench score` first.")
    meta_path = path.with_name(path.stem + ".meta.json")
    if not meta_path.is_file():
        raise DataError(f"{str(meta_path)!r} (the bin edges and provenance of {path.name}) is missing; keep it beside "
                        "the scores, or write them again.")
    try:
        meta = loads(meta_path.read_text())
        edges = meta.get("bin_edges", []) if meta.get("kind") == "updates_to_forget" else meta["bin_edges"]
        ok = isinstance(edges, list) and all(_finite(e) for e in edges) and edges == sorted(edges)
    except (ValueError, AttributeError, TypeError, KeyError):
        ok = False
    if not ok:
        raise DataError(f"{str(meta_path)!r} has no valid bin_edges (a JSON list of ascending numbers); "
                        "re-run `mrd-bench score`.")
    return rows, meta


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
        bad = next((sid for sid, s in samples.items() if not _finite(s["score"]) or s["bin"] not in bins), None)
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
