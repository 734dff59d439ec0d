"""Difficulty signals (mrd_bench/signals/): every signal annotates fictitious forget10 from the
files the commands that measure it write, and its bins follow its direction; the readers that
consume annotations (the lm-eval tasks' join, the board, the audit) accept each; the audit's
verdict does not depend on which way a signal points; and its effect-size rule."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mrd_bench.signals import SIGNALS
from tests.test_overwrite import cli

F10 = ["--benchmark", "fictitious", "--split", "forget10"]


@pytest.fixture(scope="module")
def measured(tmp_path_factory, tiny_checkpoint):
    """scores.jsonl of the tiny model on fictitious forget10 (MRD with its baseline columns), and
    an updates-to-forget file and a CUD file of the same samples made from them (their own
    commands are tested elsewhere; here only their shape matters)."""
    import os

    from mrd_bench.cli import main
    from tests.conftest import SHARED_DATA

    folder = tmp_path_factory.mktemp("signals")
    os.environ.setdefault("MRD_BENCH_DATA_DIR", str(SHARED_DATA))
    assert main(["score", "--model", str(tiny_checkpoint), *F10, "--k", "1", "--no-progress",
                 "--out", str(folder / "s.jsonl")]) == 0
    rows = [json.loads(line) for line in (folder / "s.jsonl").read_text().splitlines()]
    rng = np.random.default_rng(0)
    updates = [{"sample_id": r["sample_id"], "updates": int(u), "censored": False}
               for r, u in zip(rows, rng.integers(1, 30, len(rows)))]
    (folder / "u.jsonl").write_text("".join(json.dumps(r) + "\n" for r in updates))
    (folder / "u.meta.json").write_text(json.dumps({"kind": "updates_to_forget"}))
    cud = [{"sample_id": r["sample_id"], "metric": "cud", "score": float(v)} for r, v in zip(rows, rng.normal(size=len(rows)))]
    (folder / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in cud))
    (folder / "c.meta.json").write_text(json.dumps({"metric": "cud", "higher_is": "harder", "bin_edges": [-0.5, 0.5]}))
    return folder


def _file_for(signal: str, folder: Path) -> Path:
    return folder / {"updates": "u.jsonl", "cud": "c.jsonl"}.get(signal, "s.jsonl")


def test_the_registry_holds_the_signals_the_product_promises():
    assert set(SIGNALS) >= {"mrd_definition", "mrd_alg1", "mrd_hutchinson", "mrd_per_token", "cud", "nll", "min_k",
                            "length", "updates"}
    assert {SIGNALS.get(n).higher_is for n in SIGNALS} == {"easier", "harder"}
    with pytest.raises(Exception, match="Did you mean 'min_k'"):
        SIGNALS.get("mink")


def test_every_estimator_implements_the_protocol_and_is_read_through_its_signal():
    """A new estimator in ESTIMATORS must implement scorers.base.Estimator and have a difficulty
    signal (with a direction) that reads the scores it writes."""
    from mrd_bench.scorers import ESTIMATORS
    from mrd_bench.scorers.base import Estimator

    assert set(ESTIMATORS) >= {"alg1", "definition", "hutchinson"}
    for name in ESTIMATORS:
        assert isinstance(ESTIMATORS.get(name)(), Estimator), name
        signal = SIGNALS.get(f"mrd_{name}")
        assert signal.source == "scores" and signal.higher_is == "easier"
        assert signal.needs({"estimator": name}) is None
        other = next(n for n in ESTIMATORS if n != name)
        assert other in signal.needs({"estimator": other})


def test_the_protocol_refuses_a_scorer_without_its_members():
    from dataclasses import dataclass

    from mrd_bench.scorers.base import Estimator

    @dataclass(frozen=True)
    class NoSummary:
        noise = "gaussian"
        default_draws = 4

        def draw(self, model, perturb, batches, k):
            return []

    assert not isinstance(NoSummary(), Estimator)


@pytest.mark.parametrize("signal", sorted(set(SIGNALS) - {"mrd_alg1", "mrd_hutchinson"}))
def test_each_signal_annotates_and_its_bins_follow_its_direction(signal, measured, data_dir, capsys, tmp_path):
    from mrd_bench.annotate import read_annotation
    from mrd_bench.lmeval.stratified import annotate_docs

    out = tmp_path / f"{signal}.json"
    code, line = cli(capsys, "annotate", *F10, "--scores", _file_for(signal, measured), "--signal", signal,
                     "--out", out)
    assert code == 0, line
    ann = read_annotation(out)
    spec = SIGNALS.get(signal)
    assert ann["signal"] == signal and ann["higher_is"] == spec.higher_is and ann["signal_label"] == spec.label
    rows = {r["sample_id"]: r for r in map(json.loads, _file_for(signal, measured).read_text().splitlines())}
    by_hand = {sid: (rows[sid]["score"] / rows[sid]["n_tokens"] if signal == "mrd_per_token" else
                     rows[sid][spec.column]) for sid in ann["samples"]}
    assert all(ann["samples"][s]["score"] == pytest.approx(v) for s, v in by_hand.items())
    easy = [v["score"] for v in ann["samples"].values() if v["bin"] == "easy"]
    hard = [v["score"] for v in ann["samples"].values() if v["bin"] == "hard"]
    assert easy and hard
    if spec.higher_is == "easier":
        assert min(easy) >= max(hard)
    else:
        assert max(easy) <= min(hard)
    docs = annotate_docs([{"sample_id": s} for s in ann["samples"]], "fictitious", "forget10", str(out))
    assert [d["mrd_bin"] for d in docs] == [v["bin"] for v in ann["samples"].values()]  # the tasks' join
    from mrd_bench.report import plots
    from mrd_bench.report.lmeval_report import signal_of

    shown = signal_of({"t": ann})  # the report's label and direction, from the annotation
    assert shown == {"label": spec.label, "higher_is": spec.higher_is}
    assert plots.plot_mrd_histograms({"t": ann}, tmp_path / "hist.png", shown).stat().st_size > 5000
    (tmp_path / "ann.json").write_text(out.read_text())  # the audit reads it beside a claim
    hardest = sorted(ann["samples"], key=lambda s: ann["samples"][s]["score"] * (1 if spec.higher_is == "easier" else -1))
    r = _audit(tmp_path, hardest[:4])
    assert r["annotation"]["signal"] == {"label": spec.label, "higher_is": spec.higher_is}
    assert r["difficulty"]["effect"]["shift"] < 0  # the hardest by its own direction are harder than random


def test_a_signal_from_the_wrong_file_is_one_line(measured, data_dir, capsys, tmp_path):
    code, line = cli(capsys, "annotate", *F10, "--scores", measured / "c.jsonl", "--signal", "nll",
                     "--out", tmp_path / "a.json")
    assert code == 2 and "holds CUD scores" in line and "mrd-bench score" in line
    code, line = cli(capsys, "annotate", *F10, "--scores", measured / "s.jsonl", "--signal", "updates",
                     "--out", tmp_path / "a.json")
    assert code == 2 and "is not an updates-to-forget file" in line
    code, line = cli(capsys, "annotate", *F10, "--scores", measured / "s.jsonl", "--signal", "nl",
                     "--out", tmp_path / "a.json")
    assert code == 2 and "Did you mean 'nll'" in line


# ----------------------------------------------------------------------------- the audit


def _pool(tmp_path: Path, scores: dict[str, float], higher_is: str, signal: str) -> Path:
    """An annotation of a made-up pool, tertile bins by the signal's direction."""
    from mrd_bench.report.stratify import assign_bins, bin_labels, quantile_edges, reference_weights

    ids = list(scores)
    edges = quantile_edges(list(scores.values()), 3)
    bins = assign_bins([scores[s] for s in ids], edges, higher_is)
    labels = bin_labels(3)
    ann = {"signal": signal, "signal_label": signal.upper(), "higher_is": higher_is, "metric": signal,
           "bin_edges": edges, "bins": labels, "reference_weights": reference_weights(bins, labels),
           "samples": {s: {"score": scores[s], "bin": b} for s, b in zip(ids, bins)}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    return tmp_path / "ann.json"


def _audit(folder: Path, ids: list[str]) -> dict:
    from mrd_bench.audit import audit

    claim = {"schema_version": 1, "title": "a claim", "benchmark": "fictitious", "forget": {"sample_ids": ids},
             "difficulty": {"annotation": "ann.json"},
             "reported": {"method": "M", "metric": "prob", "value": 0.1, "direction": "lower"}}
    (folder / "claim.json").write_text(json.dumps(claim))
    audit(folder / "claim.json", folder / "out", permutations=2000, bootstrap=300)
    return json.loads((folder / "out" / "audit.json").read_text())


POOL = {f"s{i:03d}": float(v) for i, v in enumerate(np.random.default_rng(1).lognormal(-6, 1, 300))}
EASIEST_THIRD = sorted(POOL, key=POOL.get)[-100:]  # MRD: higher = easier


def test_the_audit_reads_the_direction_from_the_annotation(tmp_path):
    """The same samples, annotated by MRD (higher = easier) and by -MRD marked higher = harder:
    the same verdict and the same statistics."""
    _pool(tmp_path / "mrd", POOL, "easier", "mrd_definition")
    _pool(tmp_path / "neg", {s: -v for s, v in POOL.items()}, "harder", "negated")
    a, b = _audit(tmp_path / "mrd", EASIEST_THIRD), _audit(tmp_path / "neg", EASIEST_THIRD)
    assert a["difficulty"]["verdict"] == b["difficulty"]["verdict"] == "easy"
    assert a["difficulty"]["permutation"] == b["difficulty"]["permutation"]
    assert a["difficulty"]["effect"]["shift"] == pytest.approx(b["difficulty"]["effect"]["shift"])
    assert "unusually easy" in " ".join(b["verdict"])


def test_the_effect_size_rule(tmp_path):
    from scipy.stats import rankdata

    pct = (rankdata(list(POOL.values())) - 1) / (len(POOL) - 1)
    easiest = _audit(_pool(tmp_path / "a", POOL, "easier", "mrd").parent, EASIEST_THIRD)
    shift = np.mean(sorted(pct)[-100:]) - 0.5  # by hand: the top third's mean percentile
    assert easiest["difficulty"]["effect"]["shift"] == pytest.approx(shift, abs=0.01)
    assert easiest["difficulty"]["effect"]["cliffs_delta"] == pytest.approx(1.0)  # every one beats the rest
    hardest_dropped = sorted(POOL, key=POOL.get)[1:]  # the pool less its hardest sample
    less_one = _audit(_pool(tmp_path / "b", POOL, "easier", "mrd").parent, hardest_dropped)
    d = less_one["difficulty"]
    assert d["permutation"]["p_easier"] < 0.05  # detectable (every random 299 holds a harder sample) ...
    assert abs(d["effect"]["shift"]) < 0.05 and d["verdict"] == "typical"  # ... but no effect worth the name
    assert "smaller than the rule's shift" in " ".join(less_one["verdict"])
    # a subset of all but one sample can hardly differ from the pool: its shift is at most 0.5/(N-1)
    # (it drops the lowest percentile, 0), and its CI is as narrow (finite population correction)
    n = len(POOL)
    assert d["effect"]["max_shift"] == pytest.approx(0.5 / (n - 1), rel=1e-6)
    assert d["effect"]["shift"] == pytest.approx(0.5 / (n - 1), rel=1e-6)
    assert d["effect"]["shift_ci"][1] - d["effect"]["shift_ci"][0] < 4 * 0.5 / (n - 1)
    # Cliff's delta against a rest of one sample means nothing: it is not shown
    assert d["effect"]["n_rest"] == 1
    assert "Cliff's delta against the rest of the pool not shown: the rest holds only 1 sample" in " ".join(less_one["verdict"])
    assert easiest["difficulty"]["effect"]["max_shift"] == pytest.approx(shift, abs=1e-9)  # the easiest third is the most


@pytest.mark.parametrize("share, text", [(0.9996, "99.96%"), (0.004, "0.4%"), (1.0, "100%"), (0.0, "0%"),
                                          (0.5, "50%"), (0.99999999, "> 99.999%")])
def test_percentages_never_round_to_all_or_none(share, text):
    from mrd_bench.audit import share_text

    assert share_text(share) == text


# ----------------------------------------------------------------------------- difficulty-check


def test_difficulty_check_by_hand_and_resumed(tmp_path, tiny_checkpoint, data_dir, capsys, monkeypatch):
    from scipy.stats import spearmanr

    from mrd_bench import difficulty_check, updates

    out = tmp_path / "check"
    argv = ["difficulty-check", "--model", tiny_checkpoint, "--benchmark", "fictitious", "--split", "forget10",
            "--methods", "ga,npo", "--signals", "mrd_definition,nll,length", "--n", "10", "--max-updates", "3",
            "--lr", "1e-3", "--lr-by-method", "npo=2e-3", "--draws", "1", "--boot", "200", "--no-progress",
            "--out", out]
    calls = []
    real = updates.run_updates

    def killed_on_the_second(*args, **kwargs):
        calls.append(args[1].method)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(updates, "run_updates", killed_on_the_second)
    assert cli(capsys, *argv)[0] == 130
    first = (out / "updates_ga.jsonl").stat().st_mtime_ns
    monkeypatch.undo()
    trained = []
    real_train = updates.trajectory

    def train_then_kill(*args, **kwargs):  # NPO is killed after 4 of its 10 samples
        trained.append(1)
        if len(trained) == 5:
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)

    monkeypatch.setattr(updates, "trajectory", train_then_kill)
    assert cli(capsys, *argv)[0] == 130
    monkeypatch.undo()
    partial = out / "updates_npo.jsonl.partial" / "rank-0.jsonl"
    assert len(partial.read_text().splitlines()) == 4
    trained.clear()
    monkeypatch.setattr(updates, "trajectory", lambda *a, **k: (trained.append(1), real_train(*a, **k))[1])
    code, _ = cli(capsys, *argv)
    monkeypatch.undo()
    assert code == 0 and len(trained) == 6  # resumed inside NPO: only its 6 samples left were trained
    assert json.loads((out / "updates_npo.meta.json").read_text())["loop"]["lr"] == 2e-3  # --lr-by-method
    assert (out / "updates_ga.jsonl").stat().st_mtime_ns == first  # and GA not measured again
    r = json.loads((out / "check.json").read_text())
    scores = {row["sample_id"]: row for row in map(json.loads, (out / "scores.jsonl").read_text().splitlines())}
    for method in ("ga", "npo"):
        done = {row["sample_id"]: row["updates"] for row in map(json.loads, (out / f"updates_{method}.jsonl")
                                                                 .read_text().splitlines())}
        ids = r["sample_ids"]
        assert sorted(done) == sorted(ids) and len(ids) == 10
        by_hand = spearmanr([scores[i]["nll"] for i in ids], [done[i] for i in ids])[0]
        got = r["table"]["nll"][method]["rho"]
        assert (np.isnan(by_hand) and got is None) or got == pytest.approx(by_hand)
    strength = {k: v for k, v in r["choice"]["strength"].items() if v is not None and v > 0}
    if strength:  # the strongest signal that points the way it declares, or none when none does
        assert r["choice"]["signal"] == max(strength, key=strength.get) and r["choice"]["reason"].startswith("Stratify by")
    else:
        assert r["choice"]["signal"] is None and r["choice"]["reason"].startswith("No signal can be chosen")
    assert (out / "check.png").stat().st_size > 5000 and "| signal |" in (out / "check.md").read_text()
    assert cli(capsys, *argv)[1].endswith("pass --overwrite to replace it (measurements in the folder are reused), "
                                          "or choose another --out.")
    assert difficulty_check.RULE in (out / "check.md").read_text()
    ga_before = (out / "updates_ga.jsonl").read_text()
    code, _ = cli(capsys, *[a if a != "3" else "2" for a in argv], "--overwrite")  # --max-updates 2: measured again
    assert code == 0 and (out / "updates_ga.jsonl").read_text() != ga_before
    assert all(json.loads(line)["max_updates"] == 2 for line in (out / "updates_ga.jsonl").read_text().splitlines())


