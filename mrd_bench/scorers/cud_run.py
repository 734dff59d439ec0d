"""`mrd-bench score --metric cud` to a file: attributions streamed and resumable, then CUD.

Stage 1 (the costly one) attributes every sample with EAP-IG, chunk by chunk, exactly as MRD
scoring streams: length-sorted batches, finished chunks appended and fsynced to
`<out>.partial/rank-<r>.jsonl` under the run's cache key (weights, data, attribution settings),
resumed after a crash, and shared out chunk by chunk over `accelerate launch` processes.
Stage 2 (seconds) builds the cross-fitted easy/hard anchors from the labels, scores CUD, adds
each circuit's depth statistics, bins (CUD is high for hard samples, so the highest bin is
"hard") and writes `<out>` (the MRD score file's shape), `<out stem>.meta.json`, and
`<out stem>.attributions.npz` (every sample's attribution, the folds and the anchors) for
`mrd-bench circuits`.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.io import guard_output, read_partial_rows
from mrd_bench.models import Encoded, collate, weights_hash
from mrd_bench.pipeline import write_scores
from mrd_bench.scorers.cud import DISTANCES, circuit, circuit_stats, cross_fit
from mrd_bench.scorers.eap import BASELINES, Graph, attribute, model_graph
from mrd_bench.scorers.runner import plan_chunks
from mrd_bench.scorers.stream import stream_chunks

LABELS = ("easy", "hard")


@dataclass(frozen=True)
class CudConfig:
    baseline: str = "corrupt"  # zero | corrupt
    steps: int = 5  # m, EAP-IG's interpolation steps
    heads: bool = False  # attention sources per head
    top_edges: int = 75  # n, edges kept per circuit
    distance: str = "cosine"
    folds: int = 5
    seed: int = 0
    batch_size: int = 8
    chunk_batches: int = 4
    bins: int = 3

    def __post_init__(self) -> None:
        if self.baseline not in BASELINES:
            raise ConfigError(f"--baseline must be one of {', '.join(BASELINES)}; got {self.baseline!r}.")
        DISTANCES.get(self.distance)
        for name in ("steps", "top_edges", "batch_size", "chunk_batches", "bins"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1; got {getattr(self, name)}.")
        if self.folds < 2:
            raise ConfigError(f"--folds must be at least 2 (cross-fitting); got {self.folds}.")

    def attribution_settings(self) -> dict:
        return {"baseline": self.baseline, "steps": self.steps, "heads": self.heads}


def read_labels(path: str | os.PathLike) -> dict:
    """A labels file from `mrd-bench cud-labels`: {"labels": {sample_id: "easy" | "hard"}, ...}."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"labels file {str(path)!r} does not exist; make it with `mrd-bench cud-labels`.")
    try:
        data = json.loads(path.read_text())
        labels = data["labels"]
        ok = isinstance(labels, dict) and all(v in LABELS for v in labels.values())
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise DataError(f"{str(path)!r} is not a labels file (a JSON object whose \"labels\" maps sample ids to "
                        "\"easy\" or \"hard\"); make it with `mrd-bench cud-labels`.")
    return data


def _key(model_hash: str, items: Sequence[Encoded], ids: Sequence[str], baseline_ids, graph: Graph,
         cfg: CudConfig) -> str:
    digest = hashlib.sha256(model_hash.encode())
    for sid, e, b in zip(ids, items, baseline_ids):
        digest.update(json.dumps([sid, e.input_ids, e.labels, b]).encode())
    digest.update(json.dumps([cfg.attribution_settings(), graph.describe()], sort_keys=True).encode())
    return digest.hexdigest()


def _attribute_chunk(model, graph, chunk, items, baseline_ids, cfg, device, pad) -> list[tuple[int, list[float]]]:
    out = []
    for rows in chunk:
        # rows with and without a corrupted input go in separate batches
        for group in ([i for i in rows if baseline_ids[i] is not None], [i for i in rows if baseline_ids[i] is None]):
            if not group:
                continue
            batch = {k: v.to(device) for k, v in collate([items[i] for i in group], pad).items()}
            base = None
            if baseline_ids[group[0]] is not None:
                base = collate([Encoded(baseline_ids[i], items[i].labels) for i in group], pad)["input_ids"].to(device)
            scores = attribute(model, graph, batch, steps=cfg.steps, baseline_ids=base).cpu()
            out += [(i, s.tolist()) for i, s in zip(group, scores)]
    return out


def attribute_to_file(model, items: Sequence[Encoded], ids: Sequence[str], baseline_ids: Sequence[Optional[list]],
                      cfg: CudConfig, partial: Path, *, model_hash: str, overwrite: bool, progress: bool = True,
                      stop_after: Optional[int] = None) -> tuple[dict[str, list[float]], Graph]:
    """Attribute every sample into `partial`, resuming: (sample_id -> attribution, graph).
    `model` must be float32 (or wider) and is moved to this process's device."""
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    model = model.to(state.device).eval()
    graph = model_graph(model, heads=cfg.heads)
    key = _key(model_hash, items, ids, baseline_ids, graph, cfg)
    pad = getattr(model.config, "pad_token_id", None) or 0

    def attribute_chunk(chunk, bar) -> list[dict]:
        rows = []
        for i, values in _attribute_chunk(model, graph, chunk, items, baseline_ids, cfg, state.device, pad):
            rows.append({"sample_id": ids[i], "attribution": values})
            bar.update(1)
        return rows

    stream_chunks(state, partial, key, plan_chunks(items, cfg), ids, attribute_chunk, overwrite=overwrite,
                  info={"attribution": cfg.attribution_settings(), "graph": graph.describe()},
                  desc=f"CUD attribution (EAP-IG, m={cfg.steps})", unit="sample",
                  total=lambda todo: sum(len(r) for c in todo for r in c), verb="attributed", progress=progress,
                  stop_after=stop_after)
    done = read_partial_rows(partial)
    return {sid: done[sid]["attribution"] for sid in ids if sid in done}, graph


