"""Every case of the hostile-submission corpus (hostile.py) through the CLI's main(argv): the
expected exit code, its words, one `mrd-bench: error:` line (the last) on a refusal, and never
a traceback; plus the limits themselves, unit by unit."""
from __future__ import annotations

from pathlib import Path

import pytest

from mrd_bench.leaderboard import untrusted
from mrd_bench.leaderboard.page import md_escape, mpl_text
from mrd_bench.leaderboard.submission import _same_ids
from tests.leaderboard.hostile import CASES


def test_the_corpus_is_distinct_and_covers_every_command():
    assert len({c.name for c in CASES}) == len(CASES) >= 40
    assert {c.argv[:2] for c in CASES} == {("leaderboard", "validate"), ("leaderboard", "build"),
                                          ("audit", "{tmp}/claim/claim.json")}


def _remove_nested_folders(top: Path) -> None:
    """The chain top/d/d/…, deepest first and without recursion (shutil.rmtree and, before
    Python 3.12, os.walk recurse once per level)."""
    chain = [top]
    while (chain[-1] / "d").is_dir():
        chain.append(chain[-1] / "d")
    for folder in reversed(chain):
        folder.rmdir()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES])
def test_hostile(case, board_copy, tiny_checkpoint, tmp_path, data_dir, capsys):
    from mrd_bench.cli import main

    work = tmp_path / "work"
    work.mkdir()
    ctx = {"board": board_copy, "sub": board_copy / "submissions" / "ga_uniform", "tmp": work,
           "model": tiny_checkpoint}
    case.corrupt(ctx)
    capsys.readouterr()
    try:
        try:
            code = main([a.format(**ctx) for a in case.argv])
        except SystemExit as exit_:
            code = exit_.code
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        assert code == case.code, f"exit {code}:\n{err[-2000:]}"
        if code == 2:
            errors = [line for line in err.strip().splitlines() if "mrd-bench: error:" in line]
            assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0], err[-2000:]
            assert all(len(line) < 600 for line in err.splitlines()), err[-2000:]
        for word in case.words:
            assert word in out + err, (word, (out + err)[-2000:])
        if case.check:
            case.check(ctx, out + err)
    finally:
        if (ctx["sub"] / "d").is_dir():
            _remove_nested_folders(ctx["sub"] / "d")


# ----------------------------------------------------------------------------- the limits, unit by unit

def test_duplicate_check_is_linear_on_a_million_ids():
    """`_same_ids` once counted each id in the whole list (40,000 ids took 55 s); a million ids,
    one repeated, one missing and one unknown, now give one line each."""
    expected = [f"fictitious:{i:012d}" for i in range(1_000_000)]
    got = expected[:-1] + ["fictitious:x", expected[0]]
    problems: list[str] = []
    _same_ids("samples/t", "", got, expected, problems)
    assert len(got) == 1_000_001
    assert problems == ["samples/t: duplicate sample ids: 1 (e.g. 'fictitious:000000000000')",
                        "samples/t: missing sample ids: 1 (e.g. 'fictitious:000000999999')",
                        "samples/t: sample ids not in the board's split: 1 (e.g. 'fictitious:x')"]


@pytest.mark.parametrize("text, depth", [("[]", 1), ('{"a": [1, {"b": []}]}', 4), ('["[[[[", "\\"[[["]', 1),
                                         ('{"a": "\\\\"}', 1), ("[" * 100_000, 100_000), ('"unterminated [[[', 0)])
def test_nesting_counts_brackets_outside_strings(text, depth):
    assert untrusted.nesting(text.encode()) == depth


def test_limits_are_refused_with_the_field_and_the_limit():
    def refusal(data: bytes, **kw) -> str:
        with pytest.raises(untrusted.Invalid) as err:
            untrusted.parse(data, "f", **kw)
        return str(err.value)

    assert refusal(b'{"a": [' * 65 + b"]}" * 65) == "f: JSON nested deeper than the 64-level limit; flatten it"
    assert untrusted.parse(b'{"a": [' * 32 + b"]}" * 32, "f")  # 64 levels are fine
    assert refusal(b'{"a": [1, ' + b"1" * 41 + b"]}") == "f: a/1: an integer of 41 digits, over the 40-digit limit"
    assert untrusted.parse(b"-" + b"9" * 40, "f") == -int("9" * 40)
    assert refusal(b'{"a": 1e999}') == "f: a: '1e999' is not a finite number (it overflows a float)"
    assert refusal(b'{"a": -Infinity}') == "f: a: -Infinity is not a finite number"
    assert refusal(b'{"a": 1}\n{"a": 1e400}\n', lines=True) == \
        "f: line 2: a: '1e400' is not a finite number (it overflows a float)"
    assert str(untrusted.parse(b'[NaN, 1e999]', "f", finite=False)) == "[nan, inf]"  # lm-eval's files: checked later
    assert untrusted.parse('{"a": "x\u2028y"}\n'.encode(), "f", lines=True) == [{"a": "x\u2028y"}]


def test_printable_escapes_every_control_character():
    assert untrusted.printable("a\x1b[31mb\rc\x00\x7f\x9b\u202ed\u2066\n") == \
        "a\\x1b[31mb\\x0dc\\x00\\x7f\\x9b\\u202ed\\u2066\\x0a"
    assert untrusted.printable("GA + MRD, é ü 日本") == "GA + MRD, é ü 日本"
    assert untrusted.short("fictіtious") != untrusted.short("fictitious")  # a Cyrillic і


def test_markdown_and_matplotlib_text_are_literal():
    assert md_escape("[x](http://evil) ![](http://evil/x.png) <b>|") == \
        "\\[x\\]\\(http\\://evil\\) \\!\\[\\]\\(http\\://evil/x.png\\) &lt;b&gt;\\|"
    assert md_escape("a\nb www.evil.com *c*") == "a b www\\.evil.com \\*c\\*"
    assert mpl_text("GA $x^2$") == "GA \\$x^2\\$" and mpl_text("_hidden") == " _hidden"
    assert mpl_text("easy\n(n = 3) \x1b[31m") == "easy\n(n = 3) \\x1b[31m"
