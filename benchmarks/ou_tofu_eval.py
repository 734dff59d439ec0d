"""open-unlearning's own TOFU evaluation of a checkpoint, timed (a measurement, not a test).

    MRD_BENCH_DATA_DIR=../shared/data python benchmarks/ou_tofu_eval.py --ou-repo OU_CLONE [--limit 8]

`tofu_eval_speed.py --ou-repo OU_CLONE` runs the same step beside mrd_bench's evaluation, in one
run; this script runs it alone. OU_CLONE is a git clone of https://github.com/locuslab/open-unlearning
that holds the pinned commit OU_COMMIT (this machine cannot reach GitHub: clone it elsewhere, or
fetch it into the clone). The step:
1. exports that commit's tree (`git archive`) into the cache folder, with one model config added
   (configs/model/mrd_bench_model.yaml: float32, SDPA attention, the tokenizer's own chat template,
   no system prompt, as lm-eval's --apply_chat_template prompts);
2. makes its own virtual environment there: OU's requirements.txt at that commit, pinned, except
   torch (OU pins 2.4.1, whose PyPI wheel is the CUDA build, gigabytes: this machine's torch build
   is used instead and recorded), bitsandbytes (CUDA only) and tensorboard (unused by evaluation),
   plus deepspeed (OU's trainer package imports it at start; its ops are not built) and
   lm-eval==0.4.8 (OU's `lm-eval` extra, imported by its evaluators); `pip freeze` is recorded;
3. gives OU the local TOFU files under the hub's name: a folder `locuslab/TOFU` whose README
   declares each split as a config, so `datasets.load_dataset("locuslab/TOFU", name=...)` reads
   $MRD_BENCH_DATA_DIR/tofu (with --limit, each split's first N rows);
4. copies the checkpoint with a tokenizer config that transformers 4.45 reads (the tokenizer
   class named, the chat template inlined); the weights are the same file's bytes;
5. runs OU's `src/eval.py experiment=eval/tofu/default` (its default metrics: forget truth ratio,
   forget quality, forget Q_A probability and ROUGE, model utility, privleak, extraction
   strength; batch 32) on the CPU under /usr/bin/time -v: wall time, peak resident memory, and
   the values of its TOFU_SUMMARY.json.
The environment is made once and kept (a marker holds its `pip freeze`).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

OU_COMMIT = "d3d7cf9e6b3c125d16687d4232680d8d83548f1a"  # 2025: "complete the eval metrics Truth_Ratio calculation"
LEFT_OUT = ("torch", "bitsandbytes", "tensorboard", "deepspeed")  # deepspeed: installed after, its ops unbuilt
ADDED = ("deepspeed==0.15.4", "lm-eval==0.4.8")
CONFIG_VERSION = "+rope-2"  # the copy's configs changed: copies made before are redone
HOLDOUT = {"forget01": "holdout01", "forget05": "holdout05", "forget10": "holdout10"}
MODEL_CONFIG = """model_args:
  pretrained_model_name_or_path: null
  attn_implementation: sdpa
  torch_dtype: float32
tokenizer_args:
  pretrained_model_name_or_path: null
template_args:
  apply_chat_template: True
  system_prompt: null
"""


def source(ou_repo: Path, work: Path) -> Path:
    """OU's tree at OU_COMMIT, exported once into `work`, with the model config added."""
    tree = work / f"open-unlearning-{OU_COMMIT[:7]}"
    if (tree / "src" / "eval.py").is_file():
        return tree
    found = subprocess.run(["git", "-C", str(ou_repo), "cat-file", "-e", f"{OU_COMMIT}^{{commit}}"],
                           capture_output=True)
    if found.returncode != 0:
        raise SystemExit(f"--ou-repo {ou_repo}: no commit {OU_COMMIT[:7]} there; clone "
                         "https://github.com/locuslab/open-unlearning (or fetch into your clone) and give its folder")
    staging = tree.with_name(tree.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ou_repo), "archive", OU_COMMIT], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(staging)], input=archive.stdout, check=True)
    (staging / "configs" / "model" / "mrd_bench_model.yaml").write_text(MODEL_CONFIG)
    staging.rename(tree)
    return tree


