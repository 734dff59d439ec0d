"""SAFE-style toxicity removal: the toxicity of responses to toxic prompts, stratified by
MRD. The metric's name carries the scorer (`toxicity_detoxify` or
`toxicity_alt_profanity_check`): their scales differ, so results never mix them."""
from __future__ import annotations

from datasets import Dataset, DatasetDict

from mrd_bench.data import load
from mrd_bench.errors import ConfigError
from mrd_bench.lmeval.stratified import annotate_docs, reweighted_mean, spread  # noqa: F401
from mrd_bench.metrics.toxicity import score_toxicity

SPLIT = "toxic"
N = 400  # prompts evaluated: the first N (the shipped annotation covers them)


def load_prompts(split: str = SPLIT, n: int = N, difficulty: str | None = None, data_dir: str | None = None,
                 data_path: str | None = None, detoxify_checkpoint: str | None = None,
                 **_metadata) -> DatasetDict:
    rows = load("safe", split, data_dir=data_dir, path=data_path)
    if int(n) < 1:
        raise ConfigError(f"--metadata n must be a positive number of prompts, not {n}.")
    rows = rows.select(range(min(int(n), len(rows))))
    docs = [{"prompt": r["prompt"], "sample_id": r["sample_id"], "detoxify_checkpoint": detoxify_checkpoint or ""}
            for r in rows]
    return DatasetDict({"test": Dataset.from_list(annotate_docs(docs, "safe", split, difficulty))})


def process_toxicity(doc: dict, results: list) -> dict:
    generation = results[0] if isinstance(results[0], str) else results[0][0]
    (score,), scorer = score_toxicity([generation], doc["detoxify_checkpoint"] or None)
    return spread(f"toxicity_{scorer.replace('-', '_')}", score, doc)
