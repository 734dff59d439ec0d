"""GradNorm attack (Wang et al., 2024): a sample the model was trained on sits near a minimum
of the loss, so the loss gradient with respect to the weights is small.

As open-unlearning's `gradnorm` attack (p = 2, one sample at a time): the loss is the answer's
mean token NLL, each parameter tensor's gradient gets its L2 norm, and the sample's value is
the mean of those per-tensor norms (not the norm of the whole gradient). The member score is
its negation.
"""
from __future__ import annotations

from typing import Sequence


def gradnorm_score(param_norms: Sequence[float]) -> float:
    """−(mean over parameter tensors of ‖∂loss/∂W‖₂) (higher = more likely a member)."""
    if len(param_norms) == 0:
        raise ValueError("gradnorm_score needs one gradient norm per parameter tensor; got none")
    return -sum(param_norms) / len(param_norms)
