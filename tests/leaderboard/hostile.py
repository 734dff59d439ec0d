"""The hostile-submission corpus (issue #25): submissions and claims that a hostile or careless
submitter could send to top, crash or slow down a board. Each case corrupts a copy of a valid
submission of the tiny seeded board (or writes a claim), names the command, and says what it
must answer: the exit code and the words of its output. test_hostile.py runs every case through
`mrd_bench.cli.main(argv)`.

ctx: "board" (a private copy of the seeded board), "sub" (its ga_uniform submission), "tmp" (a
fresh folder), "model" (the tiny checkpoint). argv entries are formatted with ctx.
"""
from __future__ import annotations

import json
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from mrd_bench.leaderboard.untrusted import MAX_DEPTH, MAX_DIGITS, MAX_FOLDER_DEPTH, MAX_FOLDER_ENTRIES
from mrd_bench.lmeval.stratified import shipped_dir
from tests.leaderboard.synthetic import put
from mrd_bench.leaderboard.submission import value_of

MIA = "samples_tofu_forget_mrd_mia.jsonl"
DEEP = "[" * 100_000 + "]" * 100_000
PLACEHOLDER = "__HOSTILE__"
VALIDATE = ("leaderboard", "validate", "{sub}", "--board", "{board}")
BUILD = ("leaderboard", "build", "{board}", "--no-progress")
AUDIT = ("audit", "{tmp}/claim/claim.json", "--out", "{tmp}/audit", "--permutations", "100", "--bootstrap", "100")


@dataclass(frozen=True)
class Case:
    name: str
    corrupt: Callable[[dict], None]
    argv: tuple[str, ...]
    code: int
    words: tuple[str, ...]  # each must appear in stdout + stderr
    check: Callable[[dict, str], None] | None = None  # more checks on ctx and stdout + stderr


# ----------------------------------------------------------------------------- corruptions

def rows(path: Path) -> list[dict]:
    return [json.loads(line, parse_constant=float) for line in path.read_text().splitlines() if line.strip()]


def write_rows(path: Path, data: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in data))


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text(), parse_constant=float)
    change(data)
    path.write_text(json.dumps(data))


def raw(path: Path, change: Callable, text: str, *, lines: bool = False) -> None:
    """Let `change` put PLACEHOLDER where the hostile bytes go, then write `text` there verbatim
    (json.dumps could not write 1e999, a 5,000-digit integer or 100,000 brackets)."""
    if lines:
        data = rows(path)
        change(data)
        out = "".join(json.dumps(r) + "\n" for r in data)
    else:
        data = json.loads(path.read_text(), parse_constant=float)
        change(data)
        out = json.dumps(data)
    assert out.count(f'"{PLACEHOLDER}"') == 1
    path.write_text(out.replace(f'"{PLACEHOLDER}"', text))


def at(*keys) -> Callable:
    """Puts PLACEHOLDER at data[k0][k1]…; a per-sample (metric, "value") that is a plain number
    (a submission's overall values) is replaced itself."""
    def put(data):
        for i, key in enumerate(keys[:-1]):
            if keys[i + 1] == "value" and not isinstance(data[key], dict):
                data[key] = PLACEHOLDER
                return
            data = data[key]
        data[keys[-1]] = PLACEHOLDER
    return put


def row_at(line: int, *keys) -> Callable:
    """Puts PLACEHOLDER at keys of the samples file's row on `line` (from 1)."""
    return lambda data: at(*keys)(data[line - 1])


def member_at(*keys) -> Callable:
    """Puts PLACEHOLDER at keys of the samples file's first member row (line 1 of the board's files)."""
    return lambda data: at(*keys)(next(r for r in data if r["doc"].get("member", 1) != 0))


def hostile_text(file: str, where: Callable, text: str) -> Callable[[dict], None]:
    """A corruption of the submission's `file`: `text` verbatim where `where` puts PLACEHOLDER."""
    return lambda ctx: raw(ctx["sub"] / file, where, text, lines=file.endswith(".jsonl"))


