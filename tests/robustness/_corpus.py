"""A mutation corpus of damaged DICOM files, generated on the fly, and its judge.

Used by ``test_fuzz_read.py`` (bounded, part of the test suite) and by
``bench/bench_robustness.py`` (larger runs for docs/robustness.md).

Every mutant is one file of a small valid series damaged in one way: cut short
(anywhere after the 128-byte preamble and "DICM"), bytes flipped or overwritten,
an element length set to a huge value, a span deleted or inserted, or one header
attribute set to a hostile value (Rows 65535, NumberOfFrames 999999999, BitsAllocated
12, PixelRepresentation 2, garbage geometry, an unknown transfer syntax ...).  The
folder is then read, and the outcome judged:

* ``read`` - the series came back whole (the damage hit pixel values or a tolerated
  attribute: pixel damage cannot be detected in uncompressed data);
* ``read, warned`` - read with a warning naming the damaged file (a default was used);
* ``<ErrorClass>`` - a typed :class:`~imagedata.errors.ImageDataError` whose message
  names the damaged file or the folder;
* anything else is a failure: ``UNTYPED <class>`` (a builtin exception escaped),
  ``SILENT <shape>`` (a different shape with no warning naming the file) or
  ``UNNAMED <ErrorClass>`` (a typed error that names neither file nor folder).

A file cut inside its first 132 bytes (the preamble) is not recognisable as DICOM; that
case is not generated (see docs/robustness.md).
"""

from __future__ import annotations

import random
import shutil
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom

from imagedata import read
from imagedata.errors import ImageDataError
from imagedata.testing import make_dicom_series

#: Outcome names that mean a failure of the reader.
FAILURES = ("UNTYPED", "SILENT", "UNNAMED")


@dataclass
class Base:
    """A valid series to damage: its files (slice order) and the true array."""

    label: str
    files: list[Path]
    data: np.ndarray


def bases(root: Path) -> list[Base]:
    """A native explicit-VR series and the same series RLE-compressed."""
    truth = make_dicom_series(root / "native", shape=(4, 8, 8))
    out = [Base("native", list(truth.files), truth.data)]
    rle_dir = root / "rle"
    rle_dir.mkdir()
    rle_files = []
    for f in truth.files:
        ds = pydicom.dcmread(f)
        ds.compress(pydicom.uid.RLELossless, encoding_plugin="pydicom")
        ds.save_as(rle_dir / f.name)
        rle_files.append(rle_dir / f.name)
    out.append(Base("rle", rle_files, truth.data))
    return out


def _cut(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(132, len(data))]


