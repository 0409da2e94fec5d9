"""A catalogue of DICOM archives in SQLite: patients, studies, series and instances.

:class:`Catalog` scans folders, zip and tar archives (also archives found inside
folders) with the DICOM header pass only (no pixel data) and keeps what it found in
an SQLite database (the standard library's :mod:`sqlite3`).  A second
:meth:`Catalog.index` of the same sources re-reads only new or changed files (by
size and modification time; an archive is re-read as a whole when it changed) and
forgets files that were deleted.  Queries select series by patient, modality and
study date.

Tables: ``files`` (every file seen, with ``kind`` 'image', 'other' or 'broken'),
``instances`` (one row per DICOM image file with its UIDs and geometry signature),
and ``patients``, ``studies``, ``series`` (rebuilt from the instances after each
scan).

Examples
--------
>>> import tempfile, pathlib
>>> from imagedata.testing import make_dicom_series
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = make_dicom_series(d / "a", shape=(3, 4, 4), PatientID="P1")
>>> with Catalog(d / "catalog.sqlite") as cat:
...     report = cat.index([d / "a"])
...     [(s.PatientID, s.Images) for s in cat.series(modality="MR")]
[('P1', 3)]
>>> report.added, report.removed
(3, 0)
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from imagedata._catalog_scan import (
    ARCHIVE_SUFFIXES,
    DESCRIPTIVE,
    Scanned,
    Unit,
    UnitScan,
    chunks,
    folder_files,
    scan_chunk,
    unit_of,
)
from imagedata.errors import ImageDataError, NoDataError

logger = logging.getLogger(__name__)

#: Rows written between two commits while indexing (an interrupted scan keeps them).
COMMIT_EVERY = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, container TEXT, size INTEGER, mtime_ns INTEGER,
    kind TEXT NOT NULL, error TEXT);
CREATE INDEX IF NOT EXISTS files_container ON files(container);
CREATE TABLE IF NOT EXISTS instances (
    path TEXT PRIMARY KEY, sop_instance_uid TEXT, series_instance_uid TEXT,
    study_instance_uid TEXT, patient_id TEXT, instance_number INTEGER, frames INTEGER,
    series_number INTEGER, series_description TEXT, modality TEXT, study_date TEXT,
    series_date TEXT, signature TEXT);
CREATE INDEX IF NOT EXISTS instances_series ON instances(series_instance_uid);
CREATE TABLE IF NOT EXISTS series_attrs (series_instance_uid TEXT PRIMARY KEY, attrs TEXT);
CREATE TABLE IF NOT EXISTS patients (
    patient_id TEXT PRIMARY KEY, patient_name TEXT, birth_date TEXT, sex TEXT);
CREATE TABLE IF NOT EXISTS studies (
    study_instance_uid TEXT PRIMARY KEY, patient_id TEXT, study_date TEXT, study_time TEXT,
    study_description TEXT, accession_number TEXT, study_id TEXT);
CREATE TABLE IF NOT EXISTS series (
    series_instance_uid TEXT PRIMARY KEY, study_instance_uid TEXT, patient_id TEXT,
    series_number INTEGER, series_description TEXT, modality TEXT, images INTEGER,
    files INTEGER, groups INTEGER, broken INTEGER, folder TEXT, attrs TEXT);
"""


class CatalogError(ImageDataError, ValueError):
    """A catalogue that cannot be opened or a query that cannot be understood."""


@dataclass(frozen=True)
class SourceFile:
    """One file of a series: its path (``archive?member`` inside archives), size, mtime.

    For archive members, `size` and `mtime_ns` are those of the archive.
    """

    path: str
    size: int
    mtime_ns: int


