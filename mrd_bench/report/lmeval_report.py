"""`mrd-bench report OUTPUT_DIR`: lm-eval's results and --log_samples files, read back
into a markdown and an HTML report with plots.

It also computes what lm-eval's group aggregation (always a mean) cannot:
- model utility, the harmonic mean of the nine TOFU retain / real authors / world facts
  numbers (when those tasks ran);
- forget quality from the `tofu_forget_mrd_tr` samples and a retain reference, when the
  run had none (`--retain-reference`).
Every string from the files is escaped before it reaches HTML.
"""
from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path

from mrd_bench.errors import DataError
from mrd_bench.io import guard_output, write_json, write_text
from mrd_bench.provenance import record

SUFFIXES = ("easy", "medium", "hard", "reweighted")
COLUMNS = ("overall", *SUFFIXES)
UTILITY_PARTS = {"retain": ("tofu_retain_mrd_prob", "tofu_retain_mrd_rouge"),
                 "real_authors": ("tofu_real_authors_prob", "tofu_real_authors_rouge"),
                 "world_facts": ("tofu_world_facts_prob", "tofu_world_facts_rouge")}


def find_results(folder: Path) -> Path:
    """The newest results_*.json under `folder` (lm-eval nests it in a model folder)."""
    files = sorted(folder.rglob("results_*.json"), key=lambda p: p.name)
    if not files:
        raise DataError(f"no lm-eval results_*.json under {str(folder)!r}; run `mrd-bench eval ... "
                        "--output_path DIR --log_samples` first and pass that DIR.")
    return files[-1]


def read_samples(results_file: Path) -> dict[str, list[dict]]:
    """task -> its --log_samples rows (same timestamp as the results file); {} where absent."""
    stamp = results_file.stem.removeprefix("results_")
    samples = {}
    for path in results_file.parent.glob(f"samples_*_{stamp}.jsonl"):
        task = path.name.removeprefix("samples_").removesuffix(f"_{stamp}.jsonl")
        samples[task] = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]
    return samples


def metric_table(results: dict) -> dict[str, dict[str, dict[str, float]]]:
    """task -> metric -> {overall, easy, medium, hard, reweighted} (those present)."""
    table: dict = {}
    for task, values in results.items():
        for key, value in values.items():
            if "," not in key or "_stderr" in key or not isinstance(value, (int, float)):
                continue
            name = key.split(",")[0]
            base, column = name, "overall"
            for suffix in SUFFIXES:
                if name.endswith(f"_{suffix}"):
                    base, column = name[:-len(suffix) - 1], suffix
            table.setdefault(task, {}).setdefault(base, {})[column] = float(value)
    for task, metrics in table.items():  # a suffix without its base metric was part of the name
        for base in [b for b in metrics if "overall" not in metrics[b]]:
            for column, value in metrics.pop(base).items():
                metrics.setdefault(f"{base}_{column}", {})["overall"] = value
    return table


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


def forget_quality_from_samples(rows: list[dict], reference: Path) -> dict[str, float]:
    """Forget quality overall and per bin from tofu_forget_mrd_tr samples and a retain reference."""
    from mrd_bench.lmeval.stratified import forget_quality_agg, reweighted_forget_quality

    items = [(row["forget_quality"][0], row["doc"]["sample_id"], str(reference), row["doc"]["mrd_bin"],
              row["doc"]["bin_weight"]) for row in rows]
    out = {"overall": forget_quality_agg(items), "reweighted": reweighted_forget_quality(items)}
    for b in ("easy", "medium", "hard"):
        chosen = [i for i in items if i[3] == b]
        if chosen:
            out[b] = forget_quality_agg(chosen)
    return out


def per_sample(samples: dict[str, list[dict]]) -> dict[str, dict[str, list[tuple]]]:
    """task -> metric -> [(mrd, value, bin)] for stratified tasks' plain numeric metrics."""
    out: dict = {}
    for task, rows in samples.items():
        for row in rows:
            doc = row.get("doc", {})
            if not isinstance(doc.get("mrd"), (int, float)) or not doc.get("mrd_bin"):
                continue
            for key, value in row.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("doc_id",) \
                        and not any(key.endswith(f"_{s}") for s in SUFFIXES) and not math.isnan(value):
                    out.setdefault(task, {}).setdefault(key, []).append((doc["mrd"], float(value), doc["mrd_bin"]))
    return out


def annotations_used(samples: dict[str, list[dict]]) -> dict[str, str]:
    """task -> the difficulty annotation its documents were joined to."""
    found = {}
    for task, rows in samples.items():
        for row in rows:
            if row.get("doc", {}).get("annotation"):
                found[task] = row["doc"]["annotation"]
                break
    return found


