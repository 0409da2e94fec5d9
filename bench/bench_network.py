"""Benchmark: C-STORE and C-GET of 300 slices of 512x512 to a private Orthanc on loopback.

Compares imagedata (pynetdicom) with dcmtk's storescu/getscu on the same files in the
same run, and prints a markdown table.  Run with ``.venv/bin/python bench/bench_network.py``.
Needs Orthanc and dcmtk (``make system-tools``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

from imagedata.testing import make_dicom_series
from imagedata.transports import fetch_to_folder, send

#: Arguments for a small run (``bench/run.py --quick``).
QUICK_ARGS: list[str] = ["--slices", "20", "--size", "128", "--repeat", "1"]

ENV = {**os.environ, "TCP_NODELAY": "1"}
MOVE_AET = "BENCHMOVE"
PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Orthanc:
    """A throw-away Orthanc on loopback."""

    def __init__(self, folder: Path, max_pdu: int | None = None) -> None:
        self.http, self.dicom, self.move_port = free_port(), free_port(), free_port()
        cfg = {
            "Name": "BENCH",
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "index"),
            "HttpPort": self.http,
            "DicomPort": self.dicom,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": False,
            "DicomAlwaysAllowStore": True,
            "DicomAlwaysAllowFind": True,
            "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowMove": True,
            "DicomModalities": {"bench": [MOVE_AET, "127.0.0.1", self.move_port]},
        }
        if PLUGIN.exists():
            cfg["Plugins"] = [str(PLUGIN)]
            cfg["DicomWeb"] = {"Enable": True, "Root": "/dicom-web/"}
        if max_pdu:
            cfg["MaximumPduLength"] = max_pdu
        (folder / "config.json").write_text(json.dumps(cfg))
        self.log = open(folder / "orthanc.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["Orthanc", str(folder / "config.json")],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=ENV,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                self.rest("/system")
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("Orthanc did not start")

    def rest(self, path: str, method: str = "GET") -> object:
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", method=method)
        with urllib.request.urlopen(req, timeout=60) as rsp:
            raw = rsp.read()
        return json.loads(raw) if raw else None

    def clear(self) -> None:
        for pid in self.rest("/patients"):  # type: ignore[union-attr]
            self.rest(f"/patients/{pid}", "DELETE")

    def count(self) -> int:
        return int(self.rest("/statistics")["CountInstances"])  # type: ignore[index]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.log.close()


def make_files(folder: Path, n: int, size: int) -> tuple[list[Path], str, str]:
    """`n` slices of size x size, written from one synthetic slice with new UIDs and pixels."""
    one = make_dicom_series(folder / "seed", (1, size, size), shuffle=False)
    base = pydicom.dcmread(one.files[0])
    rng = np.random.default_rng(0)
    files = []
    for k in range(n):
        base.SOPInstanceUID = base.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        base.InstanceNumber = k + 1
        base.ImagePositionPatient = [-100.0, -120.0, -50.0 + 2.0 * k]
        base.PixelData = rng.integers(0, 4096, (size, size), dtype=np.uint16).tobytes()
        path = folder / "files" / f"IM{k:04d}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        base.save_as(path, enforce_file_format=True)
        files.append(path)
    shutil.rmtree(folder / "seed")
    return files, str(base.StudyInstanceUID), str(base.SeriesInstanceUID)


def timed(
    fn: Callable[[], object], before: Callable[[], object] | None, repeat: int
) -> list[float]:
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def run(cmd: list[str]) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=600)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {r.stderr[-500:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--max-pdu", type=int, default=None, help="Orthanc's MaximumPduLength (default 16384)"
    )
    args = ap.parse_args(argv)
    for tool in ("Orthanc", "storescu", "getscu", "movescu"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (make system-tools)", file=sys.stderr)
            return 1
    tmp = Path(tempfile.mkdtemp(prefix="bench-network-"))
    orthanc = Orthanc(tmp, args.max_pdu)
    try:
        files, study, series = make_files(tmp, args.slices, args.size)
        mb = sum(f.stat().st_size for f in files) / 1e6
        url = f"dicom://127.0.0.1:{orthanc.dicom}/ORTHANC"
        query = f"{url}?StudyInstanceUID={study}&SeriesInstanceUID={series}"

        def check_stored() -> None:
            assert orthanc.count() == len(files), orthanc.count()

        def ours_store() -> None:
            send(url, files, progress=False)
            check_stored()

        def dcmtk_store() -> None:
            run(
                [
                    "storescu",
                    "-aec",
                    "ORTHANC",
                    "+sd",
                    "+r",
                    "127.0.0.1",
                    str(orthanc.dicom),
                    str(tmp / "files"),
                ]
            )
            check_stored()

        rows = []
        t_dcmtk = timed(dcmtk_store, orthanc.clear, args.repeat)
        t_ours = timed(ours_store, orthanc.clear, args.repeat)
        rows.append(("C-STORE", t_ours, t_dcmtk, "storescu"))

        out = tmp / "out"

        def fresh() -> None:
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir()

        def ours_get() -> None:
            fetch_to_folder(query, out, level="series", progress=False)
            assert len(list(out.rglob("*.dcm"))) == len(files)

        # the query and the target, the same for getscu and movescu
        dcmtk_query = ["-aec", "ORTHANC", "-S", "-k", "QueryRetrieveLevel=SERIES",
                       "-k", f"StudyInstanceUID={study}", "-k", f"SeriesInstanceUID={series}",
                       "-od", str(out), "127.0.0.1", str(orthanc.dicom)]  # fmt: skip

        def dcmtk_get() -> None:
            run(["getscu", *dcmtk_query])
            assert len(list(out.glob("*"))) == len(files)

        t_dcmtk = timed(dcmtk_get, fresh, args.repeat)
        t_ours = timed(ours_get, fresh, args.repeat)
        rows.append(("C-GET (C-FIND + C-GET for us)", t_ours, t_dcmtk, "getscu"))
        move_query = f"{query}&move={MOVE_AET}&move_port={orthanc.move_port}"

        def ours_move() -> None:
            fetch_to_folder(move_query, out, level="series", progress=False)
            assert len(list(out.rglob("*.dcm"))) == len(files)

        def dcmtk_move() -> None:
            run(["movescu", "-aet", MOVE_AET, "-aem", MOVE_AET,
                 "--port", str(orthanc.move_port), *dcmtk_query])  # fmt: skip
            assert len(list(out.glob("*"))) == len(files)

        t_dcmtk_move = timed(dcmtk_move, fresh, args.repeat)
        t_ours = timed(ours_move, fresh, args.repeat)
        rows.append(("C-MOVE to our listener (no target)", t_ours, t_dcmtk_move, "movescu"))
        if PLUGIN.exists():
            web = f"dicomweb+http://127.0.0.1:{orthanc.http}/dicom-web"
            web_query = f"{web}?StudyInstanceUID={study}&SeriesInstanceUID={series}"

            def ours_wado() -> None:
                fetch_to_folder(web_query, out, level="series", progress=False)
                assert len(list(out.rglob("*.dcm"))) == len(files)

            t_web = timed(ours_wado, fresh, args.repeat)
            rows.append(("QIDO-RS + WADO-RS (vs C-GET by getscu)", t_web, t_dcmtk, "getscu"))

        print(f"\n{args.slices} slices of {args.size}x{args.size} uint16 ({mb:.0f} MB), "
              f"Orthanc on loopback (MaximumPduLength {args.max_pdu or 16384}), TCP_NODELAY, "
              f"best/median of {args.repeat}\n")  # fmt: skip
        print("| operation | imagedata best (median) s | dcmtk best (median) s | ratio (best) |")
        print("|---|---|---|---|")
        for name, ours, theirs, tool in rows:
            print(
                f"| {name} | {min(ours):.2f} ({statistics.median(ours):.2f}) | "
                f"{min(theirs):.2f} ({statistics.median(theirs):.2f}) {tool} | "
                f"{min(ours) / min(theirs):.2f}x |"
            )
    finally:
        orthanc.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