@dataclass
class SeriesRecord:
    """One series of the catalogue (attribute names are DICOM keywords)."""

    PatientID: str
    PatientName: str
    StudyInstanceUID: str
    StudyDate: str
    StudyTime: str
    StudyDescription: str
    AccessionNumber: str
    SeriesInstanceUID: str
    SeriesNumber: int | None
    SeriesDescription: str
    Modality: str
    Images: int
    Files: int
    Groups: int
    #: Files of the series that are DICOM but cannot be read (the series cannot be converted).
    Broken: int
    Folder: str
    #: Further attributes read from the first file (ProtocolName, SeriesTime, ...).
    attributes: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """All fields as a JSON-ready dict (`attributes` merged in)."""
        out = asdict(self)
        extra = out.pop("attributes")
        return {**extra, **out}


@dataclass
class IndexReport:
    """What one :meth:`Catalog.index` run did (counts of files)."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    broken: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged, {len(self.broken)} broken"
        )


def _units(sources: Iterable[str | os.PathLike[str]]) -> tuple[list[Unit], list[str]]:
    """The files and archives under `sources`, and the resolved roots that were walked."""
    units: list[Unit] = []
    roots: list[str] = []
    for s in sources:
        p = Path(s).resolve()
        if p.is_dir():
            roots.append(str(p))
            units.extend(unit_of(f) for f in folder_files(p))
        elif p.is_file():
            roots.append(str(p))
            units.append(unit_of(p))
        else:
            raise NoDataError(f"{s}: no such file or folder; check the path")
    return units, roots


def _under(path: str, roots: Sequence[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


_Q13 = ",".join("?" * 13)


def _parse_date(text: str) -> str:
    digits = text.strip().replace("-", "")
    if digits and not (len(digits) == 8 and digits.isdigit()):
        raise CatalogError(
            f"date {text!r} is not YYYY-MM-DD or YYYYMMDD; give e.g. 2024-01-01:2024-06-30"
        )
    return digits


def parse_date_range(text: str) -> tuple[str, str]:
    """``'2024-01-01:2024-06-30'`` -> ``('20240101', '20240630')``; either side may be empty.

    Examples
    --------
    >>> parse_date_range("2024-01-01:2024-06-30")
    ('20240101', '20240630')
    >>> parse_date_range(":20240630"), parse_date_range("2024-03-01")
    (('', '20240630'), ('20240301', '20240301'))
    """
    if ":" not in text:
        day = _parse_date(text)
        return day, day
    start, _, end = text.partition(":")
    return _parse_date(start), _parse_date(end)


#: Progress callback ``f(done, total, stage)`` (stage "headers").
ProgressCallback = Callable[[int, int | None, str], None]


class Executor(Protocol):
    """What :meth:`Catalog.index` needs of an executor: ``submit(fn, *args) -> future``."""

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Any:
        """Run ``fn(*args)`` somewhere; return a future (``result()``, ``cancel()``)."""


def _scans(
    todo: Sequence[Unit],
    executor: Executor | None,
    workers: int,
    headers: bool,
    idle: Callable[[], bool] | None = None,
) -> Iterator[UnitScan]:
    """Read the units' headers in chunks, in this process or on `executor`, in order.

    Before the chunks go to the executor, `idle()` is called as long as it returns True
    (other work while the executor's workers start).
    """
    parts = chunks(todo, workers)
    if executor is None:
        for chunk in parts:
            yield from scan_chunk(chunk, headers)
        return
    while idle is not None and idle():
        pass
    futures = [executor.submit(scan_chunk, chunk, headers) for chunk in parts]
    try:
        for fut in futures:
            yield from fut.result()
    finally:
        for fut in futures:
            fut.cancel()


class Catalog:
    """A catalogue of DICOM series in an SQLite file (``":memory:"`` for a temporary one).

    Parameters
    ----------
    path
        The database file; created when missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        try:
            self.db = sqlite3.connect(self.path)
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise CatalogError(
                f"{self.path}: not a usable catalogue ({err}); give a new file name"
            ) from err

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- indexing ------------------------------------------------------------------------

    def index(
        self,
        sources: Iterable[str | os.PathLike[str]],
        *,
        progress: ProgressCallback | None = None,
        executor: Executor | None = None,
        workers: int | None = None,
        headers: dict[str, bytes] | None = None,
        idle: Callable[[], bool] | None = None,
    ) -> IndexReport:
        """Scan `sources` (folders, files, zip/tar archives): read new or changed files.

        Files the catalogue holds under a scanned folder that no longer exist are
        forgotten.  Broken DICOM files are recorded (kind 'broken', with the error) and
        listed in the report; they are retried when they change.

        Parameters
        ----------
        sources
            Folders, files, zip/tar archives.
        progress
            ``f(done, None, "headers")`` after each file read.
        executor
            Where the headers are read: anything with ``submit(fn, *args)`` returning a
            future, such as a :class:`concurrent.futures.ProcessPoolExecutor`; the files
            go in chunks, and the rows come back to this process, which alone writes the
            database.  None: in this process.
        workers
            How many workers `executor` has (chunks are cut for them); None: the number
            of CPUs.
        headers
            When given, filled with the pickled header of each image file read
            (path -> bytes, see :func:`imagedata._catalog_scan.load_header`), for a
            conversion that follows to use instead of reading the headers again.
        idle
            With an `executor`: called again and again before the files go to it, as
            long as it returns True: other work while its workers start (the batch
            computes checksums).

        Raises
        ------
        NoDataError
            If a source does not exist.
        """
        units, roots = _units(sources)
        report = IndexReport()
        known = self._known(roots)
        seen: set[str] = set()
        todo: list[Unit] = []
        for u in units:
            seen.add(u.path)
            old = known.get(u.path)
            if old is not None and old[:2] == (u.size, u.mtime_ns):
                report.unchanged += old[2]
            else:
                todo.append(u)
        report.removed = self._forget([p for p in known if p not in seen])
        self._forget([u.path for u in todo])  # their rows are read again
        firsts: dict[str, dict[str, str]] = {}
        done = 0
        count = workers or os.cpu_count() or 1
        for scan in _scans(todo, executor, count, headers is not None, idle):
            u = scan.unit
            if scan.error:  # an archive that cannot be opened
                self._record(u.path, None, u, "broken", scan.error)
                report.broken.append(scan.error)
            for f in scan.files:
                self._store(f, u, report, firsts, headers)
                done += 1
                if progress is not None:
                    progress(done, None, "headers")
                if done % COMMIT_EVERY == 0:
                    self.db.commit()
            n = max(len(scan.files), 1) if u.archive else 1
            if u.path in known:
                report.updated += n
            else:
                report.added += n
        self._describe(firsts)
        self._rebuild()
        self.db.commit()
        logger.info("indexed %s: %s", ", ".join(roots), report)
        return report

    def _known(self, roots: Sequence[str]) -> dict[str, tuple[int, int, int]]:
        """{file or archive path: (size, mtime_ns, files)} the catalogue holds under `roots`."""
        out: dict[str, tuple[int, int, int]] = {}
        rows = self.db.execute(
            "SELECT COALESCE(container, path), MIN(size), MIN(mtime_ns), COUNT(*) FROM files "
            "GROUP BY COALESCE(container, path)"
        )
        for key, size, mtime, n in rows:
            if _under(key, roots):
                out[key] = (size, mtime, n)
        return out

    def _forget(self, paths: Sequence[str]) -> int:
        """Remove files (or whole archives) from the catalogue; return the files removed."""
        removed = 0
        for p in paths:
            rows = self.db.execute(
                "SELECT path FROM files WHERE path = ? OR container = ?", (p, p)
            ).fetchall()
            for (path,) in rows:
                self.db.execute("DELETE FROM instances WHERE path = ?", (path,))
                self.db.execute("DELETE FROM files WHERE path = ?", (path,))
            removed += len(rows)
        return removed

    def _record(self, path: str, container: str | None, u: Unit, kind: str, error: str) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
            (path, container, u.size, u.mtime_ns, kind, error or None),
        )

    def _store(
        self,
        f: Scanned,
        u: Unit,
        report: IndexReport,
        firsts: dict[str, dict[str, str]],
        headers: dict[str, bytes] | None,
    ) -> None:
        """Write what the header pass found of one file."""
        self._record(f.path, u.path if u.archive else None, u, f.kind, f.error)
        if f.kind == "broken":
            report.broken.append(f.error)
        if f.row is not None:
            self.db.execute(f"INSERT OR REPLACE INTO instances VALUES ({_Q13})", f.row)
            if f.attrs is not None:
                if f.attrs_error:
                    logger.warning(
                        "%s: descriptive attributes not read (%s)", f.path, f.attrs_error
                    )
                firsts.setdefault(f.row[2], f.attrs)
        if headers is not None and f.header is not None:
            headers[f.path] = f.header

    def _describe(self, firsts: dict[str, dict[str, str]]) -> None:
        """Store the descriptive attributes of each series that got new files."""
        for uid, attrs in firsts.items():
            self.db.execute(
                "INSERT OR REPLACE INTO series_attrs VALUES (?, ?)", (uid, json.dumps(attrs))
            )

    def _rebuild(self) -> None:
        """Recompute the patients, studies and series tables from the instances."""
        db = self.db
        db.execute(
            "DELETE FROM series_attrs WHERE series_instance_uid NOT IN "
            "(SELECT series_instance_uid FROM instances)"
        )
        for table in ("patients", "studies", "series"):
            db.execute(f"DELETE FROM {table}")
        rows = db.execute(
            "SELECT i.series_instance_uid, i.study_instance_uid, i.patient_id, "
            "MIN(i.series_number), MIN(i.series_description), MIN(i.modality), "
            "SUM(i.frames), COUNT(*), COUNT(DISTINCT NULLIF(i.signature, 'broken')), "
            "SUM(i.signature = 'broken'), "
            "MIN(i.study_date), "
            "a.attrs FROM instances i LEFT JOIN series_attrs a "
            "ON a.series_instance_uid = i.series_instance_uid GROUP BY i.series_instance_uid"
        ).fetchall()
        for *row, date, a in rows:
            uid, study, patient = row[:3]
            attrs = json.loads(a) if a else {}
            db.execute(
                "INSERT INTO series VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (*row, self._folder(uid), a),
            )
            db.execute(
                "INSERT OR IGNORE INTO studies VALUES (?,?,?,?,?,?,?)",
                (
                    study,
                    patient,
                    date,
                    attrs.get("StudyTime", ""),
                    attrs.get("StudyDescription", ""),
                    attrs.get("AccessionNumber", ""),
                    attrs.get("StudyID", ""),
                ),
            )
            db.execute(
                "INSERT OR IGNORE INTO patients VALUES (?,?,?,?)",
                (
                    patient,
                    attrs.get("PatientName", ""),
                    attrs.get("PatientBirthDate", ""),
                    attrs.get("PatientSex", ""),
                ),
            )

    def _folder(self, uid: str) -> str:
        rows = self.db.execute(
            "SELECT path FROM instances WHERE series_instance_uid = ?", (uid,)
        ).fetchall()
        return _common_folder([p for (p,) in rows])

    # --- queries ---------------------------------------------------------------------------

    def series(
        self,
        *,
        patient: str | None = None,
        modality: str | None = None,
        date: str | tuple[str, str] | None = None,
        study: str | None = None,
        uid: str | None = None,
    ) -> list[SeriesRecord]:
        """The series matching all the given conditions, by patient, study date, number.

        Parameters
        ----------
        patient
            PatientID (exact).
        modality
            Modality (case-insensitive), e.g. 'MR'.
        date
            StudyDate range ``'2024-01-01:2024-06-30'`` (either end may be empty), or a
            (start, end) pair of ``YYYYMMDD`` strings.
        study
            StudyInstanceUID.
        uid
            SeriesInstanceUID.
        """
        where, args = [], []
        if patient is not None:
            where.append("s.patient_id = ?")
            args.append(patient)
        if modality is not None:
            where.append("UPPER(s.modality) = ?")
            args.append(modality.upper())
        if date is not None:
            start, end = parse_date_range(date) if isinstance(date, str) else date
            if start:
                where.append("t.study_date >= ?")
                args.append(start)
            if end:
                where.append("t.study_date <= ?")
                args.append(end)
        if study is not None:
            where.append("s.study_instance_uid = ?")
            args.append(study)
        if uid is not None:
            where.append("s.series_instance_uid = ?")
            args.append(uid)
        sql = (
            "SELECT s.patient_id, p.patient_name, s.study_instance_uid, t.study_date, "
            "t.study_time, t.study_description, t.accession_number, s.series_instance_uid, "
            "s.series_number, s.series_description, s.modality, s.images, s.files, s.groups, "
            "s.broken, s.folder, s.attrs FROM series s JOIN studies t USING (study_instance_uid) "
            "LEFT JOIN patients p ON p.patient_id = s.patient_id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY s.patient_id, t.study_date, t.study_time, s.study_instance_uid, "
            "s.series_number, s.series_instance_uid"
        )
        out = []
        for row in self.db.execute(sql, args):
            *values, attrs = row
            cleaned: list[Any] = [("" if v is None and i != 8 else v) for i, v in enumerate(values)]
            rec = SeriesRecord(*cleaned)
            rec.attributes = json.loads(attrs) if attrs else {}
            out.append(rec)
        return out

    def files(self, uid: str) -> list[SourceFile]:
        """The files of series `uid` (sorted by path) with their size and mtime."""
        rows = self.db.execute(
            "SELECT f.path, f.size, f.mtime_ns FROM instances i JOIN files f USING (path) "
            "WHERE i.series_instance_uid = ? ORDER BY f.path",
            (uid,),
        )
        return [SourceFile(p, s, m) for p, s, m in rows]

    def broken(self) -> list[tuple[str, str]]:
        """(path, error) of the files that could not be read."""
        rows = self.db.execute("SELECT path, error FROM files WHERE kind = 'broken' ORDER BY path")
        return [(p, e or "") for p, e in rows]

    def counts(self) -> dict[str, int]:
        """Numbers of patients, studies, series, instances and files in the catalogue."""
        out = {}
        for table in ("patients", "studies", "series", "instances", "files"):
            (out[table],) = self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        return out

    def __iter__(self) -> Iterator[SeriesRecord]:
        return iter(self.series())


