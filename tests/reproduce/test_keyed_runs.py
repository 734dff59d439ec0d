"""A stage's runs file belongs to its settings: rows written under other settings are moved aside,
never resumed as if they were this setting's (and never deleted)."""
import json

from mrd_bench.io import append_jsonl as _append
from mrd_bench.reproduce.common import keyed_runs as _keyed_runs


def test_rows_of_other_settings_are_moved_aside_not_mixed_in(tmp_path):
    path, done = _keyed_runs(tmp_path, {"lr": 2e-5})
    assert done == {}
    _append(path, {"run": "ga+uniform/seed-0", "x": 1})
    assert set(_keyed_runs(tmp_path, {"lr": 2e-5})[1]) == {"ga+uniform/seed-0"}  # same settings: resumed
    path, done = _keyed_runs(tmp_path, {"lr": 4e-5})
    assert done == {} and not path.exists()
    aside = [p for p in tmp_path.glob("runs.*.jsonl")]
    assert len(aside) == 1 and json.loads(aside[0].read_text())["x"] == 1
    assert json.loads((tmp_path / "runs.key.json").read_text()) == {"lr": 4e-5}


def test_an_unkeyed_runs_file_is_not_trusted(tmp_path):
    (tmp_path / "runs.jsonl").write_text(json.dumps({"run": "old"}) + "\n")
    _, done = _keyed_runs(tmp_path, {"lr": 2e-5})
    assert done == {} and (tmp_path / "runs.unkeyed.jsonl").is_file()


def test_per_sample_rows_are_keyed_the_same_way(tmp_path):
    path, _ = _keyed_runs(tmp_path, {"method": "ga"}, "rows", "sample_id")
    _append(path, {"sample_id": "tofu:1", "updates": 3})
    (tmp_path / "rows.jsonl").open("a").write('{"sample_id": "tofu:2", "upd')  # a torn last line (killed run)
    path, done = _keyed_runs(tmp_path, {"method": "ga"}, "rows", "sample_id")
    assert path.name == "rows.jsonl" and done == {"tofu:1": {"sample_id": "tofu:1", "updates": 3}}
    _, done = _keyed_runs(tmp_path, {"method": "npo"}, "rows", "sample_id")
    assert done == {} and len(list(tmp_path.glob("rows.*.jsonl"))) == 1
