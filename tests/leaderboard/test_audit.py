"""`mrd-bench audit`: an easy subset is flagged, a random one passes; reweighting and the ranking
comparison by hand; hostile claims are refused in one line."""
from __future__ import annotations

import json
import math
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from mrd_bench.audit import audit
from mrd_bench.errors import DataError
from mrd_bench.io import read_json
from mrd_bench.lmeval.stratified import shipped_dir
from tests.e2e.test_cli import assert_one_line_error, mrd_bench
from mrd_bench.leaderboard.submission import value_of


def _claim(folder: Path, ids, **extra) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    claim = {"schema_version": 1, "title": "a claim", "benchmark": "tofu", "forget": {"sample_ids": ids},
             "difficulty": {"shipped": "tofu_forget10"},
             "reported": {"method": "M", "metric": "prob", "value": 0.1, "direction": "lower"}, **extra}
    (folder / "claim.json").write_text(json.dumps(claim))
    return folder / "claim.json"


def _forget10():
    return json.loads((shipped_dir() / "tofu_forget10.json").read_text())["samples"]


def test_an_easy_subset_is_flagged_and_a_random_one_passes(tmp_path):
    samples = _forget10()
    ids = sorted(samples, key=lambda s: -samples[s]["score"])
    easy = _claim(tmp_path / "easy", ids[: len(ids) // 3])
    proc = mrd_bench("audit", str(easy), "--permutations", "2000", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert "easier than 100% of 2,000 random subsets" in proc.stdout and "unusually easy" in proc.stdout
    result = json.loads((tmp_path / "easy" / "claim_audit" / "audit.json").read_text())
    d = result["difficulty"]
    assert d["permutation"]["p_easier"] < 0.05 and d["ks"]["p"] < 0.05
    assert d["bins"]["easy"]["count"] == len(ids) // 3 and d["bins"]["easy"]["p"] < 0.05
    assert {"versions", "hardware"} <= set(result) and result["difficulty"]["permutation"]["seed"] == 0
    assert (tmp_path / "easy" / "claim_audit" / "difficulty.png").stat().st_size > 1000

    rand = _claim(tmp_path / "random", random.Random(0).sample(ids, len(ids) // 3))
    proc = mrd_bench("audit", str(rand), "--permutations", "2000")
    assert proc.returncode == 0 and "typical" in proc.stdout, proc.stdout
    d = json.loads((tmp_path / "random" / "claim_audit" / "audit.json").read_text())["difficulty"]
    assert d["permutation"]["p_easier"] > 0.05 and d["permutation"]["p_harder"] > 0.05
    assert_one_line_error(mrd_bench("audit", str(rand)), "--overwrite")  # nothing is lost


def test_reweighting_and_the_ranking_comparison_by_hand(seeded, tmp_path):
    """Per-sample outputs of two tiny-model runs on part of the fictitious forget20 pool."""
    ann = json.loads((seeded["board"] / "annotation.json").read_text())
    pool_bins = {s: v["bin"] for s, v in ann["samples"].items()}
    ids = [s for s in pool_bins if pool_bins[s] == "easy"] + [s for s in pool_bins if pool_bins[s] == "hard"][:2]
    folder = tmp_path / "claims"
    folder.mkdir()
    shutil.copy(seeded["board"] / "annotation.json", folder / "ann.json")
    for name in ("ga_uniform", "npo_uniform"):
        shutil.copy(next((seeded["eval"] / name).rglob("samples_tofu_forget_mrd_mia_*.jsonl")), folder / f"{name}.jsonl")
    common = {"benchmark": "fictitious", "difficulty": {"annotation": "ann.json"}}
    b = _claim(folder, ids, **common, samples="npo_uniform.jsonl")
    b.rename(folder / "b.json")
    a = _claim(folder, ids, **common, samples="ga_uniform.jsonl", compare="b.json")
    audit(a, tmp_path / "out", permutations=200, bootstrap=300)
    r = read_json(tmp_path / "out" / "audit.json")  # NaN is null there, with its reason (valid JSON)

    def values(name):
        rows = [json.loads(line, parse_constant=float) for line in (folder / f"{name}.jsonl").read_text().splitlines()]
        return {row["doc"]["sample_id"]: value_of(row, "prob") for row in rows if row["doc"]["member"]}

    share = {b_: list(pool_bins.values()).count(b_) / len(pool_bins) for b_ in ("easy", "medium", "hard")}
    assert share["medium"] > 0  # the subset has no medium sample: the reweighted value is undefined
    assert math.isnan(r["reweighting"]["reweighted"]) and r["reweighting"]["empty_bin"]
    va = values("ga_uniform")
    assert r["reweighting"]["measured"] == pytest.approx(np.mean([va[s] for s in ids]))
    assert r["reweighting"]["per_bin"]["easy"] == pytest.approx(np.mean([va[s] for s in ids if pool_bins[s] == "easy"]))

    # with every bin present: Σ_b w_b mean_b, and the paired difference of the two methods
    ids = list(pool_bins)[:-3]
    for name, other in (("b.json", {}), ("claim.json", {"compare": "b.json"})):
        path = _claim(folder, ids, **common, samples="npo_uniform.jsonl" if name == "b.json" else "ga_uniform.jsonl",
                      **other)
        if name == "b.json":
            _edit(folder, reported={"method": "N", "metric": "prob", "value": 0.2, "direction": "lower"})
        path.rename(folder / name)
    audit(folder / "claim.json", tmp_path / "out2", permutations=200, bootstrap=300)
    r = json.loads((tmp_path / "out2" / "audit.json").read_text())
    vb = values("npo_uniform")

    def rew(v):
        return sum(share[b_] * np.mean([v[s] for s in ids if pool_bins[s] == b_]) for b_ in share)

    assert r["reweighting"]["reweighted"] == pytest.approx(rew(va))
    c = r["comparison"]
    assert c["paired"] and c["difference"] == pytest.approx(rew(va) - rew(vb))
    assert c["difference_ci"][0] <= c["difference"] <= c["difference_ci"][1]
    assert c["reweighted_ahead"] == ("M" if c["difference"] < 0 else "N")  # lower is better
    assert r["compared_claim"]["reweighting"]["reweighted"] == pytest.approx(rew(vb))
    assert any("vs" in line for line in r["verdict"])


CLAIM_CASES = {
    "yaml": (lambda f: (f / "claim.json").write_text("schema_version: 1\ntitle: x\n"), "not JSON"),
    "pickle": (lambda f: (f / "claim.json").write_bytes(pickle.dumps({"a": 1})), "pickled data"),
    "nan": (lambda f: (f / "claim.json").write_text((f / "claim.json").read_text().replace('"value": 0.1', '"value": NaN')),
            "not a finite number"),
    "unknown version": (lambda f: _edit(f, schema_version=7), "unknown"),
    "wrong type": (lambda f: _edit(f, title=["x"]), "is not of type 'string'"),
    "duplicate ids": (lambda f: _edit(f, forget={"sample_ids": ["tofu:a", "tofu:a"]}), "duplicate sample id"),
    "dotdot": (lambda f: _edit(f, difficulty={"annotation": "../../etc/x.json"}), "'..' leaves the folder"),
    "absolute": (lambda f: _edit(f, samples="/etc/x.jsonl"), "absolute path"),
    "symlink": (lambda f: ((f / "ann.json").symlink_to(shipped_dir() / "tofu_forget10.json"),
                           _edit(f, difficulty={"annotation": "ann.json"})), "a symlink"),
    "oversize": (lambda f: ((f / "big.jsonl").write_bytes(b" " * (32 * 2 ** 20 + 1)), _edit(f, samples="big.jsonl")),
                 "byte limit"),
}


def _edit(folder: Path, **changes) -> None:
    claim = json.loads((folder / "claim.json").read_text())
    claim.update(changes)
    (folder / "claim.json").write_text(json.dumps(claim))


@pytest.mark.parametrize("case", sorted(CLAIM_CASES))
def test_hostile_claims_are_refused_in_one_line(tmp_path, case):
    ids = list(_forget10())[:20]
    path = _claim(tmp_path / "c", ids)
    corrupt, needle = CLAIM_CASES[case]
    corrupt(tmp_path / "c")
    with pytest.raises(DataError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        audit(path, tmp_path / "out", permutations=100, bootstrap=100)
    assert not (tmp_path / "out" / "audit.json").exists()


def test_hostile_claim_through_the_cli(tmp_path):
    path = _claim(tmp_path / "c", list(_forget10())[:20])
    _edit(tmp_path / "c", title="<script>alert(1)</script>")
    proc = mrd_bench("audit", str(path), "--permutations", "200", "--bootstrap", "100")
    assert proc.returncode == 0
    html = (tmp_path / "c" / "claim_audit" / "audit.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    CLAIM_CASES["pickle"][0](tmp_path / "c")
    assert_one_line_error(mrd_bench("audit", str(path), "--overwrite"), "pickled data")


def test_the_difficulty_reference_can_be_the_original_model_to_score(tiny_checkpoint, tmp_path):
    from mrd_bench.data import load

    folder = tmp_path / "claim"
    shutil.copytree(tiny_checkpoint, folder / "original")
    ids = load("fictitious", "forget20")["sample_id"][:7]
    path = _claim(folder, ids, benchmark="fictitious",
                  difficulty={"model": {"name": "original", "pool_split": "forget20", "draws": 4, "sigma": 0.05}})
    audit(path, tmp_path / "out", permutations=200, bootstrap=100)
    r = json.loads((tmp_path / "out" / "audit.json").read_text())
    pool = json.loads((tmp_path / "out" / "pool_annotation.json").read_text())
    assert r["n_pool"] == len(pool["samples"]) == 20 and r["n_subset"] == 7
    assert r["annotation"]["path"] == "pool_annotation.json"
    # a model folder that leaves the claim's folder through a symlink is refused
    shutil.rmtree(folder / "original")
    (folder / "original").symlink_to(tiny_checkpoint)
    with pytest.raises(DataError, match="a symlink"):
        audit(path, tmp_path / "out2", permutations=200, bootstrap=100)