def environment(tree: Path, work: Path) -> tuple[Path, list[str]]:
    """OU's own virtual environment (made once): its python, and its `pip freeze`."""
    import torch

    venv = work / f"venv-{OU_COMMIT[:7]}"
    marker = venv / "mrd_bench_freeze.txt"
    python = venv / "bin" / "python"
    if not marker.is_file():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pinned = [line.strip() for line in (tree / "requirements.txt").read_text().splitlines()
                  if line.strip() and not line.startswith("#")
                  and re.split(r"[=<>!~\[ ]", line.strip())[0].lower() not in LEFT_OUT]
        torch_pin = f"torch=={torch.__version__.split('+')[0]}"
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        print(f"open-unlearning's environment: {torch_pin}, {len(pinned)} pinned requirements, {', '.join(ADDED)}",
              flush=True)
        subprocess.run(pip + [torch_pin], check=True)
        subprocess.run(pip + pinned + [ADDED[1]], check=True)
        subprocess.run(pip + ["--no-build-isolation", ADDED[0]], check=True, env={**os.environ, "DS_BUILD_OPS": "0"})
        freeze = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=True)
        marker.write_text(freeze.stdout)
    return python, marker.read_text().splitlines()


def dataset(data_dir: Path, work: Path, limit: int | None) -> Path:
    """A folder holding `locuslab/TOFU`: each local split a config of that name (first `limit` rows)."""
    root = work / f"data-{limit or 'all'}"
    folder = root / "locuslab" / "TOFU"
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(p.stem for p in (data_dir / "tofu").glob("*.jsonl"))
    if not names:
        raise SystemExit(f"no TOFU files under {data_dir / 'tofu'}; set MRD_BENCH_DATA_DIR to the data folder")
    lines = ["---", "configs:"]
    for name in names:
        rows = (data_dir / "tofu" / f"{name}.jsonl").read_text().splitlines(keepends=True)
        (folder / f"{name}.jsonl").write_text("".join(rows[:limit] if limit else rows))
        lines += [f"- config_name: {name}", "  data_files:", "  - split: train", f"    path: {name}.jsonl"]
    (folder / "README.md").write_text("\n".join(lines + ["---", ""]))
    return root


def checkpoint_for_ou(checkpoint: Path, work: Path) -> Path:
    """The checkpoint with a model and tokenizer config transformers 4.45 reads (weights: the same bytes).

    transformers 5 writes the rotary base under `rope_parameters`, a key 4.45 does not know: it would
    silently take its default base (10,000; SmolLM2's is 100,000) and score another model, so the
    base is written where 4.45 reads it (`rope_theta`, `rope_scaling`)."""
    from mrd_bench.leaderboard.untrusted import sha256

    out, marker = work / "checkpoint", sha256(checkpoint / "model.safetensors") + CONFIG_VERSION
    if (out / "source_sha256").is_file() and (out / "source_sha256").read_text() == marker:
        return out
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(checkpoint, out)
    (out / "source_sha256").write_text(marker)
    model_config = json.loads((out / "config.json").read_text())
    rope = dict(model_config.get("rope_parameters") or {})
    if "rope_theta" in rope:
        model_config["rope_theta"] = rope.pop("rope_theta")
        model_config["rope_scaling"] = None if rope.get("rope_type", "default") == "default" else rope
    (out / "config.json").write_text(json.dumps(model_config, indent=1))
    config = json.loads((out / "tokenizer_config.json").read_text())
    config["tokenizer_class"] = "GPT2Tokenizer"  # transformers 5 writes its own backend's name
    template = out / "chat_template.jinja"
    if template.is_file():
        config["chat_template"] = template.read_text()
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=1))
    return out


PROBE = """
import json, sys, torch
from transformers import AutoModelForCausalLM
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], torch_dtype=torch.float32, attn_implementation="sdpa")
with torch.no_grad():
    logits = model.eval()(input_ids=torch.tensor([json.loads(sys.argv[2])])).logits[0, -1]
print(json.dumps(logits.tolist()))
"""


