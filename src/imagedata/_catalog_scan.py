"""The header pass of the catalogue, in chunks that worker processes can run.

:meth:`imagedata.catalog.Catalog.index` walks its sources into *units* (a plain file,
or an archive read as a whole), cuts the units to read into :class:`Chunk` s and runs
:func:`scan_chunk` on each, in its own process or on an executor (local worker
processes, a Dask cluster).  A chunk comes back as plain, picklable rows: the file's
kind, its ``instances`` row, the descriptive attributes of the first file of each
series in the chunk, and, on request, the :class:`~imagedata.formats.dicom._scan.
ScannedHeader` of each image file (pickled), so that a conversion that follows need
not read the headers again.  Nothing here touches the database.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagedata.archives import Member, expand
from imagedata.errors import ImageDataError, NoDataError, ReadError

logger = logging.getLogger(__name__)

#: File name endings opened as archives (also when found inside a scanned folder).
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")

#: Patient/study/series attributes read once per series (pydicom, first file).
DESCRIPTIVE = (
    "PatientName",
    "PatientBirthDate",
    "PatientSex",
    "StudyTime",
    "StudyDescription",
    "StudyID",
    "AccessionNumber",
    "SeriesTime",
    "ProtocolName",
    "BodyPartExamined",
    "InstitutionName",
)

#: Signature of a file that is DICOM but cannot be read (its series cannot be converted).
BROKEN = "broken"

#: Plain files per chunk: at least this many (a chunk costs one round trip) ...
MIN_CHUNK = 32
#: ... and at most this many (progress and commits come per chunk).
MAX_CHUNK = 1000
#: Chunks per worker, so that the workers finish close together.
CHUNKS_PER_WORKER = 8


@dataclass(frozen=True)
class Unit:
    """A plain file, or an archive read as a whole."""

    path: str
    size: int
    mtime_ns: int
    archive: bool


@dataclass
class Scanned:
    """One file as the header pass found it."""

    path: str
    #: 'image', 'other' (not DICOM, or no image) or 'broken'.
    kind: str
    error: str = ""
    #: The ``instances`` row (images, and broken files whose header still parses).
    row: tuple[Any, ...] | None = None
    #: Descriptive attributes (first image file of its series in the chunk).
    attrs: dict[str, str] | None = None
    #: Why the descriptive attributes could not be read.
    attrs_error: str = ""
    #: The pickled :class:`ScannedHeader` (when asked for and the file has one).
    header: bytes | None = None


@dataclass
class UnitScan:
    """The files of one unit; `error` when an archive cannot be opened."""

    unit: Unit
    files: list[Scanned] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class Chunk:
    """Units read together by one call of :func:`scan_chunk`."""

    units: tuple[Unit, ...]

    @property
    def size(self) -> int:
        """Number of units."""
        return len(self.units)


def chunks(units: Sequence[Unit], workers: int) -> list[Chunk]:
    """Cut `units` into chunks: runs of plain files (in order), one chunk per archive.

    Examples
    --------
    >>> files = [Unit(f"/a/{k}", 1, 1, False) for k in range(100)]
    >>> [c.size for c in chunks(files, 2)], [c.size for c in chunks(files, 1)]
    ([32, 32, 32, 4], [32, 32, 32, 4])
    >>> [c.size for c in chunks(files[:3] + [Unit("/a/x.zip", 1, 1, True)], 2)]
    [3, 1]
    """
    plain = sum(not u.archive for u in units)
    per = -(-plain // max(1, workers * CHUNKS_PER_WORKER))
    per = min(MAX_CHUNK, max(MIN_CHUNK, per))
    out: list[Chunk] = []
    run: list[Unit] = []
    for u in units:
        if u.archive:  # the files before it first: chunks keep the walk's order
            if run:
                out.append(Chunk(tuple(run)))
                run = []
            out.append(Chunk((u,)))
            continue
        run.append(u)
        if len(run) == per:
            out.append(Chunk(tuple(run)))
            run = []
    if run:
        out.append(Chunk(tuple(run)))
    return out


def is_archive(name: str) -> bool:
    """True for file names that are read as archives (:data:`ARCHIVE_SUFFIXES`)."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def folder_files(folder: Path) -> Iterator[Path]:
    """The files under `folder` in the catalogue's order: sorted by name, folder by folder,
    hidden files and folders (names starting with ".") left out."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        yield from (Path(root) / f for f in sorted(files) if not f.startswith("."))


def unit_of(path: Path) -> Unit:
    """The unit of an existing file (its size and modification time)."""
    st = path.stat()
    return Unit(str(path), st.st_size, st.st_mtime_ns, is_archive(path.name))


def text(value: Any) -> str:
    """A DICOM value as catalogue text (several values joined by backslashes)."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def to_int(value: Any) -> int | None:
    """An IS/DS value as int, None when missing or not a number."""
    try:
        return int(float(str(value))) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _rounded(value: Any, n: int, digits: int) -> list[float] | None:
    """`n` finite numbers rounded to `digits`, or None (like ``_scan.floats``)."""
    if value is None:
        return None
    try:
        seq = list(value) if not isinstance(value, (str, bytes)) else str(value).split("\\")
        out = [float(v) for v in seq]
    except (TypeError, ValueError):
        return None
    if len(out) != n or any(v != v or v in (float("inf"), float("-inf")) for v in out):
        return None
    return [round(v, digits) for v in out]


