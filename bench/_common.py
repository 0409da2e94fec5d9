"""Helpers shared by the benchmark scripts: interpreters, timing, markdown tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
#: A throw-away venv with imagedata 3.10.0 (same import name: never the project's venv).
BASELINE_VENV = Path(os.environ.get("IMAGEDATA3_VENV", BENCH / ".baseline-venv"))


def baseline_python() -> str | None:
    """Python of the imagedata 3.10 venv, creating it on first use; None if it cannot be made."""
    py = BASELINE_VENV / "bin" / "python"
    if not py.exists():
        print(f"creating baseline venv with imagedata==3.10.0 in {BASELINE_VENV}", file=sys.stderr)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(BASELINE_VENV)], check=True)
            subprocess.run([str(py), "-m", "pip", "install", "-q", "imagedata==3.10.0"], check=True)
        except (subprocess.CalledProcessError, OSError) as err:
            print(f"baseline venv not available: {err}", file=sys.stderr)
            return None
    return str(py)


def run_python(python: str, code: str, env: dict[str, str] | None = None) -> str:
    """Run `code` with `python` in a clean process; return its stdout."""
    out = subprocess.run(
        [python, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return out.stdout


def run_json(runner: str, *args: str) -> dict[str, float]:
    """Run the script `runner` with `args` in a fresh process; return its last line as JSON."""
    out = subprocess.run(
        [sys.executable, "-c", runner, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def table(header: list[str], rows: list[list[object]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
