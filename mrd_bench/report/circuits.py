"""`mrd-bench circuits SAMPLE_ID`: one sample's circuit as a layer-by-layer graph, beside the easy
and hard anchors it was scored against (those of its cross-fitting fold)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from mrd_bench.errors import DataError
from mrd_bench.io import finish_set
from mrd_bench.scorers.cud import Circuit, circuit, circuit_stats
from mrd_bench.scorers.eap import build_graph

COLUMN = {"emb": 1.0, "a": 0.0, "m": 2.0, "logits": 1.0}


def load_attributions(scores_path: str | os.PathLike) -> tuple[dict, dict]:
    """The scores' meta and the attributions file beside them."""
    scores_path = Path(scores_path)
    meta_path = scores_path.with_name(scores_path.stem + ".meta.json")
    finish_set(scores_path)  # an interrupted commit of the scores' files (io.writing_together)
    if not meta_path.is_file():
        raise DataError(f"{str(meta_path)!r} is missing; give the scores file `mrd-bench score --metric cud` wrote.")
    meta = json.loads(meta_path.read_text())
    if meta.get("metric") != "cud":
        raise DataError(f"{str(scores_path)!r} holds {meta.get('metric', 'mrd')!r} scores; circuits come from CUD "
                        "scores (`mrd-bench score --metric cud`).")
    npz = scores_path.with_name(meta["attributions"])
    if not npz.is_file():
        raise DataError(f"{str(npz)!r} (the attributions behind {scores_path.name}) is missing; keep it beside the "
                        "scores or re-run `mrd-bench score --metric cud`.")
    with np.load(npz, allow_pickle=False) as data:
        return meta, {k: data[k] for k in data.files}


def _position(name: str, n_layers: int) -> tuple[float, float]:
    if name == "emb":
        return COLUMN["emb"], 0.0
    if name == "logits":
        return COLUMN["logits"], n_layers + 1.0
    kind, rest = name[0], name[1:]
    layer = int(rest.split(".")[0])
    x = COLUMN[kind]
    if ".h" in rest:  # heads spread around the attention column
        x += (int(rest.split(".h")[1]) + 0.5) * 0.08 - 0.4
    return x, layer + (0.35 if kind == "a" else 0.7)


def _draw(ax, graph, c: Circuit, title: str) -> None:
    names = graph.edge_names()
    top = float(np.abs(c.scores).max()) or 1.0
    nodes = set()
    for e, s in zip(c.edges, c.scores):
        u, v = names[e].split("->")
        (x0, y0), (x1, y1) = _position(u, graph.n_layers), _position(v, graph.n_layers)
        bend = 0.25 * (y1 - y0) / (graph.n_layers + 1) * (1 if x0 <= x1 else -1)
        xs = np.linspace(0, 1, 20)
        ax.plot(x0 + (x1 - x0) * xs + bend * np.sin(np.pi * xs) * 3, y0 + (y1 - y0) * xs,
                color="#2e86c1" if s > 0 else "#c0392b", alpha=0.25 + 0.65 * abs(s) / top,
                linewidth=0.4 + 2.6 * abs(s) / top)
        nodes.update((u, v))
    for n in nodes:
        x, y = _position(n, graph.n_layers)
        ax.scatter([x], [y], s=18, color="#333333", zorder=3)
    ax.set_xlim(-0.8, 2.8)
    ax.set_ylim(-0.8, graph.n_layers + 1.8)
    ax.set_xticks([0, 1, 2], ["attention", "emb / logits", "MLP"], fontsize=7)
    ax.set_yticks(range(0, graph.n_layers + 2, max(1, graph.n_layers // 10)))
    ax.tick_params(labelsize=7)
    ax.set_ylabel("layer (0 = embedding, top = logits)", fontsize=7)
    st = circuit_stats(graph, c)
    ax.set_title(f"{title}\nmean layer {st['mean_layer']:.1f} · late share {st['late_share']:.2f} · "
                 f"span {st['mean_span']:.1f} · longest path {st['longest_path']:.0f}", fontsize=8)


def draw_circuit(scores_path: str | os.PathLike, sample_id: str, out: str | os.PathLike) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    meta, data = load_attributions(scores_path)
    ids = [str(s) for s in data["sample_id"]]
    if sample_id not in ids:
        close = [s for s in ids if sample_id in s][:3]
        raise DataError(f"sample {sample_id!r} is not in {Path(scores_path).name}" +
                        (f" (did you mean {', '.join(close)}?)" if close else f"; its ids look like {ids[0]!r}") + ".")
    i = ids.index(sample_id)
    g = meta["graph"]
    graph = build_graph(g["n_layers"], g["n_heads"])
    n = meta["cud_config"]["top_edges"]
    fold = int(data["fold"][i])
    rows = (json.loads(line) for line in Path(scores_path).read_text().splitlines() if line.strip())
    row = next(r for r in rows if r["sample_id"] == sample_id)
    panels = [(circuit(data["attribution"][i], n), f"{sample_id}: CUD {row['score']:.3f} ({row['bin']})"),
              (Circuit(data["easy_edges"][fold], data["easy_scores"][fold]), f"easy anchor (fold {fold}, other folds)"),
              (Circuit(data["hard_edges"][fold], data["hard_scores"][fold]), f"hard anchor (fold {fold}, other folds)")]
    fig, axes = plt.subplots(1, 3, figsize=(13, 7.5), sharey=True, layout="constrained")
    for ax, (c, title) in zip(axes, panels):
        _draw(ax, graph, c, title)
    fig.suptitle(f"Top-{n} EAP-IG edges ({meta['cud_config']['baseline']} baseline, m = "
                 f"{meta['cud_config']['steps']}); blue: raises the answer's log-likelihood, red: lowers it; "
                 "width and opacity: |score|", fontsize=9)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out)
    return out
