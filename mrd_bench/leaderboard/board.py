"""A leaderboard's definition: `leaderboards/<board>/board.json` (schema `board-1.json`).

It names the benchmark and forget split, the original model (name and weights hash), the
difficulty annotation (path beside the board file, sha256, bin edges), the per-split sample
ids every submission must cover, the lm-eval tasks and their metrics (each with a direction),
the primary and utility metrics, and the bootstrap settings. Nothing here is specific to a
benchmark: the metric ids are `task/metric`.
"""
from __future__ import annotations

from pathlib import Path

from mrd_bench.annotate import read_annotation
from mrd_bench.errors import ConfigError
from mrd_bench.leaderboard.untrusted import Invalid, read, schema_problems, sha256
from mrd_bench.metrics.privleak import FALLBACK_AUC_REF

BOARD_FILE = "board.json"


def board_file(path: str | Path) -> Path:
    path = Path(path)
    return path / BOARD_FILE if path.is_dir() else path


def metrics(board: dict) -> list[dict]:
    """Every metric of the board: id `task/metric`, task, split, direction, label, whether it is
    stratified (metrics on the annotated forget split are) and its statistic (`mean`; or `auc` /
    `privleak`, which score the members against the task's non-member split)."""
    out = []
    for task in board["tasks"]:
        for m in task["metrics"]:
            out.append({"id": f"{task['task']}/{m['name']}", "task": task["task"], "name": m["name"],
                        "split": task["split"], "direction": m["direction"], "label": m["label"],
                        "range": list(m["range"]), "stratified": task["split"] == "forget",
                        "statistic": m.get("statistic", "mean"),
                        **({"auc_ref": FALLBACK_AUC_REF} if m.get("statistic") == "privleak" else {}),
                        **({"nonmember_split": task["nonmember_split"]} if "nonmember_split" in task else {})})
    return out


def load_board(path: str | Path) -> dict:
    """The board definition, checked against its schema, its annotation file (present, with the
    sha256 and bin edges it states) and itself (every metric id and split it names exists)."""
    file = board_file(path)
    if not file.is_file():
        raise ConfigError(f"no leaderboard definition {str(file)!r}; give a board folder holding {BOARD_FILE} "
                          "(e.g. leaderboards/fictitious_forget20).")
    try:
        board = read(file, str(file))
    except Invalid as err:
        raise ConfigError(str(err)) from None
    problems = schema_problems(board, "board", str(file))
    if problems:
        raise ConfigError(problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    folder = file.parent
    ann_path = folder / board["annotation"]["path"]
    if not ann_path.is_file():
        raise ConfigError(f"{file}: annotation/path: {board['annotation']['path']!r}: no such file beside the board")
    if sha256(ann_path) != board["annotation"]["sha256"]:
        raise ConfigError(f"{file}: annotation/sha256: the file {str(ann_path)!r} has another sha256; the board "
                          "and its annotation disagree (re-make the board with `mrd-bench leaderboard new`).")
    annotation = read_annotation(ann_path)
    if list(annotation["bin_edges"]) != list(board["annotation"]["bin_edges"]):
        raise ConfigError(f"{file}: annotation/bin_edges differ from the annotation file's")
    missing = [s for s in board["splits"]["forget"] if s not in annotation["samples"]]
    if missing:
        raise ConfigError(f"{file}: splits/forget: {len(missing)} ids have no annotation (e.g. {missing[0]})")
    ids = {m["id"] for m in metrics(board)}
    for key in ("primary_metric", "utility_metric"):
        if board[key] not in ids:
            raise ConfigError(f"{file}: {key}: {board[key]!r} is not one of the board's metrics {sorted(ids)}")
    for task in board["tasks"]:
        for key in ("split", "nonmember_split"):
            if key in task and task[key] not in board["splits"]:
                raise ConfigError(f"{file}: tasks/{task['task']}/{key}: {task[key]!r} is not a split of the board")
    if next(m for m in metrics(board) if m["id"] == board["primary_metric"])["split"] != "forget":
        raise ConfigError(f"{file}: primary_metric: {board['primary_metric']!r} must be a forget-split metric")
    for m in metrics(board):
        if not m["range"][0] < m["range"][1]:
            raise ConfigError(f"{file}: tasks/{m['task']}/metrics/{m['name']}/range: {m['range']}: give [low, high] "
                              "with low < high")
    for m in metrics(board):
        where = f"{file}: tasks/{m['task']}/metrics/{m['name']}"
        if m["statistic"] != "mean" and not (m["stratified"] and "nonmember_split" in m):
            raise ConfigError(f"{where}/statistic: {m['statistic']!r} scores members against non-members; give the "
                              "task split 'forget' and a nonmember_split (e.g. 'holdout')")
    rule = board["utility_rule"]
    utility = next(m for m in metrics(board) if m["id"] == board["utility_metric"])
    if rule["kind"] == "floor" and utility["direction"] != "higher":
        raise ConfigError(f"{file}: utility_rule: a floor needs a higher-is-better utility metric; "
                          f"{utility['id']!r} is lower-is-better (use {{\"kind\": \"pareto\"}})")
    return {**board, "_folder": str(folder), "_annotation": annotation}


def define_board(folder: str | Path, *, name: str, title: str, description: str, benchmark: str, forget_split: str,
                 original_name: str, original_hash: str, original_how: str, annotation: str | Path,
                 splits: dict[str, list[str]], tasks: list[dict], eval_args: dict, primary: str, utility: str,
                 utility_rule: dict, max_entries: int = 200, B: int = 1000, seed: int = 0,
                 notes: list[str] = ()) -> dict:
    """A board definition from its parts; the annotation file must already lie in `folder`."""
    folder = Path(folder)
    ann = Path(annotation)
    if ann.parent.resolve() != folder.resolve():
        raise ConfigError(f"the annotation {str(ann)!r} must lie in the board folder {str(folder)!r}")
    data = read_annotation(ann)
    board = {"schema_version": 1, "name": name, "title": title, "description": description,
             "benchmark": benchmark, "forget_split": forget_split,
             "original_model": {"name": original_name, "weights_sha256": original_hash, "how": original_how},
             "annotation": {"path": ann.name, "sha256": sha256(ann), "bin_edges": data["bin_edges"],
                            "metric": data.get("metric", "mrd"),
                            **{k: data[k] for k in ("signal", "signal_label", "higher_is") if k in data}},
             "eval": eval_args, "splits": splits, "tasks": tasks, "primary_metric": primary,
             "utility_metric": utility, "utility_rule": utility_rule, "max_entries": max_entries,
             "bootstrap": {"B": B, "seed": seed}, "notes": list(notes)}
    problems = schema_problems(board, "board", name)
    if problems:
        raise ConfigError(problems[0])
    return board
