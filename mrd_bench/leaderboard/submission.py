"""A submission: a folder with one `submission.json` (schema `submission-1.json`) and the files
it names: the unlearned model's run record, lm-eval's results file and its `--log_samples`
files. It is data, never code: everything is read as JSON inside the folder.

`submit` assembles one from an lm-eval output folder; `validate` checks one against a board
and returns one line per problem, plus the per-sample values the build scores.
"""
from __future__ import annotations

import math
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.io import write_json
from mrd_bench.leaderboard.board import metrics
from mrd_bench.stats import auc_points, bin_indices, points, transform_of
from mrd_bench.outputs import folder_target, replacing
from mrd_bench.leaderboard.untrusted import (Invalid, check_folder, confined, finite, is_number, read,
                                             schema_problems, sha256, short)
from mrd_bench.provenance import now

SUBMISSION_FILE = "submission.json"
RUN_RECORD = "run_record.json"
# `submit`'s output policy (mrd_bench/outputs.py); `legacy`: a submission written before manifests
SUBMISSION = {"what": "a submission", "kind": "leaderboard submit",
              "legacy": (SUBMISSION_FILE, RUN_RECORD, "results.json", "samples_*.jsonl")}
TOLERANCE = 1e-6  # a stated figure may differ from the recomputed one by this much, relative


@dataclass
class Entry:
    """What the build reads from an accepted submission."""

    folder: str
    method: dict
    record: dict
    values: dict[str, np.ndarray]  # metric id -> values aligned to the board split's ids
    nonmembers: dict[str, np.ndarray] = field(default_factory=dict)  # auc/privleak metric id -> non-member values
    stated: dict[str, dict[str, float]] = field(default_factory=dict)  # metric id -> {"overall"|bin|"reweighted": v}


# ----------------------------------------------------------------------------- validate

def validate(folder: str | Path, board: dict) -> tuple[list[str], Entry | None]:
    """Every problem of the submission in `folder` against `board`, one line each; the entry
    when there are none."""
    folder = Path(folder)
    try:
        check_folder(folder, "submission")
        sub = read(confined(folder, SUBMISSION_FILE, SUBMISSION_FILE), SUBMISSION_FILE)
    except Invalid as err:
        return [str(err)], None
    problems = schema_problems(sub, "submission", SUBMISSION_FILE)
    if problems:
        return problems, None
    if sub["board"] != board["name"]:
        problems.append(f"board: {short(sub['board'])}: this board is {board['name']!r}")
    if sub["annotation_sha256"] != board["annotation"]["sha256"]:
        problems.append(f"annotation_sha256: {short(sub['annotation_sha256'])}: not the board's annotation "
                        f"({board['annotation']['sha256'][:12]}…); evaluate with the board's annotation file")
    record = _record(folder, sub, board, problems)
    stated = _stated(folder, sub, board, problems)
    values, nonmembers = {}, {}
    for task in board["tasks"]:
        name = f"samples/{task['task']}"
        if task["task"] not in sub["samples"]:
            problems.append(f"samples: {task['task']!r} is missing; the board scores that task "
                            f"(lm-eval --log_samples writes samples_{task['task']}_*.jsonl)")
            continue
        try:
            rows = read(confined(folder, sub["samples"][task["task"]], name), name, finite=False, lines=True)
        except Invalid as err:
            problems.append(str(err))
            continue
        got = _task_values(rows, task, board, name, problems)
        values.update(got.get("members", {}))
        nonmembers.update(got.get("nonmembers", {}))
    for extra in sorted(set(sub["samples"]) - {t["task"] for t in board["tasks"]}):
        problems.append(f"samples: {short(extra)}: not a task of this board; drop it")
    if not problems:
        problems += stated_problems(stated, values, board, nonmembers)
    if problems:
        return problems, None
    return [], Entry(folder=str(folder), method=sub["method"], record=record, values=values, stated=stated,
                     nonmembers=nonmembers)


def _record(folder: Path, sub: dict, board: dict, problems: list[str]) -> dict:
    try:
        record = read(confined(folder, sub["run_record"], "run_record"), "run_record")
    except Invalid as err:
        problems.append(str(err))
        return {}
    if not isinstance(record, dict):
        problems.append(f"run_record: {short(record)}: must be a JSON object (the run_record.json of `mrd-bench unlearn`)")
        return {}
    start = (record.get("model_hash") or {}).get("initial") if isinstance(record.get("model_hash"), dict) else None
    if start != board["original_model"]["weights_sha256"]:
        problems.append(f"run_record: model_hash/initial: {short(start)}: the run did not start from the board's "
                        f"original model ({board['original_model']['weights_sha256'][:12]}…)")
    return record