def each_member_value(value: float) -> Callable[[dict], None]:
    def corrupt(ctx):
        data = rows(ctx["sub"] / MIA)
        for r in data:
            if r["doc"].get("member", 1) != 0:
                put(r, "prob", value)
        write_rows(ctx["sub"] / MIA, data)
    return corrupt


def nested_folders(ctx: dict, depth: int = 1_500) -> None:
    """`depth` folders one inside the other, made one at a time (os.makedirs would recurse)."""
    path = ctx["sub"]
    for _ in range(depth):
        path = path / "d"
        os.mkdir(path)


def many_files(ctx: dict, n: int = MAX_FOLDER_ENTRIES + 1) -> None:
    extra = ctx["sub"] / "extra"
    extra.mkdir()
    for i in range(n):
        (extra / f"{i}.txt").touch()


def hard_link(ctx: dict) -> None:
    outside = ctx["tmp"] / "outside.jsonl"
    shutil.copyfile(ctx["sub"] / MIA, outside)
    (ctx["sub"] / MIA).unlink()
    os.link(outside, ctx["sub"] / MIA)


def rename(name: str) -> Callable[[dict], None]:
    def corrupt(ctx):
        edit_json(ctx["sub"] / "submission.json", lambda s: s["method"].update(name=name))
    return corrupt


def homoglyph_id(ctx: dict) -> None:
    """One member's id with its first 'i' replaced by the Cyrillic 'і' (U+0456): it prints like
    the real id, so the messages must show which is which."""
    data = rows(ctx["sub"] / MIA)
    row = next(r for r in data if r["doc"].get("member", 1) != 0)
    row["doc"]["sample_id"] = row["doc"]["sample_id"].replace("i", "\u0456", 1)
    write_rows(ctx["sub"] / MIA, data)


def bare_record(ctx: dict) -> None:
    """A run record that states nothing but the board's starting hash, and a results file that
    states no figure."""
    board = json.loads((ctx["board"] / "board.json").read_text())
    (ctx["sub"] / "run_record.json").write_text(
        json.dumps({"model_hash": {"initial": board["original_model"]["weights_sha256"]}}))
    edit_json(ctx["sub"] / "results.json", lambda r: r.update(results={task: {} for task in r["results"]}))


def flattering_summary(ctx: dict) -> None:
    edit_json(ctx["sub"] / "results.json", lambda r: r["results"]["tofu_forget_mrd_mia"].update({"prob,none": 0.0}))


def near_copy(ctx: dict) -> None:
    """npo_uniform copied as ga_uniform's folder with every forget probability ×0.9, and the
    results file's forget-probability figures ×0.9 too, so that they agree with the samples."""
    shutil.rmtree(ctx["sub"])
    shutil.copytree(ctx["board"] / "submissions" / "npo_uniform", ctx["sub"])
    edit_json(ctx["sub"] / "submission.json", lambda s: s["method"].update(name="Totally new method"))
    data = rows(ctx["sub"] / MIA)
    for r in data:
        put(r, "prob", value_of(r, "prob") * 0.9)
    write_rows(ctx["sub"] / MIA, data)

    def scale(results):
        figures = results["results"]["tofu_forget_mrd_mia"]
        for key in list(figures):
            if key.startswith("prob") and key.endswith(",none") and isinstance(figures[key], float):
                figures[key] *= 0.9
    edit_json(ctx["sub"] / "results.json", scale)


# ----------------------------------------------------------------------------- claims

def forget10_ids(n: int = 20) -> list[str]:
    return list(json.loads((shipped_dir() / "tofu_forget10.json").read_text())["samples"])[:n]


def claim(ctx: dict, name: str = "claim.json", **extra) -> Path:
    folder = ctx["tmp"] / "claim"
    folder.mkdir(exist_ok=True)
    body = {"schema_version": 1, "title": "a claim", "benchmark": "tofu", "forget": {"sample_ids": forget10_ids()},
            "difficulty": {"shipped": "tofu_forget10"},
            "reported": {"method": "M", "metric": "prob", "value": 0.1, "direction": "lower"}, **extra}
    (folder / name).write_text(json.dumps(body))
    return folder / name


