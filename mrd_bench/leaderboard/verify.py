"""`mrd-bench leaderboard verify SUBMISSION --model CHECKPOINT`: a verified entry.

A submission's per-sample values are what the build scores, and the submitter wrote them. To
verify an entry, re-evaluate a seeded random sample of the board's scored documents (10% by
default, at least 20, stratified by split) from the submitted checkpoint with the board's
lm-eval settings (lm-eval's `--samples`: those documents only), and compare every board
metric's value per sampled document with the submission's within an absolute tolerance. The
checkpoint's weights hash must equal the run record's final hash. With `replay`, the run record
is first replayed (`unlearn.replay`) from the board's original model, and that checkpoint is
the one verified.

The record goes to `BOARD/verifications/<entry>.json`, the maintainer's folder (submitters
control their own); it holds the sha256 of the submission's files, so `status` voids it as
soon as one of them changes.
"""
from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np

from mrd_bench.errors import ConfigError, DataError
from mrd_bench.io import guard_output, write_json
from mrd_bench.leaderboard.board import metrics
from mrd_bench.leaderboard.submission import RUN_RECORD, SUBMISSION_FILE, documents, validate, value_of
from mrd_bench.leaderboard.untrusted import Invalid, confined, finite, read, sha256
from mrd_bench.provenance import now

VERIFICATIONS = "verifications"
# Absolute, on every metric. Measured: the same float32 weights (the TOFU board's SmolLM2-135M
# setting, 2 CPU threads) re-evaluated on two seeded samples of 20 documents agree with the
# board's full evaluation to at most 1.7e-7 on answer probabilities (other batches, other
# padding, another summation order), and exactly on UA and greedy ROUGE-L. 1e-4 leaves room
# for other CPUs and thread counts; other weights or a changed answer move values by far more.
TOLERANCE = 1e-4
BATCH_SIZE = 16  # what the seeded entries were evaluated with


# ----------------------------------------------------------------------------- pure parts

def scored_splits(board: dict) -> list[str]:
    """The splits that carry a board metric: each task's split, and its non-member split where an
    AUC metric (`auc`, `privleak`) scores the non-members too."""
    return list(dict.fromkeys([*(t["split"] for t in board["tasks"]),
                               *(m["nonmember_split"] for m in metrics(board) if m["statistic"] != "mean")]))


def _task_splits(board: dict, task: dict) -> list[tuple[str, bool]]:
    """(split, members?) for each split of `task` whose documents the verification re-evaluates."""
    auc = any(m["task"] == task["task"] and m["statistic"] != "mean" for m in metrics(board))
    return [(task["split"], True)] + ([(task["nonmember_split"], False)] if auc else [])


def sample_documents(board: dict, *, fraction: float, minimum: int, seed: int) -> dict[str, list[str]]:
    """split -> the sampled ids, in board order: ceil(fraction · N) documents over the N scored
    ones (at least `minimum`, at most N), allotted to the splits in proportion, at least one each."""
    splits = {s: board["splits"][s] for s in scored_splits(board)}
    total = sum(len(ids) for ids in splits.values())
    k = min(total, max(minimum, math.ceil(fraction * total)))
    rng = np.random.default_rng(seed)
    out = {}
    for split, ids in splits.items():
        take = min(len(ids), max(1, math.ceil(k * len(ids) / total)))
        picked = set(rng.choice(len(ids), size=take, replace=False).tolist())
        out[split] = [sid for i, sid in enumerate(ids) if i in picked]
    return out


