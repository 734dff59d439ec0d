"""`mrd-bench demo`: fine-tune the embedded model, score MRD, write a report and a leaderboard."""
from __future__ import annotations

from dataclasses import dataclass

from mrd_bench.commands import no_progress_opt
from mrd_bench.config import part
from mrd_bench.demo import DemoConfig


@dataclass(frozen=True)
class Config:
    demo: DemoConfig = part(DemoConfig)
    no_progress: bool = no_progress_opt()


def output(config: Config) -> str:
    return config.demo.out


def run(config: Config) -> None:
    from mrd_bench.demo import run_demo

    out = run_demo(config.demo, progress=not config.no_progress)
    print(f"Report: {out / 'report.md'}  (plot: {out / 'mrd.png'}, scores: {out / 'scores.jsonl'})")
    if (out / "board" / "index.html").is_file():
        print(f"Leaderboard: {(out / 'board' / 'index.html').resolve().as_uri()}")