def test_choose_follows_its_rule():
    from mrd_bench.difficulty_check import choose

    table = {"a": {"ga": {"rho": -0.4, "ci": [-0.5, -0.3]}, "npo": {"rho": -0.2, "ci": [-0.3, -0.1]}},
             "b": {"ga": {"rho": 0.5, "ci": [0.4, 0.6]}, "npo": {"rho": -0.1, "ci": [-0.2, 0.05]}},
             "c": {"ga": {"rho": 0.35, "ci": [0.2, 0.5]}, "npo": {"rho": 0.3, "ci": [0.1, 0.45]}}}
    # a: higher = easier, so its strength is -rho = 0.3; b: harder, (0.5 - 0.1) / 2 = 0.2; c: harder, 0.325
    got = choose(table, {"a": "easier", "b": "harder", "c": "harder"})
    assert got["signal"] == "c" and got["strength"]["a"] == pytest.approx(0.3)
    assert got["supported"] == {"a": True, "b": False, "c": True}
    got = choose(table, {"a": "easier", "b": "harder", "c": "easier"})  # c now points the wrong way
    assert got["signal"] == "a" and got["supported"]["a"] and not got["supported"]["c"]
    table["a"]["npo"].update(boot_dropped=60, n_boot=1000)  # 6% of its resamples had no correlation: not trusted
    assert not choose(table, {"a": "easier", "b": "harder", "c": "easier"})["supported"]["a"]
    table["a"]["npo"].update(boot_dropped=50)  # 5%: still trusted
    assert choose(table, {"a": "easier", "b": "harder", "c": "easier"})["supported"]["a"]
    table["a"]["npo"]["ci"] = [-0.3, 0.02]
    assert not choose(table, {"a": "easier", "b": "harder", "c": "easier"})["supported"]["a"]
    # every signal pointing the wrong way on average: none is chosen, and the reason says why
    from mrd_bench.difficulty_check import reason

    wrong = {s: "harder" if d == "easier" else "easier" for s, d in {"a": "easier", "b": "harder", "c": "harder"}.items()}
    got = choose(table, wrong)
    assert got["signal"] is None and "none points the way it declares" in reason(table, got, {s: s for s in table})
    nan = float("nan")
    for s in table:  # npo's updates all equal: every correlation NaN; it is left out, never a NaN strength
        table[s]["npo"] = {"rho": nan, "ci": [nan, nan]}
    got = choose(table, {"a": "easier", "b": "harder", "c": "harder"})
    assert got["signal"] == "b" and got["methods_left_out"] == ["npo"] and got["strength"]["b"] == pytest.approx(0.5)
    for s in table:
        table[s]["ga"] = {"rho": nan, "ci": [nan, nan]}
    assert choose(table, {"a": "easier", "b": "harder", "c": "harder"})["signal"] is None


