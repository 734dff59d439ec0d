"""`mrd-bench report OUTPUT_DIR`: lm-eval's results and --log_samples files, read back
into a markdown and an HTML report with plots.

It also computes what lm-eval's group aggregation (always a mean) cannot:
- model utility, the harmonic mean of the nine TOFU retain / real authors / world facts
  numbers (when those tasks ran);
- forget quality from the `tofu_forget_mrd_tr` samples and a retain reference, when the
  run had none (`--retain-reference`);
- bootstrap 95% intervals per bin (lm-eval gives a stderr for the overall means only);
- why each NaN is NaN.
Every string from the files is escaped before it reaches HTML.
"""
from __future__ import annotations

import html
import json
import math
import os
import re
from pathlib import Path

from mrd_bench.errors import DataError
from mrd_bench.io import write_json, write_text
from mrd_bench.outputs import folder_target, replacing
from mrd_bench.signals.base import MRD_SIGNAL, direction_text
from mrd_bench.provenance import record

REPORT = {"what": "a report", "kind": "report",  # the output policy (mrd_bench/outputs.py)
          "legacy": ("report.json", "report.md", "report.html", "bins.png", "per_sample.png", "mrd_hist.png")}
BINS = ("easy", "medium", "hard")
SUFFIXES = (*BINS, "reweighted")
COLUMNS = ("overall", *SUFFIXES)
UTILITY_PARTS = {"retain": ("tofu_retain_mrd_prob", "tofu_retain_mrd_rouge"),
                 "real_authors": ("tofu_real_authors_prob", "tofu_real_authors_rouge"),
                 "world_facts": ("tofu_world_facts_prob", "tofu_world_facts_rouge")}
TOKEN_LEVEL = {"fa", "ua", "prob", "min_k_auc", "truth_ratio", "forget_quality", "extraction_strength",
               "min_k_pp_auc", "privleak", "privleak_min_k_pp", "loss_auc", "zlib_auc", "privleak_loss",
               "privleak_zlib", "para_prob", "pert_prob"}
def bin_meaning(signal: dict) -> str:
    """What the bins mean, from the signal and its direction (every annotation's own)."""
    if signal.get("higher_is") not in ("easier", "harder"):
        return ("Bins are by each sample's difficulty under the original model, by the signal of each task's "
                "annotation (listed below).")
    return (f"Bins are by each sample's {signal['label']} under the original model (higher = {signal['higher_is']}): "
            f"{direction_text(signal)}.")


EXPLANATION = ("*reweighted* is Σ_b w_b · metric_b with the annotation's reference bin shares, "
               "so results on forget subsets of different difficulty compare; it is NaN when a bin with a "
               "share is empty (`--metadata '{\"renormalize\": true}'` reweights over the bins present). "
               "Intervals are bootstrap 95% percentile intervals over the logged samples (1000 resamples, "
               "seed 0); ± is lm-eval's standard error.")


def find_results(folder: Path) -> Path:
    """The newest results_*.json under `folder` (lm-eval nests it in a model folder)."""
    files = sorted(folder.rglob("results_*.json"), key=lambda p: p.name)
    if not files:
        raise DataError(f"no lm-eval results_*.json under {str(folder)!r}; run `mrd-bench eval ... "
                        "--output_path DIR --log_samples` first and pass that DIR.")
    return files[-1]


