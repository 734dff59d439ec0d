"""lm-evaluation-harness integration: the token-level model type and task helpers."""
