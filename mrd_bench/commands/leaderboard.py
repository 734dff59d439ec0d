"""`mrd-bench leaderboard ACTION`: difficulty-controlled leaderboards. Each action has its config
and its run: submit, validate, build, verify, reference."""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from typing import Optional

from mrd_bench.commands import no_progress_opt, overwrite_opt
from mrd_bench.config import opt
from mrd_bench.errors import MrdBenchError


@dataclass(frozen=True)
class Submit:
    board: str = opt(None, "the board folder (holding board.json)", required=True)
    run_dir: str = opt(None, "the --output_path folder of the board's evaluation", flag=("--run",), required=True)
    name: str = opt(None, "the method's name, as the table shows it", required=True)
    link: str = opt("", "a http(s) link to the method's paper or code")
    description: str = opt("", "free text: what was run")
    record: Optional[str] = opt(None, "the unlearning run's run_record.json (default: beside the evaluated model)")
    out: Optional[str] = opt(None, "the submission folder (default: BOARD/submissions/<name>)")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def submit(c: Submit) -> None:
    from mrd_bench.leaderboard.board import load_board
    from mrd_bench.leaderboard.submission import submit, validate
    from mrd_bench.leaderboard.untrusted import printable

    board = load_board(c.board)
    folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", c.name).strip("_")
    if not c.out and not folder.strip("."):
        raise MrdBenchError(f"--name {c.name!r} gives no folder name under "
                            f"{os.path.join(c.board, 'submissions')!r}; use a name with a letter or digit, or "
                            "give the submission folder with --out.")
    out = c.out or os.path.join(c.board, "submissions", folder)
    path = submit(board, c.run_dir, out, name=c.name, link=c.link, description=c.description, record=c.record,
                  overwrite=c.overwrite)
    _refuse(validate(path, board)[0], f"wrote the submission {path}, but it is not valid (fix it and submit "
            "again with --overwrite)")
    print(printable(f"Wrote the submission {path}: valid for the board {board['name']!r}"))


@dataclass(frozen=True)
class Validate:
    submission: str = opt(None, "a submission folder (holding submission.json)", positional=True)
    board: Optional[str] = opt(None, "the board folder (default: the folder two levels up, BOARD/submissions/X)")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def validate(c: Validate) -> None:
    from pathlib import Path

    from mrd_bench.leaderboard.board import load_board
    from mrd_bench.leaderboard.build import checked, copies_of
    from mrd_bench.leaderboard.untrusted import printable

    board = load_board(c.board or _board_of(c.submission))
    _refuse(checked(Path(c.submission), board)[0], f"{c.submission} is not accepted")
    print(printable(f"{c.submission}: valid for the board {board['name']!r}"))
    for flag in copies_of(c.submission, board):
        print(printable(f"note: {flag} (the page flags it; verify the entries with `mrd-bench leaderboard verify`)"))


@dataclass(frozen=True)
class Build:
    board: str = opt(None, "the board folder (holding board.json and submissions/)", positional=True)
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def build(c: Build) -> None:
    from mrd_bench.leaderboard.build import build

    build(c.board, overwrite=c.overwrite, progress=not c.no_progress)


@dataclass(frozen=True)
class Verify:
    submission: str = opt(None, "a submission folder (holding submission.json)", positional=True)
    model: Optional[str] = opt(None, "the submitted unlearned checkpoint (its weights hash must be the run record's)")
    board: Optional[str] = opt(None, "the board folder (default: the folder two levels up, BOARD/submissions/X)")
    fraction: float = opt(0.1, "share of the board's scored documents to re-evaluate")
    min_docs: int = opt(20, "re-evaluate at least this many documents, or all if fewer")
    seed: Optional[int] = opt(None, "seed of the document sample (default: drawn at random and recorded, so that a "
                              "submitter cannot know which documents will be checked)")
    tolerance: Optional[float] = opt(None, "largest absolute difference allowed per value (default: 1e-4)")
    replay: bool = opt(False, "first replay the run record from --original, then verify that checkpoint (instead "
                       "of --model)")
    original: Optional[str] = opt(None, "with --replay: the board's original model (its weights hash must be the "
                                  "board's)")
    work: Optional[str] = opt(None, "keep the replayed checkpoint and the evaluation in WORK/<entry> (default: a "
                              "temporary folder)")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def verify(c: Verify) -> None:
    import secrets

    from mrd_bench.leaderboard.board import load_board
    from mrd_bench.leaderboard.verify import TOLERANCE, record_path, verify

    board = load_board(c.board or _board_of(c.submission))
    seed = secrets.randbits(63) if c.seed is None else c.seed
    rec = verify(c.submission, board, c.model, fraction=c.fraction, minimum=c.min_docs, seed=seed,
                 tolerance=TOLERANCE if c.tolerance is None else c.tolerance, replay=c.replay, original=c.original,
                 work=c.work, overwrite=c.overwrite, progress=not c.no_progress)
    where = record_path(board["_folder"], rec["entry"])
    if not rec["verified"]:
        raise MrdBenchError(f"{ascii(rec['entry'])} is NOT verified: {'; '.join(rec['reasons'])} (record: {where})")
    worst = max((v for v in rec["max_abs_diff"].values() if v is not None), default=0.0)
    print(f"{ascii(rec['entry'])}: verified: {rec['n_values']} values of {rec['n_documents']} sampled documents agree "
          f"within {rec['tolerance']:g} (max |diff| {worst:.2g}); weights sha256 {rec['checkpoint_sha256'][:12]}… "
          f"is the run record's final hash{' (replayed)' if rec['replayed'] else ''}; record: {where}")


@dataclass(frozen=True)
class Reference:
    board: str = opt(None, "the board folder (holding board.json)", positional=True)
    model: str = opt(None, "the board's original checkpoint (its weights hash is checked)", required=True)
    work: Optional[str] = opt(None, "folder for the lm-eval outputs (default: beside the board)")
    overwrite: bool = overwrite_opt()
    no_progress: bool = no_progress_opt()


def reference(c: Reference) -> None:
    from mrd_bench.leaderboard.reference import make_reference

    out = make_reference(c.board, c.model, c.work or os.path.join(c.board, os.pardir, ".reference_work"),
                         overwrite=c.overwrite)
    print(f"Wrote the original model's evaluation {out}: the board's utility floor is relative to it")


# action -> (config, run, help)
ACTIONS = {
    "submit": (Submit, submit, "assemble a submission folder from one `mrd-bench eval` output folder"),
    "validate": (Validate, validate, "check a submission folder against its board (schema, ids, hashes)"),
    "build": (Build, build, "score every submission from its samples: CIs, paired-bootstrap ranks, page"),
    "verify": (Verify, verify, "re-evaluate a seeded sample of a submission's documents from its checkpoint and "
               "compare every per-sample value; writes BOARD/verifications/<entry>.json"),
    "reference": (Reference, reference, "evaluate the board's original model: what a utility floor is relative to"),
}


def _board_of(submission: str) -> str:
    return os.path.normpath(os.path.join(submission, os.pardir, os.pardir))


def _refuse(problems: list[str], what: str) -> None:
    """One problem: the error line itself; several: each on its own line on stderr, then one error
    line (exit code 2). Control characters from a submission are shown escaped."""
    from mrd_bench.leaderboard.untrusted import printable

    if len(problems) == 1:
        raise MrdBenchError(printable(f"{what}: {problems[0]}"))
    if problems:
        for line in problems:
            print(printable(line), file=sys.stderr)
        raise MrdBenchError(printable(f"{what} ({len(problems)} problems above)."))
