"""Read and write series on a PACS: DICOM network (DIMSE) and DICOMweb.

URLs work wherever a path does (:mod:`imagedata.loadsave` routes them here)::

    Series("dicom://pacs:104/PACS?PatientID=P1&SeriesNumber=3")           # C-FIND + C-GET
    Series("dicom://pacs:104/PACS?SeriesInstanceUID=1.2.3&move=ME&move_port=11112")  # C-MOVE
    Series("dicomweb+https://user:pw@pacs/dicom-web?SeriesInstanceUID=1.2.3")       # QIDO + WADO
    si.write("dicom://pacs:104/PACS")                                     # C-STORE
    si.write("dicomweb+https://pacs/dicom-web", token="...")              # STOW-RS

See :mod:`imagedata.transports._url` for the query keys and options.  This package
only moves files: received images are filed into a (temporary) folder that
:mod:`imagedata.loadsave` then reads like any other, and a failed or partial transfer
leaves nothing behind; sending takes datasets or files made by the DICOM writer.  It
never imports :mod:`imagedata.formats`.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.dataset import Dataset

from imagedata.errors import MultipleSeriesError
from imagedata.transports._base import (
    AssociationRejectedError,
    AuthenticationError,
    NetworkError,
    NoMatchError,
    PartialTransferError,
    Progress,
    instance_path,
)
from imagedata.transports._url import QUERY_KEYS, PacsURL, URLError, parse_url, split_options

if TYPE_CHECKING:
    from imagedata.archives import Member

logger = logging.getLogger(__name__)

STUDY_KEYS = (
    "StudyInstanceUID",
    "PatientID",
    "PatientName",
    "StudyDate",
    "StudyDescription",
    "AccessionNumber",
    "NumberOfStudyRelatedInstances",
    "ModalitiesInStudy",
    "SOPClassesInStudy",
)
SERIES_KEYS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SeriesNumber",
    "Modality",
    "SeriesDescription",
    "NumberOfSeriesRelatedInstances",
)


def _backend(url: PacsURL) -> ModuleType:
    if url.is_web:
        from imagedata.transports import dicomweb

        return dicomweb
    from imagedata.transports import dimse

    return dimse


def _split_match(url: PacsURL) -> tuple[dict[str, str], dict[str, str]]:
    """(patient/study-level keys, series-level keys) of the URL."""
    upper = {k: v for k, v in url.match.items() if QUERY_KEYS[k] != "SERIES"}
    series = {k: v for k, v in url.match.items() if QUERY_KEYS[k] == "SERIES"}
    return upper, series


def find_studies(url: PacsURL) -> list[Dataset]:
    """The studies matching the URL's patient/study keys."""
    upper, _ = _split_match(url)
    studies: list[Dataset] = _backend(url).find(url, "STUDY", upper, STUDY_KEYS)
    return studies


def find_series(url: PacsURL) -> list[Dataset]:
    """The series matching the URL (study keys first narrow the studies, then series keys)."""
    upper, series_match = _split_match(url)
    backend = _backend(url)
    study_uid = upper.pop("StudyInstanceUID", None)
    if upper:
        studies = find_studies(url)
        uids = [str(s.StudyInstanceUID) for s in studies]
    else:
        uids = [study_uid] if study_uid else [""]
    found: list[Dataset] = []
    for uid in uids:
        match = {**series_match, "StudyInstanceUID": uid} if uid else series_match
        found.extend(backend.find(url, "SERIES", match, SERIES_KEYS))
    return found


def _no_match(url: PacsURL, what: str) -> NoMatchError:
    keys = "&".join(f"{k}={v}" for k, v in url.match.items()) or "(no query keys)"
    return NoMatchError(
        f"no {what} on {url.where()} matches {keys}; list what is there with: imagedata ls URL"
    )