_SIGNATURE_KEYS = (
    "Rows",
    "Columns",
    "ImageOrientationPatient",
    "PixelSpacing",
    "FrameOfReferenceUID",
    "ImageType",
)


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


@functools.lru_cache(maxsize=256)
def _signature(raw: tuple[Any, ...]) -> str:
    rows, cols, iop, spacing, frame, image_type = raw
    return json.dumps(
        [
            to_int(rows),
            to_int(cols),
            _rounded(iop, 6, 4),
            _rounded(spacing, 2, 6),
            text(frame),
            text(image_type),
        ]
    )


def signature(info: Any) -> str:
    """Geometry signature of a file: matrix, orientation, pixel spacing, frame of reference.

    Examples
    --------
    >>> class Info(dict):
    ...     nframes = 1
    >>> signature(Info(Rows="2", Columns=3, ImageOrientationPatient=["1", "0", "0", "0", "1", "0"]))
    '[2, 3, [1.0, 0.0, 0.0, 0.0, 1.0, 0.0], null, "", ""]'
    """
    raw = tuple(_hashable(info.get(k)) for k in _SIGNATURE_KEYS)
    try:
        return _signature(raw)
    except TypeError:  # a value that cannot be hashed (not from the fast parser)
        return _signature.__wrapped__(raw)


def instance_row(path: str, info: Any) -> tuple[Any, ...]:
    """The ``instances`` row of an image file."""
    get = info.get
    return (
        path,
        text(get("SOPInstanceUID")),
        text(get("SeriesInstanceUID")),
        text(get("StudyInstanceUID")),
        text(get("PatientID")),
        to_int(get("InstanceNumber")),
        int(info.nframes),
        to_int(get("SeriesNumber")),
        text(get("SeriesDescription")),
        text(get("Modality")),
        text(get("StudyDate")),
        text(get("SeriesDate")),
        signature(info),
    )


@dataclass
class _Values:
    """Header values of a broken file (what the fast parser got before the error)."""

    values: dict[str, Any]
    nframes: int = 1

    def get(self, keyword: str, default: Any = None) -> Any:
        return self.values.get(keyword, default)


def _salvage(member: Member) -> _Values | None:
    """The header values of a broken file when its header parses (truncated pixel data)."""
    from imagedata.formats.dicom._scan import _fast_header

    try:
        fast = _fast_header(member)
    except (OSError, ValueError, ImageDataError):
        return None
    if isinstance(fast, str) or not fast[0].get("SeriesInstanceUID"):
        return None
    return _Values(fast[0])


def _describe(info: Any, out: Scanned) -> None:
    """Fill in the descriptive attributes of the first file of a series."""
    try:
        ds = info.ds
        out.attrs = {kw: text(ds.get(kw)) for kw in DESCRIPTIVE if ds.get(kw) is not None}
    except (OSError, ValueError, ImageDataError) as err:
        out.attrs, out.attrs_error = {}, str(err)


def scan_file(path: str, member: Member, headers: bool, described: set[str]) -> Scanned:
    """Read the header of one file into a :class:`Scanned` (errors included, never raised).

    `described` holds the series whose descriptive attributes were read already.
    """
    from imagedata.formats.dicom import _scan

    try:
        info = _scan.read_header(member)
    except ReadError as err:
        out = Scanned(path, "broken", str(err))
        values = _salvage(member)
        if values is not None:  # the series is known: it must not look complete
            out.row = (*instance_row(path, values)[:-1], BROKEN)
        return out
    if info is None:
        return Scanned(path, "other")
    header = _scan.ScannedHeader.of(info) if headers else None  # before anything is cached
    row = instance_row(path, info)
    out = Scanned(path, "image", row=row)
    if header is not None:
        out.header = pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL)
    if row[2] not in described:
        described.add(row[2])
        _describe(info, out)
    return out


def _members(u: Unit) -> list[tuple[str, Member]]:
    if not u.archive:
        return [(u.path, Member(u.path, Path(u.path)))]
    return [(m.name, m) for m in expand(u.path)]


def scan_chunk(chunk: Chunk, headers: bool = False) -> list[UnitScan]:
    """Read the headers of every file of `chunk` (what a worker process runs).

    `headers`: also return each image file's pickled ``ScannedHeader``.  Broken files
    and archives that cannot be opened come back as such; nothing is raised for them.
    """
    out: list[UnitScan] = []
    described: set[str] = set()
    for u in chunk.units:
        result = UnitScan(u)
        out.append(result)
        try:
            members = _members(u)
        except (ReadError, NoDataError) as err:
            result.error = str(err)
            continue
        result.files = [scan_file(p, m, headers, described) for p, m in members]
    return out


def load_header(blob: bytes) -> Any:
    """The ``ScannedHeader`` pickled by :func:`scan_file`."""
    return pickle.loads(blob)  # written by this package's own header pass (scan_file)
