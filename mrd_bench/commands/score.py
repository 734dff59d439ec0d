"""`mrd-bench score`: per-sample difficulty (MRD by one of its estimators, or CUD) of a split."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mrd_bench.commands import main_print, no_progress_opt, overwrite_opt
from mrd_bench.commands._data import DataFlags, limited, load_split
from mrd_bench.config import opt, part
from mrd_bench.errors import MrdBenchError
from mrd_bench.models import EMBEDDED


@dataclass(frozen=True)
class Config:
    model: str = opt(EMBEDDED, "hub id, checkpoint folder, or the embedded model")
    data: DataFlags = part(DataFlags)
    metric: str = opt("mrd", "mrd or cud (circuit-guided unlearning difficulty)")
    labels: Optional[str] = opt(None, "CUD: easy/hard labels from `mrd-bench cud-labels` on the same model and split")
    baseline: str = opt("corrupt", "CUD: EAP-IG baseline, corrupt (another entity's name) or zero (zero ablation)")
    steps: int = opt(5, "CUD: EAP-IG interpolation steps m")
    heads: bool = opt(False, "CUD: attention sources per head (default: per layer)")
    top_edges: int = opt(75, "CUD: edges kept per circuit n")
    distance: str = opt("cosine", "CUD: cosine, jaccard or hamming")
    folds: int = opt(5, "CUD: cross-fitting folds k")
    estimator: str = opt("definition", "definition, alg1 or hutchinson")
    sigma: Optional[float] = opt(None, "noise scale σ (default: definition/hutchinson 1e-4, alg1 1e-5 as in the "
                                 "paper)")
    k: Optional[int] = opt(None, "draws K (default: definition 16 antithetic pairs, alg1 32, hutchinson 8 probes)",
                           flag=("--k", "--draws"))
    seed: int = opt(0, "seed of the noise draws (CUD: of the corruptions and folds)")
    eps: float = opt(1e-3, "clamp |log p| up to eps")
    batch_size: Optional[int] = opt(None, "samples per batch (default: 16 for MRD, 8 for CUD)")
    chunk_batches: int = opt(4, "batches per resumable chunk")
    max_length: int = opt(512, "truncate samples to this many tokens")
    score_prompt: bool = opt(False, "score the prompt tokens too")
    no_baselines: bool = opt(False, "skip NLL, Min-K%%, gradient norm, rare words")
    bins: int = opt(3, "quantile difficulty bins")
    dtype: str = opt("float32", "float32, bfloat16 or float16 (scoring runs in float32)")
    trust_remote_code: bool = opt(False, "run the model repo's own code")
    out: str = opt("scores.jsonl", "scores file to write")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def run(config: Config) -> None:
    from mrd_bench.io import guard_output
    from mrd_bench.models import torch_dtype

    c = config
    guard_output(c.out, c.overwrite, what="scores", inputs=c.data.read_paths(model=c.model, labels=c.labels))
    torch_dtype(c.dtype)
    if c.metric == "cud":
        return _score_cud(c)
    if c.metric != "mrd":
        raise MrdBenchError(f"--metric must be mrd or cud; got {c.metric!r}.")
    from mrd_bench.models import load_model
    from mrd_bench.pipeline import encode_split, targets
    from mrd_bench.provenance import data_hash, record
    from mrd_bench.scorers.runner import ScoreConfig
    from mrd_bench.scorers.stream import score_to_file

    cfg = ScoreConfig(estimator=c.estimator, sigma=c.sigma, draws=c.k, seed=c.seed, eps=c.eps,
                      batch_size=16 if c.batch_size is None else c.batch_size, chunk_batches=c.chunk_batches,
                      score_prompt=c.score_prompt, baselines=not c.no_baselines, bins=c.bins)
    cfg.build()  # validates σ before any loading
    dataset = _split(c)
    model, tokenizer = load_model(c.model, dtype=c.dtype, trust_remote_code=c.trust_remote_code)
    items = encode_split(tokenizer, dataset, max_length=c.max_length, score_prompt=c.score_prompt)
    meta = record(benchmark=c.data.benchmark, split=c.data.split, subset_authors=c.data.subset_authors, model=c.model,
                  data_hash=data_hash(dataset))
    out = score_to_file(model, items, dataset["sample_id"], targets(dataset), cfg, c.out, meta=meta,
                        overwrite=c.overwrite, progress=not c.no_progress)
    main_print(f"Wrote {len(dataset)} scores to {out} (bin edges in {out.with_name(out.stem + '.meta.json')})")


def _split(c: Config):
    dataset = limited(load_split(c.data), c.data)
    if len(dataset) < c.bins:
        raise MrdBenchError(f"--bins {c.bins} needs at least {c.bins} samples; {c.data.benchmark}/{c.data.split} "
                            f"has {len(dataset)} here. Use fewer bins.")
    return dataset


def _score_cud(c: Config) -> None:
    from mrd_bench.data.source import prompt_and_target
    from mrd_bench.models import load_model
    from mrd_bench.pipeline import encode_split
    from mrd_bench.provenance import data_hash, record
    from mrd_bench.scorers.corrupt import corrupt, entity_pool
    from mrd_bench.scorers.cud_run import CudConfig, read_labels, score_cud_to_file
    from mrd_bench.scorers.eap import check_architecture
    from mrd_bench.scorers.runner import check_finite_weights

    cfg = CudConfig(baseline=c.baseline, steps=c.steps, heads=c.heads, top_edges=c.top_edges, distance=c.distance,
                    folds=c.folds, seed=c.seed, batch_size=8 if c.batch_size is None else c.batch_size,
                    chunk_batches=c.chunk_batches, bins=c.bins)
    if not c.labels:
        raise MrdBenchError("--metric cud needs --labels (easy/hard samples from `mrd-bench cud-labels` on the "
                            "same original model and split).")
    read_labels(c.labels)
    dataset = _split(c)
    model, tokenizer = load_model(c.model, dtype="float32", trust_remote_code=c.trust_remote_code)
    check_architecture(model)
    check_finite_weights(model)
    items = encode_split(tokenizer, dataset, max_length=c.max_length)
    pairs = [prompt_and_target(row) for row in dataset]
    if cfg.baseline == "corrupt":
        pool = entity_pool([p for p, _ in pairs])
        done = [corrupt(tokenizer, p, t, e, pool, seed=cfg.seed, max_length=c.max_length)
                for (p, t), e in zip(pairs, items)]
    else:
        done = [(None, {"baseline": "zero"}) for _ in items]
    meta = record(benchmark=c.data.benchmark, split=c.data.split, subset_authors=c.data.subset_authors, model=c.model,
                  data_hash=data_hash(dataset))
    out = score_cud_to_file(model, items, dataset["sample_id"], [d[0] for d in done], [d[1] for d in done],
                            c.labels, cfg, c.out, meta=meta, overwrite=c.overwrite, progress=not c.no_progress)
    main_print(f"Wrote {len(dataset)} CUD scores to {out} (bin edges and settings in "
               f"{out.with_name(out.stem + '.meta.json')}; attributions in {out.with_name(out.stem + '.attributions.npz')})")
