"""`mrd-bench compare-difficulty`: agreement of two difficulty scorings, with a scatter plot."""
from __future__ import annotations

from dataclasses import dataclass

from mrd_bench.commands import no_progress_opt, overwrite_opt
from mrd_bench.config import opt


@dataclass(frozen=True)
class Config:
    a: str = opt(None, "scores file (MRD or CUD)", positional=True)
    b: str = opt(None, "scores file (MRD or CUD)", positional=True)
    out: str = opt("compare_difficulty", "output folder")
    resamples: int = opt(1000, "bootstrap resamples")
    seed: int = opt(0, "seed of the bootstrap")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def run(c: Config) -> None:
    from mrd_bench.compare import compare
    from mrd_bench.io import read_json

    out = compare(c.a, c.b, c.out, overwrite=c.overwrite, resamples=c.resamples, seed=c.seed)
    result = read_json(out / "compare.json")
    s = result["spearman"]
    print(f"{result['n']} samples: Spearman {s['value']:+.3f} [{s['ci95'][0]:+.3f}, {s['ci95'][1]:+.3f}] "
          f"(oriented, + = agree on easy: {s['oriented']:+.3f}); Kendall {result['kendall']['value']:+.3f}; "
          f"bins Cohen's kappa {result['cohen_kappa_bins']:.3f}. Plot and JSON in {out}")
