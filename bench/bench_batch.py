"""Whole archives and .nii.gz: imagedata vs nibabel's gzip and vs dcm2niix, side by side.

Run: ``.venv/bin/python bench/bench_batch.py [--series N] [--slices N] [--skip-dask]``.

1. ``.nii.gz`` write of a 300x512x512 int16 volume (a smooth head-sized blob plus noise,
   so that it compresses like an image): ``nibabel.save`` with nibabel's default
   gzip level vs imagedata's NIfTI writer (fast gzip backend, default level; the
   writer also writes the JSON sidecar and the embedded header).  Both outputs are
   read back with nibabel and compared voxel for voxel.
2. An archive of N series (default 40, 60 slices of 256x256 each: 2400 files) in
   patient/study folders: ``imagedata convert --recursive --workers 2`` vs dcm2niix
   run on the study folders two at a time (``xargs -P2``, ``-z y``), both from a
   fresh process, writing into fresh folders.
3. Files per second with ``--workers 1``, ``--workers 2`` and on a 2-worker Dask
   cluster (``dask scheduler`` + 2 ``dask worker`` processes on loopback), with the
   peak memory per worker process from the report.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import BENCH, table

SRC = BENCH.parent / "src"
ENV = {**os.environ, "PYTHONPATH": str(SRC)}


#: Small versions for ``bench/run.py --quick``.
QUICK_ARGS: list[str] = [
    "--series", "4", "--slices", "10", "--gzip-slices", "20", "--repeat", "1", "--skip-dask",
]  # fmt: skip


def volume(nslices: int = 300) -> np.ndarray:
    rng = np.random.default_rng(0)
    z, y, x = np.ogrid[0:nslices, 0:512, 0:512]
    blob = 1000.0 * np.exp(-((x - 256.0) ** 2 + (y - 256.0) ** 2) / (2 * 150.0**2)) * (z >= 0)
    return (blob + rng.normal(0, 20, (nslices, 512, 512))).astype(np.int16)


def bench_gzip(tmp: Path, repeat: int, nslices: int = 300) -> str:
    import nibabel as nib

    from imagedata import Series, _gzip

    arr = volume(nslices)
    img = nib.Nifti1Image(np.transpose(arr, (2, 1, 0)), np.eye(4))
    rows = []
    best = {}
    for name, write in [
        ("nibabel.save (default gzip level)", lambda p: nib.save(img, str(p))),
        (
            f"imagedata NIfTI writer ({_gzip.backend()}, default level)",
            lambda p: Series(arr).write(p, formats=["nifti"]),
        ),
    ]:
        times = []
        for k in range(repeat):
            target = tmp / f"gz{len(best)}_{k}.nii.gz"
            t0 = time.perf_counter()
            write(target)
            times.append(time.perf_counter() - t0)
            back = np.transpose(np.asarray(nib.load(target).dataobj), (2, 1, 0))
            assert np.array_equal(back, arr), name
            size = target.stat().st_size
            if k < repeat - 1:
                target.unlink()
        best[name] = min(times)
        rows.append([name, f"{min(times):.2f}", f"{size / 2**20:.1f}"])
    names = list(best)
    ratio = best[names[0]] / best[names[1]]
    rows.append(["speed-up", f"{ratio:.1f}x", ""])
    return table([f"{nslices}x512x512 int16 -> .nii.gz", "seconds (best)", "MiB"], rows)


def make_archive(root: Path, nseries: int, nslices: int) -> int:
    from imagedata.testing import make_dicom_series

    n = 0
    for k in range(nseries):
        patient, study = k // 4, k // 2  # 2 series a study, 2 studies a patient
        make_dicom_series(
            root / f"P{patient:03d}" / f"study{study:03d}" / f"s{k:03d}",
            shape=(nslices, 256, 256),
            PatientID=f"P{patient:03d}",
            StudyInstanceUID=f"1.2.3.{study + 1}",
            StudyDescription=f"Study {study}",
            SeriesNumber=k % 2 + 1,
            SeriesDescription=f"T1 {k}",
            seed=k,
        )
        n += nslices
    return n


def timed(cmd: list[str] | str, shell: bool = False) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, shell=shell, check=False, env=ENV, capture_output=True)
    return time.perf_counter() - t0


def imagedata_convert(src: Path, out: Path, *extra: str) -> tuple[float, dict]:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "imagedata", "convert", str(src), str(out), "-r", "-q", *extra]
    seconds = timed(cmd)
    report = json.loads((out / "imagedata-report.json").read_text())
    return seconds, report


def dcm2niix_convert(src: Path, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    studies = sorted(str(p) for p in src.glob("*/*") if p.is_dir())
    script = (
        f"printf '%s\\n' {' '.join(studies)} | xargs -P2 -I{{}} sh -c "
        f"'d={out}/$(basename $(dirname {{}}))_$(basename {{}}); mkdir -p $d; "
        "dcm2niix -z y -o $d {} >/dev/null'"
    )
    return timed(script, shell=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dask_cluster(workdir: Path) -> tuple[str, list[subprocess.Popen[bytes]]]:
    dask = str(Path(sys.executable).parent / "dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = {"env": ENV, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            **common,  # type: ignore[call-overload]
        )
    ]
    for k in range(2):
        procs.append(
            subprocess.Popen(
                [dask, "worker", address, "--nthreads", "1", "--no-dashboard",
                 "--local-directory", str(workdir / f"w{k}")],
                **common,  # type: ignore[call-overload]
            )
        )  # fmt: skip
    from distributed import Client

    deadline = time.monotonic() + 60
    while True:
        try:
            with Client(address, timeout="5s") as client:
                client.wait_for_workers(2, timeout=60)
            return address, procs
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def bench_batch(tmp: Path, nseries: int, nslices: int, skip_dask: bool) -> str:
    src = tmp / "archive"
    t0 = time.perf_counter()
    nfiles = make_archive(src, nseries, nslices)
    size = sum(f.stat().st_size for f in src.rglob("*") if f.is_file())
    os.sync()  # the archive's writeback must not fall into the first command's time
    print(f"archive: {nfiles} files, {nseries} series, {size / 2**20:.0f} MiB "
          f"(made in {time.perf_counter() - t0:.0f} s)", file=sys.stderr)  # fmt: skip
    rows = []

    def add(name: str, seconds: float, report: dict | None) -> None:
        peak = ""
        if report is not None:
            peaks = [d.get("peak_mib") for d in report["done"] if d.get("peak_mib")]
            peak = f"{max(peaks):.0f}" if peaks else ""
            assert report["counts"]["done"] == nseries, report["counts"]
        rows.append([name, f"{seconds:.1f}", f"{nfiles / seconds:.0f}", peak])
        print(rows[-1], file=sys.stderr)

    s, r = imagedata_convert(src, tmp / "out2", "--workers", "2")
    add("imagedata convert -r --workers 2", s, r)
    gz = "pigz" if shutil.which("pigz") else "internal gzip, no pigz"
    seconds = dcm2niix_convert(src, tmp / "d")
    add(f"dcm2niix -z y ({gz}), xargs -P2 over study folders", seconds, None)
    s, r = imagedata_convert(src, tmp / "out1", "--workers", "1")
    add("imagedata convert -r --workers 1", s, r)
    s, r = imagedata_convert(src, tmp / "out2", "--workers", "2")
    add("imagedata convert -r --workers 2 (again)", s, r)
    if not skip_dask:
        address, procs = dask_cluster(tmp)
        try:
            s, r = imagedata_convert(src, tmp / "outd", "--scheduler", address)
            add("imagedata convert -r, 2-worker Dask cluster", s, r)
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(timeout=30)
    return (
        f"{nfiles} files ({nslices} slices of 256x256 int16 each), {nseries} series, "
        f"{nseries // 2} study folders, {size / 2**20:.0f} MiB:\n\n"
        + table(["command", "seconds", "files/s", "peak MiB per worker"], rows)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=40)
    parser.add_argument("--slices", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--gzip-slices", type=int, default=300)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--skip-gzip", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    args = parser.parse_args()
    if shutil.which("dcm2niix") is None:
        sys.exit("dcm2niix is not installed (make system-tools installs it)")
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as d:
        tmp = Path(d)
        if not args.skip_gzip:
            print(bench_gzip(tmp, args.repeat, args.gzip_slices), "\n")
        if not args.skip_batch:
            print(bench_batch(tmp, args.series, args.slices, args.skip_dask))


if __name__ == "__main__":
    main()