def read_results(path: Path) -> dict:
    """lm-eval's results JSON, checked: an object whose `results` maps tasks to metric objects."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ok = isinstance(data, dict) and isinstance(data.get("results"), dict) and all(
            isinstance(v, dict) for v in data["results"].values())
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{str(path)!r} is not JSON ({str(err)[:80]}); run lm-eval again into a fresh "
                        "--output_path.") from None
    if not ok:
        raise DataError(f"{str(path)!r} is not an lm-eval results file (no \"results\" object of tasks); pass "
                        "lm-eval's --output_path.")
    return data


def read_samples(results_file: Path) -> dict[str, list[dict]]:
    """task -> its --log_samples rows (same timestamp as the results file); {} where absent."""
    stamp = results_file.stem.removeprefix("results_")
    samples = {}
    for path in results_file.parent.glob(f"samples_*_{stamp}.jsonl"):
        task = path.name.removeprefix("samples_").removesuffix(f"_{stamp}.jsonl")
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
            try:
                rows.append(json.loads(line)) if line.strip() else None
            except ValueError:
                raise DataError(f"{str(path)}:{number} is not JSON (a truncated samples file?); run lm-eval "
                                "again with --log_samples.") from None
        samples[task] = rows
    return samples


def metric_table(results: dict) -> dict[str, dict[str, dict[str, float]]]:
    """task -> metric -> {overall, easy, medium, hard, reweighted, stderr} (those present).

    The per-bin document counts (n_easy, n_medium, n_hard) are read by `bin_counts`."""
    table: dict = {}
    for task, values in results.items():
        for key, value in values.items():
            if "," not in key or not isinstance(value, (int, float)) or key.split(",")[0] in _COUNT_KEYS:
                continue
            name = key.split(",")[0]
            base, column = name, "overall"
            if name.endswith("_stderr"):
                base, column = name[:-len("_stderr")], "stderr"
            for suffix in SUFFIXES:
                if name.endswith(f"_{suffix}"):
                    base, column = name[:-len(suffix) - 1], suffix
            table.setdefault(task, {}).setdefault(base, {})[column] = float(value)
    for metrics in table.values():  # a suffix without its base metric was part of the name
        for base in [b for b in metrics if "overall" not in metrics[b]]:
            for column, value in metrics.pop(base).items():
                metrics.setdefault(f"{base}_{column}", {})["stderr" if column == "stderr" else "overall"] = value
    return table


_COUNT_KEYS = {f"n_{b}" for b in BINS}


def bin_counts(results: dict) -> dict[str, dict[str, int]]:
    """task -> {easy, medium, hard}: documents per bin, for the stratified tasks."""
    return {task: {b: int(values[f"n_{b},none"]) for b in BINS}
            for task, values in results.items() if all(f"n_{b},none" in values for b in BINS)}


def model_utility(table: dict) -> dict | None:
    """open-unlearning's model utility from the nine numbers, or None if a task is missing."""
    from mrd_bench.metrics.model_utility import model_utility as hmean_utility

    parts = {}
    for name, (prob_task, rouge_task) in UTILITY_PARTS.items():
        if prob_task not in table or rouge_task not in table:
            return None
        parts[f"{name}_prob"] = table[prob_task]["prob"]["overall"]
        parts[f"{name}_rougeL_recall"] = table[rouge_task]["rougeL_recall"]["overall"]
        parts[f"{name}_truth_ratio"] = table[prob_task]["truth_ratio"]["overall"]
    if any(math.isnan(v) for v in parts.values()):
        return {"model_utility": math.nan, "parts": parts,
                "note": "unavailable: probabilities and truth ratios need `--model hf-mrd`"}
    return {"model_utility": hmean_utility(parts), "parts": parts}


def items_of(rows: list[dict]) -> dict[str, list[dict]]:
    """metric -> one item per document (what the document gave M_easy, ..., M_reweighted)."""
    out: dict = {}
    for row in rows:
        for key, value in row.items():
            if key.endswith("_reweighted") and isinstance(value, dict) and "bin" in value:
                out.setdefault(key[:-len("_reweighted")], []).append(value)
    return out


def forget_quality_from_samples(rows: list[dict], reference: Path) -> dict[str, float]:
    """Forget quality overall, per bin and reweighted from tofu_forget_mrd_tr samples and a retain reference."""
    from mrd_bench.lmeval import aggregations as agg

    items = [{**i, "reference": str(reference)} for i in items_of(rows).get("forget_quality", [])]
    return {"overall": agg.fq(items), **{b: getattr(agg, f"fq_{b}")(items) for b in BINS},
            "reweighted": agg.fq_reweighted(items)}


def privleak_from_samples(rows: list[dict], reference: Path) -> dict[str, dict[str, float]]:
    """Every privleak metric of a membership task's samples, overall, per bin and reweighted, against
    the retain model's AUCs from `reference` (its _tr_ or _mia_ samples file)."""
    from mrd_bench.lmeval import aggregations as agg

    out = {}
    for metric, items in items_of(rows).items():
        if kind_of(metric) != "privleak":
            continue
        items = [{**i, "reference": str(reference)} for i in items]
        out[metric] = {"overall": agg.privleak_agg(items), **{b: getattr(agg, f"privleak_{b}")(items) for b in BINS},
                       "reweighted": agg.privleak_reweighted(items)}
    return out


def kind_of(metric: str) -> str:
    """How a metric aggregates: a membership AUC, a privleak, forget quality's KS test, or a mean."""
    if metric.endswith("_auc"):
        return "auc"
    if metric == "privleak" or metric.startswith("privleak_"):
        return "privleak"
    return {"forget_quality": "fq"}.get(metric, "mean")


