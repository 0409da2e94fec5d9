"""Writing DICOM: imagedata's writer vs a bare loop of pydicom.dcmwrite, side by side.

Run: ``.venv/bin/python bench/bench_write.py [--slices N] [--repeat R]``.

The series is 300 slices of 512x512 int16 (default).  The baseline writes 300
prepared datasets of the same size (file meta, a few attributes, pixel data) with
``pydicom.dcmwrite`` in a plain loop: no geometry, no value checks, no atomic move.
imagedata's time includes everything :func:`write_series` does (header, geometry
per image, value range check, new UIDs, temporary folder and final rename).
Both write into a fresh folder on the same file system; the best of R runs counts.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    MRImageStorage,
    generate_uid,
)

from _common import table
from imagedata import geometry
from imagedata.formats.dicom.writer import write_series
from imagedata.series import Series

#: Arguments for a small run (``bench/run.py --quick``).
QUICK_ARGS: list[str] = ["--slices", "30", "--repeat", "1"]


def make_series(nslices: int) -> Series:
    rng = np.random.default_rng(0)
    data = rng.integers(-1000, 3000, size=(nslices, 512, 512), dtype=np.int16)
    si = Series(data)
    si.header = si.header.replace(
        affine=geometry.affine_from_parts(
            (-120.0, -130.0, -60.0), (1, 0, 0, 0, 1, 0), (0.5, 0.5), 1.0
        )
    )
    si.modality = "MR"
    return si


def prepared_datasets(si: Series) -> list[Dataset]:
    out = []
    arr = np.asarray(si)
    for k in range(arr.shape[0]):
        ds = Dataset()
        ds.SOPClassUID = MRImageStorage
        ds.SOPInstanceUID = generate_uid()
        ds.Modality = "MR"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-120.0, -130.0, -60.0 + k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.5, 0.5]
        ds.Rows, ds.Columns = arr.shape[1:]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.PixelData = arr[k].tobytes()
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = ds.SOPClassUID
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds.file_meta = meta
        out.append(ds)
    return out


def time_baseline(datasets: list[Dataset], folder: Path) -> float:
    folder.mkdir()
    t = time.perf_counter()
    for i, ds in enumerate(datasets):
        pydicom.dcmwrite(folder / f"Image_{i:05d}.dcm", ds, enforce_file_format=True)
    return time.perf_counter() - t


def time_imagedata(si: Series, folder: Path, **options: object) -> float:
    t = time.perf_counter()
    write_series(si, folder, **options)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    si = make_series(args.slices)
    datasets = prepared_datasets(si)
    root = Path(tempfile.mkdtemp(prefix="bench_write_", dir=Path(__file__).parent))
    base, ours, zipped = [], [], []
    try:
        for r in range(args.repeat):  # interleaved, so both see the same disk state
            base.append(time_baseline(datasets, root / f"base{r}"))
            ours.append(time_imagedata(si, root / f"ours{r}"))
            zipped.append(time_imagedata(si, root / f"ours{r}.zip"))
            for p in root.iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    mb = np.asarray(si).nbytes / 1e6
    b, o, z = min(base), min(ours), min(zipped)
    rows = [
        ["bare loop of pydicom.dcmwrite (prepared datasets)", f"{b:.2f}", f"{mb / b:.0f}", "1.00"],
        ["imagedata write_series, folder", f"{o:.2f}", f"{mb / o:.0f}", f"{o / b:.2f}"],
        ["imagedata write_series, .zip", f"{z:.2f}", f"{mb / z:.0f}", f"{z / b:.2f}"],
    ]
    print(f"Writing {args.slices} slices of 512x512 int16 ({mb:.0f} MB), best of {args.repeat}\n")
    print(table(["writer", "seconds", "MB/s", "x baseline"], rows))


if __name__ == "__main__":
    main()
