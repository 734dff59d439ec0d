"""Reference-model attack (Carlini et al., 2022, LiRA's offline form): a sample is a member if the
model under test finds it more likely than a reference model that never saw it.

As open-unlearning's `reference` attack: target_loss − reference_loss with the losses the mean
token NLL; the member score here is its negation, mean log p − reference mean log p.
"""
from __future__ import annotations


def reference_score(mean_logp: float, reference_mean_logp: float) -> float:
    """How much more likely the model finds the answer than the reference model does (per token)."""
    return mean_logp - reference_mean_logp
