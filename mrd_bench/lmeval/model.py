"""`hf-mrd`: lm-eval's HFLM plus per-token log-probabilities for mrd_bench's own tasks.

lm-eval's loglikelihood requests return (sum log p, is_greedy) only. Forget accuracy
(teacher-forced next-token accuracy) and Min-K% Prob need every token's log p and
whether it was the argmax, so for our tasks this model returns `TokenLogprobs`; every
other task's requests go through HFLM unchanged.

Import order matters: `lm_eval.models` must be imported (registering the built-in models)
before this module registers its own, or lm-eval's registry loses the built-ins.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

import lm_eval.models  # noqa: F401  (built-in models first; see the docstring)
from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from mrd_bench.lmeval.paths import our_task_names
from mrd_bench.models import IGNORE, Encoded, collate
from mrd_bench.scorers.base import scored_logits

MODEL_NAME = "hf-mrd"


class TokenLogprobs(NamedTuple):
    """A loglikelihood result with the per-token detail our metrics need."""

    ll: float
    is_greedy: bool
    logprobs: list  # log p of each continuation token
    correct: list  # whether each continuation token was the argmax


@register_model(MODEL_NAME)
class TokenLevelHFLM(HFLM):
    def loglikelihood(self, requests, disable_tqdm: bool = False):
        ours = [i for i, r in enumerate(requests) if r.task_name in our_task_names()]
        if not ours:
            return super().loglikelihood(requests, disable_tqdm=disable_tqdm)
        others = [i for i in range(len(requests)) if i not in set(ours)]
        results: list = [None] * len(requests)
        if others:
            for i, res in zip(others, super().loglikelihood([requests[i] for i in others], disable_tqdm)):
                results[i] = res
        for i, res in zip(ours, self._token_logprobs([requests[i].args for i in ours], disable_tqdm)):
            results[i] = res
        return results

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
    def _token_logprobs(self, pairs, disable_tqdm: bool = False) -> list[TokenLogprobs]:
        """The continuation tokens' log p and argmax agreement; the LM head runs at those tokens only."""
        from tqdm.auto import tqdm

        encoded = [self._encode(c, x) for c, x in pairs]
        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]) - len(encoded[i][1]))
        size = self.batch_size if isinstance(self.batch_size, int) else 8
        out: list = [None] * len(encoded)
        bar = tqdm(total=len(order), desc="hf-mrd token log-probs", unit="seq",
                   disable=disable_tqdm or self.rank != 0)
        for start in range(0, len(order), size):
            rows = order[start:start + size]
            items = []
            for i in rows:  # context truncated from the left, as HFLM does
                context, continuation = encoded[i][0], encoded[i][1][-(self.max_length - 1):]
                ids = (context + continuation)[-self.max_length:]
                items.append(Encoded(ids, [IGNORE] * (len(ids) - len(continuation)) + continuation))
            batch = {k: v.to(self.device) for k, v in collate(items, self.tokenizer.pad_token_id or 0).items()}
            logits, targets = scored_logits(self.model, batch)  # [N, V], [N], row-major
            token_logp = logits.float().log_softmax(-1).gather(-1, targets[:, None]).squeeze(-1)
            correct = logits.argmax(-1) == targets
            counts = [len(item.input_ids) - item.labels.count(IGNORE) for item in items]
            for i, logp, right in zip(rows, token_logp.split(counts), correct.split(counts)):
                out[i] = TokenLogprobs(float(logp.sum()), bool(right.all()), logp.tolist(), right.tolist())
            bar.update(len(rows))
        bar.close()
        return out
