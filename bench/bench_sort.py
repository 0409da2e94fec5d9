"""Benchmark: the DICOM header pass + grouping, and whole reads, vs dcm2niix.

Every grouping and sorting decision must come from the one fast header pass (no
pydicom parse per file).  Timed per folder, each in a fresh subprocess, best of
``--repeat``:

* ``headers``: :func:`imagedata.formats.dicom.reader.scan_groups` (read every header,
  split files into images, group into series and sub-series);
* ``read``: :func:`imagedata.loadsave.read` of the folder (to the array), or the time
  until it raises MultipleSeriesError for a folder holding several series;
* ``dcm2niix``: ``dcm2niix -z n`` converting the same folder (when on PATH).

Folders: the shared dcm_qa data (``../shared/data/dcm_qa``, skipped when absent), a
generated Philips classic DWI of 2,040 files (60 slices x (b=0 + 32 directions + trace),
private diffusion tags only, :mod:`imagedata.testing.vendor`) and a generated folder of
5 series x 400 files.  ``--before SRC`` also times another imagedata source tree (its
``src`` folder, e.g. an export of an older commit) on the same folders.  Run with::

    .venv/bin/python bench/bench_sort.py [--quick] [--repeat N] [--before SRC]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import table

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dcm_qa"

QA_FOLDERS = [
    "dcm_qa_nih/In/20180918GE/mr_0004",
    "dcm_qa_nih/In/20180918GE/mr_0005",
    "dcm_qa_nih/In/20180918GE/mr_0006",
    "dcm_qa_nih/In/20180918GE/mr_0007",
    "dcm_qa_nih/In/20180918Si/mr_0003",
    "dcm_qa_nih/In/20180918Si/mr_0004",
    "dcm_qa_nih/In/20180918Si/mr_0005",
    "dcm_qa_nih/In/20180918Si/mr_0006",
    "dcm_qa_ts/In",
    "dcm_qa_12bit/In",
    "dcm_qa_enh/In/Philips",
    "dcm_qa_enh/In/Siemens",
    "dcm_qa_ge_dwi/In/01_Ax_DWI_TENSOR_R2",
]

RUNNER = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
from imagedata.archives import expand
from imagedata.formats.dicom.reader import scan_groups
try:
    from imagedata.loadsave import read
except ImportError:  # before loadsave existed
    from imagedata.formats import read
from imagedata.errors import ImageDataError
what, folder = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if what == "headers":
    groups = scan_groups(expand(folder))
    result = f"{len(groups)} group(s)"
else:
    try:
        arr, header = read(folder)
        result = "x".join(map(str, arr.shape))
    except ImageDataError as err:
        result = type(err).__name__
print(json.dumps({"wall": time.perf_counter() - t0, "result": result}))
"""


def run(what: str, folder: Path, src: str | None) -> dict[str, object]:
    """Time `what` ('headers' or 'read') on `folder` in a fresh process."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, what, str(folder)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if out.returncode != 0:
        return {"wall": float("nan"), "result": out.stderr.strip().splitlines()[-1][:60]}
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def dcm2niix(folder: Path) -> float | None:
    """Wall time of ``dcm2niix -z n`` on `folder` (None when dcm2niix is not installed)."""
    exe = shutil.which("dcm2niix")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory(prefix="bench_sort_d2n_") as out:
        t0 = time.perf_counter()
        subprocess.run([exe, "-z", "n", "-o", out, str(folder)], capture_output=True, check=False)
        return time.perf_counter() - t0


def generate(root: Path, quick: bool) -> list[tuple[str, Path]]:
    """The generated folders: a Philips DWI and a folder of several series."""
    from imagedata.testing import make_dicom_series
    from imagedata.testing.vendor import make_philips_dwi

    t0 = time.perf_counter()
    nslices, ndir = (10, 8) if quick else (60, 32)
    dwi = root / "philips_dwi"
    make_philips_dwi(dwi, nslices=nslices, directions=ndir, rows=64, columns=64)
    several = root / "several"
    nseries, nper = (3, 40) if quick else (5, 400)
    for s in range(nseries):
        make_dicom_series(
            several / f"s{s}", shape=(nper // 20, 20, 64, 64), order="time", SeriesNumber=s + 1
        )
    print(f"generated test data in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return [
        (f"generated Philips DWI ({nslices} x {ndir + 2} volumes)", dwi),
        (f"generated {nseries} series x {nper} files", several),
    ]


def _nfiles(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def _best(what: str, folder: Path, src: str | None, repeat: int) -> dict[str, object]:
    runs = [run(what, folder, src) for _ in range(repeat)]
    return min(runs, key=lambda r: float(r["wall"]))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller generated folders")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; best is kept")
    parser.add_argument("--before", help="another imagedata src tree to time as well")
    args = parser.parse_args(argv)
    src = str(Path(__file__).resolve().parents[1] / "src")
    with tempfile.TemporaryDirectory(prefix="bench_sort_") as tmp:
        cases = [(p, SHARED / p) for p in QA_FOLDERS if (SHARED / p).is_dir()]
        cases += generate(Path(tmp), args.quick)
        rows = []
        for label, folder in cases:
            head = _best("headers", folder, src, args.repeat)
            whole = _best("read", folder, src, args.repeat)
            d2n = dcm2niix(folder)
            row: list[object] = [
                label,
                _nfiles(folder),
                f"{head['wall']:.3f}",
                f"{whole['wall']:.3f}",
                whole["result"],
                "-" if d2n is None else f"{d2n:.3f}",
            ]
            if args.before:
                old = _best("read", folder, args.before, args.repeat)
                row += [f"{old['wall']:.3f}", old["result"]]
            rows.append(row)
            print(f"done: {label}", file=sys.stderr)
    header = ["folder", "files", "headers + grouping s", "read s", "result", "dcm2niix -z n s"]
    if args.before:
        header += ["read s (before)", "result (before)"]
    print(table(header, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
