"""The built wheel carries tasks/ (extension-less templates included) and the embedded data."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_carries_tasks_and_embedded_data(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "build",
                                                             "mrd_demo", "__pycache__", ".pytest_cache"))
    template = src / "tasks" / "example" / "_default_template_yaml"
    template.parent.mkdir(parents=True)
    template.write_text("output_type: multiple_choice\n")
    (src / "tasks" / "example" / "example.yaml").write_text("include: _default_template_yaml\ntask: example\n")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(src)], check=True, capture_output=True)
    names = set(zipfile.ZipFile(next((tmp_path / "dist").glob("mrd_bench-*.whl"))).namelist())
    expected = {f"mrd_bench/tasks/{p.relative_to(src / 'tasks').as_posix()}"
                for p in (src / "tasks").rglob("*") if p.is_file()}
    assert "mrd_bench/tasks/example/_default_template_yaml" in expected
    assert expected <= names, expected - names
    assert "mrd_bench/data/fictitious_authors.jsonl" in names
    modules = {p.relative_to(src).as_posix() for p in (src / "mrd_bench").rglob("*.py")}
    assert modules <= names, modules - names  # every subpackage is listed in pyproject.toml
    wheel = zipfile.ZipFile(next((tmp_path / "dist").glob("mrd_bench-*.whl")))
    entry_points = wheel.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "[lm_eval.models]\nhf-mrd = mrd_bench.lmeval.model:TokenLevelHFLM" in entry_points
    assert "[lm_eval.tasks]\nmrd_bench = mrd_bench.tasks" in entry_points

    # installed from the wheel (no checkout beside it), lm-eval finds our tasks through tasks_dir()
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                    str(next((tmp_path / "dist").glob("mrd_bench-*.whl")))], check=True, capture_output=True)
    # ... and so does the resolution of lm-eval's task plugins (pull request #4015: the entry
    # point's package, found by importlib.util.find_spec, is the folder of YAMLs)
    probe = ("import importlib.util; from mrd_bench.lmeval.paths import tasks_dir; from lm_eval.tasks import "
             "TaskManager; d = tasks_dir(); print(d); "
             "print(importlib.util.find_spec('mrd_bench.tasks').submodule_search_locations[0]); "
             "tm = TaskManager(include_path=str(d)); "
             "print(sorted(t for t in tm.all_tasks if t in ('tofu_forget_mrd', 'example')))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(site)})
    assert proc.returncode == 0, proc.stderr
    folder, plugin, found = proc.stdout.strip().splitlines()[-3:]
    assert Path(folder) == Path(plugin) == site / "mrd_bench" / "tasks"
    assert found == "['example', 'tofu_forget_mrd']"


def test_hf_mrd_and_the_tasks_are_declared_as_lm_eval_plugins():
    """lm-eval's plugin groups: `lm_eval.models` holds hf-mrd; `lm_eval.tasks` names a package
    whose folder is our task folder (resolved as lm-eval's pull request #4015 does)."""
    import importlib.util

    from importlib.metadata import entry_points

    from mrd_bench.lmeval.model import MODEL_NAME, TokenLevelHFLM
    from mrd_bench.lmeval.paths import tasks_dir

    [declared] = [ep for ep in entry_points(group="lm_eval.models") if ep.name == MODEL_NAME]
    assert declared.load() is TokenLevelHFLM
    [tasks] = [ep for ep in entry_points(group="lm_eval.tasks") if ep.name == "mrd_bench"]
    folder = Path(importlib.util.find_spec(tasks.value).submodule_search_locations[0])
    assert folder == tasks_dir() and (folder / "tofu" / "tofu_forget_mrd.yaml").is_file()