def intervals(samples: dict[str, list[dict]], retain_reference: str | None = None) -> dict:
    """task -> metric -> column -> (low, high): bootstrap 95% intervals, overall and per bin."""
    from mrd_bench.lmeval.reference import read_reference
    from mrd_bench.stats import bootstrap_interval, statistic

    out: dict = {}
    for task, rows in sorted(samples.items()):
        for metric, items in items_of(rows).items():
            kind = kind_of(metric)
            reference_path = retain_reference or next((i.get("reference") for i in items if i.get("reference")), None)
            if kind == "fq":
                if not reference_path:
                    continue
                reference = read_reference(reference_path)
                ids = sorted({i["sample_id"] for i in items if i["sample_id"] in reference})
                index = {sid: k for k, sid in enumerate(ids)}
                stat = statistic("fq", [reference[sid] for sid in ids])
                value = lambda i: (i["value"], index.get(i["sample_id"], -1))  # noqa: E731
                items = [i for i in items if i["sample_id"] in index]
            elif kind == "privleak":  # the retain model's AUC on each group's samples is held fixed
                from mrd_bench.lmeval.aggregations import reference_auc

                items = [{**i, "reference": retain_reference or i.get("reference", "")} for i in items]
                value = lambda i: i["value"]  # noqa: E731
            else:
                stat, value = statistic(kind), (lambda i: i["value"])
            others = [value(i) for i in items if not i["bin"]] if kind in ("auc", "privleak") else []
            members = [i for i in items if i["bin"]]
            groups = {"overall": members, **{b: [i for i in members if i["bin"] == b] for b in BINS}}
            cells = {}
            for column, group in groups.items():
                if kind == "privleak":
                    stat = statistic("privleak", [reference_auc(group, items)] if group else [math.nan])
                cells[column] = bootstrap_interval([value(i) for i in group], others, stat)
            out.setdefault(task, {})[metric] = cells
    return out


def nan_reasons(table: dict, counts: dict, model_type: str) -> dict:
    """task -> metric -> column -> why that value is NaN (or, for a forget quality on a bin of
    fewer than 5 documents, why it says little)."""
    from mrd_bench.lmeval.aggregations import FEW_FOR_KS

    reasons: dict = {}
    for task, metrics in table.items():
        n = counts.get(task, {})
        for metric, values in metrics.items():
            for column, value in values.items():
                if (metric == "forget_quality" and column in BINS and 0 < n.get(column, FEW_FOR_KS) < FEW_FOR_KS
                        and not math.isnan(value)):
                    reasons.setdefault(task, {}).setdefault(metric, {})[column] = (
                        f"a KS p-value on fewer than {FEW_FOR_KS} documents cannot be small: uninformative")
                if column == "stderr" or not (isinstance(value, float) and math.isnan(value)):
                    continue
                if metric in TOKEN_LEVEL and model_type != "hf-mrd":
                    why = "needs per-token log-probs: use --model hf-mrd"
                elif metric == "forget_quality" and not (column in BINS and n.get(column) == 0):
                    why = "needs a retain model's truth ratios: pass --retain-reference"
                elif metric in ("reference_auc", "privleak_reference"):
                    why = ("needs a reference model's scores: pass --metadata '{\"reference_model\": PATH}' "
                           "(its samples_tofu_forget_mrd_mia_*.jsonl)")
                elif metric in ("gradnorm_auc", "privleak_gradnorm"):
                    why = "needs per-sample gradients: run the tofu_forget_mrd_gradnorm task with --model hf-mrd"
                elif kind_of(metric) == "privleak":
                    why = "the retain reference lacks this attack's scores (run the retain model with hf-mrd)"
                elif column in BINS and n.get(column) == 0:
                    why = f"no documents in the {column} bin (--limit, or a small forget set)"
                elif column == "reweighted" and 0 in n.values():
                    why = ("a bin with a reference share is empty; --metadata '{\"renormalize\": true}' "
                           "reweights over the bins present")
                else:
                    why = "unavailable (see the run's log)"
                reasons.setdefault(task, {}).setdefault(metric, {})[column] = why
    return reasons


