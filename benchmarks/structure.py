"""The package's structure in numbers (a measurement, not a test).

    python benchmarks/structure.py [--label before] [--out benchmarks/results/structure.json]

Counts, for the `mrd_bench` package: files over 400 lines, functions over 60 lines, import
circles (strongly connected groups of modules in the import graph, imports inside functions
included), whether `mrd-bench --help` imports torch and how long it takes, and, where the
`duplicates` command is on PATH, the pairs of places sharing six or more lines. Each run is
stored under its label, so a before and an after sit side by side in one file.
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mrd_bench"
RESULTS = Path(__file__).parent / "results"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(tree: ast.AST, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package's modules that `name` imports, anywhere in its body."""
    base = name.split(".") if is_package else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            stem = ".".join(base[: len(base) - node.level + 1]) if node.level else ""
            head = ".".join(p for p in (stem, node.module or "") if p)
            targets = [head] + [f"{head}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def measure() -> dict:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(f) for f in files}
    graph, long_files, long_functions, total = {}, [], [], 0
    for f in files:
        text = f.read_text()
        lines = text.count("\n")
        total += lines
        rel = str(f.relative_to(ROOT))
        if lines > 400:
            long_files.append({"file": rel, "lines": lines})
        tree = ast.parse(text)
        name = module_name(f)
        graph[name] = imports_of(tree, name, f.name == "__init__.py", modules)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 60:
                    long_functions.append({"function": f"{rel}:{node.name}", "lines": length})
    # A package's __init__ importing its own submodules is not a circle of design; leave those edges out.
    for name in graph:
        graph[name] = {t for t in graph[name] if not (t.startswith(name + ".") and name in modules)}
    start = time.perf_counter()
    probe = subprocess.run([sys.executable, "-X", "importtime", "-m", "mrd_bench.cli", "--help"], cwd=ROOT,
                           capture_output=True, text=True)
    help_s = time.perf_counter() - start
    imported = {line.split("|")[-1].strip().split(".")[0] for line in probe.stderr.splitlines() if "|" in line}
    result = {
        "python_files": len(files), "python_lines": total,
        "files_over_400_lines": sorted(long_files, key=lambda r: -r["lines"]),
        "functions_over_60_lines": sorted(long_functions, key=lambda r: -r["lines"]),
        "import_circles": circles(graph),
        "help_imports_torch": "torch" in imported, "help_wall_s": round(help_s, 2),
        "help_exit_code": probe.returncode,
    }
    if shutil.which("duplicates"):
        listing = subprocess.run(["duplicates", "--repo", str(PACKAGE), "--most", "200", "--seconds", "120"],
                                 capture_output=True, text=True).stdout
        first = re.match(r"(\d+) pairs? of places", listing)
        result["duplicates_pairs"] = int(first.group(1)) if first else 0
        result["duplicates_rows"] = [line for line in listing.splitlines() if re.match(r"D\d+ ", line)]
    else:
        result["duplicates_pairs"] = None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label", default="current", help="the name this measurement is stored under")
    parser.add_argument("--out", type=Path, default=RESULTS / "structure.json")
    args = parser.parse_args()
    from mrd_bench.io import write_json
    from mrd_bench.provenance import record

    stored = json.loads(args.out.read_text()) if args.out.is_file() else {}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    stored[args.label] = {"commit": commit, **measure(), "provenance": record()}
    write_json(args.out, stored)
    entry = stored[args.label]
    print(f"{args.label} @ {commit}: {len(entry['files_over_400_lines'])} files > 400 lines, "
          f"{len(entry['functions_over_60_lines'])} functions > 60 lines, {len(entry['import_circles'])} import "
          f"circles, duplicates pairs {entry['duplicates_pairs']}, --help imports torch: "
          f"{entry['help_imports_torch']} ({entry['help_wall_s']} s)")


if __name__ == "__main__":
    main()
