"""`hf-mrd`: lm-eval's HFLM plus per-token log-probabilities for mrd_bench's own documents.

lm-eval's loglikelihood requests return (sum log p, is_greedy) only. Forget accuracy
(teacher-forced next-token accuracy), extraction strength, Min-K% and Min-K%++ need every
token's log p, whether it was the argmax and the moments of the next-token distribution, so for
requests made from our documents (whatever their task is
called: mrd_bench.lmeval.requests.needs_tokens) this model returns `TokenLogprobs`; every
other request goes through HFLM unchanged.

Speed, with the same outputs: our likelihood requests are deduplicated across tasks and
each distinct context runs once, its KV cache shared by every continuation
(`shared_prefix.py`; model_args `reuse_prefix=False` turns it off); our greedy generations
drop finished rows from the batch (`greedy.py`; `drop_finished=False` turns it off) and run in
batches of `gen_batch_size` rows (model_args; default 2 × --batch_size: a decoding step reads every
weight once whatever its rows, so wider batches cost little more per step, and finished rows leave).

Import order matters: `lm_eval.models` must be imported (registering the built-in models)
before this module registers its own, or lm-eval's registry loses the built-ins.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

import lm_eval.models  # noqa: F401  (built-in models first; see the docstring)
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from mrd_bench.lmeval import shared_prefix
from mrd_bench.lmeval.greedy import greedy
from mrd_bench.lmeval.requests import install, needs_tokens
from mrd_bench.models import IGNORE, Encoded, collate
from mrd_bench.scorers.base import scored_logits

MODEL_NAME = "hf-mrd"
# a document key: its requests need the vocabulary moments (Min-K%++), which cost passes over the vocabulary
VOCAB_MOMENTS = "vocab_moments"
GEN_BATCHES = 2  # gen_batch_size's default, in --batch_size units: 4 was faster, but 128 rows put the full forget10
# run's peak at 2.67 GB, over the 2.5 GB goal (benchmarks/README.md, generation_paths.py)
install()  # cached requests are checked against the documents loaded now (see requests.py)


class TokenLogprobs(NamedTuple):
    """A loglikelihood result with the per-token detail our metrics need."""

    ll: float
    is_greedy: bool
    logprobs: list  # log p of each continuation token
    correct: list  # whether each continuation token was the argmax
    vocab_mean: list | None = None  # E_v[log p(v)] at each continuation token (Min-K%++); None in
    vocab_var: list | None = None  # results cached before these existed, which had four fields
    param_norms: list | None = None  # ‖∂(mean answer NLL)/∂W‖₂ per parameter tensor (GradNorm's documents only)


def _route(requests, ours: list[bool], stock, own, disable_tqdm: bool) -> list:
    """The requests marked ours through `own` (on their args), the rest through HFLM's `stock`;
    results in request order."""
    if not any(ours):
        return stock(requests, disable_tqdm=disable_tqdm)
    mine = [i for i, flag in enumerate(ours) if flag]
    others = [i for i, flag in enumerate(ours) if not flag]
    results: list = [None] * len(requests)
    if others:
        for i, res in zip(others, stock([requests[i] for i in others], disable_tqdm=disable_tqdm)):
            results[i] = res
    for i, res in zip(mine, own([requests[i].args for i in mine], disable_tqdm)):
        results[i] = res
    return results


def _flag(value) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() not in ("false", "0", "no")


@register_model(MODEL_NAME)
class TokenLevelHFLM(HFLM):
    def __init__(self, *args, reuse_prefix=True, drop_finished=True, gen_batch_size=None, **kwargs):
        size = kwargs.get("batch_size", 1)
        if not (isinstance(size, int) or str(size).strip().isdigit()):
            from mrd_bench.errors import ConfigError

            raise ConfigError(f"hf-mrd: --batch_size {size}: give a number (e.g. --batch_size 16); hf-mrd's "
                              "token-level passes do not search for a batch size, and would otherwise run at "
                              "another size than the results file records.")
        super().__init__(*args, **kwargs)
        self.reuse_prefix = _flag(reuse_prefix) and shared_prefix.supported(self.model)
        self.drop_finished = _flag(drop_finished)
        # rows per greedy-generation batch: a decoding step reads every weight once whatever the rows, so on a
        # CPU 64 rows cost little more per step than 32; finished rows leave the batch and its KV cache
        self.gen_batch_size = int(gen_batch_size) if gen_batch_size is not None else GEN_BATCHES * self.batch_size

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        ours = [needs_tokens(r) for r in requests]
        grads = [flag and bool(r.doc.get("gradnorm")) for flag, r in zip(ours, requests)]
        if not any(grads):
            moments = [bool(r.doc.get(VOCAB_MOMENTS)) for flag, r in zip(ours, requests) if flag]
            return _route(requests, ours, super().loglikelihood,
                          lambda pairs, quiet: self._token_logprobs(pairs, quiet, moments=moments), disable_tqdm)
        rest = [i for i, g in enumerate(grads) if not g]
        results: list = [None] * len(requests)
        for i, res in zip(rest, self.loglikelihood([requests[i] for i in rest], disable_tqdm) if rest else []):
            results[i] = res
        for i, res in zip([i for i, g in enumerate(grads) if g],
                          self._gradient_norms([r.args for r, g in zip(requests, grads) if g], disable_tqdm)):
            results[i] = res
        return results

    def _gradient_norms(self, pairs, disable_tqdm: bool = False) -> list[TokenLogprobs]:
        """For GradNorm's documents: one sample at a time (open-unlearning's batch of 1), the answer's
        token values and, from a backward pass of its mean NLL, each parameter tensor's gradient L2
        norm. `torch.autograd.grad` leaves the weights and their `.grad` untouched."""
        from tqdm.auto import tqdm

        params = list(self.model.parameters())
        wanted = [p.requires_grad for p in params]
        out = []
        try:
            for p in params:
                p.requires_grad_(True)
            for context, continuation in tqdm([self._encode(c, x) for c, x in pairs], desc="hf-mrd gradient norms",
                                              unit="seq", disable=disable_tqdm or self.rank != 0):
                continuation = continuation[-(self.max_length - 1):]
                ids = (context + continuation)[-self.max_length:]
                item = Encoded(ids, [IGNORE] * (len(ids) - len(continuation)) + continuation)
                batch = {k: v.to(self.device) for k, v in collate([item], self.tokenizer.pad_token_id or 0).items()}
                with torch.enable_grad():
                    logits, targets = scored_logits(self.model, batch)
                    logp, correct, mean, var = shared_prefix.token_stats(logits, targets)
                    grads = torch.autograd.grad(-logp.mean(), params, allow_unused=True)
                norms = [float(g.detach().float().norm(2)) for g in grads if g is not None]
                logp = logp.detach()
                out.append(TokenLogprobs(float(logp.sum()), bool(correct.all()), logp.tolist(), correct.tolist(),
                                         mean.detach().tolist(), var.detach().tolist(), norms))
        finally:
            for p, flag in zip(params, wanted):
                p.requires_grad_(flag)
        return out

    def _encode(self, context: str, continuation: str) -> tuple[list[int], list[int]]:
        """Context and continuation tokenised apart, so the scored tokens are exactly the target's.

        lm-eval's `_encode_pair` moves the context's trailing whitespace into the continuation;
        under a chat template that is the generation prompt's newline, which would then be scored
        as an (always right, log p ≈ 0) answer token. `mrd-bench score` and `finetune` tokenise
        prompt and answer apart too (mrd_bench.models.encode_qa).
        """
        answer = self.tok_encode(continuation, add_special_tokens=False)
        if context == "":  # as HFLM does: condition on the prefix token
            return [self.prefix_token_id], answer
        return self.tok_encode(context), answer

    @torch.no_grad()
    def _token_logprobs(self, pairs, disable_tqdm: bool = False, moments: list[bool] | None = None
                        ) -> list[TokenLogprobs]:
        """The continuation tokens' log p and argmax agreement, and the vocabulary moments for the
        pairs `moments` marks (default all; NaN for the others); the LM head runs at those tokens only."""
        from tqdm.auto import tqdm

        encoded = []
        for context, continuation in (self._encode(c, x) for c, x in pairs):  # truncated from the left, as HFLM does
            continuation = continuation[-(self.max_length - 1):]
            ids = (context + continuation)[-self.max_length:]
            encoded.append((ids[:len(ids) - len(continuation)], continuation))
        size = int(self.batch_size)
        bar = tqdm(total=len(encoded), desc="hf-mrd token log-probs", unit="seq",
                   disable=disable_tqdm or self.rank != 0)
        if self.reuse_prefix:
            scored = shared_prefix.continuation_logprobs(self.model, encoded, size, self.tokenizer.pad_token_id or 0,
                                                         progress=bar.update, moments=moments)
            bar.close()
            return [TokenLogprobs(total, bool(all(right)), lp, right, mu, var) for total, lp, right, mu, var in scored]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]) - len(encoded[i][1]))
        out: list = [None] * len(encoded)
        for start in range(0, len(order), size):
            rows = order[start:start + size]
            items = [Encoded(encoded[i][0] + encoded[i][1], [IGNORE] * len(encoded[i][0]) + encoded[i][1])
                     for i in rows]
            batch = {k: v.to(self.device) for k, v in collate(items, self.tokenizer.pad_token_id or 0).items()}
            counts = [len(item.input_ids) - item.labels.count(IGNORE) for item in items]
            marks = torch.tensor([moments is None or moments[i] for i, n in zip(rows, counts) for _ in range(n)],
                                 device=self.device)
            token_logp, correct, mean, var = shared_prefix.token_stats(*scored_logits(self.model, batch), marks)
            for i, logp, right, mu, sd2 in zip(rows, token_logp.split(counts), correct.split(counts),
                                               mean.split(counts), var.split(counts)):
                out[i] = TokenLogprobs(float(logp.sum()), bool(right.all()), logp.tolist(), right.tolist(),
                                       mu.tolist(), sd2.tolist())
            bar.update(len(rows))
        bar.close()
        return out

    # ------------------------------------------------------------------ generation

    def generate_until(self, requests, disable_tqdm: bool = False):
        ours = [self.drop_finished and needs_tokens(r) and self._plain_greedy(r.args[1])
                for r in requests]
        return _route(requests, ours, super().generate_until, self._greedy_until, disable_tqdm)

    def _plain_greedy(self, gen_kwargs: dict) -> bool:
        """Greedy with stop strings and a token budget, nothing else (other kwargs go to HFLM)."""
        from lm_eval.models.utils import normalize_gen_kwargs

        kwargs = normalize_gen_kwargs(dict(gen_kwargs), self.max_gen_toks)
        return (not kwargs.get("do_sample") and not kwargs.get("temperature")
                and set(kwargs) <= {"do_sample", "until", "max_gen_toks", "temperature"}
                and self.backend == "causal" and self.think_end_token is None and isinstance(self.batch_size, int))

    def _greedy_until(self, requests: list, disable_tqdm: bool = False) -> list[str]:
        """HFLM's generate_until (lm-eval's Collator for the same batches; the same encoding, stop
        strings and post-processing) with finished rows leaving the batch."""
        from lm_eval.models.utils import Collator, handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text
        from tqdm.auto import tqdm

        eos = self.tok_decode(self.eot_token_id, skip_special_tokens=False)
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        eos_ids = {self.eot_token_id, *([configured] if isinstance(configured, int) else configured or [])}
        batches = Collator(list(requests), sort_fn=lambda req: (-len(self.tok_encode(req[0])), req[0]),
                           group_by="gen_kwargs", group_fn=lambda req: req[1])
        out: list = []
        bar = tqdm(total=len(requests), desc="hf-mrd greedy generation", unit="seq",
                   disable=disable_tqdm or self.rank != 0)
        for chunk in batches.get_batched(n=self.gen_batch_size):
            contexts, all_kwargs = zip(*chunk)
            kwargs = normalize_gen_kwargs(dict(all_kwargs[0]), self.max_gen_toks)
            until = handle_stop_sequences(kwargs.pop("until", None), eos=eos)
            budget = kwargs.pop("max_gen_toks")
            ids, mask = self.tok_batch_encode(list(contexts), left_truncate_len=self.max_length - budget,
                                              truncation=self.truncation)
            tokens = greedy(self.model, ids.to(self.device), mask.to(self.device), budget, eos_ids, until, self.tok_decode)
            for request, toks in zip(chunk, tokens):
                out.append(postprocess_generated_text(self.tok_decode(toks), until, None))
                self.cache_hook.add_partial("generate_until", request, out[-1])
            bar.update(len(chunk))
        bar.close()
        return batches.get_original(out)
