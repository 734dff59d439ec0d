"""Import a task folder's utils.py from its file, as lm-eval does."""
from __future__ import annotations

import importlib.util

from mrd_bench.lmeval.paths import tasks_dir


def load_task_utils(folder: str):
    spec = importlib.util.spec_from_file_location(f"{folder}_task_utils", tasks_dir() / folder / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