def run_info(data: dict, samples: dict) -> dict:
    """What the reader needs to trust the numbers: model, limit, prompt, chat template."""
    config = data.get("config", {}) or {}
    formats = sorted({row.get("doc", {}).get("prompt_format") for rows in samples.values() for row in rows[:1]}
                     - {None})
    return {"model_type": str(config.get("model", "")), "model_args": str(config.get("model_args", "")),
            "limit": config.get("limit"), "batch_size": config.get("batch_size"),
            "chat_template": bool(data.get("chat_template")), "system_instruction": data.get("system_instruction"),
            "prompt_format": ", ".join(formats) or "n/a", "lm_eval_version": data.get("lm_eval_version"),
            "bootstrap_iters": config.get("bootstrap_iters")}


def signal_of(annotations: dict[str, dict]) -> dict:
    """{"label", "higher_is"}: the difficulty signal every annotation used, read from the
    annotations themselves ("difficulty", direction unknown, if they differ)."""
    found = {(a.get("signal_label") or str(a.get("signal") or a.get("metric", "mrd")).upper(),
              a.get("higher_is", "easier")) for a in annotations.values()}
    if len(found) == 1:
        label, higher = found.pop()
        return {"label": label, "higher_is": higher}
    return dict(MRD_SIGNAL) if not found else {"label": "difficulty", "higher_is": None}


def annotations_used(samples: dict[str, list[dict]]) -> dict[str, str]:
    """task -> the difficulty annotation its documents were joined to."""
    found = {}
    for task, rows in samples.items():
        for row in rows:
            if row.get("doc", {}).get("annotation"):
                found[task] = row["doc"]["annotation"]
                break
    return found


def per_sample(samples: dict[str, list[dict]]) -> dict[str, dict[str, list[tuple]]]:
    """task -> metric -> [(mrd, value, bin)] for the stratified tasks' per-document metrics."""
    out: dict = {}
    for task, rows in samples.items():
        for row in rows:
            doc = row.get("doc", {})
            if not isinstance(doc.get("mrd"), (int, float)) or not doc.get("mrd_bin"):
                continue
            for metric, item in items_of([row]).items():
                value = item[0]["value"]
                if kind_of(metric) == "mean" and isinstance(value, (int, float)) and not math.isnan(value):
                    out.setdefault(task, {}).setdefault(metric, []).append((doc["mrd"], float(value), doc["mrd_bin"]))
    return out


def build_report(folder: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 retain_reference: str | None = None, overwrite: bool = False) -> Path:
    from mrd_bench.report import plots

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{str(folder)!r} is not a folder; pass lm-eval's --output_path.")
    results_file = find_results(folder)
    if retain_reference:
        from mrd_bench.lmeval.reference import read_mia_reference, read_reference

        try:  # a missing or unreadable reference stops here, before any work
            read_reference(retain_reference)
        except DataError as err:
            try:
                read_mia_reference(retain_reference)  # a membership-scores file serves privleak alone
            except DataError:
                raise err from None  # neither: the truth-ratio reader's message names the file to pass
    data = read_results(results_file)
    samples = read_samples(results_file)
    target = folder_target(Path(out) if out else folder / "mrd_report", overwrite,
                           inputs={"OUTPUT_DIR": folder, "--retain-reference": retain_reference}, **REPORT)
    with replacing(target, **REPORT) as out:
        table = metric_table(data["results"])
        counts = bin_counts(data["results"])
        info = run_info(data, samples)
        derived: dict = {}
        utility = model_utility(table)
        if utility is not None:
            derived["model_utility"] = utility
        if retain_reference and "tofu_forget_mrd_tr" in samples:
            fq = forget_quality_from_samples(samples["tofu_forget_mrd_tr"], Path(retain_reference))
            table["tofu_forget_mrd_tr"]["forget_quality"].update(fq)
            derived["forget_quality"] = {**fq, "retain_reference": str(retain_reference)}
        for task in ("tofu_forget_mrd_mia", "tofu_forget_mrd_gradnorm"):
            if retain_reference and task in samples and task in table:
                leaks = privleak_from_samples(samples[task], Path(retain_reference))
                for metric, values in leaks.items():
                    table[task].setdefault(metric, {}).update(values)
                derived.setdefault("privleak", {}).update({**leaks, "retain_reference": str(retain_reference)})
        cis = intervals(samples, retain_reference)
        reasons = nan_reasons(table, counts, info["model_type"])
        higher = data.get("higher_is_better", {})  # task -> metric -> True, False or None
        figures = []
        annotations = annotations_used(samples)
        signal = signal_of({t: json.loads(Path(p).read_text()) for t, p in annotations.items() if Path(p).is_file()})
        name = signal["label"]
        if any(any(b in v for b in BINS) and not plots.is_attack(m) for metrics in table.values()
               for m, v in metrics.items()):
            figures.append((f"Metrics per {name} bin",
                            plots.plot_bins(table, counts, cis, higher, out / "bins.png", signal)))
        if plots.attack_metrics(table):
            fallback = not retain_reference and not any(
                i.get("reference") for rows in samples.values() for i in items_of(rows[:1]).get("privleak", []))
            figures.append((f"Membership attacks per {name} bin",
                            plots.plot_attacks(table, cis, out / "attacks.png", signal, fallback=fallback)))
        points = per_sample(samples)
        if points:
            figures.append((f"Per-sample metric against {name}",
                            plots.plot_vs_mrd(points, out / "per_sample.png", signal)))
        histograms = {task: json.loads(Path(p).read_text()) for task, p in annotations.items() if Path(p).is_file()}
        if histograms:
            figures.append((f"{name} distribution with bin edges",
                            plots.plot_mrd_histograms(histograms, out / "mrd_hist.png", signal)))
        model = data.get("model_name") or info["model_args"]
        page = {"model": model, "results_file": results_file, "difficulty_metric": name, "signal": signal,
                "table": table,
                "counts": counts, "cis": cis,
                "reasons": reasons, "higher": higher, "info": info, "derived": derived, "annotations": annotations,
                "figures": figures}
        summary = record(results_file=str(results_file), model=model, lm_eval_version=data.get("lm_eval_version"),
                         run=info, table=table, bin_counts=counts, intervals=cis, nan_reasons=reasons,
                         derived=derived, annotations=annotations, difficulty_metric=name, difficulty_signal=signal,
                         figures=[p.name for _, p in figures])
        write_json(out / "report.json", summary)
        write_text(out / "report.md", _markdown(page))
        write_text(out / "report.html", _html(page))
    return target


