"""Collections of series: :class:`Study`, :class:`Patient` and :class:`Cohort`.

As in imagedata 3.x these are dicts: a Study maps SeriesInstanceUID to
:class:`~imagedata.series.Series`, a Patient maps StudyInstanceUID to Study, a Cohort
maps PatientID to Patient.  Each reads every DICOM series it finds in one header pass;
the study and patient attributes come from the series' DICOM templates.

A series whose images split into several groups by geometry or ImageType (a localizer
inside a series) appears once per group, keyed ``"<SeriesInstanceUID>#<k>"`` for
k >= 2.  A series that cannot be sorted is skipped with a warning (``strict=True``
raises instead).

Examples
--------
>>> import tempfile, pathlib
>>> from imagedata.testing import make_dicom_series
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> a = make_dicom_series(d / "a", shape=(3, 4, 4))
>>> b = make_dicom_series(d / "b", shape=(2, 4, 4), StudyInstanceUID=a.study_instance_uid)
>>> study = Study(d)
>>> sorted(si.shape for si in study.values())
[(2, 4, 4), (3, 4, 4)]
>>> study.patientID
'SYN0001'
"""

from __future__ import annotations

import datetime as _dt
import logging
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from pydicom.dataset import Dataset

from imagedata import _compat3
from imagedata.errors import MultipleSeriesError
from imagedata.series import Series

logger = logging.getLogger(__name__)

#: imagedata 3.x attribute name -> DICOM keyword.
PATIENT_ATTRIBUTES = {
    "patientName": "PatientName",
    "patientID": "PatientID",
    "patientBirthDate": "PatientBirthDate",
    "patientSex": "PatientSex",
    "patientAge": "PatientAge",
    "patientSize": "PatientSize",
    "patientWeight": "PatientWeight",
}
STUDY_ATTRIBUTES = {
    "studyInstanceUID": "StudyInstanceUID",
    "studyDate": "StudyDate",
    "studyTime": "StudyTime",
    "studyID": "StudyID",
    "studyDescription": "StudyDescription",
    "accessionNumber": "AccessionNumber",
    "referringPhysiciansName": "ReferringPhysicianName",
    **PATIENT_ATTRIBUTES,
}


def read_all(
    source: Any,
    *,
    strict: bool = False,
    input_order: str | Callable[[Dataset], Any] = "auto",
    **options: Any,
) -> list[tuple[str, Series]]:
    """Read every series in `source`; return (key, Series) pairs in scan order.

    `options` are those of :func:`imagedata.formats.dicom.reader.read_series` except
    ``series``.  A PACS URL (``dicom://``, ``dicomweb+http://``) is fetched into a
    temporary folder first (transport options such as ``timeout`` apply); arrays are
    loaded before the folder is removed.  See :func:`imagedata.loadsave.read_groups`.
    """
    from imagedata.loadsave import read_groups

    def warn(message: str) -> None:
        warnings.warn(message, stacklevel=4)

    found = read_groups(source, strict=strict, input_order=input_order, warn=warn, **options)
    return [(key, Series._wrap(arr, header)) for key, arr, header in found]


class _Collection(dict):
    """A dict with attributes taken from the DICOM template of its first entry."""

    _attributes: ClassVar[dict[str, str]] = {}

    def _template(self) -> Dataset | None:
        for v in self.values():
            if isinstance(v, Series):
                return v.header.template
            tmpl = v._template() if isinstance(v, _Collection) else None
            if tmpl is not None:
                return tmpl
        return None

    def _repr_html_(self) -> str:
        """Notebook display: a table of the series (see :mod:`imagedata._html`)."""
        from imagedata._html import collection_html

        return collection_html(self)

    def __getattr__(self, name: str) -> Any:
        keyword = type(self)._attributes.get(name)
        if keyword is None:
            raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")
        tmpl = self._template()
        value = None if tmpl is None else tmpl.get(keyword)
        if value is None:
            return None
        if keyword in _DATES:
            return _date_or_time(keyword, str(value))
        return str(value) if not isinstance(value, (int, float)) else value

    def __getitem__(self, key: Any) -> Any:
        """Entry by key, or by position (``study[0]``, as in imagedata 3.x)."""
        if isinstance(key, int) and not isinstance(key, bool) and key not in self:
            values = list(self.values())
            try:
                return values[key]
            except IndexError:
                raise IndexError(
                    f"{type(self).__name__} has {len(values)} entries; index {key} is out of range"
                ) from None
        return super().__getitem__(key)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._title()}: {len(self)} entries>"

    def __str__(self) -> str:
        lines = [f"{type(self).__name__}: {self._title()}"]
        for value in self.values():
            lines.extend("  " + line for line in _short(value).splitlines())
        return "\n".join(lines)

    def _title(self) -> str:
        tmpl = self._template()
        if tmpl is None:
            return "(empty)"
        keys = _TITLES.get(type(self).__name__, ("PatientID",))
        if not keys:
            return f"{len(self)} patients"
        if type(self).__name__ == "Study":  # as 3.x: "Study: 2024-02-29 12:00:00 <description>"
            date, time = self.studyDate, self.studyTime
            when = f"{date.date() if isinstance(date, _dt.datetime) else date or ''} {time or ''}"
            return f"{when.strip()} {self.studyDescription or ''}".strip() or "?"
        return " ".join(str(tmpl.get(k, "")) for k in keys if tmpl.get(k, "") != "") or "?"


