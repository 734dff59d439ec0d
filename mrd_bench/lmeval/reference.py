"""What other models' runs give a metric: a retain-only model's truth ratios (forget quality)
and membership scores (privleak), and a reference model's (the reference attack).

A truth-ratio reference is either
- the `--log_samples` file lm-eval writes for a forget truth-ratio task
  (`samples_tofu_forget_mrd_tr_*.jsonl`) run on the retain model: each line's
  `forget_quality` item holds that sample's truth ratio R (`{"value": R, ...}`; files
  from before 0.2 hold a list that starts with R); or
- a JSON object {"truth_ratios": {sample_id: R, ...}}.

Membership scores come from the same run's `samples_tofu_forget_mrd_mia_*.jsonl` (found beside
the truth-ratio file, so one `retain_reference` serves both) or {"membership_scores": ...}.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from mrd_bench.errors import DataError


def read_reference(path: str | Path) -> dict[str, float]:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"retain reference {str(path)!r} does not exist; pass the retain model's "
                        "samples_tofu_forget_mrd_tr_*.jsonl (lm-eval --log_samples) or a truth_ratios JSON.")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".json":
            ratios = json.loads(text)["truth_ratios"]
        else:
            ratios = {}
            for line in filter(None, text.split("\n")):
                row = json.loads(line)
                item = row["forget_quality"]
                ratios[row["doc"]["sample_id"]] = item["value"] if isinstance(item, dict) else item[0]
    except (ValueError, KeyError, TypeError, IndexError) as err:
        raise DataError(f"{str(path)!r} is not a retain reference ({type(err).__name__}: {err}); pass a "
                        "samples_*_tr_*.jsonl from lm-eval --log_samples or {\"truth_ratios\": {...}} JSON.") from err
    ratios = {sid: float(r) for sid, r in ratios.items() if r is not None and not math.isnan(float(r))}
    if not ratios:
        raise DataError(f"{str(path)!r} holds no truth ratios; run the retain model with the token-level "
                        "model (`mrd-bench eval --model hf-mrd`).")
    return ratios



# ---- membership scores of another model (privleak's retain model, the reference attack's model) ----

ATTACK_KEYS = ("min_k_auc", "loss_auc", "zlib_auc", "min_k_pp_auc", "reference_auc", "gradnorm_auc")


def mia_file(path: str | Path) -> Path:
    """The membership-task samples file that goes with `path`: itself when it is one (or a JSON
    of scores), else, for a truth-ratio samples file (what forget quality reads), the
    `samples_tofu_forget_mrd_mia_<stamp>.jsonl` that the same run wrote beside it."""
    path = Path(path)
    if path.suffix == ".json" or "_mia_" in path.name or "_tr_" not in path.name:
        return path
    head, _, stamp = path.name.rpartition("_tr_")
    return path.with_name(f"{head}_mia_{stamp}")


def read_mia_reference(path: str | Path) -> dict[str, dict[str, float]]:
    """{attack metric (e.g. "loss_auc"): {sample_id: that model's member score}} from a
    `samples_tofu_forget_mrd_mia_*.jsonl` (lm-eval --log_samples of the membership task; each
    line's `<attack>_auc` item holds the score), the truth-ratio file beside one, or a JSON
    {"membership_scores": {attack: {sample_id: score}}}. NaN scores (an attack the model's
    backend could not run) are left out."""
    given, path = Path(path), mia_file(path)
    if not path.is_file():
        raise DataError(f"no membership scores at {str(path)!r} (from {str(given)!r}); pass the model's "
                        "samples_tofu_forget_mrd_mia_*.jsonl (lm-eval --log_samples), or the _tr_ file of the "
                        "same run with the _mia_ file beside it.")
    out: dict[str, dict[str, float]] = {}
    # GradNorm runs as its own task: its samples file of the same run joins the membership task's
    gradnorm = path.with_name(path.name.replace("_mia_", "_gradnorm_")) if "_mia_" in path.name else None
    try:
        if path.suffix == ".json":
            out = {a: {str(s): float(v) for s, v in scores.items()}
                   for a, scores in json.loads(path.read_text(encoding="utf-8"))["membership_scores"].items()}
        for file in [path, gradnorm] if path.suffix != ".json" else []:
            if file is None or not file.is_file():
                continue
            for line in filter(None, file.read_text(encoding="utf-8").split("\n")):
                row = json.loads(line)
                for attack in ATTACK_KEYS:
                    if attack in row:
                        item = row[attack]
                        out.setdefault(attack, {})[row["doc"]["sample_id"]] = float(
                            item["value"] if isinstance(item, dict) else item)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise DataError(f"{str(path)!r} holds no membership scores ({type(err).__name__}: {err}); pass a "
                        "samples_tofu_forget_mrd_mia_*.jsonl from lm-eval --log_samples.") from err
    out = {a: {s: v for s, v in scores.items() if not math.isnan(v)} for a, scores in out.items()}
    out = {a: scores for a, scores in out.items() if scores}
    if not out:
        raise DataError(f"{str(path)!r} holds no membership scores; run that model on tofu_forget_mrd_mia with "
                        "--log_samples (`mrd-bench eval --model hf-mrd` for the per-token attacks).")
    return out
