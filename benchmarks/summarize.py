"""Write benchmarks/results/SUMMARY.md from the recorded result files (no number typed in).

    python benchmarks/summarize.py
"""
from __future__ import annotations

import json
from pathlib import Path

from mrd_bench.audit import MIN_REST  # Cliff's delta against fewer samples than this is not shown
from mrd_bench.difficulty_check import table_lines, updates_line  # the check's own table

RESULTS = Path(__file__).parent / "results"


def _where(record: dict) -> str:
    hw = record["hardware"]
    gpu = ", ".join(hw.get("gpu", [])) or f"CPU, {hw['torch_threads']} threads"
    return f"{gpu}; torch {record['versions']['torch']}"


def speed_lines(path: Path) -> list[str]:
    rec = json.loads(path.read_text())
    r = rec["result"]
    return [f"### Engine speed ({_where(rec)}), TOFU forget01, {r['samples']} samples, K = {r['k']}", "",
            "| measure | value |", "|---|---|",
            f"| (a) literal Algorithm 1, s per (sample × draw) | {r['a_literal_s_per_sample_draw']:.4f} |",
            f"| (a) engine `alg1`, s per (sample × draw) | {r['a_engine_s_per_sample_draw']:.4f} |",
            f"| (a) **speed-up** (goal ≥ 10×) | **{r['a_speedup']:.1f}×** |",
            f"| (a) literal add-then-subtract: largest weight drift after K draws "
            f"| {r['a_literal_add_subtract_max_weight_drift']:.2e} |",
            f"| (b) engine `definition`, {r['b_forward_passes']} passes per batch | {r['b_engine_definition_s']:.2f} s |",
            f"| (b) bare HF forward + log-softmax, same passes | {r['b_bare_full_forward_s']:.2f} s |",
            f"| (b) bare forward + head at scored positions, same passes | {r['b_bare_scored_forward_s']:.2f} s |",
            f"| (b) **overhead** vs bare HF forward (goal ≤ 1.25) | **{r['b_overhead_vs_full_forward']:.2f}** |",
            f"| (b) overhead vs bare scored forward | {r['b_overhead_vs_scored_forward']:.2f} |", ""]


def ranking_lines(path: Path) -> list[str]:
    rec = json.loads(path.read_text())
    lines = [f"### Ranking stability (c) ({_where(rec)}), TOFU forget01, 40 samples", "",
             f"![ranking stability]({path.with_suffix('.png').name})", "",
             "| estimator | reference K | ρ by K | K for ρ ≥ 0.9 | median score |", "|---|---|---|---|---|"]
    for name, r in rec["result"].items():
        curve = ", ".join(f"{k}: {v:.3f}" for k, v in r["rho_by_k"].items())
        lines.append(f"| `{name}` | {r['k_reference']} | {curve} | {r['k_for_rho_0.9']} | {r['median_score']:.3e} |")
        if "rho_k8_vs_k32_same_run" in r:
            lines.append(f"| `{name}` K=8 vs K=32 of one run | | {r['rho_k8_vs_k32_same_run']:.3f} | | |")
    return lines + [""]


def sigma_lines(path: Path) -> list[str]:
    rec = json.loads(path.read_text())
    lines = [f"### σ and the `definition` signal ({_where(rec)}), fictitious/{rec['split']}, K = {rec['draws']}", "",
             "| σ | median MRD | median se/MRD |", "|---|---|---|"]
    lines += [f"| {r['sigma']:.0e} | {r['median_score']:.3e} | {r['median_se_over_score']:.2f} |" for r in rec["rows"]]
    return lines + [""]


def task_lines(path: Path) -> list[str]:
    rec = json.loads(path.read_text())
    scope = f"first {rec['limit']} documents of each task" if rec["limit"] else "every document"
    lines = [f"### lm-eval task run times ({_where(rec)}), embedded model, {scope}, batch {rec['batch_size']}", "",
             "Wall time includes lm-eval's start-up and the model load.", "",
             "| task | documents | wall (s) | lm-eval evaluation (s) |", "|---|---:|---:|---:|"]
    for row in rec["tasks"]:
        if "skipped" in row:
            lines.append(f"| `{row['task']}` | skipped: {row['skipped']} | | |")
        else:
            lines.append(f"| `{row['task']}` | {row['docs']} | {row['wall_s']:.1f} | {row['eval_s']:.1f} |")
    return lines + [""]


