"""Benchmark: DICOM to NIfTI on real scanner data, imagedata vs ``dcm2niix -z n``.

For each shared dcm_qa folder (``../shared/data/dcm_qa/*/In``, see its README), both
convert every series in the folder to uncompressed NIfTI with sidecars in a fresh
temporary folder:

* imagedata: :func:`imagedata.collections.read_all` (one header pass, every series
  sorted and read) and ``Series.write(..., formats=['nifti'])`` to ``.nii`` per series,
  in one warm process (import time is reported once, apart);
* dcm2niix: ``dcm2niix -z n -o OUT IN`` (its own process, startup included).

Times are wall seconds, best of ``--repeat``, the two tools alternating; CPU seconds
are user + system of the best run.  Series that imagedata skips (with the reason) are
listed under the table: a skipped series costs no write time, so a folder with skips
is not a like-for-like comparison.  Run with::

    .venv/bin/python bench/bench_dcm_qa.py [--repeat N] [--root PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "dcm_qa"
#: What ``bench/run.py --quick`` passes.
QUICK_ARGS = ["--repeat", "1"]


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _child_cpu() -> float:
    t = os.times()
    return t.children_user + t.children_system


def run_imagedata(src: Path, out: Path) -> tuple[float, float, int, list[str]]:
    """(wall, CPU, series written, skip notes) of converting `src` into `out`."""
    from imagedata.collections import read_all

    c0, t0 = _cpu(), time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        series = read_all(str(src))
        for i, (_key, si) in enumerate(series):
            si.write(out / f"s{i:03d}.nii", formats=["nifti"])
    wall, cpu = time.perf_counter() - t0, _cpu() - c0
    skipped = [str(w.message) for w in caught if "skipped" in str(w.message)]
    return wall, cpu, len(series), skipped


def run_dcm2niix(exe: str, src: Path, out: Path) -> tuple[float, float, int]:
    """(wall, CPU, NIfTI files written) of ``dcm2niix -z n``."""
    c0, t0 = _child_cpu(), time.perf_counter()
    subprocess.run(
        [exe, "-z", "n", "-o", str(out), str(src)],
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wall, cpu = time.perf_counter() - t0, _child_cpu() - c0
    return wall, cpu, len(list(out.glob("*.nii")))


def _count_files(src: Path) -> int:
    return sum(1 for p in src.rglob("*") if p.is_file())


def _best(runs: list[tuple[float, ...]]) -> tuple[float, ...]:
    return min(runs, key=lambda r: r[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; best is reported")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="the dcm_qa folder")
    args = parser.parse_args(argv)
    exe = shutil.which("dcm2niix")
    folders = sorted(p for p in args.root.glob("*/In") if p.is_dir())
    if exe is None or not folders:
        print(f"skipped: needs dcm2niix on PATH and dcm_qa data in {args.root}", file=sys.stderr)
        return 0
    t0 = time.perf_counter()
    import imagedata.collections
    import imagedata.formats.dicom.reader
    import imagedata.formats.nifti  # noqa: F401

    print(f"imagedata import: {time.perf_counter() - t0:.2f} s (once, not in the table)\n")
    rows, notes = [], []
    total = [0.0, 0.0, 0.0, 0.0]
    for src in folders:
        ours: list[tuple[float, ...]] = []
        theirs: list[tuple[float, ...]] = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="bench_dcmqa_") as tmp:
                a, b = Path(tmp) / "imagedata", Path(tmp) / "dcm2niix"
                a.mkdir()
                b.mkdir()
                wall, cpu, n, skipped = run_imagedata(src, a)
                ours.append((wall, cpu, n))
                theirs.append(run_dcm2niix(exe, src, b))
        o, d = _best(ours), _best(theirs)
        name = src.parent.name
        notes += [f"- {name}: {s}" for s in skipped]
        ratio = o[0] / d[0] if d[0] > 0 else float("inf")
        rows.append(
            f"| {name} | {_count_files(src)} | {int(o[2])} / {int(d[2])} | {o[0]:.3f} | "
            f"{d[0]:.3f} | {ratio:.2f}x | {o[1]:.3f} | {d[1]:.3f} |"
        )
        total = [total[0] + o[0], total[1] + d[0], total[2] + o[1], total[3] + d[1]]
    print(
        "| folder | files | series (imagedata / dcm2niix .nii) | imagedata s | dcm2niix s | "
        "ratio | imagedata CPU s | dcm2niix CPU s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(
        f"| **sum** | | | {total[0]:.3f} | {total[1]:.3f} | {total[0] / total[1]:.2f}x | "
        f"{total[2]:.3f} | {total[3]:.3f} |"
    )
    if notes:
        print("\nSeries imagedata skipped:\n" + "\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
