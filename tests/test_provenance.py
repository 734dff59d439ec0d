"""Time stamps in outputs: the clock, or SOURCE_DATE_EPOCH for byte-identical rebuilds."""
from datetime import datetime, timezone

import pytest

from mrd_bench.errors import ConfigError
from mrd_bench.provenance import now, record


def test_source_date_epoch_fixes_every_time_stamp(monkeypatch):
    moment = datetime(2026, 12, 6, 0, 0, 0, tzinfo=timezone.utc)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(moment.timestamp())))
    assert now() == "2026-12-06T00:00:00+00:00"
    assert record(seed=3)["created"] == "2026-12-06T00:00:00+00:00" and record(seed=3)["seed"] == 3


def test_without_it_the_clock_is_used(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    before = datetime.now(timezone.utc).replace(microsecond=0)
    stamped = datetime.fromisoformat(now())
    assert before <= stamped <= datetime.now(timezone.utc)


def test_a_bad_epoch_is_one_line_naming_the_fix(monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(ConfigError, match="SOURCE_DATE_EPOCH='yesterday' is not a Unix time.*unset it"):
        now()