def build_report(folder: str | os.PathLike, out: str | os.PathLike | None = None, *,
                 retain_reference: str | None = None, overwrite: bool = False) -> Path:
    from mrd_bench.report import plots

    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{str(folder)!r} is not a folder; pass lm-eval's --output_path.")
    results_file = find_results(folder)
    out = guard_output(Path(out) if out else folder / "mrd_report", overwrite, what="a report")
    out.mkdir(parents=True, exist_ok=True)
    data = json.loads(results_file.read_text(encoding="utf-8"))
    table = metric_table(data["results"])
    samples = read_samples(results_file)
    derived: dict = {}
    utility = model_utility(table)
    if utility is not None:
        derived["model_utility"] = utility
    if retain_reference and "tofu_forget_mrd_tr" in samples:
        fq = forget_quality_from_samples(samples["tofu_forget_mrd_tr"], Path(retain_reference))
        table["tofu_forget_mrd_tr"]["forget_quality"] = fq
        derived["forget_quality"] = {**fq, "retain_reference": str(retain_reference)}
    figures = []
    if any(len(m) > 1 for metrics in table.values() for m in metrics.values()):
        figures.append(("Metrics per MRD bin", plots.plot_bins(table, out / "bins.png")))
    points = per_sample(samples)
    if points:
        figures.append(("Per-sample metric against MRD", plots.plot_vs_mrd(points, out / "per_sample.png")))
    annotations = annotations_used(samples)
    histograms = {task: json.loads(Path(p).read_text()) for task, p in annotations.items() if Path(p).is_file()}
    if histograms:
        figures.append(("MRD distribution with bin edges", plots.plot_mrd_histograms(histograms, out / "mrd_hist.png")))
    model = data.get("model_name") or str(data.get("config", {}).get("model_args", ""))
    summary = record(results_file=str(results_file), model=model, lm_eval_version=data.get("lm_eval_version"),
                     table=table, derived=derived, annotations=annotations, figures=[p.name for _, p in figures])
    write_json(out / "report.json", summary)
    write_text(out / "report.md", _markdown(model, results_file, table, derived, annotations, figures))
    write_text(out / "report.html", _html(model, results_file, table, derived, annotations, figures))
    return out


def _fmt(value) -> str:
    return "—" if value is None else ("NaN" if isinstance(value, float) and math.isnan(value) else f"{value:.4f}")


def _rows(table: dict):
    for task in sorted(table):
        for metric in sorted(table[task]):
            yield task, metric, [table[task][metric].get(c) for c in COLUMNS]


def _markdown(model, results_file, table, derived, annotations, figures) -> str:
    lines = [f"# mrd_bench report: {model}", "", f"From `{results_file}`.", "",
             "Bins are by each sample's MRD under the original model: easy = fragile memory (high MRD), "
             "hard = low MRD. *reweighted* is Σ_b w_b · metric_b with the annotation's reference bin shares, "
             "so results on different forget subsets compare.", "",
             "| task | metric | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---:|" * len(COLUMNS)]
    lines += [f"| {t} | {m} | " + " | ".join(_fmt(v) for v in vals) + " |" for t, m, vals in _rows(table)]
    if "model_utility" in derived:
        mu = derived["model_utility"]
        lines += ["", f"**Model utility** (harmonic mean of the nine TOFU utility numbers): "
                      f"{_fmt(mu['model_utility'])}" + (f" ({mu['note']})" if "note" in mu else ""), ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in mu["parts"].items()]
    if "forget_quality" in derived:
        fq = derived["forget_quality"]
        lines += ["", f"**Forget quality** against `{fq['retain_reference']}`: {_fmt(fq['overall'])}"]
    if annotations:
        lines += ["", "Difficulty annotations:", ""] + [f"- {t}: `{p}`" for t, p in sorted(annotations.items())]
    for title, path in figures:
        lines += ["", f"## {title}", "", f"![{title}]({path.name})"]
    return "\n".join(lines) + "\n"


def _html(model, results_file, table, derived, annotations, figures) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in ("task", "metric", *COLUMNS))
    body = "".join("<tr><td>" + e(t) + "</td><td>" + e(m) + "</td>" + "".join(f"<td>{e(_fmt(v))}</td>" for v in vals)
                   + "</tr>" for t, m, vals in _rows(table))
    parts = [f"<h1>mrd_bench report: {e(str(model))}</h1>", f"<p>From <code>{e(str(results_file))}</code>.</p>",
             f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"]
    if "model_utility" in derived:
        mu = derived["model_utility"]
        parts.append(f"<p><b>Model utility</b>: {e(_fmt(mu['model_utility']))} {e(mu.get('note', ''))}</p><ul>"
                     + "".join(f"<li>{e(k)}: {e(_fmt(v))}</li>" for k, v in mu["parts"].items()) + "</ul>")
    if "forget_quality" in derived:
        fq = derived["forget_quality"]
        parts.append(f"<p><b>Forget quality</b> against <code>{e(fq['retain_reference'])}</code>: "
                     f"{e(_fmt(fq['overall']))}</p>")
    if annotations:
        parts.append("<p>Difficulty annotations:</p><ul>" + "".join(
            f"<li>{e(t)}: <code>{e(p)}</code></li>" for t, p in sorted(annotations.items())) + "</ul>")
    for title, path in figures:
        parts.append(f"<h2>{e(title)}</h2><img src=\"{e(path.name)}\" alt=\"{e(title)}\" style=\"max-width:100%\">")
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:nth-child(-n+2){text-align:left}")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>mrd_bench report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
