"""bench/run.py (``make bench``): finds every bench_*.py and knows each one's quick form."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_runner", BENCH / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_bench_module_is_found() -> None:
    run = _runner()
    found = [p.name for p in run.discover()]
    assert found == sorted(p.name for p in BENCH.glob("bench_*.py"))
    assert {"bench_read.py", "bench_write.py", "bench_series.py"} <= set(found)
    assert [p.name for p in run.discover(["read", "write"])] == ["bench_read.py", "bench_write.py"]


def test_quick_args(tmp_path: Path) -> None:
    run = _runner()
    listed = tmp_path / "bench_a.py"
    listed.write_text('QUICK_ARGS: list[str] = ["--slices", "3"]\n')
    option = tmp_path / "bench_b.py"
    option.write_text('import argparse\nargparse.ArgumentParser().add_argument("--quick")\n')
    plain = tmp_path / "bench_c.py"
    plain.write_text("def main() -> None:\n    pass\n")
    bad = tmp_path / "bench_d.py"
    bad.write_text("QUICK_ARGS = [3]\n")
    assert run.quick_args(listed) == ["--slices", "3"]
    assert run.quick_args(option) == ["--quick"]
    assert run.quick_args(plain) is None
    with pytest.raises(ValueError, match=r"bench_d\.py: QUICK_ARGS"):
        run.quick_args(bad)


def test_list_prints_each_command() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH / "run.py"), "--list", "--quick", "--only", "read"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["bench/bench_read.py", "--quick", "--repeat", "1"]
