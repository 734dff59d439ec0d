"""The command table: one module per command, each a frozen config whose fields carry their help,
and a parser built from them that loads only the command being run."""
import dataclasses
import subprocess
import sys

import pytest

from mrd_bench.cli import COMMANDS, build_parser
from mrd_bench.commands import load
from mrd_bench.config import from_args


def _configs():
    for name in COMMANDS:
        if name == "eval":
            continue
        module = load(name)
        if name == "leaderboard":
            for action, (config, run, _) in module.ACTIONS.items():
                yield f"{name} {action}", config, run
        else:
            yield name, module.Config, module.run


@pytest.mark.parametrize("name,config,run", list(_configs()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_command_is_a_frozen_config_with_help_on_every_field(name, config, run):
    assert dataclasses.is_dataclass(config) and config.__dataclass_params__.frozen, name
    assert callable(run)
    for f in dataclasses.fields(config):
        part = f.metadata.get("part")
        assert part or f.metadata.get("help"), f"{name}: --{f.name} has no help text"
        for g in dataclasses.fields(part) if part else ():
            assert g.metadata.get("help"), f"{name}: {part.__name__}.{g.name} has no help text"


def test_top_level_help_imports_no_torch():
    probe = subprocess.run([sys.executable, "-X", "importtime", "-m", "mrd_bench.cli", "--help"],
                           capture_output=True, text=True)
    assert probe.returncode == 0 and "unlearn" in probe.stdout
    imported = {line.split("|")[-1].strip() for line in probe.stderr.splitlines() if "|" in line}
    assert "torch" not in imported and not any(m.startswith("mrd_bench.commands.") for m in imported)


def _parse(argv):
    args = build_parser(argv[0]).parse_args(argv)
    return from_args(args.config, args)


def test_parts_take_their_flags_renamed_limited_and_with_command_defaults():
    c = _parse(["finetune", "--split", "retain90", "--out", "ckpt", "--max-length", "64"])
    assert c.inputs.forget == "retain90" and c.settings.max_length == 64 and c.out == "ckpt"
    assert c.loop.lr == 1e-5  # finetune's own default, not the unlearning loop's
    assert c.inputs.retain is None  # finetune does not offer --retain
    with pytest.raises(SystemExit):
        _parse(["finetune", "--split", "full", "--out", "x", "--retain", "retain90"])
    u = _parse(["unlearn", "--forget", "forget01", "--method", "npo", "--lr", "3e-5", "--out", "o", "--seed", "4"])
    assert (u.inputs.forget, u.settings.method, u.loop.lr, u.loop.seed) == ("forget01", "npo", 3e-5, 4)
    d = _parse(["difficulty-check", "--split", "forget01", "--scores", "s.jsonl"])
    assert d.scores == "s.jsonl" and d.inputs.scores is None  # the check's own --scores, not the unlearners'


def test_aliases_and_positionals():
    s = _parse(["score", "--benchmark", "tofu", "--split", "forget01", "--draws", "6"])
    assert s.k == 6 and s.data.benchmark == "tofu" and s.data.limit is None
    v = _parse(["leaderboard", "submit", "--board", "b", "--run", "r", "--name", "n"])
    assert (v.board, v.run_dir, v.name, v.overwrite) == ("b", "r", "n", False)
    a = _parse(["compare-difficulty", "x.jsonl", "y.jsonl", "--resamples", "10"])
    assert (a.a, a.b, a.resamples) == ("x.jsonl", "y.jsonl", 10)