def compare(board: dict, sampled: dict[str, list[str]], submitted: dict[str, np.ndarray],
            ours: dict[str, dict[str, dict]], tolerance: float, submitted_nonmembers: dict | None = None,
            ours_nonmembers: dict | None = None) -> dict:
    """Every board metric on every sampled document: the submission's value (aligned to the
    board split, as `validate` returns them) against the re-evaluated one (`ours`: task ->
    sample id -> lm-eval's samples row), and for an AUC metric its non-members' too (the
    `*_nonmembers` pair, alike). Per metric: n, the max |difference|, the mismatches."""
    per_metric, mismatches, reasons = {}, [], []
    for m in metrics(board):
        sides = [(m["split"], submitted, ours)]
        if m["statistic"] != "mean":
            sides.append((m["nonmember_split"], submitted_nonmembers or {}, ours_nonmembers or {}))
        diffs, bad = [], []
        for split, given, again in sides:
            _compare_side(m, board["splits"][split], sampled.get(split, []), given, again, tolerance, diffs, bad)
        worst = max(diffs, default=0.0)
        per_metric[m["id"]] = {"n": len(diffs), "max_abs_diff": worst if math.isfinite(worst) else None,
                               "over_tolerance": len(bad)}
        if bad:
            e = bad[0]
            reasons.append(f"{m['id']}: {len(bad)}/{len(diffs)} sampled documents differ by more than {tolerance:g} "
                           f"(e.g. {e['sample_id']}: submitted {e['submitted']:.6g}, re-evaluated "
                           f"{'nothing' if e['reevaluated'] is None else format(e['reevaluated'], '.6g')})")
        mismatches += bad
    return {"per_metric": per_metric, "mismatches": mismatches, "reasons": reasons}


def _compare_side(m: dict, ids: list[str], sampled: list[str], submitted: dict, ours: dict, tolerance: float,
                  diffs: list, bad: list) -> None:
    """One split's sampled documents of metric `m`: appends each |difference| and each mismatch."""
    index = {sid: i for i, sid in enumerate(ids)}
    for sid in sampled:
        want = float(submitted[m["id"]][index[sid]])
        row = ours.get(m["task"], {}).get(sid)
        got = value_of(row, m["name"]) if row is not None else None
        diff = abs(got - want) if finite(got) else math.inf
        diffs.append(diff)
        if not diff <= tolerance:
            bad.append({"metric": m["id"], "sample_id": sid, "submitted": want,
                        "reevaluated": got if finite(got) else None,
                        "abs_diff": diff if math.isfinite(diff) else None})


def doc_indices(board: dict, rows_by_task: dict[str, list], sampled: dict[str, list[str]]) -> dict[str, list[int]]:
    """task -> the lm-eval document indices (`doc_id`) of its sampled documents, read from the
    submission's samples rows; DataError for an index that cannot be one. The re-evaluated rows
    are matched back by sample id, so a wrong index fails the comparison, never passes it."""
    out = {}
    for task in board["tasks"]:
        rows = rows_by_task[task["task"]]
        members, nonmembers, _ = documents(rows, f"samples/{task['task']}")
        found = []
        for sid, row in ((sid, (members if member else nonmembers)[sid])
                         for split, member in _task_splits(board, task) for sid in sampled[split]):
            doc_id = row.get("doc_id")
            if not (isinstance(doc_id, int) and not isinstance(doc_id, bool) and 0 <= doc_id < len(rows)):
                raise DataError(f"samples/{task['task']}: {sid}: doc_id {doc_id!r} is not a document index "
                                f"(0..{len(rows) - 1}); re-submit lm-eval's own --log_samples files.")
            found.append(doc_id)
        out[task["task"]] = sorted(set(found))  # lm-eval maps results back assuming ascending indices
    return out


def submission_hashes(folder: Path) -> dict[str, str]:
    """sha256 of submission.json and of each file it names (what the build reads)."""
    sub = read(confined(folder, SUBMISSION_FILE, SUBMISSION_FILE), SUBMISSION_FILE)
    names = [SUBMISSION_FILE, sub["run_record"], sub["results"], *sub["samples"].values()]
    return {name: sha256(confined(folder, name, name)) for name in dict.fromkeys(names)}


def record_path(board_folder: str | Path, entry_id: str) -> Path:
    return Path(board_folder) / VERIFICATIONS / f"{entry_id}.json"


