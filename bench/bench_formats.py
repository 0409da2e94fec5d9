"""Benchmark: write and read a 300x512x512 int16 series as NIfTI (.nii, .nii.gz) and MHA.

imagedata (``Series.write`` / ``Series(path)``, including the embedded header, the BIDS
sidecar and format sniffing) is timed side by side with calling nibabel / SimpleITK
directly on the same array.  Each measurement is the best of ``--repeat`` runs,
interleaved so that both sides see the same machine load.

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


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


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


def run(slices: int, repeat: int) -> list[tuple[str, float, float]]:
    si = make_series(slices, 512, 512)
    arr = np.asarray(si)
    tmp = Path(tempfile.mkdtemp(prefix="bench-formats-"))
    rows: list[tuple[str, float, float]] = []
    try:
        cases = [
            ("NIfTI .nii", "nifti", ".nii", nib_write, nib_read),
            ("NIfTI .nii.gz", "nifti", ".nii.gz", nib_write, nib_read),
            ("MetaImage .mha", "itk", ".mha", sitk_write, sitk_read),
        ]
        for label, fmt, ext, base_write, base_read in cases:
            ours_path, base_path = tmp / f"ours{ext}", tmp / f"base{ext}"
            w_ours = w_base = r_ours = r_base = float("inf")
            for _ in range(repeat):
                w_ours = min(
                    w_ours,
                    best(lambda p=ours_path, f=fmt: si.write(p, formats=[f], overwrite=True), 1),
                )
                w_base = min(
                    w_base, best(lambda p=base_path, b=base_write: b(arr, si.affine, p), 1)
                )
                r_ours = min(r_ours, best(lambda p=ours_path: Series(str(p)), 1))
                r_base = min(r_base, best(lambda p=base_path, b=base_read: b(p), 1))
            back = Series(str(ours_path))
            assert np.array_equal(np.asarray(back), arr), f"{label}: round trip differs"
            rows.append((f"write {label}", w_ours, w_base))
            rows.append((f"read {label}", r_ours, r_base))
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
    print("| operation | imagedata (s) | direct library (s) | ratio |")
    print("|---|---:|---:|---:|")
    for name, ours, base in rows:
        print(f"| {name} | {ours:.3f} | {base:.3f} | {ours / base:.2f}x |")


if __name__ == "__main__":
    main()
