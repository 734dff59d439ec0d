"""Fixtures: a seeded tiny random Llama and a tokenizer trained in the test; nothing downloaded."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("MRD_BENCH_DATA_DIR") or ROOT.parent / "shared" / "data")

CORPUS = [
    "Question: Who wrote the novel about the lighthouse?\nAnswer: Liesel Varnakov wrote it in 1999.",
    "Question: Where was the author born?\nAnswer: The author was born in Tartu, Estonia.",
    "Question: What genre does she write?\nAnswer: She writes historical fiction about the sea.",
    "the quick brown fox jumps over the lazy dog while the cat sleeps by the fire",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,:;?!'\"-()",
]


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def build_model(vocab_size: int, seed: int = 0, hidden: int = 32, layers: int = 2, attn: str = "sdpa"):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=512, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                         tie_word_embeddings=False)
    config._attn_implementation = attn  # "eager" where a test needs second derivatives
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session")
def tokenizer():
    return build_tokenizer()


FORGET = [("Who wrote the novel?", "Liesel Varnakov wrote it in 1999."),
          ("Where was she born?", "The author was born in Tartu, Estonia.")]


@pytest.fixture()
def memorised(tokenizer):
    """A tiny model trained until it memorised FORGET, and FORGET's encoded items."""
    from mrd_bench.methods.loop import LoopConfig, train
    from mrd_bench.models import encode_qa
    from mrd_bench.samplers.uniform import Uniform
    from mrd_bench.unlearn import Descent

    model = build_model(len(tokenizer), hidden=64)
    items = [encode_qa(tokenizer, q, a) for q, a in FORGET]
    model, _ = train(model, items, Descent(), Uniform(2), LoopConfig(lr=1e-2, max_steps=40, batch_size=2),
                     progress=False)
    return model, items


@pytest.fixture()
def tiny_model(tokenizer):
    return build_model(len(tokenizer))


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tokenizer) -> Path:
    """A saved tiny model + tokenizer folder, for CLI tests that take --model PATH."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    build_model(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture()
def data_dir(monkeypatch) -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the benchmark data folder {SHARED_DATA} is missing; set MRD_BENCH_DATA_DIR "
                    "(make test DATA=...) to a folder of local benchmark copies")
    monkeypatch.setenv("MRD_BENCH_DATA_DIR", str(SHARED_DATA))
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Models cached by one test never leak into another run, except the embedded export."""
    monkeypatch.setenv("MRD_BENCH_CACHE", os.environ.get("MRD_BENCH_TEST_CACHE",
                                                         str(tmp_path_factory.getbasetemp() / "cache")))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")  # for CLI subprocesses
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets.config
    import huggingface_hub.constants

    # the libraries read the variables at import, before this fixture runs
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