def status(board_folder: str | Path, entry_id: str, submission_folder: str | Path) -> dict:
    """{"verified": True, "date", "n", "fraction", "tolerance", ...} when the entry's verification
    record says verified and the submission's files are still the ones verified; else
    {"verified": False, "reason": ...}."""
    path = record_path(board_folder, entry_id)
    if not path.is_file():
        return {"verified": False, "reason": "no verification record"}
    try:
        rec = read(path, f"{VERIFICATIONS}/{path.name}")
        hashes, verified = rec["submission_sha256"], rec["verified"]
        if not (isinstance(hashes, dict) and hashes and all(isinstance(v, str) for v in hashes.values())):
            raise TypeError
    except Invalid as err:
        return {"verified": False, "reason": f"unreadable verification record ({err})"}
    except (TypeError, KeyError):
        return {"verified": False, "reason": "malformed verification record"}
    if rec.get("entry") != entry_id:
        return {"verified": False, "reason": f"the record is for {ascii(rec.get('entry'))}, not this entry"}
    if not all(isinstance(rec.get(k), (int, float)) for k in ("n_documents", "fraction", "tolerance")):
        return {"verified": False, "reason": "malformed verification record"}
    if verified is not True:
        reasons = rec.get("reasons") if isinstance(rec.get("reasons"), list) else ["verification failed"]
        return {"verified": False, "reason": "; ".join(map(str, reasons))}
    folder = Path(submission_folder)
    for name, digest in hashes.items():
        try:
            if sha256(confined(folder, name, name)) != digest:
                return {"verified": False, "reason": f"{name} changed since it was verified"}
        except Invalid:
            return {"verified": False, "reason": f"{name} is gone since it was verified"}
    return {"verified": True, "date": rec.get("date"), "n": rec.get("n_documents"), "fraction": rec.get("fraction"),
            "tolerance": rec.get("tolerance"), "seed": rec.get("seed"), "replayed": rec.get("replayed"),
            "checkpoint_sha256": rec.get("checkpoint_sha256")}


# ----------------------------------------------------------------------------- the work

def verify(submission_folder: str | Path, board: dict, model_path: Optional[str] = None, *, fraction: float = 0.1,
           minimum: int = 20, seed: int = 0, tolerance: float = TOLERANCE, replay: bool = False,
           original: Optional[str] = None, work: Optional[str | Path] = None, overwrite: bool = False,
           progress: bool = True) -> dict:
    """Verify one submission of `board` (from `load_board`); the record, also written to
    BOARD/verifications/<entry>.json. A failed check is a record with verified false and its
    reasons; bad arguments and an invalid submission are errors."""
    _check_args(model_path, fraction=fraction, minimum=minimum, tolerance=tolerance, replay=replay, original=original)
    folder = Path(submission_folder)
    target = guard_output(record_path(board["_folder"], folder.name), overwrite, what="a verification record")
    problems, entry = validate(folder, board)
    if problems:
        more = f" (and {len(problems) - 1} more; see `mrd-bench leaderboard validate`)" if len(problems) > 1 else ""
        raise DataError(f"{folder} is not a valid submission, so it cannot be verified: {problems[0]}{more}")
    start = time.perf_counter()
    hashes = submission_hashes(folder)
    sampled = sample_documents(board, fraction=fraction, minimum=minimum, seed=seed)
    indices = doc_indices(board, _submitted_rows(folder, board), sampled)
    run = _rerun(folder.name, entry.record, board, indices, model_path, replay=replay, original=original,
                 work=work, progress=progress)
    result = compare(board, sampled, entry.values, run["ours"], tolerance, entry.nonmembers, run["ours_nonmembers"])
    final = entry.record["model_hash"].get("final")
    reasons = ([] if run["sha256"] == final else
               [f"weights sha256 {run['sha256'][:12]}… is not the run record's final hash {str(final)[:12]}…"])
    reasons += result["reasons"]
    rec = {"schema_version": 1, "board": board["name"], "entry": folder.name, "verified": not reasons,
           "reasons": reasons, "date": now(),
           "tolerance": tolerance, "tolerance_kind": "absolute, per value", "seed": seed, "fraction": fraction,
           "minimum": minimum, "n_documents": sum(len(v) for v in sampled.values()),
           "n_values": sum(m["n"] for m in result["per_metric"].values()),
           "sampled": {t["task"]: [sid for split, _ in _task_splits(board, t) for sid in sampled[split]]
                       for t in board["tasks"]},
           "max_abs_diff": {k: v["max_abs_diff"] for k, v in result["per_metric"].items()},
           "per_metric": result["per_metric"], "mismatches": result["mismatches"][:100],
           "checkpoint": run["checkpoint"], "checkpoint_sha256": run["sha256"], "record_final_sha256": final,
           "hash_match": run["sha256"] == final, "replayed": replay, "replay": run["replay"],
           "submission_sha256": hashes, "eval": {**board["eval"], "dtype": "float32", "batch_size": BATCH_SIZE},
           "wall_time_s": round(time.perf_counter() - start, 1), **_provenance()}
    write_json(target, rec)
    return rec


