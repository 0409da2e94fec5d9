"""Peak memory of one read, measured in a fresh process.

The child imports imagedata first, then resets its RSS high-water mark (Linux
``/proc/self/clear_refs``) and reads; the peak is VmHWM (the same figure as
:func:`resource.getrusage`'s ``ru_maxrss``, which on Linux keeps the parent's peak
across ``exec`` and so cannot be used as the child's own) less the RSS before the read.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_CHILD = r"""
import resource, sys, time, warnings
warnings.simplefilter("ignore")
import numpy, pydicom
from imagedata import read


def status(key):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak RSS to the current RSS
except OSError:
    pass
base = status("VmRSS")
t = time.perf_counter()
arr, _ = read(sys.argv[1])
wall = time.perf_counter() - t
print(arr.nbytes, status("VmHWM") - base, wall)
"""


def read_peak(path: Path, timeout: float = 600) -> tuple[int, int, float]:
    """(array bytes, peak RSS increase in bytes, seconds) of ``read(path)`` in a new process."""
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
        env=env,
    )
    nbytes, rss, wall = out.stdout.split()
    return int(nbytes), int(rss), float(wall)
