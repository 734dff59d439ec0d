"""The board's pages: index.md and a static index.html (a sortable table, a forget-vs-utility
scatter with CI bars, per-bin bars of the primary metric). The HTML needs no network and works
from a file:// URL. Every string from a submission is escaped: it is shown, never run.
"""
from __future__ import annotations

import html
import math
from pathlib import Path

from mrd_bench.io import write_text

SORT_JS = """
document.querySelectorAll('#board thead th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = document.querySelector('#board tbody');
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute('data-order') !== 'asc';
    document.querySelectorAll('#board thead th').forEach(function (h) { h.removeAttribute('data-order'); });
    th.setAttribute('data-order', asc ? 'asc' : 'desc');
    function key(row) {
      var cell = row.cells[col], v = cell.getAttribute('data-value');
      if (v === null) { return cell.textContent.trim().toLowerCase(); }
      return v === '' ? NaN : parseFloat(v);
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (typeof x === 'string') { return asc ? x.localeCompare(y) : y.localeCompare(x); }
      if (isNaN(x)) { return isNaN(y) ? 0 : 1; }
      if (isNaN(y)) { return -1; }
      return asc ? x - y : y - x;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

STYLE = """
body { font-family: sans-serif; margin: 1.5em; max-width: 1400px; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: right; vertical-align: top; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
th[data-order=asc]::after { content: ' \\25B2'; } th[data-order=desc]::after { content: ' \\25BC'; }
td.name, th.name { text-align: left; min-width: 12em; max-width: 20em; }
.ci { color: #777; font-size: 0.85em; white-space: nowrap; }
.desc { color: #555; font-size: 0.85em; }
.wrap { overflow-x: auto; }
img { max-width: 100%; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; }
.figs figure { flex: 1 1 560px; margin: 0; }
.figs img { width: 100%; height: auto; }
"""


def esc(value) -> str:
    return html.escape(str(value), quote=True)


def fmt(value) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4g}"


def columns(scores: dict) -> list[tuple[str, str, str]]:
    """(metric id, statistic key, header) for every value column; primary first, then utility."""
    specs = {m["id"]: m for m in scores["metrics"]}
    order = [scores["primary_metric"], scores["utility_metric"]] + \
        [m["id"] for m in scores["metrics"] if m["id"] not in (scores["primary_metric"], scores["utility_metric"])]
    out = []
    for mid in order:
        m = specs[mid]
        arrow = "↑" if m["direction"] == "higher" else "↓"
        keys = ["reweighted", "overall", *scores["bins"]] if m["stratified"] else ["overall"]
        out += [(mid, k, f"{m['label']} {arrow} ({k})") for k in keys]
    return out


def _cell(stat: dict) -> str:
    value, (low, high) = stat["value"], stat["ci"]
    data = "" if value is None or math.isnan(value) else repr(float(value))
    return f'<td data-value="{data}">{fmt(value)} <span class="ci">[{fmt(low)}, {fmt(high)}]</span></td>'


def _method_cell(entry: dict) -> str:
    m = entry["method"]
    name = esc(m["name"])
    if m.get("link", "").startswith(("https://", "http://")):
        name = f'<a href="{esc(m["link"])}" rel="nofollow noopener">{name}</a>'
    run = entry["run"]
    detail = f"{run.get('method')} / {run.get('sampler')}, {run.get('steps')} updates" if run.get("method") else ""
    return (f'<td class="name">{name}<div class="desc">{esc(m.get("description", ""))}</div>'
            f'<div class="desc">{esc(detail)}</div></td>')


def html_page(scores: dict) -> str:
    cols = columns(scores)
    head = ['<th data-type="number">rank</th>', '<th data-type="number">rank (overall)</th>',
            '<th class="name" data-type="text">method</th>'] + \
        [f'<th data-type="number" data-metric="{esc(mid)}" data-stat="{esc(k)}">{esc(h)}</th>' for mid, k, h in cols]
    rows = []
    for e in scores["entries"]:
        cells = [f'<td data-value="{e["rank"]["reweighted"]}">{e["rank"]["reweighted"]}</td>',
                 f'<td data-value="{e["rank"]["overall"]}">{e["rank"]["overall"]}</td>', _method_cell(e)]
        cells += [_cell(e["scores"][mid][k]) for mid, k, _ in cols]
        rows.append(f'<tr data-entry="{esc(e["id"])}">' + "".join(cells) + "</tr>")
    primary = next(m for m in scores["metrics"] if m["id"] == scores["primary_metric"])
    utility = next(m for m in scores["metrics"] if m["id"] == scores["utility_metric"])
    counts = ", ".join(f"{b} {scores['bin_counts'][b]} (reference weight {scores['reference_weights'][b]:.3f})"
                       for b in scores["bins"])
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src \'self\' data: file:; '
        'style-src \'unsafe-inline\'; script-src \'unsafe-inline\'">',
        f"<title>{esc(scores['title'])}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(scores['title'])}</h1>", f"<p>{esc(scores['description'])}</p>",
        "<ul>" + "".join(f"<li>{esc(n)}</li>" for n in scores["notes"]) + "</ul>",
        f"<p><b>Ranking.</b> By <b>{esc(primary['label'])}</b> ({'higher' if primary['direction'] == 'higher' else 'lower'} "
        f"is better), reweighted to the annotation's difficulty mix. Rank = 1 + the number of entries that beat "
        f"this one in at least {scores['bootstrap']['level']:.1%} of {scores['bootstrap']['B']} paired bootstrap "
        "resamples of the samples (stratified by difficulty bin; every entry is scored on the same resamples); "
        "entries that no test separates share a rank. Because ranks come from these pairwise tests, an entry "
        "can hold a better rank than one with a slightly better value when fewer entries beat it significantly. "
        "Values are shown with their 95% bootstrap CI. "
        "Click a column header to sort.</p>",
        f"<p><b>Difficulty.</b> {esc(scores['annotation']['metric'].upper())} bins of the forget split: {esc(counts)}. "
        "Easy = highest MRD. <i>reweighted</i> = Σ<sub>b</sub> w<sub>b</sub> · mean<sub>b</sub>: the metric at the "
        "annotation's mix, whatever this split's own mix is.</p>",
        f"<p>Original model: {esc(scores['original_model']['name'])} "
        f"(weights sha256 <code>{esc(scores['original_model']['weights_sha256'][:16])}…</code>); annotation "
        f"<code>{esc(scores['annotation']['path'])}</code> (sha256 <code>{esc(scores['annotation']['sha256'][:16])}…</code>).</p>",
        '<div class="wrap"><table id="board"><thead><tr>' + "".join(head) + "</tr></thead><tbody>",
        *rows, "</tbody></table></div>",
        '<div class="figs"><figure><img src="scatter.png" alt="forget vs utility scatter">'
        f"<figcaption>{esc(primary['label'])} (reweighted) against {esc(utility['label'])}, with 95% CIs.</figcaption>"
        '</figure><figure><img src="bins.png" alt="per-bin bars">'
        f"<figcaption>{esc(primary['label'])} per difficulty bin, with 95% CIs.</figcaption></figure></div>",
    ]
    if scores["order_changes"]:
        parts.append("<h2>Order changes between overall and reweighted</h2><ul>" + "".join(
            f"<li>{esc(c['a'])} vs {esc(c['b'])}: overall {esc(c['overall_ahead'])} ahead, reweighted "
            f"{esc(c['reweighted_ahead'])} ahead</li>" for c in scores["order_changes"]) + "</ul>")
    notes = [(e["id"], d) for e in scores["entries"] for d in e["discrepancies"]]
    if notes:
        parts.append("<h2>Stated numbers that differ from the recomputed ones</h2><ul>" + "".join(
            f"<li>{esc(i)}: {esc(d)}</li>" for i, d in notes) + "</ul>")
    if scores["rejected"]:
        parts.append("<h2>Rejected submissions</h2><ul>" + "".join(
            f"<li>{esc(r['submission'])}<ul>" + "".join(f"<li>{esc(p)}</li>" for p in r["problems"]) + "</ul></li>"
            for r in scores["rejected"]) + "</ul>")
    parts.append(f"<p class=\"desc\">Built {esc(scores['built'])} by mrd_bench "
                 f"{esc(scores['provenance']['versions'].get('mrd_bench', ''))}; every figure is in scores.json.</p>")
    parts.append(f"<script>{SORT_JS}</script></body></html>")
    return "\n".join(parts) + "\n"


def md_escape(value) -> str:
    return html.escape(str(value), quote=False).replace("|", "\\|").replace("\n", " ")


def markdown(scores: dict) -> str:
    primary = scores["primary_metric"]
    utility = scores["utility_metric"]
    label = {m["id"]: m["label"] for m in scores["metrics"]}

    def ci(stat):
        return f"{fmt(stat['value'])} [{fmt(stat['ci'][0])}, {fmt(stat['ci'][1])}]"

    lines = [f"# {md_escape(scores['title'])}", "", md_escape(scores["description"]), "",
             *[f"- {md_escape(n)}" for n in scores["notes"]], "",
             f"Ranked by {label[primary]} reweighted to the annotation's mix; rank = 1 + the entries that beat it "
             f"in ≥ {scores['bootstrap']['level']:.1%} of {scores['bootstrap']['B']} paired bootstrap resamples "
             "(stratified by bin). 95% CIs in brackets.", "",
             f"| rank | rank (overall) | method | {label[primary]} (reweighted) | (overall) | "
             + " | ".join(f"({b})" for b in scores["bins"]) + f" | {label[utility]} |",
             "|---:|---:|---|---:|---:|" + "---:|" * len(scores["bins"]) + "---:|"]
    for e in scores["entries"]:
        s = e["scores"][primary]
        lines.append(f"| {e['rank']['reweighted']} | {e['rank']['overall']} | {md_escape(e['method']['name'])} | "
                     f"{ci(s['reweighted'])} | {ci(s['overall'])} | " + " | ".join(ci(s[b]) for b in scores["bins"])
                     + f" | {ci(e['scores'][utility]['overall'])} |")
    lines += ["", "![forget vs utility](scatter.png) ![per-bin](bins.png)", ""]
    if scores["order_changes"]:
        lines += ["Order changes between overall and reweighted: " + "; ".join(
            f"{md_escape(c['a'])} vs {md_escape(c['b'])} (overall: {md_escape(c['overall_ahead'])} ahead, "
            f"reweighted: {md_escape(c['reweighted_ahead'])} ahead)" for c in scores["order_changes"]), ""]
    else:
        lines += ["No pair of entries changes order between the overall and the reweighted value.", ""]
    for r in scores["rejected"]:
        lines.append(f"- rejected `{md_escape(r['submission'])}`: " + "; ".join(md_escape(p) for p in r["problems"]))
    lines.append("")
    return "\n".join(lines)


def plots(scores: dict, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    primary, utility = scores["primary_metric"], scores["utility_metric"]
    spec = {m["id"]: m for m in scores["metrics"]}
    entries = scores["entries"]
    fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
    for e in entries:
        p, u = e["scores"][primary]["reweighted"], e["scores"][utility]["overall"]
        ax.errorbar(u["value"], p["value"], xerr=[[u["value"] - u["ci"][0]], [u["ci"][1] - u["value"]]],
                    yerr=[[p["value"] - p["ci"][0]], [p["ci"][1] - p["value"]]], fmt="o", capsize=3,
                    label=f"{e['rank']['reweighted']}. {e['method']['name'][:40]}")
    ax.set_xlabel(f"{spec[utility]['label']} ({'higher' if spec[utility]['direction'] == 'higher' else 'lower'} is better)")
    ax.set_ylabel(f"{spec[primary]['label']}, reweighted\n({'higher' if spec[primary]['direction'] == 'higher' else 'lower'} is better)")
    ax.set_title("Forget vs utility (95% CIs)")
    if entries:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", title="rank. method")
    fig.savefig(folder / "scatter.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    width = 0.8 / max(len(entries), 1)
    for i, e in enumerate(entries):
        s = e["scores"][primary]
        xs = [j + (i - (len(entries) - 1) / 2) * width for j in range(len(scores["bins"]))]
        vals = [s[b]["value"] for b in scores["bins"]]
        err = [[max(v - s[b]["ci"][0], 0) for v, b in zip(vals, scores["bins"])],
               [max(s[b]["ci"][1] - v, 0) for v, b in zip(vals, scores["bins"])]]
        ax.bar(xs, vals, width, yerr=err, capsize=2, label=e["method"]["name"][:40])
    ax.set_xticks(range(len(scores["bins"])),
                  [f"{b}\n(n = {scores['bin_counts'][b]})" for b in scores["bins"]])
    ax.set_xlabel("difficulty bin (easy = highest MRD)")
    ax.set_ylabel(f"{spec[primary]['label']}\n({'higher' if spec[primary]['direction'] == 'higher' else 'lower'} is better)")
    ax.set_title(f"{spec[primary]['label']} per difficulty bin (95% CIs)")
    if entries:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    fig.savefig(folder / "bins.png", dpi=110)
    plt.close(fig)


def write_page(scores: dict, folder: Path) -> Path:
    plots(scores, folder)
    write_text(folder / "index.md", markdown(scores))
    return write_text(folder / "index.html", html_page(scores))
