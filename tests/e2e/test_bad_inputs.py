"""Every bad input of the corpus (bad_inputs.py) gets one clear error line, exit code 2, no
traceback, and leaves its folder as it was. In-process, through the CLI's main(argv)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.e2e.bad_inputs import CASES, setup


def snapshot(folder: Path) -> dict[str, str]:
    """Every path under `folder` with a hash of its bytes (folders as '/', a FIFO as '|')."""
    return {str(p.relative_to(folder)): "/" if p.is_dir() else "|" if p.is_fifo() else
            hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*"))}


def test_the_corpus_is_large_and_distinct():
    assert len(CASES) >= 120
    assert len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_input(case, tmp_path, tiny_checkpoint, data_dir, monkeypatch, capsys):
    from mrd_bench.cli import main

    ctx = {"tmp": tmp_path, "model": tiny_checkpoint, "data": data_dir}
    if case["setup"]:
        setup(case["setup"], ctx)
    for key, value in case["env"].items():
        monkeypatch.setenv(key, value)
    argv = [a.format(**ctx) for a in case["argv"]]
    before = snapshot(tmp_path)
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}:\n{err[-2000:]}"
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if "mrd-bench: error:" in line]
    assert len(lines) == 1 and err.strip().splitlines()[-1] == lines[0], err[-2000:]
    for word in case["words"]:
        assert word in lines[0], lines[0]
    assert snapshot(tmp_path) == before, "the command changed its folder"


# ---- issue 26: a full disk is one line naming the path (the writer made to fail with ENOSPC) ----

@pytest.mark.parametrize("named", [True, False], ids=["error names its file", "error names no file"])
def test_no_space_left_is_one_line_naming_the_path(named, tmp_path, tiny_checkpoint, data_dir, monkeypatch, capsys):
    import errno
    import os

    import mrd_bench.scorers.stream
    from mrd_bench.cli import main

    out = tmp_path / "s.jsonl"

    def full_disk(path, *args, **kwargs):
        if named:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write() on a full disk raises it

    monkeypatch.setattr(mrd_bench.scorers.stream, "write_scores", full_disk)
    code = main(["score", "--model", str(tiny_checkpoint), "--benchmark", "fictitious", "--split", "forget10",
                 "--k", "1", "--no-baselines", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"mrd-bench: error: no space left on the device writing {str(out)!r} ("), last
    assert "bytes free there" in last and "run the same command to resume" in last
    assert (tmp_path / "s.jsonl.partial").is_dir()  # the scored rows stay for the resume
