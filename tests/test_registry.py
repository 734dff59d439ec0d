import pytest

from mrd_bench.errors import ConfigError
from mrd_bench.registry import Registry


def test_register_and_get():
    reg = Registry("widget")
    reg.register("graddiff")(1)
    assert reg.get("graddiff") == 1 and "graddiff" in reg and reg.names() == ["graddiff"]


def test_unknown_name_suggests_the_closest():
    reg = Registry("method")
    reg.register("graddiff")(1)
    reg.register("npo")(2)
    with pytest.raises(ConfigError, match=r"unknown method 'gradiff'.*graddiff, npo.*Did you mean 'graddiff'"):
        reg.get("gradiff")


def test_double_registration_is_a_bug():
    reg = Registry("x")
    reg.register("a")(1)
    with pytest.raises(ValueError):
        reg.register("a")(2)
