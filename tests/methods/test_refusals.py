"""PO's refusal answers: the benchmark's own, never another benchmark's in silence."""
import pytest

from mrd_bench.errors import ConfigError
from mrd_bench.unlearn import REFUSALS, Settings, refusal_items


@pytest.mark.parametrize("benchmark", ["wmdp", "mmlu"])
def test_a_benchmark_without_refusal_answers_is_refused_by_name(benchmark):
    with pytest.raises(ConfigError, match=f"PO has no refusal answers for '{benchmark}'.*use another method"):
        refusal_items(None, [], benchmark, Settings(method="po"))


def test_fictitious_authors_take_tofus_answers_and_whp_its_own():
    assert REFUSALS["fictitious"] == REFUSALS["tofu"]
    assert not set(REFUSALS["whp"]) & set(REFUSALS["tofu"])
