"""A stage's cache key is its settings dataclass: every setting of the study that changes a result
changes the key of a stage that reads it, and the committed study's finished stages keep the keys
they were run under (reports/study_stages)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import pytest

from mrd_bench.reproduce.stages import STAGES
from mrd_bench.reproduce.study import Stage, Study, key_hash, settings_of

STUDY_STAGES = Path(__file__).resolve().parents[2] / "reports" / "study_stages"
# settings that change no result: where the stages run, and which per-method updates stages run
NOT_IN_ANY_KEY = {"device", "methods"}
OTHER = {"model": "other-model", "authors": 21, "forget_authors": 2, "sampling_forget_authors": 10,
         "calibrate_start": "ga=2e-5,graddiff=4e-5,npo=4e-5,po=8e-5", "updates_lr_by_method": "npo=5e-5",
         "sampling_methods": "ga,graddiff,npo", "sampling_arms": "uniform,mrd", "cud_label_methods": "ga,npo",
         "cud_baseline": "zero", "calibrate_reach": 0.6, "cud_label_q": 0.2}


def _keys(study: Study) -> dict:
    return {stage.name: key_hash(stage.key(study)) for stage in STAGES}


@pytest.mark.parametrize("name", [f.name for f in fields(Study) if f.name not in NOT_IN_ANY_KEY | {"benchmark"}])
def test_every_setting_that_changes_a_result_is_in_a_stage_key(name):
    study = Study()
    value = getattr(study, name)
    other = OTHER.get(name, value + 1 if isinstance(value, int) else value * 2)
    changed = [s for s, k in _keys(replace(study, **{name: other})).items() if k != _keys(study)[s]]
    assert changed, f"--{name} is in no stage's key: a run with another value would reuse stale stages"


def test_settings_no_result_depends_on_are_in_no_key():
    study = Study()
    assert _keys(replace(study, device="cpu", methods="ga")) == _keys(study)


def test_the_committed_study_keeps_its_stage_keys():
    study = Study(**json.loads((STUDY_STAGES / "study.json").read_text()))
    finished = {p.parent.name: json.loads(p.read_text())["key"] for p in STUDY_STAGES.glob("*/done.json")}
    assert {"baselines", "mrd_definition"} <= set(finished)  # original/ (the checkpoint) is not committed
    for stage in STAGES:
        if stage.name in finished:
            assert key_hash(stage.key(study)) == finished[stage.name], stage.name


def test_the_committed_updates_runs_keep_their_resume_key():
    from mrd_bench.reproduce.claims.predicts import UPDATES, budget_of

    study = Study(**json.loads((STUDY_STAGES / "study.json").read_text()))
    threshold = json.loads((STUDY_STAGES / "baselines" / "baselines.json").read_text())["threshold_ma"]
    markers = {m: STUDY_STAGES / f"updates_{m}" / "rows.key.json" for m in UPDATES}
    assert markers["ga"].is_file()
    for method, marker in markers.items():
        if marker.is_file():
            settings = UPDATES[method].settings(study)
            assert {**asdict(budget_of(settings, threshold)), "method": method} == json.loads(marker.read_text())


@dataclass(frozen=True)
class Mine:
    sigma: float


def test_a_key_field_with_two_values_is_refused():
    up = Stage("up", "", settings_of(Mine), lambda *a: {})
    clash = Stage("clash", "", lambda s: Mine(sigma=s.sigma * 2), lambda *a: {}, upstream=(up,))
    with pytest.raises(ValueError, match="sigma"):
        clash.key(Study())
    agree = Stage("agree", "", settings_of(Mine), lambda *a: {}, upstream=(up,))
    assert agree.key(Study())["sigma"] == Study().sigma and "finetune_lr" in agree.key(Study())