def claim_samples(ctx: dict, name: str = "samples.jsonl", value=0.5) -> str:
    write_rows(ctx["tmp"] / "claim" / name, [{"doc": {"sample_id": sid, "member": 1}, "prob": {"value": value}}
                                              for sid in forget10_ids()])
    return name


def claim_raw(change: Callable[[dict], None], text: str) -> Callable[[dict], None]:
    def corrupt(ctx):
        raw(claim(ctx), change, text)
    return corrupt


def claim_with_deep_samples(ctx: dict) -> None:
    (ctx["tmp"] / "claim").mkdir()
    path = ctx["tmp"] / "claim" / claim_samples(ctx)
    raw(path, row_at(4, "doc", "x"), DEEP, lines=True)
    claim(ctx, samples=path.name)


def claim_with_long_integer(ctx: dict) -> None:
    (ctx["tmp"] / "claim").mkdir()
    path = ctx["tmp"] / "claim" / claim_samples(ctx)
    raw(path, row_at(1, "prob", "value"), "7" * 400, lines=True)
    claim(ctx, samples=path.name)


def claim_with_deep_annotation(ctx: dict) -> None:
    (ctx["tmp"] / "claim").mkdir()
    path = ctx["tmp"] / "claim" / "ann.json"
    shutil.copyfile(shipped_dir() / "tofu_forget10.json", path)
    raw(path, at("x"), DEEP)
    claim(ctx, difficulty={"annotation": "ann.json"})


def claim_with_ansi_methods(ctx: dict) -> None:
    """Two claims on the same samples whose method names move the cursor and recolour the line."""
    (ctx["tmp"] / "claim").mkdir()
    claim_samples(ctx, "a.jsonl", 0.2)
    claim_samples(ctx, "b.jsonl", 0.6)
    claim(ctx, "b.json", samples="b.jsonl",
          reported={"method": "\x1b[2J\x1b[31mB\r", "metric": "prob", "value": 0.6, "direction": "lower"})
    claim(ctx, samples="a.jsonl", compare="b.json",
          reported={"method": "\x1b]0;pwned\x07A\u202e", "metric": "prob", "value": 0.2, "direction": "lower"})


def pickle_model(ctx: dict) -> None:
    """A model folder beside the claim whose only weights are a pickle (never to be loaded)."""
    (ctx["tmp"] / "claim").mkdir()
    model = ctx["tmp"] / "claim" / "original"
    shutil.copytree(ctx["model"], model)
    for weights in model.glob("*.safetensors"):
        weights.unlink()
    (model / "pytorch_model.bin").write_bytes(pickle.dumps(os.system))  # would run code if unpickled
    claim(ctx, benchmark="fictitious",
          difficulty={"model": {"name": "original", "pool_split": "forget20", "draws": 2, "sigma": 0.05}})


# ----------------------------------------------------------------------------- checks

def rejected(*words: str) -> Callable[[dict, str], None]:
    """Build leaves ga_uniform out, lists it with its reason, and scores the other two."""
    def check(ctx, output):
        scores = json.loads((ctx["board"] / "scores.json").read_text())
        reasons = {r["submission"]: " ".join(r["problems"]) for r in scores["rejected"]}
        assert set(reasons) == {"ga_uniform"}, reasons
        assert all(w in reasons["ga_uniform"] for w in words), reasons
        assert sorted(e["id"] for e in scores["entries"]) == ["ga_mrd", "npo_uniform"]
        assert (ctx["board"] / "index.html").is_file()
    return check


def built_with(name: str) -> Callable[[dict, str], None]:
    def check(ctx, output):
        scores = json.loads((ctx["board"] / "scores.json").read_text())
        assert name in [e["method"]["name"] for e in scores["entries"]]
        assert (ctx["board"] / "index.html").is_file() and (ctx["board"] / "bins.png").is_file()
    return check


