"""What every scorer shares: the registry, the per-sample record, and scored log-probs."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional

import torch

from mrd_bench.models import IGNORE
from mrd_bench.registry import Registry

SCORERS: Registry = Registry("scorer")


@dataclass(frozen=True)
class SampleScore:
    """One sample's score with its uncertainty, and the baselines measured on the way."""

    sample_id: str
    score: float
    se: Optional[float]  # standard error over draws; None with a single draw
    draws: int
    n_tokens: int  # scored tokens
    n_clamped: int  # scored tokens whose |log p| was clamped up to eps
    nll: float  # mean negative log-likelihood of the scored tokens, unperturbed

    def to_dict(self) -> dict:
        return asdict(self)


def scored_logprobs(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """log p(x_t | x_<t) at the scored tokens only, flattened row-major: [N].

    The LM head runs only where a token is scored, not at every position: on a
    49k-word vocabulary the head is most of a small model's forward cost.
    """
    labels = batch["labels"][:, 1:]  # [B, T-1]
    scored = labels != IGNORE
    if getattr(model.config, "final_logit_softcapping", None):  # head math lives in forward
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logits = logits[:, :-1][scored]  # [N, V]
    else:
        hidden = model.base_model(input_ids=batch["input_ids"],
                                  attention_mask=batch["attention_mask"]).last_hidden_state
        logits = model.get_output_embeddings()(hidden[:, :-1][scored])  # [N, V]
    logp = logits.float().log_softmax(-1)
    return logp.gather(-1, labels[scored][:, None]).squeeze(-1)  # [N]


def row_index(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The batch row of each scored token, matching `scored_logprobs`' order: [N]."""
    return (batch["labels"][:, 1:] != IGNORE).nonzero()[:, 0]
