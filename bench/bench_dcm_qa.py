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
is not a like-for-like comparison.

A dcm2niix built without a JPEG-LS decoder (its version line lacks ``JP-LS``, as the
Debian build) skips JPEG-LS series that imagedata reads and writes.  The benchmark
then also times both tools on the files dcm2niix converts (the folder without its
JPEG-LS files, linked into a temporary folder) and reports that like-for-like sum
beside the whole one.  Run with::

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


#: JPEG-LS lossless and near-lossless transfer syntaxes.
JPEG_LS = frozenset({"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"})


def lacks_jpegls(exe: str) -> bool:
    """True when this dcm2niix has no JPEG-LS decoder (no ``JP-LS`` in its version line)."""
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return "JP-LS" not in out.stdout + out.stderr


def jpegls_files(src: Path) -> set[Path]:
    """The DICOM files under `src` stored as JPEG-LS."""
    import pydicom

    found = set()
    for p in src.rglob("*"):
        if not p.is_file():
            continue
        try:
            meta = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=[]).file_meta
        except Exception:  # not DICOM: neither tool converts it
            continue
        if str(getattr(meta, "TransferSyntaxUID", "")) in JPEG_LS:
            found.add(p)
    return found


def linked_without(src: Path, leave_out: set[Path], dest: Path) -> Path:
    """`dest`, holding symbolic links to the files of `src` except `leave_out`."""
    for p in src.rglob("*"):
        if p.is_file() and p not in leave_out:
            link = dest / p.relative_to(src)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(p.resolve())
    return dest


def time_folder(
    exe: str, src: Path, repeat: int
) -> tuple[tuple[float, ...], tuple[float, ...], list[str]]:
    """Best (wall, CPU, series) of each tool on `src`, alternating; imagedata's skip notes."""
    ours: list[tuple[float, ...]] = []
    theirs: list[tuple[float, ...]] = []
    skipped: list[str] = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="bench_dcmqa_") as tmp:
            a, b = Path(tmp) / "imagedata", Path(tmp) / "dcm2niix"
            a.mkdir()
            b.mkdir()
            wall, cpu, n, skipped = run_imagedata(src, a)
            ours.append((wall, cpu, n))
            theirs.append(run_dcm2niix(exe, src, b))
    return _best(ours), _best(theirs), skipped


def _count_files(src: Path) -> int:
    return sum(1 for p in src.rglob("*") if p.is_file())


def _best(runs: list[tuple[float, ...]]) -> tuple[float, ...]:
    return min(runs, key=lambda r: r[0])


HEADER = (
    "| folder | files | series (imagedata / dcm2niix .nii) | imagedata s | dcm2niix s | "
    "ratio | imagedata CPU s | dcm2niix CPU s |\n|---|---:|---:|---:|---:|---:|---:|---:|"
)


def _row(name: str, files: int, o: tuple[float, ...], d: tuple[float, ...]) -> str:
    ratio = o[0] / d[0] if d[0] > 0 else float("inf")
    return (
        f"| {name} | {files} | {int(o[2])} / {int(d[2])} | {o[0]:.3f} | {d[0]:.3f} | "
        f"{ratio:.2f}x | {o[1]:.3f} | {d[1]:.3f} |"
    )


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
    rows, notes, like = [], [], []
    total = [0.0, 0.0, 0.0, 0.0]
    same = [0.0, 0.0]  # like for like: imagedata, dcm2niix wall
    no_jpegls = lacks_jpegls(exe)
    for src in folders:
        o, d, skipped = time_folder(exe, src, args.repeat)
        name = src.parent.name
        notes += [f"- {name}: {s}" for s in skipped]
        rows.append(_row(name, _count_files(src), o, d))
        total = [total[0] + o[0], total[1] + d[0], total[2] + o[1], total[3] + d[1]]
        left_out = jpegls_files(src) if no_jpegls else set()
        if left_out:
            with tempfile.TemporaryDirectory(prefix="bench_dcmqa_src_") as tmp:
                sub = linked_without(src, left_out, Path(tmp))
                o, d, _ = time_folder(exe, sub, args.repeat)
            like.append(
                _row(
                    f"{name} without its {len(left_out)} JPEG-LS files",
                    _count_files(src) - len(left_out),
                    o,
                    d,
                )
            )
        same = [same[0] + o[0], same[1] + d[0]]
    print(HEADER)
    print("\n".join(rows))
    print(
        f"| **sum** | | | {total[0]:.3f} | {total[1]:.3f} | {total[0] / total[1]:.2f}x | "
        f"{total[2]:.3f} | {total[3]:.3f} |"
    )
    if like:
        print("\nThis dcm2niix has no JPEG-LS decoder; the same files without them:\n")
        print(HEADER)
        print("\n".join(like))
        print(
            f"| **sum, like for like** | | | {same[0]:.3f} | {same[1]:.3f} | "
            f"{same[0] / same[1]:.2f}x | | |"
        )
    if notes:
        print("\nSeries imagedata skipped:\n" + "\n".join(notes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
