"""Where mrd_bench's and open-unlearning's forget metrics part on the embedded model (a
measurement, not a test): the four figures the issue quotes (privleak, extraction strength,
paraphrased and perturbed answer probability on TOFU forget10) recomputed by hand under three
conventions, with plain transformers and torch (open-unlearning is not imported):

- `answer`: the answer's tokens only, full attention (mrd_bench's convention);
- `answer+turn_end`: open-unlearning's labels, everything the chat template appends after the
  answer (`<|im_end|>`, a newline) plus one more EOS, scored as it scores them (probability over
  every label, extraction strength and Min-K% over every label but the last), full attention;
- `ou`: the same labels, and open-unlearning's attention mask `input_ids != pad_token_id`: the
  embedded model's pad token is its EOS `<|im_end|>`, so every end-of-turn token in the prompt
  (the system and user turns' ends) and in the labels is masked out.

All three use the tokenizer's chat template with no system message (its default system
prompt), greedy argmax for extraction strength, Min-K% with k = 0.4, and privleak at
open-unlearning's fallback AUC_ref = 0.5.

With `--ou-eval TOFU_EVAL.json` (open-unlearning's own evaluation of the embedded model on
forget10, as `tofu_eval_speed.py --ou-repo` leaves it in the cache folder's
open_unlearning/out-forget10-all/), each convention's per-question values (answer, paraphrased
and perturbed probabilities, extraction strength, Min-K% scores of forget and holdout) are also
compared with the values open-unlearning recorded for the same questions: the convention that
is open-unlearning's should match them to float32 rounding, the others should not.

    MRD_BENCH_DATA_DIR=../shared/data python benchmarks/ou_conventions.py [--limit N] [--batch-size 16]
        [--ou-eval PATH]

Results: benchmarks/results/ou_conventions.json.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from mrd_bench.data import load
from mrd_bench.io import write_json
from mrd_bench.cache import cache_dir
from mrd_bench.models import EMBEDDED, export_model, load_model
from mrd_bench.provenance import record

RESULTS = Path(__file__).resolve().parent / "results"
OPEN_UNLEARNING = {"privleak": 29.6, "extraction_strength": 0.0587, "para_prob": 0.0623, "pert_prob": 0.0565}
CONVENTIONS = ("answer", "answer+turn_end", "ou")
K = 0.4


def encode(tok, question: str, answer: str) -> tuple[list[int], int, int]:
    """Token ids of the whole chat (plus EOS when the template does not end with it), where the
    answer starts and where it ends (the rest is what the template appends)."""
    prompt = tok.apply_chat_template([{"role": "user", "content": question}], tokenize=True, add_generation_prompt=True)
    full = tok.apply_chat_template([{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
                                   tokenize=True, add_generation_prompt=False)
    prompt, full = list(getattr(prompt, "input_ids", prompt)), list(getattr(full, "input_ids", full))
    assert full[:len(prompt)] == prompt, "the chat template's prompt is not a prefix of the whole chat"
    answer_ids = tok(answer, add_special_tokens=False)["input_ids"]
    end = len(prompt) + len(answer_ids)
    if full[len(prompt):end] != answer_ids:  # tokenised in context differently: find the end-of-turn token
        end = full.index(tok.eos_token_id, len(prompt))
    if full[-1] != tok.eos_token_id:
        full = full + [tok.eos_token_id]
    return full, len(prompt), end


def token_logprobs(model, tok, items: list[tuple[list[int], int, int]], masked: bool, batch_size: int,
                   desc: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per item: log p of each label token (from the answer's start to the end), the argmax
    prediction at each, and the label ids; right padding with the pad token."""
    order = sorted(range(len(items)), key=lambda i: -len(items[i][0]))
    out = [None] * len(items)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    for start in tqdm(range(0, len(order), batch_size), desc=desc, unit="batch"):
        chunk = order[start:start + batch_size]
        width = max(len(items[i][0]) for i in chunk)
        ids = torch.full((len(chunk), width), pad, dtype=torch.long)
        attn = torch.zeros((len(chunk), width), dtype=torch.long)
        for r, i in enumerate(chunk):
            ids[r, :len(items[i][0])] = torch.tensor(items[i][0])
            attn[r, :len(items[i][0])] = 1
        if masked:  # open-unlearning's collator: attention_mask = input_ids != pad_token_id
            attn = (ids != pad).long()
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=attn).logits.float()
        logp = torch.log_softmax(logits, dim=-1)
        for r, i in enumerate(chunk):
            full, a, _ = items[i]
            labels = torch.tensor(full[a:])
            rows = logp[r, a - 1:len(full) - 1]
            out[i] = (rows.gather(1, labels[:, None])[:, 0].numpy(), rows.argmax(-1).numpy(), labels.numpy())
    return out


