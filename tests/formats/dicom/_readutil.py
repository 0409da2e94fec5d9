"""Helpers for the DICOM reader tests: edit synthetic files, paths of installed test data."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.dataset import Dataset

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def edit(files: Iterable[Path], change: Callable[[Dataset, int], Any]) -> None:
    """Rewrite each file after `change(ds, index)`."""
    for i, f in enumerate(sorted(files)):
        ds = pydicom.dcmread(f)
        change(ds, i)
        ds.save_as(f, enforce_file_format=True)


def by_position(files: Iterable[Path]) -> list[Path]:
    """Files sorted by z of ImagePositionPatient, then InstanceNumber."""

    def key(f: Path) -> tuple[float, int]:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        return float(ds.ImagePositionPatient[2]), int(ds.InstanceNumber)

    return sorted(files, key=key)


def nibabel_file(name: str, dest: Path) -> Path:
    """Uncompress nibabel's nicom test file `name` (.dcm.gz) into `dest`."""
    nib = pytest.importorskip("nibabel")
    src = Path(nib.__file__).parent / "nicom" / "tests" / "data" / name
    out = dest / name.removesuffix(".gz")
    with gzip.open(src) as f:
        out.write_bytes(f.read())
    return out


def part10_files(paths: Iterable[Path], most: int | None = None) -> list[Path]:
    """The DICOM Part 10 files (preamble and "DICM") among `paths`, sorted.

    With `most`, about that many of them, taken evenly through the sorted list.
    """

    def is_part10(p: Path) -> bool:
        if not p.is_file() or p.stat().st_size <= 132:
            return False
        with p.open("rb") as f:
            return f.read(132)[128:] == b"DICM"

    files = [p for p in sorted(paths) if is_part10(p)]
    return files if most is None else files[:: max(1, len(files) // most)]


def parse_with_walk(data: bytes, complete: bool, accelerated: bool) -> Any:
    """:func:`imagedata._fastscan.parse` with the C or the Python walk ("EOFError" if raised)."""
    from imagedata import _fastscan

    saved = _fastscan._cwalk
    if not accelerated:
        _fastscan._cwalk = None
    try:
        return _fastscan.parse(data, complete)
    except EOFError:
        return "EOFError"
    finally:
        _fastscan._cwalk = saved
