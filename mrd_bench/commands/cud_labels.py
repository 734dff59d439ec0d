"""`mrd-bench cud-labels`: easy/hard samples for CUD's anchors, by the reference unlearners' vote."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from mrd_bench.commands import no_progress_opt, overwrite_opt
from mrd_bench.commands._data import DataFlags, limited, load_split
from mrd_bench.config import opt, part
from mrd_bench.cud_labels import LabelConfig


@dataclass(frozen=True)
class Config:
    model: str = opt(None, "the original (fine-tuned) model: a checkpoint folder or hub id", required=True)
    data: DataFlags = part(DataFlags)
    retain: Optional[str] = opt(None, "retain split (graddiff and po need one), e.g. retain90 for forget10")
    scores: Optional[str] = opt(None, "MRD scores of the split (cga samples by MRD); without it leave cga out")
    labels: LabelConfig = part(LabelConfig, renamed={"batch_size": "--unlearn-batch-size"})
    max_length: int = opt(512, "truncate samples to this many tokens")
    trust_remote_code: bool = opt(False, "run the model repo's own code")
    out: str = opt(None, "labels JSON to write", required=True)
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def run(c: Config) -> None:
    from mrd_bench.cud_labels import make_labels
    from mrd_bench.data import keep_authors, load
    from mrd_bench.io import guard_output, write_json
    from mrd_bench.models import load_model, weights_hash
    from mrd_bench.pipeline import encode_split
    from mrd_bench.provenance import data_hash, record
    from mrd_bench.unlearn import Settings, read_scores, refusal_items

    guard_output(c.out, c.overwrite, what="CUD labels", inputs=c.data.read_paths(model=c.model, scores=c.scores))
    cfg = c.labels
    dataset = limited(load_split(c.data), c.data)
    ids = list(dataset["sample_id"])
    scores = read_scores(c.scores, ids) if c.scores else None
    retain = None
    if c.retain:
        retain = keep_authors(load(c.data.benchmark, c.retain, data_dir=c.data.data_dir), c.data.benchmark,
                              c.data.subset_authors, c.data.data_dir, "error")
    model, tokenizer = load_model(c.model, dtype="float32", trust_remote_code=c.trust_remote_code)
    original_hash = weights_hash(model)
    items = encode_split(tokenizer, dataset, max_length=c.max_length)
    result = make_labels(model, items, ids, cfg,
                         retain=encode_split(tokenizer, retain, max_length=c.max_length) if retain else None,
                         refusals=refusal_items(tokenizer, dataset, c.data.benchmark, Settings(method="po"))
                         if "po" in cfg.method_list else None,
                         scores=scores, progress=not c.no_progress)
    write_json(c.out, {**result, **record(benchmark=c.data.benchmark, split=c.data.split, retain=c.retain,
                                          subset_authors=c.data.subset_authors, model=c.model,
                                          model_hash=original_hash, data_hash=data_hash(dataset), scores=c.scores)})
    kappa = result["agreement"]["fleiss_kappa"]
    print(f"Wrote CUD labels to {c.out}: {result['n_easy']} easy, {result['n_hard']} hard of {result['n']} "
          f"(Fleiss' kappa across {len(cfg.method_list)} unlearners: {kappa:.2f})")