def select_series(url: PacsURL) -> Dataset:
    """The one series the URL names.

    Raises
    ------
    NoMatchError
        If no series matches.
    MultipleSeriesError
        If several match; the message lists them.
    """
    series = find_series(url)
    if not series:
        raise _no_match(url, "series")
    if len(series) > 1:
        lines = [
            f"  SeriesNumber={s.get('SeriesNumber', '?')} Modality={s.get('Modality', '?')} "
            f"'{s.get('SeriesDescription', '')}' "
            f"SeriesInstanceUID={s.get('SeriesInstanceUID', '?')}"
            for s in series[:20]
        ]
        more = f"\n  ... and {len(series) - 20} more" if len(series) > 20 else ""
        raise MultipleSeriesError(
            f"{len(series)} series on {url.where()} match; add SeriesInstanceUID= or "
            "SeriesNumber= to the URL:\n" + "\n".join(lines) + more
        )
    return series[0]


def _count(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _retrieve(url: PacsURL, level: str, ds: Dataset, folder: Path, progress: Any) -> int:
    match = {"StudyInstanceUID": str(ds.StudyInstanceUID)}
    if level == "SERIES":
        match["SeriesInstanceUID"] = str(ds.SeriesInstanceUID)
    expected = _count(ds, f"NumberOf{level.title()}RelatedInstances")
    bar = Progress(progress, expected, desc=f"{level.lower()} from {url.host}")
    try:
        if url.is_web:
            from imagedata.transports import dicomweb

            return dicomweb.retrieve(url, level, match, folder, progress=bar, expected=expected)
        from imagedata.transports import dimse

        if url.move:
            return dimse.move(url, level, match, folder, progress=bar, expected=expected)
        classes = [str(c) for c in np.atleast_1d(ds.get("SOPClassesInStudy", []) or [])]
        return dimse.get(
            url, level, match, folder, progress=bar, expected=expected, sop_classes=classes
        )
    finally:
        bar.close()


def fetch_to_folder(
    url: str, folder: str | Path, *, level: str | None = None, progress: Any = None, **options: Any
) -> Path:
    """Fetch the series, studies or patients a URL names into `folder`; return `folder`.

    Images are filed as ``folder/PatientID/StudyInstanceUID/SeriesInstanceUID/*.dcm``.
    Everything is first received in a hidden temporary folder inside `folder` and
    moved into place only when the transfer is complete.

    Parameters
    ----------
    url
        A ``dicom://``, ``dicoms://`` or ``dicomweb+http(s)://`` URL.
    level
        'series' (one series; the default when the URL has series keys), 'study'
        (every study that matches, default otherwise) or 'patient' (every study of the
        matching patients).
    progress
        See :class:`imagedata.transports._base.Progress`.
    **options
        Transport options (timeout=, calling_aet=, move=, username= ...).

    Raises
    ------
    NoMatchError, MultipleSeriesError, NetworkError
    """
    u = parse_url(url, **options)
    folder = Path(folder)
    _, series_keys = _split_match(u)
    lev = (level or ("series" if series_keys else "study")).upper()
    if lev not in ("SERIES", "STUDY", "PATIENT"):
        raise URLError(f"level={level!r}: use 'series', 'study' or 'patient'")
    if lev == "PATIENT" and not {"PatientID", "PatientName"} & set(u.match):
        raise URLError(f"{url}: fetching a patient needs PatientID= (or PatientName=) in the URL")
    if lev == "SERIES":
        items = [select_series(u)]
    elif series_keys:
        uids = dict.fromkeys(str(s.StudyInstanceUID) for s in find_series(u))
        items = [s for uid in uids for s in find_studies(u.with_match(StudyInstanceUID=uid))]
    else:
        items = find_studies(u)
    if not items:
        raise _no_match(u, "study")
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".imagedata-fetch-", dir=folder))
    try:
        for ds in items:
            _retrieve(u, "SERIES" if lev == "SERIES" else "STUDY", ds, staging, progress)
        _merge(staging, folder, one_series=lev == "SERIES")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