def eval_speed_lines(path: Path) -> list[str]:
    rec = json.loads(path.read_text())
    goal = rec["goal"]
    if "ou_wall_s" in rec:  # open-unlearning timed in the same run
        ou = {"wall_s": rec["ou_wall_s"], "peak_rss_gb": rec["ou_peak_rss_gb"]}
        checked = "logit_gap" in rec.get("ou", {})  # made after ou_tofu_eval.py checked the model it scores
        ratio = f"**{rec['ratio_to_ou']}**" if checked else f"{rec['ratio_to_ou']} (not comparable)"
        head = [f"| ratio to open-unlearning, same run (goal ≤ {goal.get('ratio_to_ou', '')}) | {ratio} | 1 |"]
        if not checked:
            head.append("| open-unlearning's step | made before its logit check: its transformers read the checkpoint "
                        "with another rotary base, so its time and values are not comparable (benchmarks/README.md) "
                        "| |")
    else:  # an older record: open-unlearning as timed on another machine
        ou = rec.get("open_unlearning") or rec.get("open_unlearning_elsewhere") or {}
        head = []
    lines = [f"### TOFU evaluation speed ({_where(rec)}), `tofu_mrd` on {rec['split']}, batch {rec['batch_size']}", "",
             "| measure | mrd_bench | open-unlearning |", "|---|---|---|",
             f"| `tofu_mrd` wall | **{rec['wall_s']:.1f} s** | {ou.get('wall_s', '')} s |", *head,
             f"| peak RSS (goal ≤ {goal['peak_rss_gb']} GB) | **{rec['peak_rss_gb']:.2f} GB** | "
             f"{ou.get('peak_rss_gb', '')} GB |",
             f"| floor: answer log-likelihoods of {rec['floor_questions']} questions (this run) | "
             f"{rec['floor_loglik_s']} s | |",
             f"| floor: greedy generation, up to 200 tokens (this run) | {rec['floor_generate_s']} s | |",
             *([f"| floor, all the suite's work: {rec['suite_loglik_requests']} log-likelihood requests "
                f"(this run) | {rec['floor_suite_loglik_s']} s | |",
                f"| floor, all the suite's work: {rec['suite_generations']} greedy generations (this run) | "
                f"{rec['floor_suite_generate_s']} s | |"] if "floor_suite_loglik_s" in rec else []),
             f"| within the goal | {'yes' if rec['within_goal'] else 'no'} | |", "",
             "Each task as one command, with the speed paths (shared prompt prefix, dropping finished "
             "generations) off (before) and on (after):", "",
             "| task | documents | before (s) | after (s) | speed-up | peak RSS after (GB) | metrics compared | "
             "largest metric gap |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rec["runs"]:
        docs = f"first {r['limit']}" if r["limit"] else "all"
        lines.append(f"| `{r['task']}` | {docs} | {r.get('before_s', '')} | {r['after_s']} | {r.get('speedup', '')} | "
                     f"{r['after_peak_rss_gb']:.2f} | {r.get('metrics_compared', '')} | "
                     f"{format(r['largest_metric_gap'], '.1e') if 'largest_metric_gap' in r else ''} |")
    return lines + [""]


def board_scale_lines(path: Path) -> list[str]:
    rec = json.loads(path.read_text())
    v, b = rec["validate_at_limits"], rec["build"]
    hw = rec["provenance"]["hardware"]
    return [f"### Leaderboard at its limits ({hw['cpu_count']} cores; torch {rec['provenance']['versions']['torch']})",
            "", "| command | input | exit | wall | peak RSS |", "|---|---|---|---|---|",
            f"| `leaderboard validate` | one submission of {v['bytes']:,} bytes (largest file {v['largest_file_bytes']:,}; "
            f"limits {rec['limits']['file_bytes']:,} / {rec['limits']['submission_bytes']:,}), {v['ids']:,} ids | "
            f"{v['exit']} | {v['wall_s']:.1f} s | {v['peak_rss_gb']:.2f} GB |",
            f"| `leaderboard build` | {b['entries']} synthetic entries, B = {b['B']} | {b['exit']} | {b['wall_s']:.1f} s | "
            f"{b['peak_rss_gb']:.2f} GB |", ""]


def difficulty_check_lines(path: Path) -> list[str]:
    """Signals x methods: Spearman with updates-to-forget, and given length / given NLL."""
    rec = json.loads(path.read_text())
    return [f"### Which difficulty signal predicts forgetting: {rec['inputs']['benchmark']}/{rec['inputs']['forget']}, "
            f"n = {len(rec['sample_ids'])} ({_where(rec)})", "", f"**{rec['choice']['reason']}**", "",
            *table_lines(rec, strength=True), "", updates_line(rec), ""]


def board_by_signal_lines(path: Path) -> list[str]:
    rec = json.loads(path.read_text())
    lines = [f"### Does the signal change the board's order? `{rec['board']}`", "",
             "| signal | bins (easy/medium/hard) | pairs whose order by value flips | rank changes |", "|---|---|---|---|"]
    for s in rec["signals"].values():
        against = next((v for k, v in s.items() if k.startswith("against_")), None)
        flips = "; ".join(" vs ".join(p) for p in against["value_order_flips"]) or "none" if against else "(the reference)"
        moves = "; ".join(f"{e}: {a} → {b}" for e, a, b in against["rank_changes"]) or "none" if against else ""
        counts = "/".join(str(s["bin_counts"][b]) for b in ("easy", "medium", "hard"))
        lines.append(f"| {s['label']} (higher = {s['higher_is']}) | {counts} | {flips} | {moves} |")
    return lines + [""]


def audit_rule_lines(path: Path) -> list[str]:
    rec = json.loads(path.read_text())
    lines = [f"### Audit verdicts under the old rule (p < {rec['alpha']:g}) and the new one (and a mean-percentile "
             f"shift >= {rec['min_shift']:g}); pool: {rec['pool']}, n = {rec['n_pool']}", "",
             "| subset | n | p(easier) | shift [95% CI] | largest possible shift | Cliff's δ vs the rest [95% CI] "
             "| old rule | new rule |", "|---|---:|---:|---|---:|---|---|---|"]
    for name, r in rec["subsets"].items():
        delta = (f"{r['cliffs_delta']:+.2f} [{r['cliffs_delta_ci'][0]:+.2f}, {r['cliffs_delta_ci'][1]:+.2f}]"
                 if r.get("n_rest", MIN_REST) >= MIN_REST else f"not shown (the rest holds {r['n_rest']})")
        lines.append(f"| {name} | {r['n']} | {r['p_easier']:.4f} | {r['shift']:+.4f} [{r['shift_ci'][0]:+.4f}, "
                     f"{r['shift_ci'][1]:+.4f}] | {r.get('max_shift', float('nan')):+.4f} | {delta} | {r['old_rule']} "
                     f"| {r['new_rule']} |")
    return lines + [""]


def ou_forget_lines(path: Path) -> list[str]:
    rec = json.loads(path.read_text())
    lines = [f"### open-unlearning's forget metrics on the embedded model ({_where(rec)}), {rec['split']}", "",
             "| metric | mrd_bench | open-unlearning |", "|---|---:|---:|"]
    for name, pair in rec["beside_open_unlearning"].items():
        lines.append(f"| `{name}` | {pair['mrd_bench']:.4g} | {pair['open_unlearning']} |")
    lines += ["", "| run | code | wall (s) | peak RSS (GB) |", "|---|---|---:|---:|"]
    for name, run in rec["runs"].items():
        lines.append(f"| {name} | {run.get('commit', '')} | {run['wall_s']} | {run['peak_rss_gb']} |")
    return lines + [""]


def conventions_lines(path: Path) -> list[str]:
    rec = json.loads(path.read_text())
    names = list(rec["open_unlearning"])
    lines = [f"### Those figures under each convention ({rec['n_forget']} forget and {rec['n_holdout']} holdout "
             "questions)", "", "| convention | " + " | ".join(f"`{n}`" for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    for conv, vals in rec["conventions"].items():
        lines.append(f"| {conv} | " + " | ".join(f"{vals[n]:.4g}" for n in names) + " |")
    lines.append("| open-unlearning (forget10) | " + " | ".join(str(rec["open_unlearning"][n]) for n in names) + " |")
    return lines + [""]


def same_texts_lines(path: Path) -> list[str]:
    rec = json.loads(path.read_text())
    lines = [f"### Generated texts, speed paths on against off ({_where(rec)}), `same_texts.py`", "",
             f"{rec['texts_compared']} texts compared, **{rec['texts_differ']} differ** "
             f"(off: `{rec['before_model_args']}`).", "", "| task | compared | differ |", "|---|---:|---:|"]
    lines += [f"| `{t}` | {r['compared']} | {r['differ'] + r['only_one_side']} |" for t, r in rec["tasks"].items()]
    return lines + [""]


def main() -> None:
    lines = ["# Recorded benchmark results", "", "Generated by `python benchmarks/summarize.py` from the JSON files here.", ""]
    for pattern, render in (("mrd_engine_speed_*.json", speed_lines), ("mrd_engine_ranking_*.json", ranking_lines),
                            ("sigma_signal.json", sigma_lines), ("task_times_*.json", task_lines),
                            ("tofu_eval_speed*.json", eval_speed_lines), ("board_scale.json", board_scale_lines),
                            ("difficulty_check_*.json", difficulty_check_lines),
                            ("board_by_signal.json", board_by_signal_lines), ("audit_rule.json", audit_rule_lines),
                            ("ou_forget_metrics.json", ou_forget_lines), ("ou_conventions*.json", conventions_lines),
                            ("same_texts*.json", same_texts_lines)):
        for path in sorted(RESULTS.glob(pattern)):
            lines += render(path)
    (RESULTS / "SUMMARY.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
