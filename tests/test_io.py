from pathlib import Path

import pytest

from mrd_bench.errors import OutputExistsError
from mrd_bench.io import guard_output, write_json, write_text


def test_atomic_write_leaves_only_the_file(tmp_path):
    write_text(tmp_path / "a" / "x.txt", "hello")
    write_json(tmp_path / "a" / "y.json", {"k": 1})
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.txt", "y.json"]
    assert (tmp_path / "a" / "x.txt").read_text() == "hello"


def test_guard_refuses_existing_results_unless_overwrite(tmp_path):
    (tmp_path / "out").mkdir()
    guard_output(tmp_path / "out", overwrite=False, folder=True)  # empty folder: fine
    (tmp_path / "out" / "scores.jsonl").write_text("{}")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        guard_output(tmp_path / "out", overwrite=False, folder=True)
    with pytest.raises(OutputExistsError):
        guard_output(tmp_path / "out" / "scores.jsonl", overwrite=False)
    assert guard_output(tmp_path / "out", overwrite=True, folder=True) == tmp_path / "out"


@pytest.mark.parametrize("case, words", [("a folder", "is a folder"), ("under a file", "which is a file"),
                                         ("read-only", "cannot be written")])
def test_unwritable_output_paths_are_refused_before_any_work(tmp_path, case, words):
    from mrd_bench.errors import ConfigError
    from mrd_bench.io import check_output_path

    (tmp_path / "file.txt").write_text("notes")
    path = {"a folder": tmp_path, "under a file": tmp_path / "file.txt" / "scores.jsonl",
            "read-only": Path("/proc/mrd_bench_scores.jsonl")}[case]
    with pytest.raises(ConfigError, match=words):
        check_output_path(path)
    assert (tmp_path / "file.txt").read_text() == "notes"


def test_atomic_write_gives_an_ordinary_file_mode(tmp_path):
    import os

    from mrd_bench.io import write_text

    umask = os.umask(0o022)
    try:
        path = write_text(tmp_path / "r.json", "{}")
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644