def cud_rows(attributions: np.ndarray, ids: Sequence[str], labels: dict[str, str], graph: Graph,
             cfg: CudConfig) -> tuple[list[dict], list, np.ndarray]:
    """Cross-fitted CUD rows with their depth statistics, the anchors per fold, and the folds."""
    bad = [sid for sid, row in zip(ids, attributions) if not np.isfinite(row).all()]
    if bad:
        raise DataError(f"{len(bad)} sample(s) got non-finite edge attributions (e.g. {bad[:3]}): a float32 overflow; "
                        "check the model in float32, or use --baseline corrupt.")
    per_row = [labels.get(sid) for sid in ids]
    if sum(v == "easy" for v in per_row) < 2 or sum(v == "hard" for v in per_row) < 2:
        raise DataError(f"the labels name {sum(v == 'easy' for v in per_row)} easy and "
                        f"{sum(v == 'hard' for v in per_row)} hard samples of this split; CUD's anchors need "
                        "several of each. Label the same split with `mrd-bench cud-labels` (a larger --q).")
    scores, fold_anchors, fold = cross_fit(attributions, per_row, n=cfg.top_edges, k=cfg.folds, seed=cfg.seed,
                                           distance=cfg.distance)
    rows = []
    for sid, row, values, label in zip(ids, scores, attributions, per_row):
        rows.append({"sample_id": sid, "metric": "cud", "score": row["score"], "d_easy": row["d_easy"],
                     "d_hard": row["d_hard"], "fold": row["fold"], "label": label,
                     **circuit_stats(graph, circuit(values, cfg.top_edges))})
    return rows, fold_anchors, fold


def attributions_npz(ids: Sequence[str], attributions: np.ndarray, graph: Graph, fold: np.ndarray,
                     fold_anchors) -> bytes:
    """The per-sample edge attributions and each fold's anchors, as the bytes of an .npz file."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, sample_id=np.array(ids), attribution=attributions.astype(np.float32),
                        edge=np.array(graph.edge_names()), fold=fold,
                        easy_edges=np.stack([a.easy.edges for a in fold_anchors]),
                        easy_scores=np.stack([a.easy.scores for a in fold_anchors]),
                        hard_edges=np.stack([a.hard.edges for a in fold_anchors]),
                        hard_scores=np.stack([a.hard.scores for a in fold_anchors]))
    return buffer.getvalue()


def score_cud_to_file(model, items: Sequence[Encoded], ids: Sequence[str], baseline_ids, corruption: Sequence[dict],
                      labels_path: str | os.PathLike, cfg: CudConfig, out: str | os.PathLike, *, meta: dict,
                      overwrite: bool = False, progress: bool = True, stop_after: Optional[int] = None) -> Path:
    from accelerate import PartialState

    from mrd_bench.report.stratify import assign_bins, quantile_edges

    out = guard_output(out, overwrite, what="scores")
    labels = read_labels(labels_path)
    if any(p.dtype not in (torch.float32, torch.float64) for p in model.parameters()):
        model = model.float()  # attribution runs in float32
    model_hash = weights_hash(model)
    if labels.get("model_hash") not in (None, model_hash):
        raise DataError(f"the labels were made by unlearning a different model (weights {labels['model_hash'][:12]}, "
                        f"scored weights {model_hash[:12]}); CUD's circuits and labels must come from the same "
                        "original model. Label this model with `mrd-bench cud-labels`.")
    partial = out.with_name(out.name + ".partial")
    found, graph = attribute_to_file(model, items, ids, baseline_ids, cfg, partial, model_hash=model_hash,
                                     overwrite=overwrite, progress=progress, stop_after=stop_after)
    if not PartialState().is_main_process:
        return out
    attributions = np.array([found[sid] for sid in ids], dtype=float)
    rows, fold_anchors, fold = cud_rows(attributions, ids, labels["labels"], graph, cfg)
    for row, info in zip(rows, corruption):
        row["baseline"] = info
    scores = [r["score"] for r in rows]
    edges = quantile_edges(scores, cfg.bins)
    for row, label in zip(rows, assign_bins(scores, edges, higher="harder")):
        row["bin"] = label
    stem = out.with_name(out.stem)
    npz = Path(f"{stem}.attributions.npz")
    write_scores(out, rows, edges, {
        **meta, "metric": "cud", "higher_is": "harder", "model_hash": model_hash,
        "cud_config": asdict(cfg), "graph": graph.describe(),
        "baselines_used": {b: sum(r["baseline"]["baseline"] == b for r in rows) for b in BASELINES},
        "labels": {"file": str(labels_path), "sha256": hashlib.sha256(Path(labels_path).read_bytes()).hexdigest(),
                   "n_easy": sum(r["label"] == "easy" for r in rows), "n_hard": sum(r["label"] == "hard" for r in rows),
                   **{k: v for k, v in labels.items() if k != "labels"}},
        "anchors": [{"fold": f, "n_easy": a.n_easy, "n_hard": a.n_hard} for f, a in enumerate(fold_anchors)],
        "attributions": npz.name}, also={npz: attributions_npz(ids, attributions, graph, fold, fold_anchors)})
    shutil.rmtree(partial)
    return out
