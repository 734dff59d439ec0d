"""The board's pages: index.md and a static index.html (a sortable table, a forget-vs-utility
scatter with CI bars, per-bin bars of the primary metric). The HTML needs no network and works
from a file:// URL. Every string from a submission is escaped: it is shown, never run.
"""
from __future__ import annotations

import html
import math
from pathlib import Path

from mrd_bench.io import write_text
from mrd_bench.metrics.privleak import FALLBACK_AUC_REF

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
.flag { color: #a40; font-size: 0.85em; }
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
    marks = "".join(f'<div class="flag">⚠ {esc(f)}</div>' for f in entry.get("flags", []))
    if not entry.get("ranked", True):
        marks += '<div class="flag">below the utility floor: shown, not ranked</div>'
    return (f'<td class="name">{name}<div class="desc">{esc(m.get("description", ""))}</div>'
            f'<div class="desc">{esc(detail)}</div>{marks}</td>')


def rank_text(rank) -> str:
    return "—" if rank is None else str(rank)


def verification_text(entry: dict) -> str:
    """"verified (date, n documents, tolerance)" or "unverified"."""
    v = entry.get("verification") or {}
    if not v.get("verified"):
        return "unverified"
    return (f"verified {str(v.get('date', ''))[:10]}: {v.get('n')} documents "
            f"({float(v.get('fraction', 0)):.0%} sample, seed {v.get('seed')}), tolerance {v.get('tolerance')}"
            + ("; weights replayed from the original model" if v.get("replayed") is True else ""))


def difficulty_line(annotation: dict) -> str:
    """"MRD (definition), higher = easier (easy = high MRD (definition), hard = low ...)": the
    board's signal and its direction, from the board definition."""
    from mrd_bench.signals.base import direction_text

    signal = {"label": annotation.get("signal_label") or str(annotation.get("metric", "mrd")).upper(),
              "higher_is": annotation.get("higher_is", "easier")}
    return f"{signal['label']}, higher = {signal['higher_is']} ({direction_text(signal)})"


def rule_line(scores: dict) -> str:
    """How utility enters the rank, in one line."""
    rule = scores["utility_rule"]
    label = {m["id"]: m["label"] for m in scores["metrics"]}
    util, forget = label[scores["utility_metric"]], label[scores["primary_metric"]]
    level = f"{scores['bootstrap']['level']:.1%}"
    if rule["kind"] == "floor":
        ref = rule["reference_scores"]
        return (f"Utility rule: a floor at {rule['relative']:.0%} of the original model's {util} "
                f"({ref['utility']['value']:.4g}, so the floor is {ref['floor']:.4g}); an entry whose {util} is "
                f"below it in at least {level} of the paired resamples is shown, marked and not ranked.")
    return (f"Utility rule: ranks along the Pareto front of {forget} (reweighted) and {util}: rank = 1 + the "
            f"entries at least as good on both and better on one in at least {level} of the paired resamples.")


def membership_line(scores: dict) -> str:
    """How the board's membership metrics (AUC, privleak) are computed, in one line; "" without any."""
    aucs = [m for m in scores["metrics"] if m.get("statistic", "mean") != "mean"]
    if not aucs:
        return ""
    text = ("Membership metrics: " + ", ".join(m["label"] for m in aucs) + " score the forget split (members) "
            f"against {aucs[0]['nonmember_split']} (non-members): the ROC AUC of the per-sample attack scores, a "
            "bin's members against every non-member, reweighted = Σ_b w_b · AUC_b; resampled within bins (members) "
            "and as one group (non-members)")
    leaks = [m["label"] for m in aucs if m["statistic"] == "privleak"]
    if leaks:
        text += (f"; {', '.join(leaks)} = (AUC_ref − AUC) / (1 − AUC_ref) · 100 with AUC_ref = "
                 f"{FALLBACK_AUC_REF:g}, open-unlearning's "
                 "fallback when no retain model is given (a rescaled AUC, not a privacy measure)")
    return text + "."


def inversion_line(scores: dict) -> str:
    """Why a better rank can sit beside a worse mean, with the board's own example when it has one."""
    verb = "dominate" if scores["utility_rule"]["kind"] == "pareto" else "beat"
    text = (f"Within a rank, entries are ordered by their value. A rank counts only the entries that {verb} "
            f"this one significantly, so an entry can hold a better rank than one with a better mean when "
            f"fewer entries {verb} it significantly")
    inv = scores.get("rank_inversions") or []
    if inv:
        names = {e["id"]: e["method"]["name"] for e in scores["entries"]}
        text += f" (here: {names[inv[0]['better_rank']]} above {names[inv[0]['better_value']]})"
    return text + "."


def html_page(scores: dict) -> str:
    cols = columns(scores)
    membership = membership_line(scores)
    head = ['<th data-type="number">rank</th>', '<th data-type="number">rank (overall)</th>',
            '<th class="name" data-type="text">method</th>', '<th data-type="text">verification</th>'] + \
        [f'<th data-type="number" data-metric="{esc(mid)}" data-stat="{esc(k)}">{esc(h)}</th>' for mid, k, h in cols]
    rows = []
    for e in scores["entries"]:
        r, o = e["rank"].get("reweighted"), e["rank"].get("overall")
        cells = [f'<td data-value="{"" if r is None else r}">{rank_text(r)}</td>',
                 f'<td data-value="{"" if o is None else o}">{rank_text(o)}</td>', _method_cell(e),
                 f'<td class="name">{esc(verification_text(e))}</td>']
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
        f"is better), reweighted to the annotation's difficulty mix. Rank = 1 + the number of entries that "
        f"{'dominate' if scores['utility_rule']['kind'] == 'pareto' else 'beat'} this one in at least "
        f"{scores['bootstrap']['level']:.1%} of {scores['bootstrap']['B']} paired bootstrap "
        "resamples of the samples (stratified by difficulty bin; every entry is scored on the same resamples); "
        "entries that no test separates share a rank. Values are shown with their 95% bootstrap CI. "
        "Click a column header to sort.</p>",
        f"<p id=\"rule\"><b>{esc(rule_line(scores))}</b></p>",
        f"<p id=\"inversions\">{esc(inversion_line(scores))}</p>",
        f"<p id=\"membership\">{esc(membership)}</p>" if membership else "",
        f"<p><b>Verification.</b> An entry is <i>verified</i> when the board's maintainers re-evaluated a seeded "
        f"random sample of its documents from its checkpoint (whose weights hash is the run record's) with "
        f"<code>mrd-bench leaderboard verify</code> and every per-sample value agreed within the stated tolerance; "
        f"otherwise <i>unverified</i>: its numbers are the submitter's. Near-copies of another entry (identical or "
        f"affine per-sample values, r &gt; 0.999) are flagged ⚠. At most {scores['max_entries']} entries.</p>",
        f"<p id=\"evidence\"><b>{esc(scores.get('stratified_by', {}).get('line', ''))}</b></p>",
        f"<p><b>Difficulty.</b> {esc(difficulty_line(scores['annotation']))} bins of the forget split: {esc(counts)}. "
        "<i>reweighted</i> = Σ<sub>b</sub> w<sub>b</sub> · mean<sub>b</sub>: the metric at the "
        "annotation's mix, whatever this split's own mix is.</p>",
        f"<p>Original model: {esc(scores['original_model']['name'])} "
        f"(weights sha256 <code>{esc(scores['original_model']['weights_sha256'][:16])}…</code>); annotation "
        f"<code>{esc(scores['annotation']['path'])}</code> "
        f"(sha256 <code>{esc(scores['annotation']['sha256'][:16])}…</code>).</p>",
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
    if scores["rejected"]:
        parts.append("<h2>Rejected submissions</h2><ul>" + "".join(
            f"<li>{esc(r['submission'])}<ul>" + "".join(f"<li>{esc(p)}</li>" for p in r["problems"]) + "</ul></li>"
            for r in scores["rejected"]) + "</ul>")
    parts.append(f"<p class=\"desc\">Built {esc(scores['built'])} by mrd_bench "
                 f"{esc(scores['provenance']['versions'].get('mrd_bench', ''))}; every figure is in scores.json.</p>")
    parts.append(f"<script>{SORT_JS}</script></body></html>")
    return "\n".join(parts) + "\n"


def md_escape(value) -> str:
    """`value` as literal Markdown text on one line: its punctuation backslash-escaped and `& < >`
    HTML-escaped, so `[x](http://…)` or `![](http://…/x.png)` shows as text, never a link or image."""
    special = "\\`*_{}[]()!#|~:"  # ':' too, so that no bare URL becomes a link
    from mrd_bench.leaderboard.untrusted import printable

    text = html.escape(printable(" ".join(str(value).splitlines())), quote=False)
    text = "".join("\\" + c if c in special else c for c in text)
    return text.replace("www.", "www\\.")


def mpl_text(value) -> str:
    """`value` as literal text for matplotlib: a `$` never starts mathtext, a leading `_` does not
    hide a legend entry, and control characters show escaped (matplotlib's missing-glyph warning
    would print them raw)."""
    from mrd_bench.leaderboard.untrusted import printable

    text = "\n".join(printable(line) for line in str(value).split("\n")).replace("$", "\\$")
    return " " + text if text.startswith("_") else text


def markdown(scores: dict) -> str:
    membership = membership_line(scores)
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
             md_escape(f"Difficulty: {difficulty_line(scores['annotation'])}."), "",
             md_escape(scores.get("stratified_by", {}).get("line", "")), "", md_escape(rule_line(scores)), "",
             md_escape(inversion_line(scores)), "",
             *([md_escape(membership), ""] if membership else []),
             f"| rank | rank (overall) | method | {label[primary]} (reweighted) | (overall) | "
             + " | ".join(f"({b})" for b in scores["bins"]) + f" | {label[utility]} | verification | flags |",
             "|---:|---:|---|---:|---:|" + "---:|" * len(scores["bins"]) + "---:|---|---|"]
    for e in scores["entries"]:
        s = e["scores"][primary]
        flags = ([] if e.get("ranked", True) else ["below the utility floor: not ranked"]) + e.get("flags", [])
        lines.append(f"| {rank_text(e['rank'].get('reweighted'))} | {rank_text(e['rank'].get('overall'))} | "
                     f"{md_escape(e['method']['name'])} | "
                     f"{ci(s['reweighted'])} | {ci(s['overall'])} | " + " | ".join(ci(s[b]) for b in scores["bins"])
                     + f" | {ci(e['scores'][utility]['overall'])} | {md_escape(verification_text(e))} | "
                     + md_escape("; ".join(flags)) + " |")
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