def test_a_signal_is_never_partialled_on_itself():
    from mrd_bench.difficulty_check import signal_table

    rng = np.random.default_rng(0)
    length, nll = rng.integers(5, 60, 80).astype(float), rng.random(80)
    updates = {"ga": 100 - length + rng.normal(0, 5, 80)}
    table = signal_table({"length": length, "nll": nll}, updates, length, nll, boot=100, seed=0)
    assert np.isnan(table["length"]["ga"]["partial_length"]["rho"]) and np.isnan(table["nll"]["ga"]["partial_nll"]["rho"])
    assert table["length"]["ga"]["rho"] < -0.8 and np.isfinite(table["length"]["ga"]["partial_nll"]["rho"])


def test_the_audit_refuses_an_annotation_without_its_three_bins(tmp_path):
    from mrd_bench.errors import DataError

    ann = json.loads(_pool(tmp_path, POOL, "easier", "mrd").read_text())
    ann["bins"], ann["reference_weights"] = ["hard", "easy"], {"hard": 0.5, "easy": 0.5}
    for s in ann["samples"].values():
        s["bin"] = "easy" if s["bin"] == "medium" else s["bin"]
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    with pytest.raises(DataError, match="compares the three bins"):
        _audit(tmp_path, EASIEST_THIRD)


