"""Robustness figures: memory ceilings for hostile archives and a mutation corpus.

Run: ``.venv/bin/python bench/bench_robustness.py [--quick]``.  Prints markdown tables
for docs/robustness.md:

* peak memory (RSS high-water mark over the interpreter's, measured in a fresh process
  with :func:`resource.getrusage`) while reading a small DICOM series from a zip, a
  plain tar and a gzip tar that also hold a 1 GiB member of zeros (a "zip bomb" that is
  not DICOM: it must be sniffed from its first bytes, never inflated into memory);
* peak memory reading a gzip tar of a 3000-file series, as a multiple of the array;
* outcomes of reading a mutation corpus of damaged DICOM files (see
  ``tests/robustness/_corpus.py``): every read ends with the right array or a typed
  :class:`~imagedata.errors.ImageDataError`.
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from _common import table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "robustness"))
GIB = 1 << 30


class _Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.n = n

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview) -> int:  # type: ignore[override]
        k = min(len(b), self.n)
        b[:k] = bytes(k)
        self.n -= k
        return k


def _series(folder: Path, shape: tuple[int, int, int]) -> list[Path]:
    from imagedata.testing import make_dicom_series

    return sorted(make_dicom_series(folder, shape=shape).files)


def bomb_archives(root: Path, size: int) -> list[tuple[str, Path]]:
    """A zip, a tar and a tar.gz each holding a 10-slice series and `size` bytes of zeros."""
    files = _series(root / "series", (10, 64, 64))
    out = []
    zpath = root / "bomb.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for f in files:
            z.write(f, f"series/{f.name}")
        with z.open("zeros.bin", "w", force_zip64=True) as w:
            left = size
            while left:
                k = min(left, 1 << 24)
                w.write(bytes(k))
                left -= k
    out.append(("zip (deflate)", zpath))
    for label, name, mode in (("tar", "bomb.tar", "w"), ("tar.gz", "bomb.tar.gz", "w:gz")):
        p = root / name
        kw = {"compresslevel": 1} if mode == "w:gz" else {}
        with tarfile.open(p, mode, **kw) as t:  # type: ignore[call-overload]
            for f in files:
                t.add(f, f"series/{f.name}")
            info = tarfile.TarInfo("zeros.bin")
            info.size = size
            t.addfile(info, io.BufferedReader(_Zeros(size)))
        out.append((label, p))
    return out


def measure(path: Path) -> tuple[int, int, float]:
    """(array bytes, peak RSS increase in bytes, seconds) of read(path) in a fresh process."""
    from _memory import read_peak

    return read_peak(path)


def corpus_figures(n: int) -> list[list[object]]:
    from _corpus import run_corpus

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        counts = run_corpus(Path(tmp), n, seed=2026)
        wall = time.perf_counter() - t
    rows = [[k, v] for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]
    rows.append(["(files tried / seconds)", f"{n} / {wall:.1f}"])
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="256 MiB bomb, 300-file tar, 300 mutants")
    args = ap.parse_args(argv)
    size = GIB // 4 if args.quick else GIB
    with tempfile.TemporaryDirectory(prefix="imagedata-bench-") as tmp:
        root = Path(tmp)
        rows: list[list[object]] = []
        for label, path in bomb_archives(root, size):
            nbytes, rss, wall = measure(path)
            rows.append(
                [label, f"{size >> 20}", f"{nbytes / 1e6:.2f}", f"{rss / 1e6:.0f}", f"{wall:.1f}"]
            )
        print(table(["archive", "zeros member MiB", "array MB", "peak RSS increase MB", "s"], rows))
        nfiles = 300 if args.quick else 3000
        files = _series(root / "big", (nfiles, 128, 128))
        tgz = root / "series.tar.gz"
        with tarfile.open(tgz, "w:gz", compresslevel=1) as t:
            for f in files:
                t.add(f, f.name)
        nbytes, rss, wall = measure(tgz)
        print()
        print(
            table(
                ["input", "array MB", "peak RSS increase MB", "RSS / array", "s"],
                [
                    [
                        f"tar.gz, {nfiles} files 128x128",
                        f"{nbytes / 1e6:.0f}",
                        f"{rss / 1e6:.0f}",
                        f"{rss / nbytes:.2f}",
                        f"{wall:.1f}",
                    ]
                ],
            )
        )
    print()
    print(table(["outcome", "files"], corpus_figures(300 if args.quick else 3000)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
