"""One loader test per benchmark, over ../shared/data, plus the source-resolution errors."""
import json

import pytest

from mrd_bench.data import BENCHMARKS, load
from mrd_bench.data.whp import CHUNK_WORDS, SEEN_INSTRUCTIONS, UNSEEN_INSTRUCTIONS
from mrd_bench.errors import ConfigError, DataError


def test_tofu_every_split_loads_with_stable_ids(data_dir):
    sizes = {split: len(load("tofu", split)) for split in BENCHMARKS.get("tofu").splits}
    assert sizes["full"] == 4000 and sizes["forget10"] == 400 and sizes["holdout01"] == 40
    full, forget, perturbed = load("tofu", "full"), load("tofu", "forget10"), load("tofu", "forget10_perturbed")
    # forget10 is the tail of full: the same questions get the same ids in every split
    assert forget["sample_id"] == full["sample_id"][-400:] == perturbed["sample_id"]
    assert len(set(full["sample_id"])) == 4000
    assert all(len(p) == 5 for p in perturbed["perturbed_answer"])
    assert set(load("tofu", "retain90")["sample_id"]).isdisjoint(forget["sample_id"])


def test_wmdp_splits(data_dir):
    for split, n in (("bio", 1273), ("chem", 408), ("cyber", 1987)):
        ds = load("wmdp", split)
        assert len(ds) == n and set(ds["answer"]) <= {0, 1, 2, 3}
        assert all(len(c) == 4 for c in ds["choices"])


def test_mmlu_all_subjects_and_one(data_dir):
    assert len(load("mmlu", "test")) == 14042
    anatomy = load("mmlu", "test/anatomy")
    assert set(anatomy["subject"]) == {"anatomy"} and 0 < len(anatomy) < 14042


def test_whp_chunks_a_book_and_has_both_instruction_sets(data_dir):
    ds = load("whp", "shakespeare-hamlet")
    row = ds[5]
    assert len(row["text"].split()) == CHUNK_WORDS
    assert row["prefix"] + " " + row["continuation"] == row["text"]
    assert ds["chunk_index"] == list(range(len(ds)))
    assert len(set(SEEN_INSTRUCTIONS)) == len(set(UNSEEN_INSTRUCTIONS)) == 6
    assert not set(SEEN_INSTRUCTIONS) & set(UNSEEN_INSTRUCTIONS)


def test_whp_reads_a_users_own_text(tmp_path):
    book = tmp_path / "my-book.txt"
    book.write_text(" ".join(f"w{i}" for i in range(CHUNK_WORDS * 2 + 5)))
    ds = load("whp", "custom", path=book)
    assert len(ds) == 2 and ds[1]["text"].split()[0] == f"w{CHUNK_WORDS}"


def test_whp_chunks_by_model_tokens(tokenizer):
    from mrd_bench.data.whp import chunk_text

    text = "the quick brown fox jumps over the lazy dog " * 20
    ds = chunk_text(text, "fox", chunk_size=16, tokenizer=tokenizer)
    n_tokens = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert len(ds) == n_tokens // 16
    assert all(len(tokenizer(r["text"], add_special_tokens=False)["input_ids"]) == 16 for r in ds)


def test_safe_toxic_prompts(data_dir):
    toxic, nontoxic = load("safe", "toxic"), load("safe", "nontoxic")
    assert len(toxic) == 1196 and all(toxic["challenging"])
    assert sum(toxic["prompt_toxicity"]) / len(toxic) > sum(nontoxic["prompt_toxicity"]) / len(nontoxic)


def test_safe_reads_pku_format_keeping_unsafe_responses(tmp_path):
    rows = [{"prompt": "p1", "response_0": "bad", "response_1": "good",
             "is_response_0_safe": False, "is_response_1_safe": True},
            {"prompt": "p2", "response_0": "ok", "response_1": "ok2",
             "is_response_0_safe": True, "is_response_1_safe": True}]
    path = tmp_path / "pku.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    ds = load("safe", "harmful", path=path)
    assert ds["prompt"] == ["p1"] and ds["response"] == ["bad"]


def test_fictitious_is_embedded_and_split_like_tofu(monkeypatch):
    monkeypatch.delenv("MRD_BENCH_DATA_DIR", raising=False)
    full, forget, retain = load("fictitious", "full"), load("fictitious", "forget10"), load("fictitious", "retain90")
    holdout = load("fictitious", "holdout10")
    assert (len(full), len(forget), len(retain), len(holdout)) == (100, 10, 90, 10)
    assert forget["sample_id"] == full["sample_id"][-10:]
    assert retain["sample_id"] == full["sample_id"][:90]
    assert set(holdout["sample_id"]).isdisjoint(full["sample_id"])
    row = forget[0]
    assert row["paraphrased_answer"] != row["answer"] and len(set(row["perturbed_answer"])) == 5


def test_unknown_benchmark_and_split_name_the_fix():
    with pytest.raises(ConfigError, match="Did you mean 'tofu'"):
        load("tofuu", "forget10")
    with pytest.raises(ConfigError, match="unknown split 'forget11'.*Did you mean"):
        load("tofu", "forget11")


def test_missing_data_dir_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("MRD_BENCH_DATA_DIR", str(tmp_path / "nope"))
    with pytest.raises(DataError, match="MRD_BENCH_DATA_DIR.*does not exist"):
        load("tofu", "forget01")


def test_offline_without_local_copy_names_variable_and_hub_id(monkeypatch):
    monkeypatch.delenv("MRD_BENCH_DATA_DIR", raising=False)
    with pytest.raises(DataError) as err:
        load("tofu", "forget01")
    assert "MRD_BENCH_DATA_DIR" in str(err.value) and "locuslab/TOFU" in str(err.value)


def test_malformed_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{"prompt": \n')
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        load("safe", "harmful", path=path)