# ----------------------------------------------------------------------------- boards say what they stratify by


def test_a_board_names_its_signal_and_its_evidence(tmp_path, capsys):
    import shutil

    from mrd_bench.leaderboard.board import BOARD_FILE

    board = tmp_path / "board"
    shutil.copytree(Path(__file__).parents[1] / "leaderboards" / "fictitious_forget20", board)
    assert cli(capsys, "leaderboard", "build", board, "--overwrite", "--no-progress")[0] == 0
    line = json.loads((board / "scores.json").read_text())["stratified_by"]["line"]
    assert line.startswith("Stratified by MRD (higher = easier); no difficulty-check result is attached")
    check = {"sample_ids": ["x"] * 200, "signals": {"nll": "answer NLL (higher = easier)"},
             "choice": {"signal": "nll", "supported": {"nll": True, "mrd_definition": False}},
             "table": {"mrd_definition": {"ga": {"rho": -0.35, "ci": [-0.47, -0.22]},
                                          "npo": {"rho": -0.15, "ci": [-0.29, 0.0]}}}}
    (board / "check.json").write_text(json.dumps(check))
    spec = json.loads((board / BOARD_FILE).read_text())
    spec["annotation"].update(evidence="check.json", why="MRD is what the board's paper stratifies by")
    (board / BOARD_FILE).write_text(json.dumps(spec))
    assert cli(capsys, "leaderboard", "build", board, "--overwrite", "--no-progress")[0] == 0
    line = json.loads((board / "scores.json").read_text())["stratified_by"]["line"]
    # a board made before signals had names ("metric": "mrd") is read as MRD's definition estimator
    assert line == ("Stratified by MRD (higher = easier, so negative means it points the right way): Spearman with "
                    "updates-to-forget -0.35 [-0.47, -0.22] for ga; -0.15 [-0.29, +0.00] for npo (n = 200, check.json); "
                    "the check chose answer NLL (higher = easier); this board keeps MRD: MRD is what the board's paper "
                    "stratifies by.")
    check["choice"]["signal"] = "mrd_definition"  # the check chose the board's signal, but could not support it
    (board / "check.json").write_text(json.dumps(check))
    assert cli(capsys, "leaderboard", "build", board, "--overwrite", "--no-progress")[0] == 0
    line = json.loads((board / "scores.json").read_text())["stratified_by"]["line"]
    assert line.endswith("; the check chose it (its 95% CI does not exclude 0 in that direction for every method).")
    assert "Spearman with updates-to-forget -0.35" in (board / "index.md").read_text()
    assert "Spearman with updates-to-forget -0.35" in (board / "index.html").read_text()
    spec["annotation"]["evidence"] = "../../outside.json"  # confined to the board folder
    (board / BOARD_FILE).write_text(json.dumps(spec))
    assert cli(capsys, "leaderboard", "build", board, "--overwrite", "--no-progress")[0] == 0
    assert "could not be read" in json.loads((board / "scores.json").read_text())["stratified_by"]["line"]