def plots(scores: dict, scatter: Path, bins: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    primary, utility = scores["primary_metric"], scores["utility_metric"]

    def better(m):
        return f"{'higher' if m['direction'] == 'higher' else 'lower'} is better"

    spec = {m["id"]: m for m in scores["metrics"]}
    entries = scores["entries"]
    fig, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
    for e in entries:
        p, u = e["scores"][primary]["reweighted"], e["scores"][utility]["overall"]
        ax.errorbar(u["value"], p["value"], xerr=[[max(u["value"] - u["ci"][0], 0)], [max(u["ci"][1] - u["value"], 0)]],
                    yerr=[[max(p["value"] - p["ci"][0], 0)], [max(p["ci"][1] - p["value"], 0)]], fmt="o", capsize=3,
                    label=mpl_text(f"{rank_text(e['rank'].get('reweighted'))}. {e['method']['name'][:40]}"))
    rule = scores.get("utility_rule", {})
    if rule.get("kind") == "floor":  # entries left of it (significantly) are not ranked
        floor = rule["reference_scores"]["floor"]
        ax.axvline(floor, color="grey", linestyle="--", linewidth=1,
                   label=f"utility floor {floor:.3g} ({rule['relative']:.0%} of the original)")
    ax.set_xlabel(mpl_text(f"{spec[utility]['label']} ({better(spec[utility])})"))
    ax.set_ylabel(mpl_text(f"{spec[primary]['label']}, reweighted\n({better(spec[primary])})"))
    ax.set_title("Forget vs utility (95% CIs)")
    if entries:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", title="rank. method")
    fig.savefig(scatter, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7.5, 4.8), layout="constrained")
    width = 0.8 / max(len(entries), 1)
    for i, e in enumerate(entries):
        s = e["scores"][primary]
        xs = [j + (i - (len(entries) - 1) / 2) * width for j in range(len(scores["bins"]))]
        vals = [s[b]["value"] for b in scores["bins"]]
        err = [[max(v - s[b]["ci"][0], 0) for v, b in zip(vals, scores["bins"])],
               [max(s[b]["ci"][1] - v, 0) for v, b in zip(vals, scores["bins"])]]
        ax.bar(xs, vals, width, yerr=err, capsize=2, label=mpl_text(e["method"]["name"][:40]))
    ax.set_xticks(range(len(scores["bins"])),
                  [mpl_text(f"{b}\n(n = {scores['bin_counts'][b]})") for b in scores["bins"]])
    ax.set_xlabel(mpl_text(f"difficulty bin by {difficulty_line(scores['annotation'])}"), fontsize="small")
    ax.set_ylabel(mpl_text(f"{spec[primary]['label']}\n({better(spec[primary])})"))
    ax.set_title(mpl_text(f"{spec[primary]['label']} per difficulty bin (95% CIs)"))
    if entries:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    fig.savefig(bins, dpi=110)
    plt.close(fig)


PAGE_FILES = ("index.md", "index.html", "scatter.png", "bins.png")


def write_page(scores: dict, md: Path, html: Path, scatter: Path, bins: Path) -> None:
    """The board's page and plots, at the paths given (build.py stages them with scores.json)."""
    plots(scores, scatter, bins)
    write_text(md, markdown(scores))
    write_text(html, html_page(scores))
