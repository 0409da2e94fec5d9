"""Run every benchmark in bench/ (``make bench``): each ``bench_*.py`` in its own process.

The modules are found by the pattern ``bench_*.py``, so a new benchmark needs no entry
here.  Each runs as ``python bench/bench_<area>.py`` (its ``main()``), exactly as when run
by hand, in a fresh interpreter so that one benchmark's imports and memory do not
colour the next.  Their markdown tables go to stdout under a heading per module; a
failing benchmark is reported and the others still run; the exit code is 1 if any failed.

``--quick`` runs small versions: a module lists the arguments that make it quick in a
module-level ``QUICK_ARGS = [...]``; without it, a module with a ``--quick`` option gets
that, and any other runs at its full size (said on stderr).

Run: ``.venv/bin/python bench/run.py [--quick] [--only read,write] [--list]``
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def discover(only: list[str] | None = None) -> list[Path]:
    """The ``bench_*.py`` modules beside this file, by name; `only` keeps names containing
    one of its words (``read`` keeps bench_read.py)."""
    found = sorted(BENCH.glob("bench_*.py"))
    if only:
        found = [p for p in found if any(word in p.stem for word in only)]
    return found


def quick_args(path: Path) -> list[str] | None:
    """The arguments that make `path` quick: its ``QUICK_ARGS``, else ``--quick`` if it
    has that option, else None (it has no quick form)."""
    source = path.read_text(encoding="utf-8")
    for node in ast.parse(source, str(path)).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        if any(isinstance(t, ast.Name) and t.id == "QUICK_ARGS" for t in targets):
            value = ast.literal_eval(node.value)  # type: ignore[attr-defined]
            if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                raise ValueError(f"{path.name}: QUICK_ARGS must be a list of strings")
            return value
    return ["--quick"] if '"--quick"' in source else None


def command(path: Path, quick: bool) -> list[str]:
    """The command line that runs one benchmark module."""
    args: list[str] = []
    if quick:
        extra = quick_args(path)
        if extra is None:
            print(f"{path.name}: no quick form (QUICK_ARGS), running full size", file=sys.stderr)
        else:
            args = extra
    return [sys.executable, str(path.relative_to(BENCH.parent)), *args]


def run_one(path: Path, quick: bool) -> tuple[int, float]:
    """Run one module, its output passed through; return (exit code, seconds)."""
    cmd = command(path, quick)
    print(f"\n## {path.name}\n", flush=True)
    print(f"`python {' '.join(cmd[1:])}`\n", flush=True)
    start = time.perf_counter()
    code = subprocess.run(cmd, cwd=BENCH.parent, check=False).returncode
    return code, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small versions (smoke test)")
    parser.add_argument(
        "--only", default="", help="comma list of words: run the modules whose name has one"
    )
    parser.add_argument("--list", action="store_true", help="list the modules and stop")
    args = parser.parse_args(argv)
    only = [w.strip() for w in args.only.split(",") if w.strip()] or None
    modules = discover(only)
    if not modules:
        print(f"no benchmark matches {args.only!r} in {BENCH}", file=sys.stderr)
        return 1
    if args.list:
        for path in modules:
            print(" ".join(command(path, args.quick)[1:]))
        return 0
    results = [(path, *run_one(path, args.quick)) for path in modules]
    print("\n## Summary\n")
    print("| benchmark | exit code | seconds |\n|---|---:|---:|")
    for path, code, seconds in results:
        print(f"| {path.name} | {code} | {seconds:.1f} |")
    failed = [path.name for path, code, _ in results if code != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
