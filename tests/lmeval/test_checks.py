"""`mrd-bench eval`'s checks before lm-eval starts: what passes (the corpus has what fails)."""
import json
from pathlib import Path

import pytest

from mrd_bench.errors import ConfigError
from mrd_bench.lmeval.checks import check_batch_size, check_metadata, check_model_args, lm_eval_flags
from mrd_bench.lmeval.paths import our_task_names

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("board", sorted((ROOT / "leaderboards").glob("*/board.json")), ids=lambda p: p.parent.name)
def test_the_boards_metadata_fits_the_schema(board):
    spec = json.loads(board.read_text())["eval"]
    check_metadata({**spec["metadata"], "difficulty": "x.json", "renormalize": True}, spec["tasks"], our_task_names())


def test_a_key_only_lm_evals_own_tasks_read_passes_beside_them():
    check_metadata({"max_seq_lengths": [4096]}, ["ruler", "tofu_forget_mrd"], our_task_names())
    with pytest.raises(ConfigError, match="none of the tasks reads it"):
        check_metadata({"max_seq_lengths": [4096]}, ["tofu_forget_mrd"], our_task_names())


@pytest.mark.parametrize("value", ["auto", "auto:4", "1", "16", 8])
def test_lm_evals_batch_sizes_pass(value):
    check_batch_size(value)


def test_model_args_as_lm_eval_parses_them():
    ns = lm_eval_flags(["--model", "hf-mrd", "--model_args", "pretrained=x,dtype=bfloat16,max_length=256,"
                        "reuse_prefix=False,device_map=auto", "--tasks", "tofu_forget_mrd", "--limit", "0.5"])
    check_model_args(ns.model, ns.model_args)
    assert ns.limit == 0.5
    check_model_args("some-other-model-type", {})  # not a Hugging Face model: lm-eval's to check
