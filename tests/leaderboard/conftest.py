"""A fictitious-set board seeded end to end on the tiny model: MRD scores -> board definition ->
unlearn (GA uniform, GA mrd, NPO uniform) -> lm-eval through the stratified tasks -> submit."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.test_cli import mrd_bench

RUNS = [("ga", "uniform"), ("ga", "mrd"), ("npo", "uniform")]


@pytest.fixture(scope="session")
def seeded(tiny_checkpoint, tmp_path_factory) -> dict:
    from mrd_bench.leaderboard import fictitious
    from mrd_bench.models import load_model, weights_hash

    root = tmp_path_factory.mktemp("board_seed")
    scores = root / "scores.jsonl"
    proc = mrd_bench("score", "--model", str(tiny_checkpoint), "--benchmark", "fictitious", "--split", "forget20",
                     "--k", "2", "--sigma", "1e-2", "--no-baselines", "--no-progress", "--out", str(scores))
    assert proc.returncode == 0, proc.stderr
    model, _ = load_model(str(tiny_checkpoint))
    board = root / "board"
    fictitious.define(board, original=str(tiny_checkpoint), original_hash=weights_hash(model), original_how="test",
                      scores=scores, chat_template=False, B=300)
    fictitious.seed(board, str(tiny_checkpoint), scores, root / "work", RUNS, steps=2, batch_size=4, lr=5e-3,
                    progress=False)
    return {"root": root, "board": board, "scores": scores, "eval": root / "work" / "eval",
            "runs": root / "work" / "runs"}


@pytest.fixture()
def board_copy(seeded, tmp_path) -> Path:
    """A private copy of the seeded board, free to corrupt."""
    return Path(shutil.copytree(seeded["board"], tmp_path / "board"))
