"""Where our lm-eval task folders live (what `lm_eval --include_path` takes)."""
from __future__ import annotations

from importlib import resources
from pathlib import Path


def tasks_dir() -> Path:
    """Our lm-eval task folders.

    A wheel carries them as the package `mrd_bench.tasks`; a source checkout (and an
    editable install of it) keeps them in `tasks/` beside the package.
    """
    checkout = Path(__file__).resolve().parent.parent.parent / "tasks"
    if checkout.is_dir():
        return checkout
    return Path(str(resources.files("mrd_bench.tasks")))
