"""The study's decision rules, fixed before the runs they judge.

Every claim has one primary test in the paper's stated direction (`Primary`); `decide` turns
its result into one of four verdicts by the rules below, the same for every claim:

- **reproduced**: the primary test is significant (two-sided p < 0.05) with the estimate on
  the paper's side of the null (claim 1's random-effects F test has only one side: its upper-tail
  p < 0.05, with the matching 90% CI, `ci_level` in its result);
- **reproduced, but not beyond the baselines**: as above, for a claim about MRD whose
  partial correlation given the baselines (NLL, Min-K%, gradient norm, answer length) has a
  CI that covers 0 (or lies on the other side);
- **not reproduced**: the primary test is significant against the paper, or its CI excludes
  every effect at least as large as the smallest effect of interest (`sesoi`) on the paper's
  side;
- **inconclusive**: otherwise, always with the smallest effect the test finds with 80% power
  at its n, beside the paper's effect size (or the stated smallest effect of interest where
  the paper gives none).

The rules apply in this order: a significant result in the paper's direction is reproduced
even when its CI lies within the smallest effect of interest (its size is stated beside it).
A claim whose protocol needs runs to reach the MA threshold (claims 1 and 4) is inconclusive,
whatever its test says, when fewer than 80% of the runs of any one method (claim 4: of any
method and sampler) reached it. The exclusion branch needs
an uncensored comparison (`allow_exclusion`).

Secondary tests are Holm-corrected within their claim and shown as sub-verdicts by the same
rules, without the exclusion branch (their CIs are not adjusted); they never change the
claim's verdict.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Optional

from mrd_bench.reproduce.stats import ALPHA, POWER, holm

REPRODUCED = "reproduced"
NOT_BEYOND = "reproduced, but not beyond the baselines"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"
VERDICTS = (REPRODUCED, NOT_BEYOND, NOT_REPRODUCED, INCONCLUSIVE)

RULES = (
    f"reproduced: the primary test is significant (two-sided p < {ALPHA:g}; claim 1's F test, one-sided by nature: "
    f"upper-tail p < {ALPHA:g} with its matching 90% CI) with the estimate on the paper's side; "
    "reproduced, but not beyond the baselines: so, but MRD's partial correlation given NLL, Min-K%, gradient norm "
    "and answer length (for sampling: against the length- or NLL-weighted sampler) has a 95% CI that covers 0; not "
    "reproduced: the primary test is significant against the paper, or its CI excludes every effect at least as "
    "large as the smallest effect of interest on the paper's side; inconclusive: otherwise, with the smallest effect "
    f"the test finds with {POWER:.0%} power at its n. In that order: a significant effect in the paper's direction is "
    "reproduced however small (its size is stated); a claim whose runs must reach the MA threshold is inconclusive "
    "when fewer than 80% of any one method's (and sampler's) runs did; secondary tests use Holm-adjusted p-values "
    "and no exclusion branch")


@dataclass(frozen=True)
class Primary:
    """A claim's primary test, declared before its result."""

    test: str  # in plain words, with the statistic, the data and the α
    statistic: str  # the name of the estimate: rho, auc, theta, mean log ratio, ...
    expected: str  # "above" or "below" the null: the paper's direction
    null: float  # the value of no effect
    sesoi: float  # the smallest effect of interest, as a distance from the null
    paper_effect: Optional[float] = None  # the paper's effect size on the same scale, where it states one
    paper_effect_note: str = "the paper states no effect size on this scale"

    def __post_init__(self) -> None:
        if self.expected not in ("above", "below"):
            raise ValueError(f"expected must be 'above' or 'below'; got {self.expected!r}")


def _side(primary: Primary, value: float) -> float:
    """How far `value` lies from the null on the paper's side (negative: the other side)."""
    return (value - primary.null) if primary.expected == "above" else (primary.null - value)