def extraction_strength(pred: np.ndarray, labels: np.ndarray) -> float:
    n = len(labels)  # open-unlearning's loop: k stops at n - 1 when no suffix matches (score 1/n)
    for k in range(n):
        if np.array_equal(pred[k:], labels[k:]):
            break
    return 1 - k / n if n else 0.0


def min_k(lp: np.ndarray) -> float:
    return float(-np.mean(np.sort(lp)[:max(1, int(len(lp) * K))]))


def per_question(stats: dict, spans: dict, convention: str) -> dict[str, list[float]]:
    """Each question's values under `convention`, named as open-unlearning's TOFU_EVAL.json names them."""
    def cut(key, i):
        lp, pred, lab = stats[key][i]
        n_answer = spans[key][i]
        if convention == "answer":
            return lp[:n_answer], pred[:n_answer], lab[:n_answer], lp[:n_answer]
        return lp, pred[:-1], lab[:-1], lp[:-1]  # probability over every label; ES, Min-K% without the last

    def prob(key, i):
        return math.exp(float(np.mean(cut(key, i)[0])))

    n = len(stats["answer"])
    return {"forget_Q_A_Prob": [prob("answer", i) for i in range(n)],
            "forget_Q_A_PARA_Prob": [prob("para", i) for i in range(n)],
            "forget_Q_A_PERT_Prob": [float(np.mean([prob(f"pert{j}", i) for j in range(5)])) for i in range(n)],
            "extraction_strength": [extraction_strength(*cut("answer", i)[1:3]) for i in range(n)],
            "mia_min_k/forget": [min_k(cut("answer", i)[3]) for i in range(n)],
            "mia_min_k/holdout": [min_k(cut("holdout", i)[3]) for i in range(len(stats["holdout"]))]}


def recorded(ou_eval: dict) -> dict[str, dict[int, float]]:
    """open-unlearning's per-question values from its TOFU_EVAL.json (perturbed: the mean of the five)."""
    def values(block, field):
        return {int(i): float(np.mean(v[field])) for i, v in block["value_by_index"].items()}

    return {"forget_Q_A_Prob": values(ou_eval["forget_Q_A_Prob"], "prob"),
            "forget_Q_A_PARA_Prob": values(ou_eval["forget_Q_A_PARA_Prob"], "prob"),
            "forget_Q_A_PERT_Prob": values(ou_eval["forget_Q_A_PERT_Prob"], "prob"),
            "extraction_strength": values(ou_eval["extraction_strength"], "score"),
            "mia_min_k/forget": values(ou_eval["mia_min_k"]["forget"], "score"),
            "mia_min_k/holdout": values(ou_eval["mia_min_k"]["holdout"], "score")}


def gaps(mine: dict[str, list[float]], theirs: dict[str, dict[int, float]]) -> dict[str, dict]:
    """Per value: the largest and the median absolute per-question difference, and the questions compared."""
    out = {}
    for name, values in mine.items():
        diffs = [abs(v - theirs[name][i]) for i, v in enumerate(values) if i in theirs[name]]
        out[name] = {"largest": max(diffs), "median": float(np.median(diffs)), "questions": len(diffs)}
    return out


