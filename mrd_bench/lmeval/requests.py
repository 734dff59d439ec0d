"""What our task documents carry, and the one hook mrd_bench puts on lm-eval's request building,
so that any backend (`hf-mrd`, stock `hf`, `vllm`) gets the right requests and counts.

Every document our loaders make carries `DOC_KEY`: the loader's name and a hash of all the
documents it made (split, annotation, prompt format: everything in them). It serves three things:

1. **A request cache never serves one split's prompts to another.** lm-eval's request-cache key
   (`requests-<task>-<shots>…`) leaves out `--metadata`, and our tasks choose their data from it.
   After lm-eval builds a task's requests, `_checked` compares the documents inside them with the
   documents the task loaded now; requests cached from other data are rebuilt (and the cache file
   rewritten), with one log line saying so.
2. **`hf-mrd` serves requests by what they need, not by task name**: a request whose document
   carries `DOC_KEY` gets per-token values, whatever the task is called (`needs_tokens`), so a
   variant made with `include:` and a new `task:` name works.
3. **Token counts for stock backends.** A stock backend returns only the sum of log p over the
   continuation it scored, and our probabilities are means per token. `_checked` keeps each of our
   requests' (context, continuation); `scored_tokens` counts, with the tokenizer that lm-eval
   passes into the task's metadata (`tokenizer`, else `pretrained`, else `model`, as lm-eval's own
   RULER tasks find theirs), exactly the tokens that lm-eval's `TemplateLM` scores: a context's
   trailing whitespace moves into the continuation (under a chat template, the generation
   prompt's newline), then len(tokens(context + continuation)) − len(tokens(context)).

The hook wraps `lm_eval.api.task.Task.build_all_requests` once per process (`install`, called by
our task helpers when lm-eval imports them); it changes nothing for documents without `DOC_KEY`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
from functools import lru_cache

DOC_KEY = "mrd_bench_data"
TOKENIZER_KEYS = ("tokenizer", "pretrained", "model")  # lm-eval's RULER tasks look in this order
log = logging.getLogger("mrd_bench")
# (DOC_KEY value, sample_id, member) -> (tokenizer settings, add_bos_token, [(context, continuation), ...] by request
# idx, task name); tokenizer settings None where the counts are unknown
_REQUESTS: dict[tuple, tuple] = {}
TOKENIZER_ARGS = ("revision", "trust_remote_code", "use_fast_tokenizer", "gguf_file", "subfolder")


def marked(docs: list[dict], kind: str) -> list[dict]:
    """`docs` with DOC_KEY = "<kind>:<hash of every document>"."""
    digest = hashlib.sha256(json.dumps(docs, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return [{**d, DOC_KEY: f"{kind}:{digest}"} for d in docs]


def dataset(docs: list[dict], kind: str):
    """Our tasks' DatasetDict (one `test` split) of the marked documents."""
    from datasets import Dataset, DatasetDict

    return DatasetDict({"test": Dataset.from_list(marked(docs, kind))})


def needs_tokens(request) -> bool:
    """Whether an lm-eval Instance comes from one of our documents (which want per-token values)."""
    doc = getattr(request, "doc", None)
    return isinstance(doc, dict) and DOC_KEY in doc


def _doc_key(doc: dict) -> tuple:
    return doc[DOC_KEY], doc.get("sample_id"), doc.get("member")


def _tokenizer_settings(metadata: dict) -> tuple | None:
    """(name, ((arg, value), ...)): the tokenizer lm-eval's backend loads, from the model args in
    the task metadata (HFLM's revision, trust_remote_code, use_fast_tokenizer, gguf_file too)."""
    for key in TOKENIZER_KEYS:
        if isinstance(metadata.get(key), str) and metadata[key]:
            return metadata[key], tuple((k, str(metadata[k])) for k in TOKENIZER_ARGS if k in metadata)
    return None


