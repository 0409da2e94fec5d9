"""Convert whole archives: every series found, one task per series, resumable.

:func:`convert_all` scans the sources into a :class:`~imagedata.catalog.Catalog`
(a temporary one, or a catalogue file that is kept up to date), names each selected
series' output by a layout pattern (:mod:`._layout`), skips the series that the
manifest in OUT (:mod:`._manifest`) records as finished with unchanged sources, and
runs the others (:mod:`._task`) in this process, in local worker processes or on a
Dask cluster (:mod:`._run`).  The same workers read the headers for the catalogue
first, and each task gets the headers of its series from that pass: every header is
read once a run.  One bad series never stops the batch: its error is
collected, listed in the report (``OUT/imagedata-report.json``) and the others go
on.  Every output is written atomically, so an interrupted run (Ctrl-C, kill -9)
leaves only complete outputs; a re-run redoes what was not finished.

Examples
--------
>>> import tempfile, pathlib
>>> from imagedata.testing import make_dicom_series
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = make_dicom_series(d / "in", shape=(3, 4, 4), PatientID="P1", SeriesNumber=7)
>>> report = convert_all([d / "in"], d / "out", BatchOptions(workers=1))
>>> [r["target"] for r in report.done], report.failed
(['P1/20240229_Synthetic_study/007_Synthetic_series'], [])
>>> convert_all([d / "in"], d / "out", BatchOptions(workers=1)).skipped
['P1/20240229_Synthetic_study/007_Synthetic_series']
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagedata.batch import _layout
from imagedata.batch._digest import Prehash
from imagedata.batch._layout import DEFAULT_LAYOUT, LayoutError
from imagedata.batch._manifest import MANIFEST, Manifest
from imagedata.batch._run import StageBars, Workers, preload_workers
from imagedata.batch._task import Result, Task
from imagedata.catalog import DESCRIPTIVE, Catalog, SeriesRecord, SourceFile
from imagedata.errors import ImageDataError

logger = logging.getLogger(__name__)

#: File name of the report in the output folder.
REPORT = "imagedata-report.json"


#: The attributes a layout may use: the catalogue's series fields and descriptive attributes.
LAYOUT_FIELDS = frozenset(
    {f for f in SeriesRecord.__dataclass_fields__ if f != "attributes"} | set(DESCRIPTIVE)
)


class BatchError(ImageDataError, ValueError):
    """A batch that cannot start (output inside an input, bad options)."""


@dataclass
class BatchOptions:
    """How to convert: output format and names, where to run, write options."""

    #: Output format ('nifti', 'dicom', 'itk', 'nrrd', 'mat').
    fmt: str = "nifti"
    #: Layout pattern (see :mod:`._layout`); None: :data:`DEFAULT_LAYOUT`.
    layout: str | None = None
    #: BIDS-like layout with sidecars (NIfTI only).
    bids: bool = False
    #: How images are sorted into tag axes (the reader's ``input_order``).
    input_order: str = "auto"
    #: Extra options for the writer (``compression_level``, ``keep_uid`` ...).
    write_options: dict[str, Any] = field(default_factory=dict)
    #: Local worker processes (None: the number of CPUs; 1: this process).
    workers: int | None = None
    #: A Dask scheduler address ``tcp://host:port``, or 'local' for a LocalCluster.
    scheduler: str | None = None
    #: Redo every series, even those the manifest records as finished.
    force: bool = False
    #: Per-series progress bars (serial runs): ``stage_bars(label)`` context manager.
    stage_bars: StageBars | None = None
    #: Called once planned, with (number of series selected, number skipped as unchanged).
    on_plan: Callable[[int, int], None] | None = None
    #: Called after each series converted or failed, with (result, label, counts).
    on_result: Callable[[Result, str, dict[str, int]], None] | None = None


@dataclass
class BatchReport:
    """What a batch did; written as JSON to ``OUT/imagedata-report.json``."""

    out: str
    done: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    broken_files: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no series failed."""
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict."""
        return {
            "out": self.out,
            "counts": {
                "done": len(self.done),
                "failed": len(self.failed),
                "skipped": len(self.skipped),
            },
            "failed": self.failed,
            "done": self.done,
            "skipped": self.skipped,
            "broken_files": self.broken_files,
        }


def _label(rec: SeriesRecord) -> str:
    return (
        f"{rec.PatientID or '?'} / {rec.StudyDate or '?'} / series {rec.SeriesNumber} "
        f"{rec.SeriesDescription!r}"
    )


def _relpath(rec: SeriesRecord, options: BatchOptions) -> tuple[str, str]:
    """(relative path, extension) the layout gives for a series."""
    attrs = rec.as_dict()
    if options.bids:
        return _layout.bids_path(attrs), ".nii.gz"
    pattern = options.layout or DEFAULT_LAYOUT
    ext = _layout.extension_of(pattern, options.fmt)
    return _layout.render(pattern, attrs, ext), ext


def _recorded(key: str, rel: str, ext: str, manifest: Manifest) -> str | None:
    """The target the manifest holds for `key` when it is `rel` or a `rel_N` variant."""
    old = manifest.targets.get(key)
    if old is None:
        return None
    stem = re.escape(rel[: len(rel) - len(ext)] if ext else rel)
    return old if re.fullmatch(f"{stem}(_[0-9]+)?{re.escape(ext)}", old, re.IGNORECASE) else None


def plan(
    records: Sequence[SeriesRecord],
    catalog: Catalog,
    out: Path,
    options: BatchOptions,
    manifest: Manifest,
    headers: Mapping[str, bytes] | None = None,
    digests: Mapping[str, tuple[int, int, bytes]] | None = None,
) -> tuple[list[Task], list[str]]:
    """The tasks to run and the relative targets skipped as finished and unchanged.

    `headers`: the pickled headers the catalogue's header pass read (by path), handed
    to the tasks so that they do not read them again; `digests`: the files' SHA-256
    computed meanwhile (by path: size, mtime_ns, digest), handed on likewise.
    """
    if not options.bids:
        _layout.check(options.layout or DEFAULT_LAYOUT, LAYOUT_FIELDS)
    owned = set(manifest.targets.values())

    def exists(rel: str) -> bool:  # something not ours is there
        return rel not in owned and (out / rel).exists()

    wanted = [(rec, *_relpath(rec, options)) for rec in records]
    chosen: dict[str, str] = {}
    for rec, rel, ext in wanted:  # keep the names of earlier runs
        old = _recorded(rec.SeriesInstanceUID, rel, ext, manifest)
        if old is not None:
            chosen[rec.SeriesInstanceUID] = old
    tasks, skipped = [], []
    fresh = _layout.Names(owned - set(chosen.values()), exists=exists)
    for rec, rel, ext in wanted:
        key = rec.SeriesInstanceUID
        target = chosen.get(key) or fresh.unique(rel, ext)
        sources = tuple(catalog.files(key))
        task = Task(
            key=key,
            label=_label(rec),
            sources=sources,
            headers=tuple(headers.get(s.path) for s in sources) if headers else (),
            digests=_digests_of(sources, digests) if digests else (),
            target=str(out / target),
            fmt="nifti" if options.bids else options.fmt,
            extension=ext,
            input_order=options.input_order,
            write_options=dict(options.write_options),
        )
        if not options.force and manifest.is_done(key, task.source_list(), out):
            skipped.append(target)
        else:
            tasks.append(task)
    return tasks, skipped


def _digests_of(
    sources: Sequence[SourceFile], digests: Mapping[str, tuple[int, int, bytes]]
) -> tuple[bytes | None, ...]:
    """The digests of `sources` computed from files of the size and time indexed."""
    out: list[bytes | None] = []
    for s in sources:
        known = digests.get(s.path)
        out.append(known[2] if known is not None and known[:2] == (s.size, s.mtime_ns) else None)
    return tuple(out)


def _check_out(out: Path, sources: Sequence[str | os.PathLike[str]]) -> None:
    o = out.resolve()
    for s in sources:
        p = Path(str(s).partition("?")[0]).resolve()
        if o == p or p in o.parents or o in p.parents:
            raise BatchError(
                f"the output folder {out} and the input {s} overlap; "
                "choose an output folder outside the inputs"
            )


def _in_sources(rec: SeriesRecord, roots: Sequence[str]) -> bool:
    folder = rec.Folder.partition("?")[0]
    return any(folder == r or folder.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def select(
    catalog: Catalog, sources: Sequence[str | os.PathLike[str]], query: dict[str, Any]
) -> list[SeriesRecord]:
    """The catalogue's series matching `query` (and lying under `sources`, if given)."""
    records = catalog.series(**query)
    if sources:
        roots = [str(Path(s).resolve()) for s in sources]
        records = [r for r in records if _in_sources(r, roots)]
    return records