def _submitted_rows(folder: Path, board: dict) -> dict[str, list]:
    sub = read(confined(folder, SUBMISSION_FILE, SUBMISSION_FILE), SUBMISSION_FILE)
    return {t["task"]: read(confined(folder, sub["samples"][t["task"]], t["task"]), t["task"], finite=False, lines=True)
            for t in board["tasks"]}


def _rerun(entry_id: str, record: dict, board: dict, indices: dict[str, list[int]], model_path: Optional[str], *,
           replay: bool, original: Optional[str], work, progress: bool) -> dict:
    """(Replay, then) hash and re-evaluate the checkpoint: its path, sha256, the replay's facts and
    the re-evaluated rows (task -> sample id -> row)."""
    from tqdm import tqdm

    steps = tqdm(total=3 if replay else 2, desc=f"verify {entry_id}", unit="step", disable=not progress)
    with tempfile.TemporaryDirectory(prefix="mrd_verify_") as scratch:
        space = Path(work) / entry_id if work else Path(scratch)
        replayed = None
        if replay:
            steps.set_postfix_str("replay")
            model_path, replayed = _replay(record, board, original, space, progress)
            steps.update()
        steps.set_postfix_str("hash")
        digest = _hash(model_path)
        steps.update()
        steps.set_postfix_str("evaluate")
        ours, ours_nonmembers = _evaluate(model_path, board, indices, space / "eval")
        steps.update()
    steps.close()
    return {"checkpoint": str(model_path), "sha256": digest, "replay": replayed, "ours": ours,
            "ours_nonmembers": ours_nonmembers}


def _check_args(model_path, *, fraction, minimum, tolerance, replay, original) -> None:
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise ConfigError(f"--fraction must lie in (0, 1] (the share of the board's documents re-evaluated); "
                          f"got {fraction!r}.")
    if not (isinstance(minimum, int) and minimum >= 1):
        raise ConfigError(f"--min-docs must be a whole number >= 1; got {minimum!r}.")
    if not (isinstance(tolerance, (int, float)) and math.isfinite(tolerance) and tolerance >= 0):
        raise ConfigError(f"--tolerance must be a finite number >= 0 (an absolute difference); got {tolerance!r}.")
    if replay and not original:
        raise ConfigError("--replay needs --original ORIGINAL: the board's original model, the checkpoint the "
                          "run record starts from.")
    if replay and model_path:
        raise ConfigError("give either --model CHECKPOINT (verify it) or --replay --original ORIGINAL (replay the "
                          "run record, then verify that checkpoint), not both.")
    if not replay and not model_path:
        raise ConfigError("--model CHECKPOINT is missing: the submitted unlearned checkpoint (or --replay "
                          "--original ORIGINAL to remake it from the run record).")
    from mrd_bench.audit import safe_model
    from mrd_bench.models import check_model_path

    check_model_path(str(original if replay else model_path))
    if not replay:  # the submitter's checkpoint: safetensors only, nothing of it is ever unpickled
        safe_model(Path(model_path), "--model", str(model_path))


