"""One task of a batch conversion: read one series from its files and write it.

:func:`run_task` is what a worker process (local or on a Dask cluster) runs.  It
never raises for a bad series: the error comes back in the :class:`Result`, with
the warnings the series gave, so one bad series never stops the batch.  A series
whose images split into several geometry groups (a localizer inside the series) is
written once per group: the target, then ``<target>_g2``, ``<target>_g3`` ...; if
one group fails, the outputs of the others are removed again (a failed series
leaves no output).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagedata.archives import Member, expand
from imagedata.catalog import SourceFile
from imagedata.errors import ImageDataError, ReadError

logger = logging.getLogger(__name__)

#: ``f(done, total, stage)``, as the DICOM reader and the writers call it.
ProgressCallback = Callable[..., None]


@dataclass(frozen=True)
class Task:
    """Everything a worker needs to convert one series (picklable, no open files)."""

    key: str
    label: str
    sources: tuple[SourceFile, ...]
    target: str
    fmt: str
    extension: str = ""
    input_order: str = "auto"
    write_options: dict[str, Any] = field(default_factory=dict)
    #: The pickled headers the catalogue's header pass read, one per source (or None):
    #: used instead of reading those headers again when the file did not change since.
    headers: tuple[bytes | None, ...] = ()
    #: The SHA-256 of each source (or None) when computed before, from the file as indexed.
    digests: tuple[bytes | None, ...] = ()
    #: Threads reading the pixel data (None: the reader's default).  A worker process
    #: of a batch uses 1: the batch runs a series per process, one per core.
    threads: int | None = None

    def source_list(self) -> list[list[Any]]:
        """[[path, size, mtime_ns], ...] as the manifest records them."""
        return [[s.path, s.size, s.mtime_ns] for s in self.sources]


@dataclass
class Result:
    """What became of one task."""

    key: str
    status: str
    outputs: list[str] = field(default_factory=list)
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    sha256: str = ""
    seconds: float = 0.0
    images: int = 0
    #: Peak resident memory of the process that ran the task, MiB (None when unknown).
    peak_mib: float | None = None


def members_of(paths: Sequence[str]) -> list[Member]:
    """Members for file paths and ``archive?member`` names (each archive opened once)."""
    out: dict[str, Member] = {}
    archives: dict[str, set[str]] = {}
    for p in paths:
        base, sep, _ = p.partition("?")
        if sep:
            archives.setdefault(base, set()).add(p)
        else:
            out[p] = Member(p, Path(p))
    for archive, wanted in archives.items():
        found = {m.name: m for m in expand(archive) if m.name in wanted}
        missing = sorted(wanted - set(found))
        if missing:
            raise ReadError(f"{missing[0]}: no longer in the archive; re-index or re-run")
        out.update(found)
    return [out[p] for p in paths]


def known_headers(task: Task, members: Sequence[Member]) -> dict[str, Any]:
    """The headers read by the header pass, bound to `members` (by member name).

    A source whose file (or archive) changed size or modification time since it was
    indexed has none: its header is read again.
    """
    if not task.headers:
        return {}
    from imagedata._catalog_scan import load_header

    stats: dict[str, tuple[int, int] | None] = {}
    out: dict[str, Any] = {}
    for source, member, blob in zip(task.sources, members, task.headers):
        if blob is not None and _stat(source.path, stats) == (source.size, source.mtime_ns):
            out[member.name] = load_header(blob).bind(member)
    return out


def _stat(path: str, cache: dict[str, tuple[int, int] | None]) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, or of the archive holding ``archive?member``."""
    base = path.partition("?")[0]
    if base not in cache:
        try:
            st = os.stat(base)
            cache[base] = (st.st_size, st.st_mtime_ns)
        except OSError:
            cache[base] = None
    return cache[base]


def _digest(task: Task, members: Sequence[Member]) -> str:
    """The series' checksum (:func:`._digest.series_digest`); missing digests computed."""
    from imagedata.batch._digest import file_digest, series_digest

    given = task.digests or (None,) * len(members)
    stats: dict[str, tuple[int, int] | None] = {}
    digests = []
    for source, member, digest in zip(task.sources, members, given):
        if digest is None or _stat(source.path, stats) != (source.size, source.mtime_ns):
            digest = file_digest(member)
        digests.append(digest)
    return series_digest(digests)


def _error_text(err: BaseException) -> str:
    if isinstance(err, (ImageDataError, OSError, ValueError)):
        return " ".join(str(err).split()) or type(err).__name__
    frame = traceback.extract_tb(err.__traceback__)[-1:] if err.__traceback__ else []
    where = f" at {frame[0].filename}:{frame[0].lineno}" if frame else ""
    return f"internal error ({type(err).__name__}: {err}{where})"


def _targets(task: Task, n: int) -> list[Path]:
    from imagedata.batch._layout import with_suffix

    return [
        Path(task.target if k == 0 else with_suffix(task.target, f"_g{k + 1}", task.extension))
        for k in range(n)
    ]


def _write_groups(
    task: Task, groups: Sequence[Any], progress: ProgressCallback | bool
) -> tuple[list[str], int]:
    """Read and write each group; on failure remove what was written and raise."""
    from imagedata.formats.dicom.reader import read_group
    from imagedata.series import Series

    written: list[str] = []
    images = 0
    try:
        for group, target in zip(groups, _targets(task, len(groups))):
            arr, header = read_group(
                group, input_order=task.input_order, progress=progress, workers=task.threads
            )
            si = Series(arr)
            si.header = header
            images += len(group.images)
            written.extend(
                si.write(
                    target,
                    formats=[task.fmt],
                    overwrite=True,
                    progress=progress,
                    **task.write_options,
                )
            )
    except BaseException:
        for path in written:
            Path(path).unlink(missing_ok=True)
        raise
    return written, images


def run_task(task: Task, progress: ProgressCallback | bool = False) -> Result:
    """Convert one series; return a :class:`Result` (errors included, never raised).

    `progress` is passed to the reader and writer (per-stage bars when run in the
    process that shows them); workers run quietly.
    """
    from imagedata.formats.dicom.reader import scan_groups

    start = time.perf_counter()
    result = Result(task.key, "failed")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            members = members_of([s.path for s in task.sources])
            known = known_headers(task, members)
            result.sha256 = _digest(task, members)
            groups = scan_groups(members, source=task.label, progress=progress, known=known)
            result.outputs, result.images = _write_groups(task, groups, progress)
            result.status = "done"
        except Exception as err:
            result.error = _error_text(err)
            logger.debug("%s failed", task.label, exc_info=True)
    result.warnings = [" ".join(str(w.message).split()) for w in caught]
    result.seconds = time.perf_counter() - start
    result.peak_mib = _peak_mib()
    return result


def _peak_mib() -> float | None:
    """Peak resident memory of this process so far, MiB.

    Linux: VmHWM (ru_maxrss would carry the peak of the process that started this one
    across exec); elsewhere ru_maxrss; None when neither is available.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fp:
            for line in fp:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError):
        pass
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # bytes on macOS
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1)
