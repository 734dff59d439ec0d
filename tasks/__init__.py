"""mrd_bench's lm-eval tasks (YAMLs and their helpers), importable as `mrd_bench.tasks` so that
an lm-eval reading the `lm_eval.tasks` entry-point group finds this folder (pyproject.toml)."""