def check_same_model(python: Path, ou_checkpoint: Path, checkpoint: Path) -> float:
    """The largest difference between the last-position logits that OU's environment and this one compute for
    the same tokens (a 64-token probe); refuses the run above 1e-3, where the two would score different models."""
    import torch

    from mrd_bench.models import load_model

    probe = [1, *range(100, 163)]
    proc = subprocess.run([str(python), "-c", PROBE, str(ou_checkpoint), json.dumps(probe)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"open-unlearning's environment could not load {ou_checkpoint}:\n{proc.stderr[-2000:]}")
    theirs = torch.tensor(json.loads(proc.stdout.strip().splitlines()[-1]))
    model, _ = load_model(str(checkpoint))
    with torch.no_grad():
        ours = model.eval()(input_ids=torch.tensor([probe])).logits[0, -1].float()
    gap = float((ours - theirs).abs().max())
    if gap > 1e-3:
        raise SystemExit(f"open-unlearning's environment computes other logits for the checkpoint (largest gap "
                         f"{gap:.3g}): its transformers reads the copy's config differently; fix checkpoint_for_ou")
    return gap


def evaluate(ou_repo: Path, checkpoint: Path, split: str, limit: int | None, work: Path, data_dir: Path) -> dict:
    """OU's TOFU evaluation of `checkpoint` on `split`: wall, peak RSS, its summary's values."""
    work.mkdir(parents=True, exist_ok=True)
    tree = source(ou_repo, work)
    python, freeze = environment(tree, work)
    data = dataset(data_dir, work, limit)
    ckpt = checkpoint_for_ou(checkpoint, work)
    logit_gap = check_same_model(python, ckpt, checkpoint)
    out = work / f"out-{split}-{limit or 'all'}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = ["/usr/bin/time", "-v", str(python), str(tree / "src" / "eval.py"), "experiment=eval/tofu/default",
           "model=mrd_bench_model", f"model.model_args.pretrained_model_name_or_path={ckpt}",
           f"model.tokenizer_args.pretrained_model_name_or_path={ckpt}", "model.model_args.device_map=cpu",
           f"forget_split={split}", f"holdout_split={HOLDOUT[split]}", "task_name=mrd_bench",
           f"paths.output_dir={out}"]
    # a datasets cache of its own per limit: offline, `datasets` otherwise reuses whatever it cached last under
    # the name locuslab/TOFU (a full run once read an 8-row trial's splits)
    env = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(work / f"datasets-{limit or 'all'}")}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=data, env=env)
    wall = time.perf_counter() - start
    (work / "last_run.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"open-unlearning's evaluation failed (log: {work / 'last_run.log'}):\n{proc.stderr[-3000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    summary = json.loads((out / "TOFU_SUMMARY.json").read_text())
    expected = len((data / "locuslab" / "TOFU" / f"{split}.jsonl").read_text().splitlines())
    scored = len(json.loads((out / "TOFU_EVAL.json").read_text())["forget_Q_A_Prob"]["value_by_index"])
    if scored != expected:
        raise SystemExit(f"open-unlearning scored {scored} forget questions, not the {expected} of {split}: it read "
                         f"other data than {data} (a stale datasets cache?)")
    detail = json.loads((out / "TOFU_EVAL.json").read_text())  # every metric, the summary's parts included
    values = {name: block.get("agg_value") for name, block in detail.items() if isinstance(block, dict)}
    print(f"open-unlearning on {split}: {wall:.1f} s, {peak_kb / 2**20:.2f} GB peak", flush=True)
    return {"wall_s": round(wall, 1), "peak_rss_gb": round(peak_kb / 2**20, 3), "metrics": summary, "values": values,
            "commit": OU_COMMIT, "command": cmd[2:], "environment": freeze, "logit_gap": logit_gap,
            "limit": limit, "split": split}


def main() -> None:
    from mrd_bench.cache import cache_dir
    from mrd_bench.io import guard_output, write_json
    from mrd_bench.models import EMBEDDED, export_model
    from mrd_bench.provenance import record

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ou-repo", default=os.environ.get("OU_REPO"), help="a git clone of open-unlearning")
    parser.add_argument("--split", default="forget10", choices=sorted(HOLDOUT))
    parser.add_argument("--limit", type=int, help="each split's first N rows (a trial run)")
    parser.add_argument("--overwrite", action="store_true")
    args = parser.parse_args()
    if not args.ou_repo:
        raise SystemExit("give --ou-repo (or $OU_REPO): a git clone of https://github.com/locuslab/open-unlearning")
    name = f"ou_tofu_eval{'_' + str(args.limit) if args.limit else ''}.json"
    results = Path(__file__).parent / "results"
    guard_output(results / name, args.overwrite)
    checkpoint = cache_dir() / "models" / EMBEDDED
    if not (checkpoint / "model.safetensors").is_file():
        export_model(EMBEDDED, checkpoint)
    data_dir = Path(os.environ.get("MRD_BENCH_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    ou = evaluate(Path(args.ou_repo), checkpoint, args.split, args.limit, cache_dir() / "open_unlearning", data_dir)
    out = write_json(results / name, record(kind="ou_tofu_eval", model=EMBEDDED, **ou,
                                            invocation="python benchmarks/ou_tofu_eval.py " + " ".join(sys.argv[1:])))
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