def decide(primary: Primary, result: dict, *, mde: float, beyond: Optional[dict] = None,
           allow_exclusion: bool = True, protocol: Optional[dict] = None) -> dict:
    """The verdict of `result` ({estimate, ci, p, n}) under the rules above; `beyond` is the partial
    correlation given the baselines ({rho, ci}) for a claim about MRD, oriented like the primary;
    `protocol` ({reached, required, by}) the smallest share of runs that reached the MA threshold over
    the groups `by` (method, or method and sampler: group -> share)."""
    estimate, (lo, hi), p = result["estimate"], result["ci"], result["p"]
    toward = max(_side(primary, lo), _side(primary, hi))  # the CI's end that is furthest on the paper's side
    finite = all(math.isfinite(v) for v in (estimate, lo, hi, p))
    if finite and p < ALPHA and _side(primary, estimate) > 0:
        verdict, why = REPRODUCED, "the primary test is significant in the paper's direction"
        if beyond is not None:
            b_lo, b_hi = beyond["ci"]
            b_toward, b_away = max(_side(primary, b_lo), _side(primary, b_hi)), min(_side(primary, b_lo),
                                                                                   _side(primary, b_hi))
            what = beyond.get("label", "MRD's partial correlation given the baselines")
            if not (math.isfinite(b_lo) and math.isfinite(b_hi)):
                verdict = NOT_BEYOND
                why += f"; {what} could not be computed"
            elif b_toward <= 0:
                verdict = NOT_BEYOND
                why += f"; the 95% CI of {what} lies on the other side of 0"
            elif b_away <= 0:
                verdict = NOT_BEYOND
                why += f"; the 95% CI of {what} covers 0"
            else:
                why += f"; and it holds beyond the baselines ({what})"
    elif finite and p < ALPHA:
        verdict, why = NOT_REPRODUCED, "the primary test is significant against the paper's direction"
    elif finite and allow_exclusion and toward < primary.sesoi:
        verdict, why = NOT_REPRODUCED, (f"the {result.get('ci_level', 0.95):.0%} CI excludes every effect of at least "
                                        f"{primary.sesoi:g} "
                                        "(the smallest effect of interest) on the paper's side")
    else:
        verdict, why = INCONCLUSIVE, ("the test is not significant and its CI still holds effects of interest"
                                      if finite else "the test could not be computed")
    if protocol is not None and protocol["reached"] < protocol["required"] and verdict != INCONCLUSIVE:
        short = [f"{name} {share:.0%}" for name, share in protocol.get("by", {}).items() if share < protocol["required"]]
        why = (f"{why}, but only {protocol['reached']:.0%} of the runs "
               + (f"of the weakest group ({', '.join(short)}) " if short else "")
               + f"reached the MA threshold (the protocol asks for {protocol['required']:.0%} of each method's "
               "runs), so the test does not judge the paper's protocol")
        verdict = INCONCLUSIVE
    out = {"verdict": verdict, "why": why, "primary": {**asdict(primary), **result,
                                                        "alpha": ALPHA, "mde_80": mde}}
    if beyond is not None:
        out["beyond_baselines"] = beyond
    if verdict == INCONCLUSIVE:
        paper = (f"the paper's effect is {primary.paper_effect:g}" if primary.paper_effect is not None
                 else primary.paper_effect_note)
        found = (f"the test finds an effect of {mde:.3g} (as {primary.statistic}, distance from {primary.null:g}) "
                 f"with {POWER:.0%} power" if math.isfinite(mde) else "no detectable effect can be stated")
        out["power"] = {"mde_80": mde, "n": result.get("n"), "sesoi": primary.sesoi,
                        "statement": f"at n = {result.get('n')} {found}; {paper}; the smallest effect of interest is "
                                     f"{primary.sesoi:g}"}
    return out


def secondary(tests: dict[str, tuple[Primary, dict]], *, mdes: dict[str, float],
              undirected: Optional[dict[str, float]] = None) -> dict:
    """Sub-verdicts of a claim's secondary tests, by the same rules with Holm-adjusted p-values;
    `undirected` (name -> two-sided p) are tests without a paper's direction, corrected in the same
    family and returned with their raw and Holm-adjusted p-values only (the caller words their sub-verdict)."""
    undirected = undirected or {}
    adjusted = holm({**{name: result["p"] for name, (_, result) in tests.items()}, **undirected})
    out = {}
    for name, (primary, result) in tests.items():
        judged = decide(primary, {**result, "p": adjusted[name]}, mde=mdes.get(name, math.nan), allow_exclusion=False)
        out[name] = {**judged, "p_raw": result["p"], "p_holm": adjusted[name]}
    for name, p in undirected.items():
        out[name] = {"p_raw": p, "p_holm": adjusted[name]}
    return out
