"""SAFE-style toxicity removal: the toxicity of responses to toxic prompts, stratified by
MRD. The metric's name carries the scorer (`toxicity_detoxify` or
`toxicity_alt_profanity_check`): their scales differ, so results never mix them."""
from __future__ import annotations

from datasets import DatasetDict

from mrd_bench.data import load
from mrd_bench.lmeval import requests
from mrd_bench.lmeval.aggregations import *  # noqa: F401,F403  (the aggregations the YAMLs name)
from mrd_bench.lmeval.stratified import annotate_docs, counts, first_n, generation, spread
from mrd_bench.metrics.toxicity import choose_scorer, score_toxicity

requests.install()
SPLIT = "toxic"
N = 400  # prompts evaluated: the first N (the shipped annotation covers them)


def load_prompts(split: str = SPLIT, n: int = N, difficulty: str | None = None, data_dir: str | None = None,
                 data_path: str | None = None, detoxify_checkpoint: str | None = None,
                 renormalize: bool = False, **_metadata) -> DatasetDict:
    rows = first_n(load("safe", split, data_dir=data_dir, path=data_path), n, "prompts")
    scorer = choose_scorer(detoxify_checkpoint)  # once per run, not once per response
    docs = [{"prompt": r["prompt"], "sample_id": r["sample_id"], "detoxify_checkpoint": detoxify_checkpoint or "",
             "toxicity_scorer": scorer} for r in rows]
    return requests.dataset(annotate_docs(docs, "safe", split, difficulty, renormalize), f"safe.{split}")


def process_toxicity(doc: dict, results: list) -> dict:
    (score,), scorer = score_toxicity([generation(results)], doc["detoxify_checkpoint"] or None,
                                      scorer=doc["toxicity_scorer"])
    return {**spread(f"toxicity_{scorer.replace('-', '_')}", score, doc), **counts(doc)}