def _hash(model_path: str) -> str:
    from mrd_bench.models import load_model, weights_hash

    model, _ = load_model(str(model_path))
    return weights_hash(model)


def _replay(record: dict, board: dict, original: str, space: Path, progress: bool) -> tuple[str, dict]:
    """Replay the run record from `original` (its hash must be the board's) into `space`: the
    record's model path points at `original`, its data at this machine's copy, and its sampler
    scores (the MRD sampler's) are written beside it, since the record's paths are the submitter's."""
    from mrd_bench.io import write_jsonl
    from mrd_bench.unlearn import Inputs, replay

    found = _hash(original)
    if found != board["original_model"]["weights_sha256"]:
        raise ConfigError(f"--original {original!r} has weights sha256 {found[:12]}…, not the board's original model "
                          f"({board['original_model']['weights_sha256'][:12]}…); make it with "
                          f"`{board['original_model']['how']}`.")
    space.mkdir(parents=True, exist_ok=True)
    inputs = {**record["inputs"], "model": str(original), "data_dir": None, "scores": None}
    if record.get("sampler_scores") is not None:
        try:
            ids = Inputs(**inputs).load(inputs["forget"])["sample_id"]
        except TypeError as err:
            raise DataError(f"the run record's inputs are not `mrd-bench unlearn`'s ({err}); it cannot be "
                            "replayed.") from None
        scores = space / "sampler_scores.jsonl"
        write_jsonl(scores, [{"sample_id": sid, "score": s} for sid, s in zip(ids, record["sampler_scores"])])
        inputs["scores"] = str(scores)
    write_json(space / RUN_RECORD, {**record, "inputs": inputs})
    start = time.perf_counter()
    out, new, old = replay(str(space / RUN_RECORD), space / "checkpoint", overwrite=True, progress=progress)
    return str(out), {"original": str(original), "original_sha256": found, "checkpoint": str(out),
                      "final_sha256": new["model_hash"]["final"], "record_final_sha256": old["model_hash"]["final"],
                      "matches_record": new["model_hash"]["final"] == old["model_hash"]["final"],
                      "wall_time_s": round(time.perf_counter() - start, 1)}


def _evaluate(model_path: str, board: dict, indices: dict[str, list[int]], out: Path) -> tuple[dict, dict]:
    """The board's tasks on `indices` only (lm-eval's --samples), with the board's eval settings;
    task -> sample id -> lm-eval's samples row, for the members and for the non-members."""
    from mrd_bench.lmeval.run import evaluate

    cfg = board["eval"]
    metadata = {**cfg["metadata"], "difficulty": str(Path(board["_folder"]) / board["annotation"]["path"])}
    rows = evaluate(model_path, [t["task"] for t in board["tasks"]], metadata, out,
                    chat_template=bool(cfg.get("apply_chat_template")), batch_size=BATCH_SIZE,
                    gen_kwargs=cfg.get("gen_kwargs"), samples=indices)["samples"]
    ours, ours_nonmembers = {}, {}
    for task in board["tasks"]:
        if not rows.get(task["task"]):
            raise DataError(f"lm-eval gave no samples for {task['task']}; see {out / 'lm_eval.log'}.")
        ours[task["task"]], ours_nonmembers[task["task"]], _ = documents(rows[task["task"]], task["task"])
    return ours, ours_nonmembers


def _provenance() -> dict:
    from mrd_bench.provenance import hardware, versions

    return {"versions": versions(), "hardware": hardware()}
