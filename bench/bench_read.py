"""Benchmark: reading DICOM series with imagedata vs SimpleITK vs a plain pydicom loop.

Generates uncompressed series with :mod:`imagedata.testing` in a temporary folder:

* CT: 300 slices of 512x512 int16;
* 4D: 30 slices x T time points of 64x64 for T = 50, 100, 200 (1,500, 3,000, 6,000 files).

Each reader runs in its own subprocess; the table shows wall time (best of
``--repeat``) and peak RSS above the subprocess's baseline after imports
(``VmHWM`` of /proc/self/status, else ``ru_maxrss``).  Run with::

    .venv/bin/python bench/bench_read.py [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from _common import run_json

#: Arguments for a small run (``bench/run.py --quick``).
QUICK_ARGS: list[str] = ["--quick", "--repeat", "1"]

RUNNER = r"""
import json, resource, sys, time


def hwm_kb():
    # VmHWM is per process image; ru_maxrss would inherit the parent's peak across exec
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


method, folder = sys.argv[1], sys.argv[2]
import numpy as np
import pydicom
if method == "imagedata":
    from imagedata.formats import all_plugins
    from imagedata.loadsave import read
    import imagedata.formats.dicom.reader  # noqa: F401
    all_plugins()  # import cost is not read cost
elif method == "simpleitk":
    import SimpleITK as sitk
base = hwm_kb()
t0 = time.perf_counter()
if method == "imagedata":
    arr, header = read(folder)
elif method == "simpleitk":
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    image = reader.Execute()  # kept alive: the view below points into it
    arr = sitk.GetArrayViewFromImage(image)
else:
    from pathlib import Path
    items = []
    for f in sorted(Path(folder).iterdir()):
        ds = pydicom.dcmread(f)
        key = (float(ds.ImagePositionPatient[2]), str(ds.get("AcquisitionTime", "")))
        items.append((key, ds.pixel_array))
    items.sort(key=lambda kv: kv[0])
    arr = np.stack([a for _, a in items])
wall = time.perf_counter() - t0
peak = hwm_kb()
print(json.dumps({"wall": wall, "rss_mb": (peak - base) / 1024.0, "shape": list(arr.shape),
                  "array_mb": arr.nbytes / 2**20}))
"""

METHODS = ("imagedata", "simpleitk", "pydicom-loop")


def run(method: str, folder: Path) -> dict[str, float]:
    return run_json(RUNNER, method, str(folder))


def generate(root: Path, quick: bool) -> list[tuple[str, Path, int]]:
    import numpy as np

    from imagedata.testing import make_dicom_series

    cases = []
    t0 = time.perf_counter()
    ct = root / "ct"
    nct = 100 if quick else 300
    make_dicom_series(ct, shape=(nct, 512, 512), modality="CT", dtype=np.int16, shuffle=True)
    cases.append((f"CT {nct} x 512x512 int16", ct, nct))
    times = (10, 20) if quick else (50, 100, 200)
    full = root / f"t{times[-1]}"
    # file i holds time point i // 30: smaller series are hard links to the first files
    make_dicom_series(full, shape=(times[-1], 30, 64, 64), order="time", shuffle=False)
    for ntime in times:
        d = root / f"t{ntime}"
        if ntime != times[-1]:
            d.mkdir()
            for i in range(ntime * 30):
                os.link(full / f"{i:05d}", d / f"{i:05d}")
        cases.append((f"4D {ntime} x 30 x 64x64", d, ntime * 30))
    print(f"generated test data in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller series (smoke test)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per reader; best is reported")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_read_") as tmp:
        for label, folder, nfiles in generate(Path(tmp), args.quick):
            res = {}
            for method in METHODS:
                runs = [run(method, folder) for _ in range(args.repeat)]
                res[method] = min(runs, key=lambda r: r["wall"])
                res[method]["rss_mb"] = min(r["rss_mb"] for r in runs)
            rows.append((label, nfiles, res))
            print(f"done: {label}", file=sys.stderr)
    print(
        "| series | files | array MB | imagedata s | SimpleITK s | pydicom loop s | "
        "ours/SITK | loop/ours | RSS MB ours / SITK / loop | ours RSS / array |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, nfiles, res in rows:
        o, s, p = res["imagedata"], res["simpleitk"], res["pydicom-loop"]
        print(
            f"| {label} | {nfiles} | {o['array_mb']:.0f} | {o['wall']:.2f} | {s['wall']:.2f} | "
            f"{p['wall']:.2f} | {o['wall'] / s['wall']:.2f}x | {p['wall'] / o['wall']:.1f}x | "
            f"{o['rss_mb']:.0f} / {s['rss_mb']:.0f} / {p['rss_mb']:.0f} | "
            f"{o['rss_mb'] / max(o['array_mb'], 1e-9):.2f} |"
        )
    scale = [(n, r["imagedata"]["wall"]) for lbl, n, r in rows if lbl.startswith("4D")]
    if len(scale) > 1:
        per = ", ".join(f"{n}: {w / n * 1e3:.3f} ms/file" for n, w in scale)
        print(f"\nimagedata time per file (linearity): {per}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
