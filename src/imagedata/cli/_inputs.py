"""The inputs of ``imagedata`` subcommands: reading one or every series, and naming them.

Sources are paths, globs, archives or PACS URLs; :mod:`imagedata.loadsave` tells a
URL from a path.  Several series in an input give an error naming ``--series`` to
pick one (:func:`read_one`), or are all read in patient/study/series order
(:func:`read_all`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagedata.cli._common import ProgressCallback, _progress_value
from imagedata.errors import MultipleSeriesError

if TYPE_CHECKING:
    from imagedata.series import Series


def check_inputs(sources: Sequence[str]) -> None:
    """Fail early, naming the path, when an input does not exist.

    URLs, glob patterns and archive member selectors (``study.zip?series3/``) are
    left to the reader.
    """
    from imagedata.loadsave import is_url

    for s in sources:
        if is_url(s) or any(c in s for c in "*?["):
            continue
        p = Path(s)
        if not p.exists():
            raise FileNotFoundError(2, "no such file or folder; check the path", s)
        if p.is_file() and not os.access(p, os.R_OK):
            raise PermissionError(13, "cannot read this file (permission denied)", s)


def selector(text: str | None) -> int | str | None:
    """Turn a ``--series`` value into a SeriesNumber (int) or a UID/description (str)."""
    if text is None:
        return None
    return int(text) if text.strip().isdigit() else text


def read_one(
    sources: Sequence[str],
    *,
    order: str = "auto",
    select: int | str | None = None,
    headers_only: bool = False,
    progress: ProgressCallback | None = None,
) -> Series:
    """Read exactly one series from `sources` (several series: an error saying how to pick).

    `progress` (from :func:`activity`) is passed to the reader; None reads quietly.
    """
    from imagedata.series import Series

    check_inputs(sources)
    src: Any = sources[0] if len(sources) == 1 else list(sources)
    options: dict[str, Any] = {"progress": _progress_value(progress)}
    if select is not None:
        options["series"] = select
    if headers_only:
        options["headers_only"] = True
    try:
        return Series(src, input_order=order, **options)
    except MultipleSeriesError as err:
        raise MultipleSeriesError(_pick_with_option(err)).with_traceback(None) from err


def _pick_with_option(err: MultipleSeriesError) -> str:
    """The reader's multi-line listing as one line that names ``--series``."""
    lines = str(err).splitlines()
    listed = [line.strip() for line in lines[1:] if line.startswith("  ")]
    shown = "; ".join(listed[:6]) + ("; ..." if len(listed) > 6 else "")
    head = lines[0].rstrip(":") if lines else "the input holds several series"
    how = "pick one with --series LABEL (a label above, SeriesNumber or description)"
    return f"{head}: {shown}; {how}"


def read_all(
    sources: Sequence[str],
    *,
    order: str = "auto",
    select: int | str | None = None,
    headers_only: bool = False,
    progress: ProgressCallback | None = None,
) -> list[Series]:
    """Read every series in `sources`, in patient/study/series-number order."""
    try:
        return [
            read_one(
                sources, order=order, select=select, headers_only=headers_only, progress=progress
            )
        ]
    except MultipleSeriesError:
        if select is not None:
            raise
    return read_every(sources, order=order, headers_only=headers_only, progress=progress)


def read_every(
    sources: Sequence[str],
    *,
    order: str,
    headers_only: bool,
    progress: ProgressCallback | None = None,
) -> list[Series]:
    """Every series of a multi-series input, through :class:`imagedata.collections.Cohort`.

    `progress` sees the images decoded of each series in turn (stage "pixels").
    """
    from imagedata.collections import Cohort

    src: Any = sources[0] if len(sources) == 1 else list(sources)
    options: dict[str, Any] = {"progress": _progress_value(progress)}
    if headers_only:
        options["headers_only"] = True
    cohort = Cohort(src, input_order=order, **options)
    return sort_series(list(iter_series(cohort)))


def iter_series(collection: Any) -> Iterator[Series]:
    """Walk a Cohort/Patient/Study (dict-like, nested) and yield its Series."""
    from imagedata.series import Series

    if isinstance(collection, Series):
        yield collection
        return
    values = collection.values() if hasattr(collection, "values") else collection
    for item in values:
        yield from iter_series(item)


def _key(si: Series) -> tuple[str, str, str, int, str]:
    def attr(name: str) -> str:
        value = si.getDicomAttribute(name)
        return "" if value is None else str(value)

    number = si.getDicomAttribute("SeriesNumber")
    try:
        num = int(number) if number is not None else 0
    except (TypeError, ValueError):
        num = 0
    return (
        attr("PatientID"),
        attr("StudyDate") + attr("StudyTime"),
        attr("StudyInstanceUID"),
        num,
        attr("SeriesInstanceUID"),
    )


def sort_series(series: list[Series]) -> list[Series]:
    """Sort series by patient, study date/time, study UID and series number."""
    return sorted(series, key=_key)


def safe_name(text: str, limit: int = 64) -> str:
    """A file-name-safe version of `text` (letters, digits, ``-``, ``_``, ``.``).

    Examples
    --------
    >>> safe_name("T1 / post-contrast (3D)")
    'T1_post-contrast_3D'
    """
    out = []
    for ch in str(text):
        if ch.isalnum() or ch in "-.":
            out.append(ch)
        elif out and out[-1] != "_":
            out.append("_")
    return "".join(out).strip("_.")[:limit]


def series_label(si: Series) -> str:
    """``<SeriesNumber>_<SeriesDescription>`` for naming a series' output, e.g. ``3_T1_axial``."""
    number = si.getDicomAttribute("SeriesNumber")
    desc = si.getDicomAttribute("SeriesDescription")
    parts = [str(number) if number is not None else "0"]
    if desc:
        parts.append(safe_name(str(desc)))
    return "_".join(p for p in parts if p)
