"""`mrd-bench annotate`: join MRD scores of the original model to a split, with bin edges.

The annotation is what lm-eval tasks read (`--metadata '{"difficulty": PATH}'`): each
sample's MRD under the *original* (pre-unlearning) model and its bin, the bin edges, and
the reference weights (each bin's share of the annotated set) that difficulty-reweighted
metrics use. Every sample of the split must have a score: a missing one is an error that
names it, never a silent skip.
"""
from __future__ import annotations

import json
from pathlib import Path

from mrd_bench.errors import DataError
from mrd_bench.io import guard_output, write_json
from mrd_bench.provenance import record
from mrd_bench.report.stratify import assign_bins, bin_labels, reference_weights


def annotate(scores_path: str | Path, sample_ids: list[str], out: str | Path, *, overwrite: bool = False,
             source: dict | None = None) -> Path:
    scores_path = Path(scores_path)
    out = guard_output(out, overwrite, what="an annotation")
    meta_path = scores_path.with_name(scores_path.stem + ".meta.json")
    if not scores_path.is_file() or not meta_path.is_file():
        raise DataError(f"{str(scores_path)!r} (with its .meta.json) is missing; run `mrd-bench score` first.")
    scores = {r["sample_id"]: r["score"] for r in map(json.loads, scores_path.read_text().splitlines())}
    missing = [sid for sid in sample_ids if sid not in scores]
    if missing:
        raise DataError(f"{len(missing)}/{len(sample_ids)} samples of the split have no MRD score "
                        f"(e.g. {missing[:3]}); score this split with `mrd-bench score` first.")
    meta = json.loads(meta_path.read_text())
    edges = meta["bin_edges"]
    bins = assign_bins([scores[sid] for sid in sample_ids], edges)
    labels = bin_labels(len(edges) + 1)
    write_json(out, record(scores=scores_path.name, scores_cache_key=meta.get("cache_key"),
                           model_hash=meta.get("model_hash"), data_hash=meta.get("data_hash"),
                           score_config=meta.get("score_config"),
                           **(source or {}), bin_edges=edges, bins=labels,
                           reference_weights=reference_weights(bins, labels),
                           samples={sid: {"score": scores[sid], "bin": b} for sid, b in zip(sample_ids, bins)}))
    return out


def read_annotation(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"difficulty annotation {str(path)!r} does not exist; make one with "
                        "`mrd-bench annotate`.")
    return json.loads(path.read_text())