def _stated(folder: Path, sub: dict, board: dict, problems: list[str]) -> dict:
    """The summary numbers lm-eval's results file states: every figure the board scores (overall,
    and per bin and reweighted for the forget split's metrics) must be there."""
    try:
        results = read(confined(folder, sub["results"], "results"), "results", finite=False)
        tasks = results["results"]
    except Invalid as err:
        problems.append(str(err))
        return {}
    except (TypeError, KeyError):
        problems.append("results: not an lm-eval results file (no 'results' object)")
        return {}
    stated = {}
    for m in metrics(board):
        numbers = tasks.get(m["task"]) if isinstance(tasks, dict) else None
        numbers = numbers if isinstance(numbers, dict) else {}
        keys = {"overall": m["name"]}
        if m["stratified"]:
            keys.update({b: f"{m['name']}_{b}" for b in board["_annotation"]["bins"]},
                        reweighted=f"{m['name']}_reweighted")
        stated[m["id"]] = {k: numbers[f"{key},none"] for k, key in keys.items()
                           if is_number(numbers.get(f"{key},none"))}
        missing = [f"{key},none" for k, key in keys.items() if k not in stated[m["id"]]]
        if missing:
            problems.append(f"results: results/{m['task']}/{missing[0]}: missing ({len(missing)} of {len(keys)} "
                            f"figures of {m['id']}); the results file must state every figure the board scores, "
                            "as `mrd-bench eval` writes it")
    return stated


def stated_problems(stated: dict, values: dict, board: dict, nonmembers: dict | None = None,
                    tolerance: float = TOLERANCE) -> list[str]:
    """Each stated figure against the one recomputed from the per-sample values (and, for an AUC
    metric, the non-members'): |stated − recomputed| ≤ tolerance · (1 + |recomputed|), or a problem line."""
    annotation = board["_annotation"]
    groups = bin_indices([annotation["samples"][sid]["bin"] for sid in board["splits"]["forget"]])
    weights = annotation["reference_weights"]
    lines = []
    for m in metrics(board):
        if m["statistic"] != "mean":
            ours = auc_points(values[m["id"]], (nonmembers or {})[m["id"]], groups, weights, transform_of(m))
        elif m["stratified"]:
            ours = points(values[m["id"]], groups, weights)
        else:
            ours = {"overall": float(values[m["id"]].mean())}
        for key, value in stated.get(m["id"], {}).items():
            mine = ours.get(key, math.nan)
            if math.isnan(mine) and isinstance(value, float) and math.isnan(value):
                continue
            if not abs(float(value) - mine) <= tolerance * (1 + abs(mine)):
                lines.append(f"results: results/{m['task']}/{m['name']} ({key}): {short(value)}: differs from the "
                             f"recomputed {mine!r} (from the samples; tolerance {tolerance:g} relative); submit "
                             "lm-eval's own results file for these samples")
    return lines


def documents(rows: list, name: str) -> tuple[dict[str, dict], dict[str, dict], list[str]]:
    """An lm-eval samples file's member rows by sample id, its non-member rows by sample id (a
    membership test's `member: 0` documents) and the ids seen more than once in either;
    Invalid for a line without one."""
    members, nonmembers, repeated = {}, {}, []
    for i, row in enumerate(rows):
        doc = row.get("doc") if isinstance(row, dict) else None
        sid = doc.get("sample_id") if isinstance(doc, dict) else None
        if not isinstance(sid, str):
            raise Invalid(f"{name}: line {i + 1}: doc/sample_id: {short(sid)}: missing or not a string")
        side = nonmembers if doc.get("member", 1) == 0 else members
        if sid in side:
            repeated.append(sid)
        else:
            side[sid] = row
    return members, nonmembers, repeated


def value_of(row: dict, metric: str):
    """A document's value of `metric`: the plain number, or a stratified item's `value`."""
    raw = row.get(metric)
    return raw.get("value") if isinstance(raw, dict) else raw


def _task_values(rows: list, task: dict, board: dict, name: str, problems: list[str]) -> dict:
    """Each metric's per-sample values, aligned to the board split's ids, after checking that the
    documents are exactly the split (and the non-member split where the task has one)."""
    try:
        members, nonmembers, repeated = documents(rows, name)
    except Invalid as err:
        problems.append(str(err))
        return {}
    if repeated:
        problems.append(f"{name}: doc/sample_id: {short(repeated[0])}: duplicate sample id "
                        f"({len(repeated)} repeated)")
    expected = board["splits"][task["split"]]
    _same_ids(name, "", list(members), expected, problems)
    if "nonmember_split" in task:
        _same_ids(name, " (non-members)", list(nonmembers), board["splits"][task["nonmember_split"]], problems)
    if problems:
        return {}
    if task["split"] == "forget":
        bins = board["_annotation"]["samples"]
        for sid in expected:
            got = members[sid]["doc"].get("mrd_bin")
            if got != bins[sid]["bin"]:
                problems.append(f"{name}: {sid}: doc/mrd_bin: {short(got)}: the board's annotation puts it in "
                                f"{bins[sid]['bin']!r}; evaluate with the board's annotation")
                return {}
    out = {"members": {}, "nonmembers": {}}
    for m in task["metrics"]:
        sides = [("members", members, expected)]
        if m.get("statistic", "mean") != "mean":
            sides.append(("nonmembers", nonmembers, board["splits"][task["nonmember_split"]]))
        for side, rows_by_id, ids in sides:
            values = []
            for sid in ids:
                value = value_of(rows_by_id[sid], m["name"])
                if not finite(value):
                    problems.append(f"{name}: {sid}: {m['name']}: {short(value)}: not a finite number")
                    return {}
                low, high = m["range"]
                if not low <= value <= high:
                    problems.append(f"{name}: {sid}: {m['name']}: {short(value)}: outside the metric's range "
                                    f"[{low:g}, {high:g}]")
                    return {}
                values.append(float(value))
            out[side][f"{task['task']}/{m['name']}"] = np.asarray(values)
    return out