def figures(values: dict[str, list[float]]) -> dict:
    """The four figures from one convention's per-question values (`per_question`)."""
    forget, holdout = values["mia_min_k/forget"], values["mia_min_k/holdout"]
    auc = roc_auc_score([0] * len(forget) + [1] * len(holdout), forget + holdout)  # forget 0, as open-unlearning
    privleak = ((1 - auc) - 0.5) / (0.5 + 1e-10) * 100
    return {"privleak": privleak, "extraction_strength": float(np.mean(values["extraction_strength"])),
            "para_prob": float(np.mean(values["forget_Q_A_PARA_Prob"])),
            "pert_prob": float(np.mean(values["forget_Q_A_PERT_Prob"])), "mia_min_k_auc": float(auc)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="the first N forget and N holdout questions")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--ou-eval", type=Path, help="open-unlearning's TOFU_EVAL.json of the embedded model on "
                        "forget10: compare every convention's per-question values with its")
    args = parser.parse_args()
    if args.ou_eval and not args.ou_eval.is_file():
        raise SystemExit(f"error: --ou-eval {args.ou_eval} is not a file; run benchmarks/tofu_eval_speed.py "
                         "--ou-repo OU_CLONE (it leaves open-unlearning's TOFU_EVAL.json in the cache folder)")
    ou_eval = json.loads(args.ou_eval.read_text()) if args.ou_eval else None
    torch.manual_seed(0)
    checkpoint = cache_dir() / "models" / EMBEDDED
    if not (checkpoint / "model.safetensors").is_file():
        export_model(EMBEDDED, checkpoint)
    model, tok = load_model(str(checkpoint))
    model.eval()
    forget, holdout = load("tofu", "forget10_perturbed"), load("tofu", "holdout10")
    if args.limit:
        forget, holdout = forget.select(range(args.limit)), holdout.select(range(args.limit))
    texts = {"answer": [(r["question"], r["answer"]) for r in forget],
             "para": [(r["question"], r["paraphrased_answer"]) for r in forget],
             **{f"pert{j}": [(r["question"], r["perturbed_answer"][j]) for r in forget] for j in range(5)},
             "holdout": [(r["question"], r["answer"]) for r in holdout]}
    encoded = {k: [encode(tok, q, a) for q, a in v] for k, v in texts.items()}
    spans = {k: [end - start for _, start, end in v] for k, v in encoded.items()}
    flat = [(k, i) for k, v in encoded.items() for i in range(len(v))]
    out, compared = {}, {}
    for masked in (False, True):
        values = token_logprobs(model, tok, [encoded[k][i] for k, i in flat], masked, args.batch_size,
                                "ou mask" if masked else "full attention")
        stats = {k: [None] * len(v) for k, v in encoded.items()}
        for (k, i), v in zip(flat, values):
            stats[k][i] = v
        for convention in (("ou",) if masked else ("answer", "answer+turn_end")):
            values = per_question(stats, spans, convention)
            out[convention] = figures(values)
            if ou_eval:
                compared[convention] = gaps(values, recorded(ou_eval))
            print(convention, out[convention], compared.get(convention, ""), flush=True)
    appended = tok.convert_ids_to_tokens(encoded["answer"][0][0][encoded["answer"][0][2]:])
    name = "ou_conventions.json" if not args.limit else f"ou_conventions_{args.limit}.json"
    write_json(RESULTS / name, record(
        model=EMBEDDED, split="forget10 / holdout10", n_forget=len(forget), n_holdout=len(holdout), k=K,
        batch_size=args.batch_size, appended_after_answer=appended,
        open_unlearning=({key: ou_eval[name]["agg_value"] for key, name in (
            ("privleak", "privleak"), ("extraction_strength", "extraction_strength"),
            ("para_prob", "forget_Q_A_PARA_Prob"), ("pert_prob", "forget_Q_A_PERT_Prob"))}
                         if ou_eval else OPEN_UNLEARNING),
        conventions=out, **({"per_question_gap_to_ou": compared, "ou_eval": str(args.ou_eval)} if ou_eval else {}),
        command="MRD_BENCH_DATA_DIR=../shared/data python benchmarks/ou_conventions.py " + " ".join(sys.argv[1:])))


if __name__ == "__main__":
    main()
