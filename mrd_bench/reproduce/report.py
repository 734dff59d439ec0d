"""The study's report: README.md (claims and verdicts first, then a section per claim with its
plot), results.json (every figure), run_record.json (command, seeds, versions, hardware and
each stage's wall time), and the PNGs.

The folder is the command's own (mrd_bench/outputs.py): a report there is replaced only with
--overwrite, only the files it wrote (listed in `.mrd_bench_files.json`) and all at once; a folder
holding anything else is refused, and so is a report that would turn a measured verdict pending.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Optional

from mrd_bench.errors import OutputExistsError
from mrd_bench.io import read_json, write_json, write_text
from mrd_bench.outputs import folder_target, owner, replacing
from mrd_bench.reproduce.claims.common import p_text, rho

RUN_RECORD = "run_record.json"
REPORT = {"what": "a reproduction report", "kind": "reproduce", "legacy": ()}  # mrd_bench/outputs.py


def target(out, *, study=None, overwrite: bool = False) -> Path:
    """Check the report folder before any stage runs: a report there is replaced only with
    --overwrite (a report of another setting says so), and a folder holding anything else never."""
    path = Path(out).expanduser()
    if study is not None and not overwrite and (path / RUN_RECORD).is_file() and owner(path, "reproduce")[0](RUN_RECORD):
        before = json.loads((path / RUN_RECORD).read_text()).get("study") or {}
        changed = sorted(k for k in before if k in asdict(study) and before[k] != asdict(study)[k])
        if changed:  # settings a newer version added are not in an older record: not a difference
            raise OutputExistsError(f"{str(path)!r} holds the report of another setting ({', '.join(changed)} "
                                    "differ); pass --overwrite to replace it, or choose another --out.")
    return folder_target(out, overwrite, **REPORT)


def measured_lost(out: Path, results: dict) -> list[str]:
    """The claims whose measured verdict in the report in `out` the new `results` leave pending."""
    try:
        old = json.loads((out / "results.json").read_text())["claims"]
        measured = {cid for cid, c in old.items() if c.get("verdict", "pending") != "pending"}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
    return sorted(cid for cid in measured if results.get(cid, {}).get("verdict", "pending") == "pending")


# ----------------------------------------------------------------------------- plots


def _plots(data, results: dict, out: Path) -> list[str]:
    """Each measured claim's figures (claims/<claim>.py)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mrd_bench.reproduce.claims import CLAIMS

    written = []
    for claim in CLAIMS:
        if results[claim.ID]["verdict"] != "pending":
            written += claim.figures(plt, data, results[claim.ID], out)
    return written


VERDICT_MARK = {"reproduced": "reproduced", "reproduced, but not beyond the baselines":
                "reproduced, but not beyond the baselines", "not reproduced": "**not reproduced**",
                "inconclusive": "inconclusive", "pending": "pending (not measured yet)"}


def _primary_line(c: dict) -> str:
    p = c["primary"]
    side = "above" if p["expected"] == "above" else "below"
    level = f"{p['ci_level']:.0%} CI " if p.get("ci_level", 0.95) != 0.95 else ""
    return (f"{p['statistic']} = {p['estimate']:.3g} {level}[{p['ci'][0]:.3g}, {p['ci'][1]:.3g}], p = {p_text(p['p'])} "
            f"(n = {p['n']}; the paper expects {side} {p['null']:g})")


def _claims_table(results: dict) -> list[str]:
    lines = ["| # | claim | the paper | primary test: estimate [95% CI unless stated], p | verdict |",
             "|---|---|---|---|---|"]
    for n, c in enumerate(results.values(), 1):
        primary = _primary_line(c) if c.get("primary") else "not measured yet"
        if c.get("co_primary"):
            primary += "; and " + _primary_line({"primary": c["co_primary"]["primary"]})
        lines.append(f"| {n} | {c['title']} | {c['paper']} | {primary} | {VERDICT_MARK[c['verdict']]} |")
    return lines


def _section(c: dict) -> list[str]:
    if c["verdict"] == "pending":
        return [f"Not measured yet: the stage(s) {', '.join(c['needs'])} have not run."]
    p = c["primary"]
    lines = [f"Verdict: **{c['verdict']}**: {c['why']}.", "", f"Primary test, declared before the runs: {p['test']}.",
             "", f"Result: {_primary_line(c)}. The smallest effect of interest is {p['sesoi']:g} from the null."]
    if c.get("co_primary"):
        q = c["co_primary"]
        lines += ["", f"Co-primary test, declared before the runs: {q['primary']['test']}.", "",
                  f"Result: {_primary_line({'primary': q['primary']})} ({q['verdict']}: {q['why']}).", "",
                  f"How the two decide: {c['combination']}."]
    if c.get("power"):
        lines += ["", f"Power: {c['power']['statement']}."]
    if c.get("beyond_baselines"):
        b = c["beyond_baselines"]
        lines += ["", f"Beyond the baselines: {b['label']} = {rho(b)}, p = {p_text(b['p'])}."]
    if c.get("secondary"):
        lines += ["", "| secondary test | estimate [95% CI] | p | p (Holm) | sub-verdict |", "|---|---|---|---|---|"]
        for name, sub in c["secondary"].items():
            sp = sub.get("primary", {})
            est = (f"{sp['estimate']:.3g} [{sp['ci'][0]:.3g}, {sp['ci'][1]:.3g}]" if sp else "see the table below")
            lines.append(f"| {name} | {est} | {p_text(sub['p_raw'])} | {p_text(sub['p_holm'])} | {sub['verdict']} |")
    for key in ("thresholds",):
        if c.get(key):
            lines += ["", c[key]]
    return lines


