"""Benchmark: write and read a 300x512x512 int16 series as NIfTI (.nii, .nii.gz) and MHA.

imagedata (``Series.write`` / ``Series(path)``, including the embedded header, the BIDS
sidecar and format sniffing) is timed side by side with calling nibabel / SimpleITK
directly on the same array.  Each measurement is the best of ``--repeat`` runs,
interleaved so that both sides see the same machine load; wall time and CPU time
(user + system of this process) are both reported.

Run: ``.venv/bin/python bench/bench_formats.py [--slices 300] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from imagedata import geometry
from imagedata.series import Series

#: Arguments for a small run (``bench/run.py --quick``).
QUICK_ARGS: list[str] = ["--slices", "30", "--repeat", "1"]


def make_series(slices: int, rows: int, cols: int) -> Series:
    """A phantom-like int16 volume (smooth structure plus noise, compressible like MR data)."""
    rng = np.random.default_rng(0)
    k, r, c = np.ogrid[:slices, :rows, :cols]
    body = ((r - rows / 2) ** 2 + (c - cols / 2) ** 2 < (0.4 * rows) ** 2) * 800
    data = (body + 50 * np.sin(k / 7.0) + rng.normal(0, 20, (slices, rows, cols))).astype(np.int16)
    si = Series(data)
    si.affine = geometry.affine_from_parts(
        (-120.0, -130.0, -40.0), (1, 0, 0, 0, 1, 0), (0.5, 0.5), 1.0
    )
    si.header = si.header.with_attribute("PatientName", "Bench^Mark")
    return si


def clear(folder: Path) -> None:
    for f in folder.iterdir():
        f.unlink()


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall, CPU) seconds of one call; CPU time (user + system of this process) is less
    disturbed by other processes on a shared machine."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def nib_write(arr: np.ndarray, affine: np.ndarray, path: Path) -> None:
    img = nib.Nifti1Image(arr.transpose(2, 1, 0), geometry.nifti_from_affine(affine))
    nib.save(img, str(path))


def nib_read(path: Path) -> np.ndarray:
    return np.asanyarray(nib.load(str(path), mmap=False).dataobj).transpose(2, 1, 0)


def sitk_write(arr: np.ndarray, affine: np.ndarray, path: Path) -> None:
    img = sitk.GetImageFromArray(arr)
    origin, spacing, direction = geometry.itk_from_affine(affine)
    img.SetOrigin(origin.tolist())
    img.SetSpacing(spacing.tolist())
    img.SetDirection(direction.ravel().tolist())
    sitk.WriteImage(img, str(path))


def sitk_read(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


Row = tuple[str, float, float, float, float]


def run(slices: int, repeat: int) -> list[Row]:
    si = make_series(slices, 512, 512)
    arr = np.asarray(si)
    tmp = Path(tempfile.mkdtemp(prefix="bench-formats-"))
    rows: list[Row] = []
    try:
        cases = [
            ("NIfTI .nii", "nifti", ".nii", nib_write, nib_read),
            ("NIfTI .nii.gz", "nifti", ".nii.gz", nib_write, nib_read),
            ("MetaImage .mha", "itk", ".mha", sitk_write, sitk_read),
        ]
        for label, fmt, ext, base_write, base_read in cases:
            ours_path, base_path = tmp / f"ours{ext}", tmp / f"base{ext}"
            best: dict[str, tuple[float, float]] = {}
            for _ in range(repeat):
                # every write goes to a new file (removed untimed), the common case; an
                # overwrite costs imagedata more, because it replaces the old file atomically
                clear(tmp)
                runs = {
                    "w_ours": lambda p=ours_path, f=fmt: si.write(p, formats=[f]),
                    "w_base": lambda p=base_path, b=base_write: b(arr, si.affine, p),
                    "r_ours": lambda p=ours_path: Series(str(p)),
                    "r_base": lambda p=base_path, b=base_read: b(p),
                }
                for key, fn in runs.items():
                    wall, cpu = timed(fn)
                    old = best.get(key, (float("inf"), float("inf")))
                    best[key] = (min(old[0], wall), min(old[1], cpu))
            back = Series(str(ours_path))
            assert np.array_equal(np.asarray(back), arr), f"{label}: round trip differs"
            rows.append((f"write {label}", *best["w_ours"], *best["w_base"]))
            rows.append((f"read {label}", *best["r_ours"], *best["r_base"]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = run(args.slices, args.repeat)
    print(f"\n{args.slices}x512x512 int16, best of {args.repeat}\n")
    print(
        "| operation | imagedata wall (s) | direct wall (s) | ratio | imagedata CPU (s) "
        "| direct CPU (s) | CPU ratio |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, ow, oc, bw, bc in rows:
        print(
            f"| {name} | {ow:.3f} | {bw:.3f} | {ow / bw:.2f}x | {oc:.3f} | {bc:.3f} "
            f"| {oc / bc:.2f}x |"
        )


if __name__ == "__main__":
    main()
