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


def test_non_finite_numbers_are_written_as_null_with_their_reason_and_read_back(tmp_path):
    import json
    import math

    import numpy as np

    from mrd_bench.io import read_json, write_jsonl

    obj = {"rho": float("nan"), "ci": [0.1, float("inf")], "bins": {"a/b": np.float32("-inf")}, "n": 3}
    text = write_json(tmp_path / "r.json", obj).read_text()
    parsed = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert parsed["rho"] is None and parsed["ci"] == [0.1, None] and parsed["bins"] == {"a/b": None}
    assert parsed["null_reasons"] == {"/rho": "not a finite number (nan)", "/ci/1": "not a finite number (inf)",
                                      "/bins/a~1b": "not a finite number (-inf)"}
    back = read_json(tmp_path / "r.json")
    assert math.isnan(back["rho"]) and back["ci"] == [0.1, math.inf] and back["bins"] == {"a/b": -math.inf}
    assert "null_reasons" not in back and back["n"] == 3
    write_jsonl(tmp_path / "r.jsonl", [{"score": float("nan")}, {"score": 1.0}])
    assert (tmp_path / "r.jsonl").read_text().splitlines() == [
        '{"score": null, "null_reasons": {"/score": "not a finite number (nan)"}}', '{"score": 1.0}']


def test_devices_fifos_and_inputs_are_never_outputs(tmp_path):
    import os

    from mrd_bench.errors import ConfigError
    from mrd_bench.io import check_output_path

    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "data.jsonl").write_text("{}\n")
    os.symlink(tmp_path / "data.jsonl", tmp_path / "link.jsonl")
    for path, words in ((tmp_path / "fifo", "is a FIFO"), ("/dev/null", "is a character device"),
                        (tmp_path / "link.jsonl", "is --data-path"), (tmp_path / "data.jsonl", "is --data-path")):
        with pytest.raises(ConfigError, match=words):
            check_output_path(path, inputs={"--data-path": tmp_path / "data.jsonl"})
    with pytest.raises(ConfigError, match="holds --data-path"):
        check_output_path(tmp_path, folder=True, inputs={"--data-path": tmp_path / "data.jsonl"})
    assert (tmp_path / "data.jsonl").read_text() == "{}\n"
