"""Where our lm-eval task folders live (what `lm_eval --include_path` takes)."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path


def tasks_dir() -> Path:
    """Our lm-eval task folders.

    A wheel carries them inside the package (`mrd_bench/tasks`); a source checkout (and an
    editable install of it) keeps them in `tasks/` beside the package. The folder is a plain
    path: `importlib.resources` would give a namespace package's MultiplexedPath, whose str()
    is no path at all, and lm-eval would index nothing.
    """
    package = Path(__file__).resolve().parent.parent
    for folder in (package / "tasks", package.parent / "tasks"):
        if (folder / "_generate_configs.py").is_file():  # ours, not some other package's tasks/
            return folder
    raise FileNotFoundError(f"mrd_bench's lm-eval tasks are missing beside {package}; reinstall mrd_bench.")


@lru_cache(maxsize=1)
def our_task_names() -> frozenset[str]:
    """Every task and group our YAMLs define."""
    names = set()
    for path in tasks_dir().rglob("*.yaml"):
        names.update(re.findall(r"^(?:task|group):\s*['\"]?([\w.-]+)", path.read_text(), flags=re.M))
    return frozenset(names)
