"""A method's hyperparameters come from its own dataclass: a new one is a flag of `unlearn`, a field
of Settings and of the run record, and reaches the method, with no other file touched."""
import subprocess
import sys
import textwrap

from dataclasses import asdict, fields

from mrd_bench.methods import METHODS
from mrd_bench.unlearn import Settings

PLUGIN = """
from dataclasses import dataclass
from typing import ClassVar
from mrd_bench.config import opt
from mrd_bench.methods.base import METHODS

@METHODS.register("scaled_ga")
@dataclass(frozen=True)
class ScaledGA:
    scale: float = opt(2.0, "how much the ascent is scaled")
    {extra}
    retain: ClassVar[str] = "none"
    needs_reference: ClassVar[bool] = False
    needs_refusals: ClassVar[bool] = False
    default_sampler: ClassVar[str] = "uniform"

    def per_sample_loss(self, batch):
        return -self.scale * batch.forget_nll
"""

CHECK = """
import contextlib, io, sys
sys.path.insert(0, {folder!r})
import plugin_method  # the new method's file, and nothing else
from dataclasses import asdict, fields
from mrd_bench.cli import main
from mrd_bench.unlearn import Settings
s = Settings(method="scaled_ga", scale=3.5)
assert s.build_method().scale == 3.5, s.build_method()
assert asdict(s)["scale"] == 3.5
assert Settings(method="npo").build_method().beta == 0.1
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
    main(["unlearn", "--help"])
print(out.getvalue())
"""


def _run(tmp_path, extra=""):
    (tmp_path / "plugin_method.py").write_text(PLUGIN.format(extra=extra))
    return subprocess.run([sys.executable, "-c", CHECK.format(folder=str(tmp_path))], capture_output=True, text=True)


def test_a_new_hyperparameter_is_a_flag_and_reaches_the_method(tmp_path):
    done = _run(tmp_path)
    assert done.returncode == 0, done.stderr
    flat = " ".join(done.stdout.split())
    assert "--scale SCALE how much the ascent is scaled (scaled_ga) (default: 2.0)" in flat


def test_two_methods_may_not_give_one_name_two_defaults(tmp_path):
    done = _run(tmp_path, extra='retain_weight: float = opt(2.0, "α")')
    assert done.returncode != 0
    assert "hyperparameter 'retain_weight'" in done.stderr and "give one of them another name" in done.stderr


def test_settings_hold_every_method_field_with_its_default_and_pass_it_on():
    for name in METHODS.names():
        cls = METHODS.get(name)
        for f in fields(cls):
            assert asdict(Settings())[f.name] == f.default
            changed = {"beta": 0.7, "retain_weight": 0.25}.get(f.name)
            if changed is not None:
                built = Settings(method=name, **{f.name: changed}).build_method()
                assert getattr(built, f.name) == changed


def test_records_keep_their_shape():
    """Run records store the settings flat, as before (a committed record still replays)."""
    keys = list(asdict(Settings()))
    assert keys[:4] == ["method", "sampler", "beta", "retain_weight"]
    old = {"method": "npo", "sampler": None, "beta": 0.3, "retain_weight": 0.5}
    assert Settings(**old).build_method().beta == 0.3


def test_a_method_field_without_help_is_refused():
    code = textwrap.dedent("""
        from dataclasses import dataclass
        from mrd_bench.methods.base import METHODS, hyperparameters
        @METHODS.register("bare")
        @dataclass(frozen=True)
        class Bare:
            gamma: float = 1.0
        try:
            hyperparameters()
        except TypeError as e:
            print(e)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "hyperparameter 'gamma' needs its help text" in done.stdout, done.stderr
