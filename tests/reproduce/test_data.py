"""The study's data files: lossless CSV round trips, and stages of other settings left out."""
import json
import math
from dataclasses import asdict

from mrd_bench.reproduce.data import Data, _csv_text, export, read_csv
from mrd_bench.reproduce.study import Study


def test_csv_round_trip_is_lossless(tmp_path):
    rows = [{"sample_id": "12345", "run": "ga/seed-0", "n": 2 ** 60 + 1, "x": 0.1 + 0.2, "small": 1e-05,
             "whole": 20.0, "flag": True, "missing": None, "nan": math.nan, "inf": -math.inf}]
    path = tmp_path / "t.csv"
    path.write_text(_csv_text(rows, list(rows[0])))
    back = read_csv(path)[0]
    assert back["sample_id"] == "12345" and back["run"] == "ga/seed-0"  # text columns stay text
    assert back["n"] == 2 ** 60 + 1 and back["x"] == 0.1 + 0.2 and back["small"] == 1e-05
    assert back["whole"] == 20.0 and isinstance(back["whole"], float) and back["flag"] == 1
    assert back["missing"] is None and math.isnan(back["nan"]) and back["inf"] == -math.inf


def _stage(work, name, key, files):
    (work / name).mkdir(parents=True)
    (work / name / "done.json").write_text(json.dumps({"key": key}))
    for file, content in files.items():
        (work / name / file).write_text(json.dumps(content))


def test_a_stage_of_other_settings_is_not_exported(tmp_path):
    work, study = tmp_path / "work", Study()
    rows = [{"sample_id": f"s{i}", "n_tokens": 5 + i, "nll": 1.0 + i, "prob": 0.5, "min_k": 2.0, "grad_norm": 3.0,
             "ma": 0.9, "entity_frequency": 1, "lexical_diversity": 0.5, "syntactic_depth": 1, "rare_words": 0}
            for i in range(3)]
    _stage(work, "baselines", "k-base", {"baselines.json": {"threshold_ma": 0.5, "rows": rows}})
    _stage(work, "stability", "k-old", {"stability.json": {"sample_id": [], "alg1": {}, "definition": {}}})
    out = tmp_path / "data"
    written = export(work, study, out, current={"baselines": "k-base", "stability": "k-new"})
    assert "samples.csv" in written and "claim5_stability.json" not in written
    assert not (out / "claim5_stability.json").exists()
    data = Data(out)
    assert data.ids == ["s0", "s1", "s2"] and list(data.column("nll")) == [1.0, 2.0, 3.0]
    assert data.study == json.loads(json.dumps(asdict(study)))
    # without baselines, the other stages' files are still written
    other = tmp_path / "other"
    assert "claim5_stability.json" in export(work, study, other, current={"stability": "k-old"})
    assert not (other / "samples.csv").exists()