class _Runner:
    """Collects results: manifest events, report entries, warnings, counts."""

    def __init__(self, out: Path, manifest: Manifest, report: BatchReport, options: BatchOptions):
        self.out, self.manifest, self.report, self.options = out, manifest, report, options
        self.tasks: dict[str, Task] = {}
        self.counts = {"done": 0, "failed": 0, "skipped": len(report.skipped)}

    def start(self, tasks: Sequence[Task]) -> None:
        self.tasks.update((t.key, t) for t in tasks)
        if tasks:
            self.manifest.append(
                *({"event": "start", "key": t.key, "target": self._rel(t.target)} for t in tasks)
            )

    def _rel(self, path: str) -> str:
        return Path(path).relative_to(self.out).as_posix()

    def done(self, result: Result) -> None:
        task = self.tasks[result.key]
        for text in result.warnings:
            warnings.warn(f"{task.label}: {text}", stacklevel=2)
        entry = {
            "key": task.key,
            "label": task.label,
            "target": self._rel(task.target),
            "seconds": round(result.seconds, 3),
        }
        if result.status == "done":
            outputs = [self._rel(p) for p in result.outputs]
            self.manifest.append(
                {
                    "event": "done",
                    **entry,
                    "sources": task.source_list(),
                    "sha256": result.sha256,
                    "outputs": outputs,
                    "images": result.images,
                }
            )
            self.report.done.append({**entry, "outputs": outputs, "peak_mib": result.peak_mib})
            self.counts["done"] += 1
        else:
            self.manifest.append({"event": "failed", **entry, "error": result.error})
            self.report.failed.append({**entry, "error": result.error})
            self.counts["failed"] += 1
            logger.info("%s failed: %s", task.label, result.error)
        if self.options.on_result is not None:
            self.options.on_result(result, task.label, dict(self.counts))


