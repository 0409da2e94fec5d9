"""Benchmark: reading compressed DICOM series (JPEG 2000 and JPEG-LS lossless).

Generates a 300-slice CT (512x512 int16: a body phantom of ellipses in HU with noise,
so the codecs see CT-like content), encodes it with pydicom and the installed encoders
(pylibjpeg-openjpeg for JPEG 2000, pyjpegls for JPEG-LS), then reads each series with
imagedata and with SimpleITK (GDCM), each in its own process.  The table shows wall
time (best of ``--repeat``), CPU time (user + system, all threads) and CPU ms per
image; ``imagedata-1`` is imagedata with one decoding thread (what the threads gain).
``--data DIR`` keeps the generated series in DIR and reuses them.  Run with::

    .venv/bin/python bench/bench_compressed.py [--quick] [--repeat N] [--data DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _common import run_json

RUNNER = r"""
import json, os, sys, time
method, folder = sys.argv[1], sys.argv[2]
import numpy as np
if method.startswith("imagedata"):
    from imagedata.formats import all_plugins
    from imagedata.loadsave import read
    import imagedata.formats.dicom.reader  # noqa: F401
    all_plugins()
else:
    import SimpleITK as sitk
c0, t0 = os.times(), time.perf_counter()
if method == "imagedata":
    arr, header = read(folder)
elif method == "imagedata-1":
    arr, header = read(folder, workers=1)
else:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(folder))
    image = reader.Execute()
    arr = sitk.GetArrayViewFromImage(image)
wall = time.perf_counter() - t0
c1 = os.times()
cpu = (c1.user - c0.user) + (c1.system - c0.system)
print(json.dumps({"wall": wall, "cpu": cpu, "shape": list(arr.shape),
                  "sum": float(np.asarray(arr, dtype=np.float64).sum())}))
"""

METHODS = ("imagedata", "imagedata-1", "simpleitk")
SYNTAXES = {
    "JPEG 2000 lossless": "1.2.840.10008.1.2.4.90",
    "JPEG-LS lossless": "1.2.840.10008.1.2.4.80",
}


def phantom(nslices: int, seed: int = 0) -> object:
    """A (nslices, 512, 512) int16 body phantom in HU: air, body, organs, bone, noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[-256:256, -256:256].astype(np.float32)
    out = np.empty((nslices, 512, 512), dtype=np.int16)
    for k in range(nslices):
        s = 1.0 + 0.1 * np.sin(k / 40.0)
        img = np.full((512, 512), -1000.0, dtype=np.float32)
        img[(xx / (200 * s)) ** 2 + (yy / (140 * s)) ** 2 <= 1] = 40.0
        img[((xx + 80) / 50) ** 2 + ((yy + 10) / 60) ** 2 <= 1] = -800.0  # lung
        img[((xx - 80) / 50) ** 2 + ((yy + 10) / 60) ** 2 <= 1] = -800.0
        img[(xx / 20) ** 2 + ((yy - 100) / 20) ** 2 <= 1] = 700.0  # spine
        img[((xx - 40) / 35) ** 2 + ((yy - 30) / 25) ** 2 <= 1] = 60.0 + k % 7
        img += rng.normal(0.0, 12.0, img.shape).astype(np.float32)
        out[k] = np.clip(img, -1024, 3071).astype(np.int16)
    return out


def _encode(job: tuple[str, str, str, bytes]) -> None:
    """Encode one file (a process-pool job): source file, target file, syntax, pixels."""
    import pydicom

    src, dst, uid, pixels = job
    ds = pydicom.dcmread(src)
    ds.PixelData = pixels
    ds.compress(uid)
    ds.save_as(dst)


def generate(root: Path, nslices: int) -> list[tuple[str, Path]]:
    """Write the phantom once per transfer syntax; return (label, folder) pairs."""
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np
    import pydicom

    from imagedata.testing import make_dicom_series

    t0 = time.perf_counter()
    plain = root / "plain"
    truth = make_dicom_series(plain, shape=(nslices, 512, 512), modality="CT", dtype=np.int16)
    data = phantom(nslices)
    cases = []
    jobs = []
    for label, uid in SYNTAXES.items():
        folder = root / uid
        folder.mkdir()
        for i, f in enumerate(sorted(truth.files)):
            k = int(pydicom.dcmread(f, stop_before_pixels=True).InstanceNumber) - 1
            pixels = np.ascontiguousarray(data[k]).tobytes()
            jobs.append((str(f), str(folder / f"{i:05d}.dcm"), uid, pixels))
        cases.append((label, folder))
    with ProcessPoolExecutor() as pool:
        list(pool.map(_encode, jobs, chunksize=8))
    print(f"generated test data in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return cases


def _data(root: Path, nslices: int) -> list[tuple[str, Path]]:
    """The generated series under `root`, made when missing."""
    cases = [(label, root / uid) for label, uid in SYNTAXES.items()]
    if all(len(list(folder.glob("*.dcm"))) == nslices for _, folder in cases):
        return cases
    root.mkdir(parents=True, exist_ok=True)
    for sub in (root / "plain", *(folder for _, folder in cases)):
        if sub.exists():
            shutil.rmtree(sub)
    return generate(root, nslices)


def run(method: str, folder: Path) -> dict[str, float]:
    return run_json(RUNNER, method, str(folder))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 slices (smoke test)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per reader; best is reported")
    parser.add_argument("--data", type=Path, help="keep (and reuse) the generated series here")
    args = parser.parse_args(argv)
    nslices = 60 if args.quick else 300
    print(
        "| series | reader | wall s | CPU s | CPU ms / image | wall ours / SimpleITK |\n"
        "|---|---|---:|---:|---:|---:|"
    )
    with tempfile.TemporaryDirectory(prefix="bench_compressed_") as tmp:
        for label, folder in _data(args.data or Path(tmp), nslices):
            runs: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
            for _ in range(args.repeat):  # alternate: the machine's load moves
                for method in METHODS:
                    runs[method].append(run(method, folder))
            res = {m: min(r, key=lambda x: x["wall"]) for m, r in runs.items()}
            if len({r["sum"] for r in res.values()}) != 1:
                print(f"warning: {label}: the readers disagree on the pixel sum", file=sys.stderr)
            for method in METHODS:
                r = res[method]
                ratio = r["wall"] / res["simpleitk"]["wall"]
                print(
                    f"| {label}, {nslices} x 512x512 int16 | {method} | {r['wall']:.2f} | "
                    f"{r['cpu']:.2f} | {r['cpu'] / nslices * 1e3:.1f} | "
                    f"{f'{ratio:.2f}x' if method.startswith('imagedata') else ''} |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