def _extra(c: dict) -> list[str]:
    """The claim-specific tables below the tests (claims/<claim>.py)."""
    from mrd_bench.reproduce.claims import CLAIMS

    if c["verdict"] == "pending":
        return []
    return next(claim.tables(c) for claim in CLAIMS if claim.ID == c["id"])


def results_of(data) -> dict:
    """results.json's content, from the data files alone."""
    import hashlib

    from mrd_bench.reproduce import data as data_module, decide, report, stats
    from mrd_bench.reproduce.claims import CLAIMS, analyse, common

    from mrd_bench import cud_labels
    from mrd_bench.reproduce import features, protocol

    # every module whose code decides a number of results.json: the rules, the protocol's threshold and
    # calibration, the text characteristics' cut-offs, the CUD labels' rule
    # line endings normalised: CRLF is not a change
    sources = (decide, stats, data_module, report, common, protocol, features, cud_labels, *CLAIMS)
    rules = hashlib.sha256(b"".join(Path(m.__file__).read_bytes().replace(b"\r\n", b"\n") for m in sources)).hexdigest()
    return {"study": data.study, "rules_sha256": rules, "claims": analyse(data)}


def write(ctx, out: Path, *, argv) -> Path:
    import tempfile

    from mrd_bench.provenance import record
    from mrd_bench.reproduce.data import export

    study = ctx.study
    stages = {}
    for path in sorted(ctx.work.glob("*/done.json")):
        done = read_json(path)
        stages[path.parent.name] = {"wall_s": done["wall_s"], "created": done["created"],
                                    "invocations": done.get("invocations"),
                                    "hardware": done["hardware"], "settings": done["settings"], "result": done["result"]}
    from mrd_bench.reproduce.stages import STAGES
    from mrd_bench.reproduce.study import key_hash

    current = {stage.name: key_hash(stage.key(study)) for stage in STAGES}  # a stage run under other settings is out
    with tempfile.TemporaryDirectory() as tmp:
        export(ctx.work, study, Path(tmp) / "data", current=current)
        return write_from_data(Path(tmp) / "data", out, argv=argv, run_record=record(
            kind="reproduce", command=list(argv), study=asdict(study), seeds=list(range(study.seeds)),
            work=str(ctx.work), stages=stages), holdout=ctx.splits["holdout_split"])


def write_from_data(folder: Path, out: Path, *, argv, run_record: Optional[dict] = None,
                    holdout: str = "") -> Path:
    """The report in `out` from the data files in `folder` (copied to `out/data`)."""
    import shutil

    from mrd_bench.reproduce.data import Data
    from mrd_bench.reproduce.decide import RULES

    data = Data(folder)
    results = results_of(data)
    lost = measured_lost(out, results["claims"])
    if lost:
        raise OutputExistsError(f"{str(out)!r} holds measured verdicts for {', '.join(lost)}, which these data have "
                                "not measured; a report never turns a measured verdict pending, so run those stages "
                                "first (the same command without --stages report), or choose another --out.")
    study, claims = data.study, results["claims"]
    lines = ["# Reproduction study: the MRD and CUD papers' claims, measured with mrd_bench", "",
             f"Setting: `{study.get('model')}` fine-tuned on the last {study.get('authors')} TOFU authors "
             f"({study.get('finetune_epochs')} epochs at lr {study.get('finetune_lr')}) is the original model; the "
             f"forget set is the last {study.get('forget_authors')} authors (n = {len(data.ids)})"
             + (f", the holdout TOFU's `{holdout}`" if holdout else "") + ". Written by `mrd-bench reproduce`; every "
             "number of `results.json` is recomputed from the files in `data/` by `mrd-bench reproduce --data "
             "data --out <folder>` (seconds, no model).", "", "## Findings", ""]
    lines += [f"{n}. **{c['title']}** ({VERDICT_MARK[c['verdict']]}): {c['finding']}"
              for n, c in enumerate(claims.values(), 1)]
    lines += ["", "## Claims and verdicts", ""] + _claims_table(claims)
    lines += ["", "## How a verdict is decided", "", "Each claim has one primary test in the paper's direction, fixed "
              "in `mrd_bench/reproduce/claims/` (a module per claim) before its runs; secondary tests are Holm-corrected "
              "within the claim and give sub-verdicts by the same rules, which never change the claim's verdict. "
              + RULES[0].upper() + RULES[1:] + "."]
    for n, c in enumerate(claims.values(), 1):
        lines += ["", f"## {n}. {c['title']}", "", f"The paper: {c['paper']}", ""] + _section(c) + _extra(c)
    if run_record:
        lines += ["", "## How this report was made", "", "```", " ".join(argv), "```", "",
                  "| stage | wall time (s) | invocations | finished |", "|---|---|---|---|"]
        lines += [f"| {name} | {s['wall_s']:.0f} | {s['invocations'] or 'the last only'} | {s['created']} |"
                  for name, s in run_record["stages"].items()]
    if run_record:
        from mrd_bench.reproduce.stages import STAGES

        pending = [stage.name for stage in STAGES if stage.name not in run_record["stages"]]
        if pending:
            lines += ["", "Stages not run yet: " + ", ".join(pending) + ". The same command with --overwrite runs "
                      "them and rebuilds this report; finished stages are kept."]
    else:
        pending = [cid for cid, c in claims.items() if c["verdict"] == "pending"]
        if pending:
            lines += ["", "Claims these data do not measure yet: " + ", ".join(pending) + "."]
    with replacing(out, **REPORT) as tmp:
        _plots(data, claims, tmp)
        shutil.copytree(folder, tmp / "data")
        write_json(tmp / "results.json", results)
        if run_record:
            write_json(tmp / RUN_RECORD, run_record)
        write_text(tmp / "README.md", "\n".join(lines) + "\n")
    return out
