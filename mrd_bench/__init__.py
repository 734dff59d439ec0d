"""mrd_bench: difficulty-aware evaluation of LLM unlearning for lm-evaluation-harness."""
from __future__ import annotations

__version__ = "0.1.0"