def _flip(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        b[rng.randrange(132, len(b))] = rng.randrange(256)
    return bytes(b)


def _overwrite(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    p = rng.randrange(132, len(b) - 4)
    b[p : p + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", rng.randbytes(4)])
    return bytes(b)


def _huge_length(data: bytes, rng: random.Random) -> bytes:
    """Set the length field of a random element (found by its VR) to a huge value."""
    b = bytearray(data)
    spots = [i for i in range(132, len(b) - 8) if b[i + 4 : i + 6].isalpha()][:200]
    if not spots:
        return _overwrite(data, rng)
    p = rng.choice(spots)
    if bytes(b[p + 4 : p + 6]) in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        b[p + 8 : p + 12] = rng.choice([b"\xfe\xff\xff\x7f", b"\xff\xff\xff\xff"])
    else:
        b[p + 6 : p + 8] = rng.choice([b"\xff\xff", b"\xfe\xff"])
    return bytes(b)


def _delete(data: bytes, rng: random.Random) -> bytes:
    p = rng.randrange(132, len(data) - 1)
    return data[:p] + data[p + rng.randint(1, 64) :]


def _insert(data: bytes, rng: random.Random) -> bytes:
    p = rng.randrange(132, len(data))
    return data[:p] + rng.randbytes(rng.randint(1, 32)) + data[p:]


#: Hostile binary (US) attribute values, set through pydicom.
HOSTILE_US: list[tuple[str, int]] = [
    ("Rows", 65535),
    ("Columns", 65535),
    ("Rows", 0),
    ("BitsAllocated", 12),
    ("BitsAllocated", 0),
    ("BitsStored", 40),
    ("PixelRepresentation", 2),
    ("SamplesPerPixel", 7),
]
#: Hostile text values written over an attribute's value bytes (same length).
HOSTILE_TEXT: list[tuple[str, bytes]] = [
    ("PixelSpacing", b"abc\\1"),
    ("PixelSpacing", b"0\\0"),
    ("ImageOrientationPatient", b"x\\x\\x"),
    ("ImagePositionPatient", b"nan\\1\\2"),
    ("InstanceNumber", b"1.5.6"),
    ("SOPClassUID", b"1.2.3.4"),
    ("SliceThickness", b"-inf"),
]


def _attribute(data: bytes, rng: random.Random) -> bytes:
    import io

    if rng.random() < 0.25:  # NumberOfFrames, added
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.add_new(0x00280008, "IS", rng.choice(["999999999", "0", "-3", "2"]))
    elif rng.random() < 0.5:
        ds = pydicom.dcmread(io.BytesIO(data))
        kw, value = rng.choice(HOSTILE_US)
        setattr(ds, kw, value)
    else:
        kw, text = rng.choice(HOSTILE_TEXT)
        return _garble(data, kw, text)
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def _garble(data: bytes, keyword: str, text: bytes) -> bytes:
    """Write `text` (padded with spaces) over the value of `keyword` (explicit VR LE)."""
    import struct

    tag = pydicom.datadict.tag_for_keyword(keyword)
    assert tag is not None
    p = data.find(struct.pack("<HH", tag >> 16, tag & 0xFFFF), 132)
    if p < 0:
        return data
    (length,) = struct.unpack("<H", data[p + 6 : p + 8])
    value = (text + b" " * length)[:length]
    return data[: p + 8] + value + data[p + 8 + length :]


def _transfer_syntax(data: bytes, rng: random.Random) -> bytes:
    uid = data.find(b"1.2.840.10008.1.2")
    if uid < 0:
        return _flip(data, rng)
    b = bytearray(data)
    b[uid : uid + 17] = rng.choice(
        [b"9.9.9.9.9.9.9.9.9", b"1.2.840.10008.1.9", b"xxxxxxxxxxxxxxxxx"]
    )
    return bytes(b)


MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "cut": _cut,
    "flip": _flip,
    "overwrite": _overwrite,
    "huge length": _huge_length,
    "delete": _delete,
    "insert": _insert,
    "attribute": _attribute,
    "transfer syntax": _transfer_syntax,
}


def judge(folder: Path, victim: Path, truth: np.ndarray, skip_broken: bool = False) -> str:
    """Read `folder` (one file, `victim`, damaged) and name the outcome."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            arr, _ = read(folder, skip_broken=skip_broken)
        except ImageDataError as err:
            text = str(err)
            named = victim.name in text or str(folder) in text
            return type(err).__name__ if named else f"UNNAMED {type(err).__name__}"
        except BaseException as err:
            if isinstance(err, KeyboardInterrupt):
                raise
            return f"UNTYPED {type(err).__module__}.{type(err).__name__}"
    told = any(victim.name in str(w.message) for w in caught)
    if arr.shape == truth.shape:
        return "read, warned" if told else "read"
    return (
        f"read {arr.shape[0]} of {truth.shape[0]} slices, warned" if told else f"SILENT {arr.shape}"
    )


def mutant(
    base: Base, work: Path, index: int, mutation: str, rng: random.Random
) -> tuple[Path, Path]:
    """Copy `base` into a fresh folder under `work`, damage file `index`; (folder, victim)."""
    folder = work / "case"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for f in base.files:
        shutil.copyfile(f, folder / f.name)
    victim = folder / base.files[index].name
    victim.write_bytes(MUTATIONS[mutation](victim.read_bytes(), rng))
    return folder, victim


def run_corpus(root: Path, n: int, seed: int = 0, failed: list[str] | None = None) -> Counter[str]:
    """Read `n` mutants (also with skip_broken=True when the first read fails); count outcomes.

    Failures are described in `failed` (and their folders kept under `root`/failed).
    """
    rng = random.Random(seed)
    all_bases = bases(root / "bases")
    counts: Counter[str] = Counter()
    for _ in range(n):
        base = rng.choice(all_bases)
        mutation = rng.choice(sorted(MUTATIONS))
        index = rng.randrange(len(base.files))
        folder, victim = mutant(base, root / "work", index, mutation, rng)
        outcomes = [judge(folder, victim, base.data)]
        if outcomes[0] == "ReadError":
            outcomes.append("skip_broken: " + judge(folder, victim, base.data, skip_broken=True))
        for outcome in outcomes:
            counts[outcome] += 1
            if failed is not None and any(f in outcome for f in FAILURES):
                keep = root / "failed" / str(len(failed))
                shutil.copytree(folder, keep)
                failed.append(f"{outcome}: {mutation} of {base.label} file {index} ({keep})")
    return counts