def no_live_link(ctx: dict, output: str) -> None:
    md = (ctx["board"] / "index.md").read_text()
    assert "](http" not in md and "![" not in md.replace("![forget vs utility](scatter.png)", "").replace(
        "![per-bin](bins.png)", "")
    assert "\\[x\\]\\(http\\://evil" in md


def no_raw_escape(ctx: dict, output: str) -> None:
    assert "\x1b" not in output and "\r" not in output and "\u202e" not in output, ascii(output[-500:])
    assert "\\x1b" in output


def claim_not_audited(ctx: dict, output: str) -> None:
    assert not (ctx["tmp"] / "audit" / "audit.json").exists()


# ----------------------------------------------------------------------------- the corpus

def _cases() -> list[Case]:
    c = []
    # 1. JSON nested 100,000 levels deep: refused before parsing, never a RecursionError
    deep_sub = hostile_text("submission.json", at("method", "description"), DEEP)
    deep_line = hostile_text(MIA, row_at(6, "doc", "x"), DEEP)
    deep_record = hostile_text("run_record.json", at("x"), DEEP)
    limit = (f"nested deeper than the {MAX_DEPTH}-level limit",)
    c += [Case("deep submission.json: validate", deep_sub, VALIDATE, 2, ("submission.json", *limit)),
          Case("deep submission.json: build", deep_sub, BUILD, 0, (), rejected("submission.json", *limit)),
          Case("deep samples line: validate", deep_line, VALIDATE, 2,
               ("samples/tofu_forget_mrd_mia", MIA, "line 6", *limit)),
          Case("deep samples line: build", deep_line, BUILD, 0, (), rejected(MIA, "line 6", *limit)),
          Case("deep run record: validate", deep_record, VALIDATE, 2, ("run_record", "run_record.json", *limit)),
          Case("deep run record: build", deep_record, BUILD, 0, (), rejected("run_record.json", *limit)),
          Case("deep claim", claim_raw(at("source"), DEEP), AUDIT, 2, ("claim.json", *limit), claim_not_audited),
          Case("deep claim samples line", claim_with_deep_samples, AUDIT, 2, ("samples.jsonl", "line 4", *limit),
               claim_not_audited),
          Case("deep claim annotation", claim_with_deep_annotation, AUDIT, 2,
               ("difficulty/annotation", "ann.json", *limit), claim_not_audited)]
    # 2. integers of 400 and 5,000 digits
    for digits in (400, 5000):
        value = hostile_text(MIA, member_at("prob", "value"), "9" * digits)
        stated = hostile_text("results.json", at("results", "tofu_forget_mrd_mia", "prob,none"), "9" * digits)
        words = (f"an integer of {digits} digits, over the {MAX_DIGITS}-digit limit",)
        c += [Case(f"{digits}-digit per-sample value: validate", value, VALIDATE, 2,
                   (MIA, "line 1: prob", *words)),  # prob, or prob/value in a submission's older form
              Case(f"{digits}-digit per-sample value: build", value, BUILD, 0, (), rejected(MIA, *words)),
              Case(f"{digits}-digit stated result: validate", stated, VALIDATE, 2,
                   ("results.json", "results/tofu_forget_mrd_mia/prob,none", *words)),
              Case(f"{digits}-digit stated result: build", stated, BUILD, 0, (), rejected("results.json", *words))]
    c.append(Case("400-digit value in a claim's samples", claim_with_long_integer, AUDIT, 2,
                  ("samples.jsonl", "line 1", "prob/value", f"over the {MAX_DIGITS}-digit limit"), claim_not_audited))
    # 3. numbers that are not finite, however spelled
    claim_value = at("reported", "value")
    c += [Case("1e999 in the run record", hostile_text("run_record.json", at("loop", "lr"), "1e999"), VALIDATE, 2,
               ("run_record.json", "loop/lr", "'1e999' is not a finite number")),
          Case("-1e999 in a per-sample value", hostile_text(MIA, member_at("prob", "value"), "-1e999"), VALIDATE, 2,
               ("prob", "not a finite number")),
          Case("Infinity in submission.json", hostile_text("submission.json", at("schema_version"), "Infinity"),
               VALIDATE, 2, ("schema_version", "Infinity is not a finite number")),
          Case("1e999 as a claim's value", claim_raw(claim_value, "1e999"), AUDIT, 2,
               ("claim.json", "reported/value", "'1e999' is not a finite number"), claim_not_audited),
          Case("NaN as a claim's value", claim_raw(claim_value, "NaN"), AUDIT, 2,
               ("claim.json", "reported/value", "NaN is not a finite number"), claim_not_audited)]
    # 4. folders that a recursive walk would not survive, or that take long to walk
    too_deep = f"folders nested deeper than the {MAX_FOLDER_DEPTH}-level limit"
    c += [Case("1,500 nested subfolders: validate", nested_folders, VALIDATE, 2, ("submission", too_deep)),
          Case("1,500 nested subfolders: build", nested_folders, BUILD, 0, (), rejected(too_deep)),
          Case("10,001 files", many_files, VALIDATE, 2,
               ("submission", f"more than {MAX_FOLDER_ENTRIES} files and folders"))]
    # 5. a hard link, whose other name may lie outside the folder
    c.append(Case("hard link", hard_link, VALIDATE, 2, (MIA, "a hard link; copy the file into the folder instead")))
    # 6. look-alike ids are told apart in messages
    c.append(Case("homoglyph id", homoglyph_id, VALIDATE, 2, ("\\u0456",)))
    # 8. terminal escapes from a submission or claim never reach the terminal raw
    ansi_id = json.dumps("\x1b[2J\x1b[31mfictitious:x\r")
    c += [Case("ANSI escape in an unknown sample id", hostile_text(MIA, member_at("doc", "sample_id"), ansi_id),
               VALIDATE, 2, ("\\x1b",), no_raw_escape),
          Case("ANSI escape in a compared method name", claim_with_ansi_methods, AUDIT, 0, ("\\x1b",), no_raw_escape),
          Case("ANSI escape in a name: build", rename("\x1b[2J\x1b[31mGA\r\u202e"), BUILD, 0, ("\\x1b",),
               no_raw_escape)]
    # 9, 10. what a name can do to the page and to matplotlib
    c += [Case("markdown link and image in a name", rename("[x](http://evil) ![](http://evil/x.png)"), BUILD, 0, (),
               no_live_link),
          Case("mathtext in a name", rename(r"GA $\notacommand{x}^$ and $$"), BUILD, 0, (),
               built_with(r"GA $\notacommand{x}^$ and $$")),
          Case("legend-hiding name", rename("_nolegend_"), BUILD, 0, (), built_with("_nolegend_"))]
    # 11. the audit's model to score: safetensors only, a pickle is never loaded
    c.append(Case("pickle-only model for the audit", pickle_model, AUDIT, 2,
                  ("difficulty/model/name", "holds only pickle weights (pytorch_model.bin)",
                   "the audit loads safetensors only: convert it with"), claim_not_audited))
    # 3. ranges, stated figures, near-copies
    c += [Case("prob -1.0 on every sample", each_member_value(-1.0), VALIDATE, 2, ("outside the metric's range",)),
          Case("1e308 on one sample", hostile_text(MIA, member_at("prob", "value"), "1e308"), VALIDATE, 2,
               ("outside the metric's range",)),
          Case("bare run record, no stated figures", bare_record, VALIDATE, 2, ("the results file must state",)),
          Case("stated figure differs", flattering_summary, VALIDATE, 2, ("differs from the recomputed",)),
          Case("near-copy of another entry", near_copy, VALIDATE, 0, ("near-copy of",))]
    return c


CASES = _cases()