# ---- rendering ---------------------------------------------------------------------------

def _fmt(value) -> str:
    return "—" if value is None else ("NaN" if isinstance(value, float) and math.isnan(value) else f"{value:.4f}")


def _arrow(higher) -> str:
    return {True: "↑", False: "↓"}.get(higher, "")


def _cells(page: dict, task: str, metric: str) -> list[tuple[str, str]]:
    """(value text, reason or interval note) per column."""
    values = page["table"][task][metric]
    ci = page["cis"].get(task, {}).get(metric, {})
    why = page["reasons"].get(task, {}).get(metric, {})
    cells = []
    for column in COLUMNS:
        value = values.get(column)
        text = _fmt(value)
        if column == "overall" and isinstance(values.get("stderr"), float):
            text += f" ± {values['stderr']:.4f}"
        low, high = ci.get(column, (math.nan, math.nan))
        if not math.isnan(low):
            text += f" [{low:.3f}, {high:.3f}]"
        cells.append((text, why.get(column, "")))
    return cells


def _rows(page: dict):
    for task in sorted(page["table"]):
        for metric in sorted(page["table"][task]):
            yield task, metric


def _header(page: dict, task: str) -> list[str]:
    n = page["counts"].get(task)
    return [c if not n or c not in BINS else f"{c} (n={n[c]})" for c in COLUMNS]


def _run_lines(info: dict) -> list[tuple[str, str]]:
    limit = info["limit"]
    return [("model type", info["model_type"]), ("model args", info["model_args"]),
            ("--limit", "none (every document)" if limit is None else f"{limit:g} documents per task"),
            ("prompt format", info["prompt_format"]),
            ("chat template", "applied" if info["chat_template"] else "not applied"),
            ("system instruction", str(info["system_instruction"])),
            ("lm-eval", str(info["lm_eval_version"]))]


