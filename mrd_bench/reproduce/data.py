"""The study's raw data as plain files, and the one reader every analysis uses.

`export(work, study, folder)` writes what the finished stages measured into `folder`
(`reports/reproduction/data/` in the repository):
- `samples.csv`: one row per forget sample: length, NLL, Min-K%, gradient norm, the text
  characteristics, each MRD estimator's seed mean (and the definition's per token, at other
  eps, without clamped tokens), updates to forget and the continuous measures per method, CUD
  and its depth statistics, and claim 6's label with its votes;
- `mrd_draws.csv`: every draw of every estimator and seed, per sample (K curves, seed spread);
- `claim1_subsets.csv`, `claim4_samplers.csv`, `calibration.json`: the runs of claims 1 and 4;
- `claim5_sensitivity.json`, `claim5_stability.json`: the σ, batch, K and float64 runs of claim 5;
- `claim6_labels.json`: the labelling runs' loss increases and their agreement.

`Data(folder)` reads them back; the claims (claims/) see nothing else, so `mrd-bench reproduce
--data <folder>` recomputes every number of results.json from these files alone.
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Optional

import numpy as np

from mrd_bench.io import read_json, write_json, write_text

METHODS = ("ga", "graddiff", "npo")
ESTIMATORS = ("definition", "alg1", "hutchinson")
EPS_GRID = (1e-4, 1e-3, 1e-2, 1e-1)
CHARACTERISTICS = ("entity_frequency", "prob", "lexical_diversity", "syntactic_depth", "rare_words")
DEPTH = ("mean_layer", "late_share", "mean_span", "longest_path")
SUBSET_COLUMNS = ("run", "method", "subset", "seed", "lr", "updates", "censored", "trained", "forget_ma", "retain_prob",
                  "real_authors_prob", "world_facts_prob")
SAMPLER_COLUMNS = ("run", "method", "arm", "run_method", "sampler", "seed", "lr", "updates", "censored", "trained",
                   "forget_ma", "forget_ua", "forget_prob", "forget_min_k_auc", "retain_prob")


def _done(work: Path, stage: str) -> bool:
    return (work / stage / "done.json").is_file()


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _csv_text(rows: list[dict], columns: list[str]) -> str:
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: _cell(row.get(c)) for c in columns})
    return buf.getvalue()


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value)  # nan, inf and -inf included: float() reads each back
    return str(value)


def export(work: Path, study, folder: Path, *, current: Optional[dict] = None) -> list[str]:
    """Write the finished stages' data into `folder`; the names of the files written. With `current`
    (stage name -> the key its done.json must hold), a stage finished under other settings is left out."""
    from dataclasses import asdict

    folder.mkdir(parents=True, exist_ok=True)
    write_json(folder / "study.json", asdict(study))
    written = ["study.json"]

    def done(stage: str) -> bool:
        return _done(work, stage) and (current is None or read_json(work / stage / "done.json")["key"] ==
                                       current.get(stage))

    if done("baselines"):
        written += _export_samples(work, study, folder, done)
    if done("sensitivity"):
        write_json(folder / "claim5_sensitivity.json", read_json(work / "sensitivity" / "sensitivity.json"))
        written.append("claim5_sensitivity.json")
    if done("stability"):
        got = read_json(work / "stability" / "stability.json")
        write_json(folder / "claim5_stability.json", {k: got[k] for k in ("sample_id", "alg1", "definition")})
        written.append("claim5_stability.json")
    if done("calibrate"):
        write_json(folder / "calibration.json", {**read_json(work / "calibrate" / "calibration.json"),
                                                 "runs": [{k: r[k] for k in ("run", "method", "lr", "updates",
                                                                             "censored", "trained", "forget_ma")}
                                                          for r in _jsonl(work / "calibrate" / "runs.jsonl")]})
        written.append("calibration.json")
    for stage, name, cols in (("subsets", "claim1_subsets.csv", SUBSET_COLUMNS),
                              ("samplers", "claim4_samplers.csv", SAMPLER_COLUMNS)):
        if done(stage):
            runs = sorted(_jsonl(work / stage / "runs.jsonl"), key=lambda r: r["run"])
            write_text(folder / name, _csv_text(runs, list(cols)))
            written.append(name)
    return written


def _export_samples(work: Path, study, folder: Path, done) -> list[str]:
    """samples.csv, mrd_draws.csv and claim6_labels.json: everything per forget sample."""
    from mrd_bench.reproduce.token_mrd import TokenDraws, merge

    written = []
    base = read_json(work / "baselines" / "baselines.json")
    ids = [r["sample_id"] for r in base["rows"]]
    rows = [{k: r[k] for k in ("sample_id", "n_tokens", "nll", "prob", "min_k", "grad_norm", "ma", "entity_frequency",
                               "lexical_diversity", "syntactic_depth", "rare_words")} for r in base["rows"]]
    draws = []  # long format: estimator, seed, draw, sample_id, value
    if done("mrd_definition"):
        seeds = []
        for seed in range(study.seeds):
            by = {r["sample_id"]: r for r in read_json(work / "mrd_definition" / f"seed-{seed}.json")["rows"]}
            seeds.append([TokenDraws(p0=by[i]["p0"], d=by[i]["d"]) for i in ids])
        for seed, group in enumerate(seeds):
            for j, d in enumerate(group):
                rows[j][f"mrd_definition_s{seed}"] = d.mrd(study.eps)
                denom = np.minimum(np.asarray(d.p0), -study.eps)
                for k, draw in enumerate(d.d):
                    draws.append(("definition", seed, k, ids[j], float(np.sum(np.asarray(draw) / denom))))
        merged = merge(seeds)
        for j, d in enumerate(merged):
            rows[j]["mrd_definition"] = d.mrd(study.eps)  # every draw of every seed: the pooled estimate
            rows[j]["mrd_definition_per_token"] = d.mrd(study.eps, per_token=True)
            rows[j]["mrd_definition_drop_clamped"] = d.mrd(study.eps, drop_clamped=True)
            rows[j]["n_clamped"] = d.n_clamped(study.eps)
            for e in EPS_GRID:
                rows[j][f"mrd_definition_eps_{e:g}"] = d.mrd(e)
    for name in ("alg1", "hutchinson"):
        if not done(f"mrd_{name}"):
            continue
        per_seed = []
        for seed in range(study.seeds):
            got = read_json(work / f"mrd_{name}" / f"seed-{seed}.json")
            order = [got["sample_id"].index(i) for i in ids]
            per_seed.append([got["scores"][j] for j in order])
            values = np.asarray(got["values"])[:, order]
            for k in range(values.shape[0]):
                draws += [(name, seed, k, ids[j], float(values[k, j])) for j in range(len(ids))]
        for j in range(len(ids)):
            for seed in range(study.seeds):
                rows[j][f"mrd_{name}_s{seed}"] = per_seed[seed][j]
            rows[j][f"mrd_{name}"] = float(np.mean([s[j] for s in per_seed]))
    for method in METHODS:
        if not done(f"updates_{method}"):
            continue
        by = {r["sample_id"]: r for r in _jsonl(work / f"updates_{method}" / "rows.jsonl")}
        for j, sid in enumerate(ids):
            r = by[sid]
            rows[j].update({f"updates_{method}": r["updates"], f"censored_{method}": bool(r["censored"]),
                            f"loss_increase_{method}": r["loss_increase"], f"ma_auc_{method}": r["ma_auc"]})
    if done("cud"):
        by = {r["sample_id"]: r for r in _jsonl(work / "cud" / "cud.jsonl")}
        for j, sid in enumerate(ids):
            rows[j]["cud"] = by[sid]["score"]
            rows[j].update({name: by[sid][name] for name in DEPTH})
    if done("labels"):
        labels = read_json(work / "labels" / "labels.json")
        for j, sid in enumerate(ids):
            rows[j]["label"] = labels["labels"].get(sid, "")
            rows[j].update({f"votes_{c}": labels["agreement"]["votes"][sid][c] for c in ("easy", "middle", "hard")})
        write_json(folder / "claim6_labels.json", {k: labels[k] for k in ("runs", "min_votes", "measure", "n_easy",
                                                                         "n_hard", "n", "before", "increase")})
        written.append("claim6_labels.json")
    columns = list(dict.fromkeys(k for r in rows for k in r))
    write_text(folder / "samples.csv", _csv_text(rows, columns))
    written.append("samples.csv")
    if draws:
        write_text(folder / "mrd_draws.csv", _csv_text([dict(zip(("estimator", "seed", "draw", "sample_id", "value"),
                                                                 d)) for d in draws],
                                                      ["estimator", "seed", "draw", "sample_id", "value"]))
        written.append("mrd_draws.csv")
    return written


def _number(text: str):
    if text == "":
        return None
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)  # exact, however large
    try:
        value = float(text)
    except ValueError:
        return text
    return value


TEXT = ("sample_id", "run", "method", "arm", "run_method", "sampler", "estimator", "label")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: v if k in TEXT else _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


class Data:
    """The data files of a study, aligned to samples.csv's order; a missing file is a claim not measured."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.study = read_json(self.folder / "study.json") if (self.folder / "study.json").is_file() else {}
        self.samples = read_csv(self.folder / "samples.csv") if (self.folder / "samples.csv").is_file() else []
        self.ids = [r["sample_id"] for r in self.samples]

    def has(self, *columns: str) -> bool:
        return bool(self.samples) and all(c in r and r[c] is not None for r in self.samples for c in columns)

    def column(self, name: str) -> np.ndarray:
        return np.asarray([float(r[name]) for r in self.samples])

    def seeds(self, estimator: str) -> list[np.ndarray]:
        return [self.column(f"mrd_{estimator}_s{s}") for s in range(self.study.get("seeds", 0))
                if self.has(f"mrd_{estimator}_s{s}")]

    def draws(self, estimator: str) -> Optional[np.ndarray]:
        """[draws, n]: every draw of every seed (seed-major) of `estimator`, in the samples' order."""
        path = self.folder / "mrd_draws.csv"
        if not path.is_file():
            return None
        rows = [r for r in read_csv(path) if r["estimator"] == estimator]
        if not rows:
            return None
        col = {sid: j for j, sid in enumerate(self.ids)}
        keys = sorted({(r["seed"], r["draw"]) for r in rows})
        index = {k: i for i, k in enumerate(keys)}
        out = np.full((len(keys), len(self.ids)), np.nan)
        for r in rows:
            out[index[(r["seed"], r["draw"])], col[r["sample_id"]]] = r["value"]
        return out

    def json(self, name: str) -> Optional[dict]:
        path = self.folder / name
        return read_json(path) if path.is_file() else None

    def runs(self, name: str) -> Optional[list[dict]]:
        path = self.folder / name
        return read_csv(path) if path.is_file() else None