#: Attributes returned as datetime.datetime (dates) or datetime.time (times), as in 3.x.
_DATES = frozenset({"StudyDate", "StudyTime"})

#: What names a collection in its summary.
_TITLES = {
    "Study": ("StudyDate",),
    "Patient": ("PatientID", "PatientName"),
    "Cohort": (),
}


def _date_or_time(keyword: str, text: str) -> Any:
    """A DICOM DA as datetime.datetime, TM as datetime.time; the text when unparseable."""
    try:
        if keyword.endswith("Time"):
            main = text.strip().split(".")[0]
            fmt = "%H%M%S.%f" if "." in text else {2: "%H", 4: "%H%M"}.get(len(main), "%H%M%S")
            return _dt.datetime.strptime(text.strip(), fmt).time()
        return _dt.datetime.strptime(text.strip(), "%Y%m%d")
    except ValueError:
        logger.warning("%s %r is not a valid DICOM date/time; returned as text", keyword, text)
        return text


def _short(value: Any) -> str:
    if isinstance(value, Series):
        return repr(value)
    return str(value)


class Study(_Collection):
    """The series of one study, keyed by SeriesInstanceUID.

    Parameters
    ----------
    data
        Folder, file, archive, glob or list of them; None for an empty study.
    strict
        Raise on a series that cannot be read instead of skipping it with a warning.
    input_order
        How to sort each series (default 'auto').
    **options
        Reader options (``rescale``, ``scaling``, ``accept_uneven_slices``, ``skip_broken``,
        ``headers_only``).

    Raises
    ------
    MultipleSeriesError
        If the input holds series of several studies (use :class:`Patient`).
    """

    _attributes = STUDY_ATTRIBUTES

    def __init__(
        self, data: Any = None, *, strict: bool = False, opts: Any = None, **options: Any
    ) -> None:
        super().__init__()
        if opts is not None or not _compat3.COMPAT_NAMES.isdisjoint(options):
            options = _compat3.collection_options(opts, options)
        if data is None:
            return
        instead = "imagedata.Patient or imagedata.Cohort"
        pairs = _read_one(data, "StudyInstanceUID", "studies", instead, strict=strict, **options)
        self.update(pairs)

    def anonymize(self, **options: Any) -> Study:
        """A de-identified copy: every series with one UID map, so they stay one study.

        See :meth:`imagedata.series.Series.anonymize`; this study is unchanged.
        """
        from imagedata.deidentify import anonymize_study

        series = list(self.values())
        out = Study()
        for si, header in zip(series, anonymize_study(series, **options)):
            new = Series._wrap(np.array(si, copy=True), header)
            out[str(header.template.SeriesInstanceUID)] = new
        return out


class Patient(_Collection):
    """The studies of one patient, keyed by StudyInstanceUID (see :class:`Study`).

    Raises
    ------
    MultipleSeriesError
        If the input holds several patients (use :class:`Cohort`).
    """

    _attributes = PATIENT_ATTRIBUTES

    def __init__(
        self, data: Any = None, *, strict: bool = False, opts: Any = None, **options: Any
    ) -> None:
        super().__init__()
        if opts is not None or not _compat3.COMPAT_NAMES.isdisjoint(options):
            options = _compat3.collection_options(opts, options)
        if data is None:
            return
        pairs = _read_one(
            data, "PatientID", "patients", "imagedata.Cohort", strict=strict, **options
        )
        _fill_studies(self, pairs)


def _read_one(
    data: Any, keyword: str, noun: str, instead: str, *, strict: bool, **options: Any
) -> list[tuple[str, Series]]:
    """Read every series; raise MultipleSeriesError when `keyword` takes several values."""
    pairs = read_all(data, strict=strict, **options)
    values = {str(si.header.template.get(keyword, "")) for _, si in pairs}
    if len(values) > 1:
        raise MultipleSeriesError(
            f"{data}: holds {len(values)} {noun} ({', '.join(sorted(values))}); "
            f"read it with {instead}"
        )
    return pairs


def _fill_studies(target: dict[str, Study], pairs: list[tuple[str, Series]]) -> None:
    for key, si in pairs:
        uid = str(si.header.template.get("StudyInstanceUID", ""))
        target.setdefault(uid, Study())[key] = si


class Cohort(_Collection):
    """The patients found in the input, keyed by PatientID (see :class:`Study`)."""

    def __init__(
        self, data: Any = None, *, strict: bool = False, opts: Any = None, **options: Any
    ) -> None:
        super().__init__()
        if opts is not None or not _compat3.COMPAT_NAMES.isdisjoint(options):
            options = _compat3.collection_options(opts, options)
        self.data = data
        if data is None:
            return
        by_patient: dict[str, list[tuple[str, Series]]] = {}
        for key, si in read_all(data, strict=strict, **options):
            pid = str(si.header.template.get("PatientID", ""))
            by_patient.setdefault(pid, []).append((key, si))
        for pid, pairs in by_patient.items():
            patient = Patient()
            _fill_studies(patient, pairs)
            self[pid] = patient


__all__ = ["Cohort", "Patient", "Study", "read_all"]
