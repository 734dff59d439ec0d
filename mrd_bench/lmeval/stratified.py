"""What every stratified (`*_mrd`) task shares: documents joined to their difficulty
annotation, per-document values spread over overall / per-bin / reweighted metric keys,
and the aggregations lm-eval calls through `!function`.

A document carries `mrd` (its MRD under the original model), `mrd_bin`, `bin_weight` (its
bin's share in the annotation's reference set) and `bin_weights` (every bin's share). Every
metric M is reported as M, M_easy, M_medium, M_hard and M_reweighted (Σ_b w_b · M_b), plus
n_easy, n_medium, n_hard per task; the aggregations are in mrd_bench.lmeval.aggregations.
Unannotated documents get bin "" and weight 0 (non-members of a membership test).
"""
from __future__ import annotations

from pathlib import Path
from mrd_bench.annotate import read_annotation
from mrd_bench.errors import ConfigError, DataError
from mrd_bench.lmeval.aggregations import BINS

# the tasks' prompt templates (metadata `prompt_format`); models.PROMPT_FORMATS are how training formats a QA pair
TASK_PROMPTS = {"raw": "{question}", "qa": "Question: {question}\nAnswer:"}
# A shipped annotation covers these splits too (TOFU's smaller forget sets are tails of forget10).
COVERED_BY = {("tofu", "forget01"): "forget10", ("tofu", "forget05"): "forget10"}


def shipped_dir() -> Path:
    from mrd_bench.lmeval.paths import tasks_dir

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


def annotate_docs(docs: list[dict], benchmark: str, split: str, difficulty: str | None,
                  renormalize: bool = False) -> list[dict]:
    """Add mrd, mrd_bin, bin_weight(s), renormalize and annotation to each doc; a doc with no
    annotation is an error."""
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
             "bin_weight": weights[samples[d["sample_id"]]["bin"]], "bin_weights": dict(weights),
             "renormalize": bool(renormalize), "annotation": str(path),
             "difficulty_metric": annotation.get("metric", "mrd")} for d in docs]


def first_n(rows, n, what: str):
    """The first n rows of a dataset (the prefix a shipped annotation covers)."""
    if int(n) < 1:
        raise ConfigError(f"--metadata n must be a positive number of {what}, not {n}.")
    return rows.select(range(min(int(n), len(rows))))


def prompt_text(question: str, prompt_format: str) -> str:
    """The prompt text: `raw` (TOFU's convention, the question alone: with --apply_chat_template it is
    the user turn, as `mrd-bench finetune` and `score` train and score) or `qa` ("Question: ...\\nAnswer:")."""
    if prompt_format not in TASK_PROMPTS:
        raise ConfigError(f"unknown prompt_format {prompt_format!r} in --metadata; choose one of "
                          f"{', '.join(TASK_PROMPTS)}.")
    return TASK_PROMPTS[prompt_format].format(question=question)


def generation(results: list) -> str:
    """The generated text of a generate_until result."""
    return results[0] if isinstance(results[0], str) else results[0][0]


def item(value, doc: dict, **extra) -> dict:
    """What a document gives a metric's per-bin and reweighted keys: its value, its bin ("" for a
    non-member), the annotation's reference bin shares, and whether to renormalise."""
    return {"value": value, "bin": doc["mrd_bin"], "weights": doc["bin_weights"],
            "renormalize": bool(doc["renormalize"]), **extra}


def keys(metric: str) -> list[str]:
    return [metric, *(f"{metric}_{b}" for b in BINS), f"{metric}_reweighted"]


def spread(metric: str, value: float, doc: dict, *, overall_item: bool = False, **extra) -> dict:
    """One document's value under every key of `metric`: M gets the plain value (lm-eval's mean,
    with its stderr) or, with `overall_item` (where some documents are not scored), the item;
    M_easy, M_medium, M_hard and M_reweighted get the item, and their aggregations pick by bin."""
    it = item(value, doc, **extra)
    return {metric: it if overall_item else value, **{key: it for key in keys(metric)[1:]}}


def counts(doc: dict) -> dict:
    """n_easy, n_medium, n_hard: each aggregation counts the documents of its bin."""
    return {f"n_{b}": doc["mrd_bin"] for b in BINS}