def _same_ids(name: str, what: str, got: list[str], expected: list[str], problems: list[str]) -> None:
    """One line each for the duplicate, missing and unexpected ids of `got` against `expected`
    (linear: one count of each list)."""
    counts, wanted = Counter(got), set(expected)
    dupes = sorted(s for s, n in counts.items() if n > 1)
    missing = [s for s in expected if s not in counts]
    extra = sorted(s for s in counts if s not in wanted)
    for label, ids in (("duplicate sample ids", dupes), ("missing sample ids", missing),
                       ("sample ids not in the board's split", extra)):
        if ids:
            problems.append(f"{name}{what}: {label}: {len(ids)} (e.g. {short(ids[0])})")


# ----------------------------------------------------------------------------- submit

def submit(board: dict, run_dir: str | Path, out: str | Path, *, name: str, link: str = "", description: str = "",
           record: str | Path | None = None, overwrite: bool = False) -> Path:
    """A submission folder `out` from an lm-eval output folder: its results file, the board tasks'
    samples files, and the run record of the model it evaluated (found beside the model, or given)."""
    import json

    run_dir = Path(run_dir)
    results = sorted(run_dir.rglob("results_*.json"))
    if len(results) != 1:
        raise DataError(f"--run {str(run_dir)!r} must hold exactly one lm-eval results_*.json "
                        f"(found {len(results)}); give the --output_path folder of one `mrd-bench eval` run.")
    folder = results[0].parent
    config = json.loads(results[0].read_text(), parse_constant=float).get("config", {})
    samples = {}
    for task in board["tasks"]:
        found = sorted(folder.glob(f"samples_{task['task']}_*.jsonl"))
        if not found:
            raise DataError(f"{str(folder)!r} has no samples_{task['task']}_*.jsonl; run the board's tasks "
                            "with --log_samples (see the board's eval settings).")
        samples[task["task"]] = found[-1]
    record = Path(record) if record else _record_beside_model(config)
    ann = _annotation_used(samples[next(t["task"] for t in board["tasks"] if t["split"] == "forget")])
    out = folder_target(out, overwrite, inputs={"--board": board["_folder"], "--run": run_dir, "--record": record},
                        **SUBMISSION)
    from mrd_bench.provenance import versions

    with replacing(out, **SUBMISSION) as tmp:
        shutil.copyfile(record, tmp / RUN_RECORD)
        shutil.copyfile(results[0], tmp / "results.json")
        for task, path in samples.items():
            shutil.copyfile(path, tmp / f"samples_{task}.jsonl")
        write_json(tmp / SUBMISSION_FILE, {
            "schema_version": 1, "board": board["name"],
            "method": {"name": name, "link": link, "description": description},
            "run_record": RUN_RECORD, "results": "results.json",
            "samples": {task: f"samples_{task}.jsonl" for task in samples},
            "annotation_sha256": sha256(ann),
            "created": now(),
            "submitted_with": {k: str(v) for k, v in versions().items()}})
    return out


def _record_beside_model(config: dict) -> Path:
    args = config.get("model_args") or {}
    pretrained = args.get("pretrained") if isinstance(args, dict) else None
    if not pretrained or not (Path(pretrained) / RUN_RECORD).is_file():
        raise ConfigError(f"no {RUN_RECORD} beside the evaluated model {pretrained!r}; pass the unlearning run's "
                          "record with --record PATH.")
    return Path(pretrained) / RUN_RECORD


def _annotation_used(samples: Path) -> Path:
    import json

    with samples.open() as handle:
        doc = json.loads(handle.readline(), parse_constant=float)["doc"]
    path = Path(doc.get("annotation", ""))
    if not path.is_file():
        raise DataError(f"the annotation the evaluation used ({str(path)!r}, from {samples.name}) is not here; "
                        "run `submit` on the machine that evaluated.")
    return path