@contextlib.contextmanager
def fetched(
    url: str, *, level: str | None = None, progress: Any = None, **options: Any
) -> Iterator[Path]:
    """Fetch what `url` names into a temporary folder, yield it, and remove it afterwards.

    For readers of whole studies and patients (:class:`imagedata.Study`,
    :class:`imagedata.Patient`), which read every series in the folder::

        with fetched("dicom://pacs:104/PACS?PatientID=P1") as folder:
            patient = Patient(folder)

    See :func:`fetch_to_folder` for `level` and the options.
    """
    with tempfile.TemporaryDirectory(prefix="imagedata-") as tmp:
        yield fetch_to_folder(url, tmp, level=level, progress=progress, **options)


def _merge(staging: Path, folder: Path, one_series: bool) -> None:
    """Move received files into folder/PatientID/StudyInstanceUID/SeriesInstanceUID/.

    Files already filed that way (DICOMweb, C-MOVE) keep their place; files received
    flat (C-GET, named by SOP Instance UID) are filed by their header, read once when
    they all belong to `one_series`.
    """
    from pydicom import dcmread

    keys = ["PatientID", "StudyInstanceUID", "SeriesInstanceUID"]
    shared: Path | None = None
    for path in sorted(staging.rglob("*.dcm")):
        rel = path.relative_to(staging)
        if len(rel.parts) == 4:
            target = folder / rel
        else:
            parent = shared
            if parent is None:
                ds = dcmread(path, stop_before_pixels=True, specific_tags=keys)
                parent = instance_path(folder, ds, path.stem).parent
                shared = parent if one_series else None
            target = parent / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        path.replace(target)


def series_headers(url: str, *, progress: Any = None, **options: Any) -> list[Member] | None:
    """The image headers of the one series `url` names, as in-memory files, no pixel data.

    From the WADO-RS metadata resource (DICOMweb) or an IMAGE-level C-FIND (DICOM
    network); see :mod:`imagedata.transports._headers`.  None when whole files are
    needed (multi-frame or mosaic images): fetch the series then.
    """
    u = parse_url(url, **options)
    return _fetch_headers(u, select_series(u), progress)


def _fetch_headers(url: PacsURL, ds: Dataset, progress: Any) -> list[Member] | None:
    """The image headers of series `ds` as in-memory files; None when whole files are needed."""
    from imagedata.transports._headers import fetch_headers

    expected = _count(ds, "NumberOfSeriesRelatedInstances")
    bar = Progress(progress, expected, desc=f"headers from {url.host}")
    try:
        return fetch_headers(url, ds, progress=bar, expected=expected)
    finally:
        bar.close()


def send(
    url: str,
    items: Iterable[Dataset | str | Path],
    *,
    expected: int | None = None,
    progress: Any = None,
    **options: Any,
) -> list[str]:
    """Send datasets or DICOM files to a PACS (C-STORE or STOW-RS).

    Returns
    -------
    list of str
        The SOP Instance UIDs stored.
    """
    u = parse_url(url, **options)
    if u.match:
        raise URLError(
            f"{url}: query keys ({', '.join(u.match)}) have no meaning when sending; the "
            "images' own UIDs decide where they go"
        )
    bar = Progress(progress, expected, desc=f"to {u.host}", stage="send")
    try:
        stored: list[str] = _backend(u).store(u, items, progress=bar)
    finally:
        bar.close()
    logger.info("stored %d images on %s", len(stored), u.where())
    return stored


def list_url(url: str, **options: Any) -> list[tuple[Dataset, list[Dataset]]]:
    """The studies a URL matches, each with its (matching) series.

    Studies with no series matching the URL's series keys are left out.
    """
    u = parse_url(url, **options)
    _, series_match = _split_match(u)
    out = []
    for study in find_studies(u):
        match = {**series_match, "StudyInstanceUID": str(study.StudyInstanceUID)}
        series = _backend(u).find(u, "SERIES", match, SERIES_KEYS)
        if series or not series_match:
            out.append((study, series))
    return out


__all__ = [
    "AssociationRejectedError",
    "AuthenticationError",
    "NetworkError",
    "NoMatchError",
    "PacsURL",
    "PartialTransferError",
    "URLError",
    "fetch_to_folder",
    "fetched",
    "find_series",
    "find_studies",
    "list_url",
    "parse_url",
    "select_series",
    "send",
    "series_headers",
    "split_options",
]
