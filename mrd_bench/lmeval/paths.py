"""Where our lm-eval task folders live (what `lm_eval --include_path` takes)."""
from __future__ import annotations

import re
from functools import lru_cache
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


@lru_cache(maxsize=1)
def our_task_names() -> frozenset[str]:
    """Every task and group our YAMLs define."""
    names = set()
    for path in tasks_dir().rglob("*.yaml"):
        names.update(re.findall(r"^(?:task|group):\s*['\"]?([\w.-]+)", path.read_text(), flags=re.M))
    return frozenset(names)