def _checked(task, original, args, kwargs) -> None:
    """After lm-eval built `task`'s requests: rebuild them if they came from other documents (a
    request cache filled under other --metadata), then keep our requests' strings."""
    try:
        docs = task.eval_docs
        names = docs.column_names if hasattr(docs, "column_names") else list(docs[0]) if len(docs) else []
    except Exception:  # noqa: BLE001  (another task's documents: none of ours, nothing to check)
        return
    if DOC_KEY not in names:
        return
    current = set(docs[DOC_KEY]) if hasattr(docs, "column_names") else {d[DOC_KEY] for d in docs}
    stale = {i.doc.get(DOC_KEY) for i in task.instances} - current
    if stale:
        log.warning("%s: the cached requests came from other documents (%s, not %s: another --metadata); "
                    "rebuilding them and rewriting the request cache.", task.config.task,
                    ", ".join(sorted(map(str, stale))), ", ".join(sorted(current)))
        original(task, *args, **{**kwargs, "rewrite_requests_cache": True})
    metadata = dict(task.config.metadata or {})
    settings, bos = _tokenizer_settings(metadata), metadata.get("add_bos_token")
    grouped: dict[tuple, list] = {}
    for inst in sorted(task.instances, key=lambda i: (i.doc_id, i.idx)):
        if inst.request_type in ("loglikelihood", "multiple_choice") and len(inst.args) == 2:
            grouped.setdefault(_doc_key(inst.doc), []).append(tuple(inst.args))
    name = task.config.task
    for key, pairs in grouped.items():
        old = _REQUESTS.get(key)
        if old is not None and old[3] != name and old[2] != pairs:  # two tasks, one document, other requests:
            settings_here = None  # process_results cannot tell which task a result is from, so no count
        else:
            settings_here = settings
        _REQUESTS[key] = (settings_here, bos, pairs, name)


def install() -> None:
    """Wrap lm-eval's Task.build_all_requests (once per process)."""
    from lm_eval.api.task import Task

    original = Task.build_all_requests
    if getattr(original, "_mrd_bench", False):
        return

    def build_all_requests(self, *args, **kwargs):
        original(self, *args, **kwargs)
        _checked(self, original, args, kwargs)

    build_all_requests._mrd_bench = True
    build_all_requests.__doc__ = original.__doc__
    Task.build_all_requests = build_all_requests


@lru_cache(maxsize=4)
def _tokenizer(settings: tuple):
    """The backend's tokenizer, or None where it cannot be loaded here (NaN then, with a warning)."""
    from transformers import AutoTokenizer

    name, args = settings
    kwargs = {k: (v.lower() in ("true", "1", "yes") if k in ("trust_remote_code", "use_fast_tokenizer") else v)
              for k, v in args}
    if "use_fast_tokenizer" in kwargs:
        kwargs["use_fast"] = kwargs.pop("use_fast_tokenizer")
    try:
        return AutoTokenizer.from_pretrained(name, **kwargs)
    except Exception as err:  # noqa: BLE001  (an API backend's model name, a missing file: counts unknown)
        log.warning("the tokenizer %r could not be loaded here (%s): the scored token counts are unknown.",
                    name, str(err).splitlines()[0][:200])
        return None


def _encode(tok, text: str, bos) -> list[int]:
    return tok.encode(text) if bos is None else tok.encode(text, add_special_tokens=bool(bos))


def count_scored(tok, context: str, continuation: str, bos=None) -> int:
    """How many continuation tokens lm-eval's TemplateLM scores for (context, continuation)."""
    if context == "":
        return len(tok.encode(continuation, add_special_tokens=False))
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    return len(_encode(tok, context + continuation, bos)) - len(_encode(tok, context, bos))


def scored_tokens(doc: dict) -> list[int] | None:
    """Per request of `doc` (in request order), the tokens a stock backend scored; None when the
    requests or the tokenizer are unknown here."""
    entry = _REQUESTS.get(_doc_key(doc)) if DOC_KEY in doc else None
    if entry is None or entry[0] is None:
        return None
    settings, bos, pairs, _task = entry
    tok = _tokenizer(settings)
    return None if tok is None else [count_scored(tok, c, x, bos) for c, x in pairs]


def mean_logp(result, doc: dict, index: int = 0) -> float:
    """Mean log p per scored token of one loglikelihood result: from `hf-mrd`'s per-token values,
    else the stock sum over the tokens the backend scored; NaN when neither is known."""
    if len(result) >= 4:
        return sum(result[2]) / max(len(result[2]), 1)
    counts = scored_tokens(doc)
    if counts is None or index >= len(counts) or counts[index] < 1:
        return math.nan
    return float(result[0]) / counts[index]