def _markdown(page: dict) -> str:
    lines = [f"# mrd_bench report: {page['model']}", "", f"From `{page['results_file']}`.", "",
             bin_meaning(page["signal"]) + " " + EXPLANATION, "",
             "| run | |", "|---|---|", *[f"| {k} | {v} |" for k, v in _run_lines(page["info"])], ""]
    current = None
    notes: list[str] = []
    for task, metric in _rows(page):
        if task != current:
            current = task
            lines += ["", f"### {task}", "", "| metric | " + " | ".join(_header(page, task)) + " |",
                      "|---|" + "---:|" * len(COLUMNS)]
        cells = []
        for text, why in _cells(page, task, metric):
            if why:
                if why not in notes:
                    notes.append(why)
                text += f" [^{notes.index(why) + 1}]"
            cells.append(text)
        lines.append(f"| {metric} {_arrow(page['higher'].get(task, {}).get(metric))} | " + " | ".join(cells) + " |")
    if notes:
        lines += ["", "Notes (NaN values and uninformative ones):", ""] + [f"[^{k}]: {w}" for k, w in enumerate(notes, 1)]
    derived = page["derived"]
    if "model_utility" in derived:
        mu = derived["model_utility"]
        lines += ["", f"**Model utility** (harmonic mean of the nine TOFU utility numbers): "
                      f"{_fmt(mu['model_utility'])}" + (f" ({mu['note']})" if "note" in mu else ""), ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in mu["parts"].items()]
    if "forget_quality" in derived:
        fq = derived["forget_quality"]
        lines += ["", f"**Forget quality** against `{fq['retain_reference']}`: {_fmt(fq['overall'])}"]
    if page["annotations"]:
        lines += ["", f"Difficulty annotations (by {page['difficulty_metric']}):", ""] + [
            f"- {t}: `{p}`" for t, p in sorted(page["annotations"].items())]
    for title, path in page["figures"]:
        lines += ["", f"## {title}", "", f"![{title}]({path.name})"]
    return "\n".join(lines) + "\n"


def _html(page: dict) -> str:
    e = html.escape
    parts = [f"<h1>mrd_bench report: {e(str(page['model']))}</h1>",
             f"<p>From <code>{e(str(page['results_file']))}</code>.</p>",
             "<p class=\"explain\">" + re.sub(r"`([^`]*)`", r"<code>\1</code>",
                                               e(bin_meaning(page["signal"]) + " " + EXPLANATION)
                                               .replace("*reweighted*", "<i>reweighted</i>")) + "</p>",
             "<table class=\"run\">" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>"
                                               for k, v in _run_lines(page["info"])) + "</table>"]
    notes: list[str] = []
    current = None
    body = []
    for task, metric in _rows(page):
        if task != current:
            if current is not None:
                body.append("</tbody></table>")
            current = task
            head = "".join(f"<th>{e(c)}</th>" for c in ("metric", *_header(page, task)))
            body.append(f"<h3>{e(task)}</h3><table class=\"metrics\"><thead><tr>{head}</tr></thead><tbody>")
        higher = page["higher"].get(task, {}).get(metric)
        title = {True: "higher is better", False: "lower is better"}.get(higher, "")
        cells = []
        for text, why in _cells(page, task, metric):
            if why:
                if why not in notes:
                    notes.append(why)
                mark = notes.index(why) + 1
                cells.append(f"<td class=\"nan\" title=\"{e(why)}\">{e(text)}<sup>{mark}</sup></td>")
            else:
                cells.append(f"<td>{e(text)}</td>")
        body.append(f"<tr><td title=\"{e(title)}\">{e(metric)} {_arrow(higher)}</td>{''.join(cells)}</tr>")
    if current is not None:
        body.append("</tbody></table>")
    parts += body
    if notes:
        parts.append("<p>Notes (NaN values and uninformative ones):</p><ol class=\"notes\">"
                     + "".join(f"<li>{e(w)}</li>" for w in notes) + "</ol>")
    derived = page["derived"]
    if "model_utility" in derived:
        mu = derived["model_utility"]
        parts.append(f"<p><b>Model utility</b>: {e(_fmt(mu['model_utility']))} {e(mu.get('note', ''))}</p><ul>"
                     + "".join(f"<li>{e(k)}: {e(_fmt(v))}</li>" for k, v in mu["parts"].items()) + "</ul>")
    if "forget_quality" in derived:
        fq = derived["forget_quality"]
        parts.append(f"<p><b>Forget quality</b> against <code>{e(fq['retain_reference'])}</code>: "
                     f"{e(_fmt(fq['overall']))}</p>")
    if page["annotations"]:
        parts.append(f"<p>Difficulty annotations (by {e(page['difficulty_metric'])}):</p><ul>" + "".join(
            f"<li>{e(t)}: <code>{e(p)}</code></li>" for t, p in sorted(page["annotations"].items())) + "</ul>")
    for title, path in page["figures"]:
        parts.append(f"<h2>{e(title)}</h2><img src=\"{e(path.name)}\" alt=\"{e(title)}\" style=\"max-width:100%\">")
    style = ("body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin-bottom:1em}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child"
             "{text-align:left}table.run td{text-align:left}td.nan{color:#a33}.explain{max-width:60em}")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mrd_bench report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