def write_report(report: BatchReport, out: Path) -> Path:
    """Write ``OUT/imagedata-report.json`` (atomically)."""
    path = out / REPORT
    tmp = out / f".{REPORT}.tmp"
    tmp.write_text(json.dumps(report.as_dict(), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _bids_description(out: Path) -> None:
    from imagedata import __version__

    path = out / "dataset_description.json"
    if not path.exists():
        doc = {
            "Name": "imagedata conversion",
            "BIDSVersion": "1.9.0",
            "DatasetType": "raw",
            "GeneratedBy": [{"Name": "imagedata", "Version": __version__}],
        }
        path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


#: Name parts of the temporary files writers leave beside a target when killed.
_LEFTOVERS = (".imagedata-tmp-", ".imagedata-old-")


def _remove_leftovers(out: Path) -> int:
    """Remove temporary folders of writers killed in an earlier run; return how many."""
    import shutil

    removed = 0
    for root, dirs, files in os.walk(out):
        for name in [*dirs, *files]:
            if name.startswith(".") and any(tag in name for tag in _LEFTOVERS):
                path = Path(root) / name
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                    if name in dirs:
                        dirs.remove(name)
                else:
                    path.unlink(missing_ok=True)
                removed += 1
    if removed:
        logger.info("%s: removed %d temporary files of an interrupted run", out, removed)
    return removed


@contextlib.contextmanager
def _locked(out: Path) -> Iterator[None]:
    """Hold ``OUT/.imagedata-batch.lock``: one batch at a time per output folder."""
    out.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not on POSIX: no lock
        yield
        return
    with open(out / ".imagedata-batch.lock", "w") as fp:
        try:
            fcntl.flock(fp.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            raise BatchError(
                f"{out}: another conversion writes into this folder; wait for it to finish "
                "or choose another output folder"
            ) from err
        try:
            yield
        finally:
            fcntl.flock(fp.fileno(), fcntl.LOCK_UN)


def convert_all(
    sources: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    options: BatchOptions | None = None,
    *,
    db: str | os.PathLike[str] | None = None,
    query: dict[str, Any] | None = None,
) -> BatchReport:
    """Convert every series in `sources` (or in the catalogue `db`) into folder `out`.

    Parameters
    ----------
    sources
        Folders, files, zip/tar archives.  With `db` they are indexed into it first;
        empty with `db`: every series the catalogue selects.
    out
        The output folder (created); it holds the manifest and the report.
    options
        See :class:`BatchOptions`.
    db
        A catalogue file (kept); None: a temporary in-memory catalogue.
    query
        Selection keywords of :meth:`Catalog.series` (patient, modality, date ...).

    Raises
    ------
    BatchError, LayoutError
        When the batch cannot start.  Failed series do not raise: see
        :attr:`BatchReport.failed`.
    """
    options = options or BatchOptions()
    out = Path(out)
    if not sources and db is None:
        raise BatchError("give the sources to convert, or a catalogue (db)")
    _check_out(out, sources)
    with _locked(out):
        _remove_leftovers(out)
        return _convert_locked(sources, out, options, db, query or {})


def _convert_locked(
    sources: Sequence[str | os.PathLike[str]],
    out: Path,
    options: BatchOptions,
    db: str | os.PathLike[str] | None,
    query: dict[str, Any],
) -> BatchReport:
    report = BatchReport(str(out))
    count = options.workers or os.cpu_count() or 1
    # an in-memory catalogue reads every header: the workers are needed at once
    with Workers(count, options.scheduler, start=bool(sources) and db is None) as workers:
        headers: dict[str, bytes] = {}  # read once, by the workers, for the tasks
        prehash = Prehash(sources)  # checksums, while the worker processes start
        with Catalog(":memory:" if db is None else db) as catalog:
            if sources:
                catalog.index(
                    sources,
                    executor=workers.executor,
                    workers=workers.count,
                    headers=headers,
                    idle=lambda: workers.starting() and prehash(),
                )
            report.broken_files = [f"{p}: {e}" for p, e in catalog.broken()]
            records = select(catalog, sources, query)
            if not sources:  # the catalogue's own sources must not overlap OUT either
                _check_out(out, sorted({r.Folder.partition("?")[0] for r in records}))
            manifest = Manifest.load(out)
            tasks, report.skipped = plan(
                records, catalog, out, options, manifest, headers, prehash.digests
            )
        del headers
        if options.on_plan is not None:
            options.on_plan(len(tasks) + len(report.skipped), len(report.skipped))
        runner = _Runner(out, manifest, report, options)
        try:
            runner.start(tasks)
            workers.run(tasks, runner.done, options.stage_bars)
        finally:
            manifest.close()
            write_report(report, out)
    if options.bids:
        _bids_description(out)
    return report


__all__ = [
    "MANIFEST",
    "REPORT",
    "BatchError",
    "BatchOptions",
    "BatchReport",
    "LayoutError",
    "convert_all",
    "plan",
    "preload_workers",
    "select",
    "write_report",
]
