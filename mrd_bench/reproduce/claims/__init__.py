"""The two papers' claims, one module each: its settings and stages, its primary test (declared
before the runs), its analysis of the study's data files (data.py) alone, its figures and its
report tables. Each module has STAGES, PRIMARY, analyse(data), figures(plt, data, result, out) and
tables(result); the verdicts follow the rules of decide.py.

Sign convention: high MRD = easy. Updates to forget count how hard a sample is, so the paper's
claim 2 is a negative Spearman.
"""
from __future__ import annotations

from mrd_bench.reproduce.claims import characteristics, cud, predicts, sampling, sensitivity, variance

CLAIMS = (variance, predicts, characteristics, sampling, sensitivity, cud)  # the report's order


def analyse(data) -> dict:
    """Every claim's result, keyed by its id, in the report's order."""
    out = {}
    for claim in CLAIMS:
        result = claim.analyse(data)
        out[result["id"]] = result
    return out