def _common_folder(paths: Sequence[str]) -> str:
    """The deepest folder (or ``archive?folder``) holding all `paths`.

    Examples
    --------
    >>> _common_folder(["/a/b/1.dcm", "/a/b/2.dcm"])
    '/a/b'
    >>> _common_folder(["/x/s.zip?p1/s1/1", "/x/s.zip?p1/s1/2"])
    '/x/s.zip?p1/s1'
    """
    if not paths:
        return ""
    archives = {p.partition("?")[0] for p in paths if "?" in p}
    if len(archives) == 1 and all("?" in p for p in paths):
        (archive,) = archives
        inner = [p.partition("?")[2] for p in paths]
        folder = os.path.dirname(inner[0]) if len(inner) == 1 else os.path.commonpath(inner)
        if len(inner) > 1 and folder in inner:
            folder = os.path.dirname(folder)
        return f"{archive}?{folder}" if folder else archive
    plain = [p.partition("?")[0] for p in paths]
    if len(plain) == 1 or len(set(plain)) == 1:
        return plain[0] if plain[0] in archives else os.path.dirname(plain[0])
    return os.path.commonpath(plain)


__all__ = [
    "ARCHIVE_SUFFIXES",
    "DESCRIPTIVE",
    "Catalog",
    "CatalogError",
    "IndexReport",
    "SeriesRecord",
    "SourceFile",
    "parse_date_range",
]
