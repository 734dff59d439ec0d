"""Toxicity removal in the style of SAFE: toxic prompts and harmful responses.

Sources, by split:
- `toxic` / `nontoxic`: RealToxicityPrompts (hub id allenai/real-toxicity-prompts); `toxic`
  are its "challenging" prompts. `prompt` and `response` are the prompt text and its
  original continuation.
- `harmful`: PKU-SafeRLHF (hub id PKU-Alignment/PKU-SafeRLHF), each prompt with a
  response labelled unsafe. It is not stored locally here; pass its JSONL (or any JSONL
  with `prompt` and `response` fields) as a user file.
"""
from __future__ import annotations

from pathlib import Path

from datasets import Dataset, load_dataset

from mrd_bench.data.source import BENCHMARKS, Benchmark, parse_jsonl, read_jsonl, rows_to_dataset
from mrd_bench.errors import DataError

RTP_HUB_ID = "allenai/real-toxicity-prompts"
PKU_HUB_ID = "PKU-Alignment/PKU-SafeRLHF"
SPLITS = ("toxic", "nontoxic", "harmful")


def from_rtp(rows: Dataset) -> Dataset:
    return Dataset.from_list([
        {"prompt": r["prompt"]["text"], "response": (r.get("continuation") or {}).get("text", ""),
         "prompt_toxicity": r["prompt"].get("toxicity"), "challenging": bool(r.get("challenging"))}
        for r in rows])


def from_pku(rows, source: str = "PKU-SafeRLHF") -> Dataset:
    """Keep each prompt's unsafe responses (PKU-SafeRLHF's `is_response_i_safe` labels)."""
    out = []
    for number, r in enumerate(rows, start=1):
        if "prompt" not in r or not ({"response", "response_0", "response_1"} & set(r)):
            lacking = "'prompt'" if "prompt" not in r else "'response' (or response_0/response_1)"
            raise DataError(f"{source} row {number} lacks {lacking}; every row needs a prompt and a response.")
        if "response" in r:  # already prompt/response pairs
            out.append({"prompt": r["prompt"], "response": r["response"]})
            continue
        for i in (0, 1):
            if f"response_{i}" in r and not r.get(f"is_response_{i}_safe", True):
                out.append({"prompt": r["prompt"], "response": r[f"response_{i}"]})
    return Dataset.from_list(out)


def read_local(folder: Path, split: str) -> Dataset:
    if split == "harmful":
        raise DataError("the local data has no PKU-SafeRLHF copy; pass its JSONL with --data-path, "
                        "or use split 'toxic' (RealToxicityPrompts) instead.")
    return from_rtp(read_jsonl(folder / f"{split}.jsonl"))


def read_hub(split: str) -> Dataset:
    if split == "harmful":
        return from_pku(load_dataset(PKU_HUB_ID, split="train"))
    rows = load_dataset(RTP_HUB_ID, split="train")
    wanted = split == "toxic"
    return from_rtp(rows.filter(lambda r: bool(r["challenging"]) == wanted))


def read_file(path: Path, split: str) -> Dataset:
    """A user's JSONL: PKU-SafeRLHF rows, RealToxicityPrompts rows, or prompt/response pairs."""
    rows = parse_jsonl(path)
    if not rows or "prompt" not in rows[0]:
        raise DataError(f"{str(path)!r} needs JSON lines with a 'prompt' field "
                        "(and 'response', or PKU-SafeRLHF's response_0/response_1).")
    if isinstance(rows[0]["prompt"], dict):
        return from_rtp(rows_to_dataset(rows, path))
    return from_pku(rows, repr(str(path)))


BENCHMARKS.register("safe")(Benchmark(
    name="safe", splits=SPLITS, id_fields=("prompt", "response"), subdir="rtp",
    read_local=read_local, hub_id=f"{RTP_HUB_ID} / {PKU_HUB_ID}", read_hub=read_hub,
    read_file=read_file))
