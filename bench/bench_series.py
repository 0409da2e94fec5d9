"""Per-call overhead of Series operations and import time, imagedata vs imagedata 3.10.

Run: ``.venv/bin/python bench/bench_series.py``.  Each measurement runs in a fresh
process of the interpreter being measured; the baseline runs in its own venv.
"""

from __future__ import annotations

import json
import sys

from _common import baseline_python, run_python, table

#: Arguments for a small run (``bench/run.py --quick``): none, this one is small already.
QUICK_ARGS: list[str] = []

CALLS = {
    "si[2]": "si[2]",
    "si + 1": "si + 1",
    "si[:, 2:6, 3:7]": "si[:, 2:6, 3:7]",
}

TIMING = """
import json, timeit
import numpy as np
from imagedata.series import Series
si = Series(np.zeros((4, 8, 8), dtype=np.float32))
a = np.zeros((4, 8, 8), dtype=np.float32)
out = {}
for name, expr in %r.items():
    n = 2000
    best_s = min(timeit.repeat(expr, globals={'si': si}, number=n, repeat=5)) / n
    best_a = min(timeit.repeat(expr, globals={'si': a}, number=n, repeat=5)) / n
    out[name] = (best_s - best_a) * 1e6
print(json.dumps(out))
"""

IMPORT = """
import json, sys, time
t = time.perf_counter()
import imagedata
dt = time.perf_counter() - t
names = ('nibabel', 'SimpleITK', 'pynetdicom', 'matplotlib', 'scipy')
heavy = [m for m in names if m in sys.modules]
print(json.dumps({'seconds': dt, 'heavy': heavy}))
"""


def measure(python: str) -> tuple[dict[str, float], dict[str, object]]:
    calls = json.loads(run_python(python, TIMING % CALLS))
    imports = [json.loads(run_python(python, IMPORT)) for _ in range(5)]
    best = min(imports, key=lambda r: r["seconds"])
    return calls, best


def main() -> int:
    ours_calls, ours_import = measure(sys.executable)
    base = baseline_python()
    base_calls, base_import = measure(base) if base else ({}, {})
    rows: list[list[object]] = []
    for name in CALLS:
        b = base_calls.get(name)
        rows.append(
            [
                f"`{name}`",
                f"{ours_calls[name]:.1f}",
                "n/a" if b is None else f"{b:.1f}",
                "<= 30",
            ]
        )
    print("Per-call overhead over a bare ndarray (microseconds, 4x8x8 float32, best of 5):\n")
    print(table(["call", "imagedata", "imagedata 3.10", "target"], rows))
    print()
    irows = [
        ["imagedata", f"{ours_import['seconds']:.3f}", ", ".join(ours_import["heavy"]) or "none"]
    ]
    if base_import:
        irows.append(
            [
                "imagedata 3.10",
                f"{base_import['seconds']:.3f}",
                ", ".join(base_import["heavy"]) or "none",
            ]
        )
    print("`import imagedata` (seconds, best of 5 fresh processes; target <= 0.25 s):\n")
    print(table(["package", "seconds", "optional libraries imported"], irows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
