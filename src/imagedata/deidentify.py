"""De-identification: the DICOM PS3.15 Annex E Basic Application Level Confidentiality Profile.

:func:`deidentify` returns a de-identified copy of a pydicom Dataset; a
:class:`Deidentifier` does the same for many datasets with one set of options and one
UID map, so that a study keeps its references (Study, Series, SOP Instance and Frame
of Reference UIDs, and UIDs in referencing sequences, are replaced consistently).

The profile's attribute table is data (:mod:`imagedata._deid_profile`), with its
actions D (dummy), Z (empty or dummy), X (remove), K (keep), C (clean) and U (new
UID), and the options Retain Longitudinal Temporal Information (Full Dates: keep, or
Modified Dates: shift by a number of days), Retain Patient Characteristics, Retain
Device Identity and Clean Descriptors.  Private attributes are removed unless listed
as safe.  Pixel data and geometry are never changed; an image that says it has
burned-in annotation is refused unless allowed.

Examples
--------
>>> from pydicom.dataset import Dataset
>>> ds = Dataset()
>>> ds.PatientName, ds.PatientID, ds.StudyDate = "Doe^Jane", "12345", "20240229"
>>> ds.StudyInstanceUID = "1.2.3.4"
>>> out = deidentify(ds, shift_days=-10)
>>> str(out.PatientName) != "Doe^Jane", out.StudyDate, out.PatientIdentityRemoved
(True, '20240219', 'YES')
>>> out.StudyInstanceUID.startswith("2.25."), ds.PatientName  # the input is unchanged
(True, 'Doe^Jane')
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence

from imagedata._deid_profile import READER_PRIVATE, profile
from imagedata.errors import ImageDataError

logger = logging.getLogger(__name__)

#: DICOM-defined UIDs (SOP classes, transfer syntaxes, ...) are never replaced.
_DICOM_ROOT = "1.2.840.10008."
#: Dummy values (action D) by VR.
_DUMMY = {
    "PN": "ANONYMOUS", "LO": "ANONYMIZED", "SH": "ANONYMIZED", "LT": "ANONYMIZED",
    "ST": "ANONYMIZED", "UT": "ANONYMIZED", "UC": "ANONYMIZED", "CS": "ANONYMIZED",
    "AE": "ANONYMIZED", "DA": "19000101", "TM": "000000", "DT": "19000101000000",
    "AS": "000Y", "IS": "0", "DS": "0", "UR": "",
}  # fmt: skip
#: (code value, meaning) of the profile and each option (PS3.16 CID 7050).
CODES = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    "full_dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "patient": ("113108", "Retain Patient Characteristics Option"),
    "device": ("113109", "Retain Device Identity Option"),
    "descriptors": ("113105", "Clean Descriptors Option"),
    "private": ("113111", "Retain Safe Private Option"),
}


class DeidentificationError(ImageDataError, ValueError):
    """A dataset cannot be de-identified as asked (burned-in annotation, bad option ...)."""


@dataclass(frozen=True)
class Options:
    """What the profile keeps besides its basic actions.

    Parameters
    ----------
    keep_dates
        Retain Longitudinal Temporal Information, Full Dates: keep dates and times.
    shift_days
        Retain Longitudinal Temporal Information, Modified Dates: shift every date by
        this many days (times are kept).  Exclusive with `keep_dates`.
    keep_patient_characteristics
        Keep sex, age, size, weight, ethnic group, smoking and pregnancy status.
    keep_device_identity
        Keep device serial numbers, station names and other device identifiers.
    keep_descriptions
        Clean Descriptors: keep descriptions and comments (study/series description,
        protocol name ...) with every name, ID, accession number and birth date found
        in the dataset blanked out.  Other identifying text (a name not in the dataset,
        an address) is not recognised: check them.
    patient_id
        The new Patient ID (and Patient's Name); default: a pseudonym derived from the
        original Patient ID through the UID map.
    allow_burned_in
        De-identify images with BurnedInAnnotation=YES (the pixels may still show names).
    safe_private
        Private attributes to keep, as (private creator, element offset 0x00-0xFF);
        default: those the DICOM reader needs for geometry and diffusion (Siemens mosaic
        and CSA image header, b-values and gradient directions of Siemens, GE and
        Philips, :data:`imagedata._deid_profile.READER_PRIVATE`).  An empty set removes
        every private attribute.
    """

    keep_dates: bool = False
    shift_days: int | None = None
    keep_patient_characteristics: bool = False
    keep_device_identity: bool = False
    keep_descriptions: bool = False
    patient_id: str | None = None
    allow_burned_in: bool = False
    safe_private: frozenset[tuple[str, int]] = READER_PRIVATE

    def __post_init__(self) -> None:
        if self.keep_dates and self.shift_days is not None:
            raise DeidentificationError(
                "keep_dates and shift_days exclude each other: keep the dates, or shift them"
            )

    def codes(self) -> list[tuple[str, str]]:
        """The (code value, meaning) of the profile and of the options in use."""
        chosen = ["basic"]
        chosen += ["full_dates"] if self.keep_dates else []
        chosen += ["modified_dates"] if self.shift_days is not None else []
        chosen += ["patient"] if self.keep_patient_characteristics else []
        chosen += ["device"] if self.keep_device_identity else []
        chosen += ["descriptors"] if self.keep_descriptions else []
        chosen += ["private"] if self.safe_private else []
        return [CODES[c] for c in chosen]


class UIDMap:
    """Replacement UIDs and pseudonyms, the same for the same input.

    Parameters
    ----------
    path
        A SQLite file keeping the mapping across runs (created if missing); None: a
        keyed hash with a random key, consistent within this object only.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._key = secrets.token_bytes(32)
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            try:
                self._db = sqlite3.connect(self.path)
                self._db.execute(
                    "CREATE TABLE IF NOT EXISTS mapping (kind TEXT, original TEXT, "
                    "replacement TEXT, PRIMARY KEY (kind, original))"
                )
                self._db.commit()
            except sqlite3.Error as err:
                raise DeidentificationError(
                    f"{self.path}: cannot use it as a map file ({err}); give a new file "
                    "name or an existing map"
                ) from err

    def _get(self, kind: str, original: str, make: Any) -> str:
        if self._db is None:
            return str(make(hmac.new(self._key, f"{kind}:{original}".encode(), hashlib.sha256)))
        row = self._db.execute(
            "SELECT replacement FROM mapping WHERE kind = ? AND original = ?", (kind, original)
        ).fetchone()
        if row is not None:
            return str(row[0])
        new = str(make(hashlib.sha256(uuid.uuid4().bytes)))
        self._db.execute("INSERT INTO mapping VALUES (?, ?, ?)", (kind, original, new))
        self._db.commit()
        return new

    def uid(self, original: str) -> str:
        """The replacement of UID `original` (a ``2.25.`` UUID-derived UID)."""
        return self._get(
            "uid", original, lambda h: f"2.25.{int.from_bytes(h.digest()[:16], 'big')}"
        )

    def pseudonym(self, patient_id: str) -> str:
        """A pseudonym for `patient_id` (``ANON`` and 12 hexadecimal digits)."""
        return self._get("patient", patient_id, lambda h: f"ANON{h.hexdigest()[:12].upper()}")

    def close(self) -> None:
        """Close the map file."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> UIDMap:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _resolve(basic: str) -> str:
    """One action for a compound entry: keep the object valid (Z for X/Z, D for .../D)."""
    if basic == "X/Z/U*":
        return "U*"
    if "/" in basic:
        return "D" if basic.endswith("D") else "Z"
    return basic


class Deidentifier:
    """De-identify many datasets with one set of options and one UID map.

    Parameters
    ----------
    options
        What to keep (:class:`Options`); keyword arguments build one.
    uids
        The UID map (default: a new keyed-hash map for this object).
    """

    def __init__(self, options: Options | None = None, uids: UIDMap | None = None, **kw: Any):
        self.options = options if options is not None else Options(**kw)
        self.uids = uids if uids is not None else UIDMap()
        self._table = profile()

    # - actions -

    def action(self, tag: int, vr: str = "") -> str | None:
        """The action for a public attribute under these options (None: keep it).

        Attributes outside the table are kept, except curve data, overlay data and
        comments (removed) and dates and times of value representation `vr` DA, DT or
        TM, which are treated like the table's dates (emptied, kept, or shifted).
        """
        entry = self._table.get(tag)
        if entry is None:
            group, elem = tag >> 16, tag & 0xFFFF
            if (group & 0xFF00) == 0x5000 or (
                (group & 0xFF00) == 0x6000 and elem in (0x3000, 0x4000)
            ):
                return "X"  # curve data, overlay data and comments
            if vr not in ("DA", "DT", "TM"):
                return None
            entry = ("Z", frozenset({"t"}))
        basic, opts = entry
        o = self.options
        if "t" in opts and o.keep_dates:
            return "K"
        if "t" in opts and o.shift_days is not None:
            return "SHIFT"
        if ("pK" in opts and o.keep_patient_characteristics) or (
            "dK" in opts and o.keep_device_identity
        ):
            return "K"
        if "c" in opts and o.keep_descriptions:
            return "C"
        return _resolve(basic)

    def dataset(self, ds: Dataset, source: str = "dataset", *, in_place: bool = False) -> Dataset:
        """A de-identified copy of `ds` (`source` names it in errors).

        With `in_place`, `ds` itself is changed and returned (for a dataset read just
        for this: saves a copy).

        Raises
        ------
        DeidentificationError
            `ds` has BurnedInAnnotation=YES and `allow_burned_in` is not set.
        """
        if (
            str(ds.get("BurnedInAnnotation", "")).upper() == "YES"
            and not self.options.allow_burned_in
        ):
            raise DeidentificationError(
                f"{source}: BurnedInAnnotation is YES (names may be in the pixels); "
                "not de-identified. Check the images and use --allow-burned-in "
                "(allow_burned_in=True) if they are clean"
            )
        if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
            warnings.warn(
                f"{source}: BurnedInAnnotation is YES; de-identified as allowed, but names "
                "may still be in the pixels",
                stacklevel=2,
            )
        patient_id = str(ds.get("PatientID", "") or "")
        meta = getattr(ds, "file_meta", None)
        cleaner = _cleaner(ds) if self.options.keep_descriptions else None
        out = ds if in_place else copy.deepcopy(ds)
        self._clean(out, cleaner)
        new_id = self.options.patient_id or self.uids.pseudonym(patient_id)
        out.PatientID = new_id
        out.PatientName = new_id
        self._mark(out)
        if meta is not None:
            out.file_meta = self._meta(meta, out)
        return out

    def _meta(self, meta: FileMetaDataset, ds: Dataset) -> FileMetaDataset:
        new = FileMetaDataset()
        for keyword in ("MediaStorageSOPClassUID", "TransferSyntaxUID"):
            if keyword in meta:
                setattr(new, keyword, meta[keyword].value)
        if "SOPInstanceUID" in ds:
            new.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        return new

    def _mark(self, ds: Dataset) -> None:
        o = self.options
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = ["imagedata"] + [meaning for _, meaning in o.codes()]
        items = []
        for value, meaning in o.codes():
            item = Dataset()
            item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = DicomSequence(items)
        ds.LongitudinalTemporalInformationModified = (
            "UNMODIFIED" if o.keep_dates else "MODIFIED" if o.shift_days is not None else "REMOVED"
        )

    def _clean(self, ds: Dataset, cleaner: re.Pattern[str] | None = None) -> None:
        """Apply the profile to `ds` in place, items of sequences included.

        `cleaner` matches the identifying words that action C blanks out of text.
        """
        self._private(ds)
        for elem in list(ds):
            if elem.tag.is_private:
                continue
            act = self.action(int(elem.tag), elem.VR)
            if act == "C" and elem.VR not in _TEXT and elem.VR != "SQ":
                act = "X"  # binary data (a maker note ...) cannot be cleaned
            if act == "X":
                del ds[elem.tag]
                continue
            if act == "K":
                pass  # kept by an option (Device UID with Retain Device Identity ...)
            elif elem.VR == "UI" and (act in ("U", "D") or _is_instance_uid(elem)):
                elem.value = self._map_uids(elem.value)
            elif act == "Z":
                elem.value = DicomSequence([]) if elem.VR == "SQ" else None
            elif act == "D" and elem.VR != "SQ":
                elem.value = _DUMMY.get(elem.VR)
            elif act == "SHIFT":
                self._shift(ds, elem)
            elif act == "C" and elem.VR in _TEXT and cleaner is not None and elem.value:
                elem.value = _blank(elem.value, cleaner)
            if elem.VR == "SQ" and elem.tag in ds:
                for item in elem.value or []:
                    self._clean(item, cleaner)

    def _map_uids(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            return [self._map_uids(v) for v in value]
        text = str(value or "")
        return text if not text or text.startswith(_DICOM_ROOT) else self.uids.uid(text)

    def _shift(self, ds: Dataset, elem: DataElement) -> None:
        days = self.options.shift_days or 0
        if elem.VR not in ("DA", "DT") or not elem.value:
            return  # times (TM) and offsets are kept with the Modified Dates option
        values = elem.value if type(elem.value).__name__ == "MultiValue" else [elem.value]
        try:
            shifted = [_shift_date(str(v), days) for v in values]
        except ValueError:
            logger.warning("%s: date %r cannot be shifted; removed", elem.keyword, elem.value)
            del ds[elem.tag]
            return
        elem.value = shifted if len(shifted) > 1 else shifted[0]

    def _private(self, ds: Dataset) -> None:
        """Remove private attributes except the safe ones (and their creators).

        Works on the tags: the values of private elements are never decoded, except
        those of private creators when a safe list is given.
        """
        private = [tag for tag in ds.keys() if tag.is_private]  # noqa: SIM118 - tags, not elements
        safe = self.options.safe_private
        keep: set[int] = set()
        if safe:
            for tag in private:
                creator_tag = (tag.group << 16) | (tag.element >> 8)
                if tag.element >= 0x1000 and creator_tag in ds:
                    creator = str(ds[creator_tag].value)
                    if (creator, tag.element & 0xFF) in safe:
                        keep |= {int(tag), creator_tag}
        for tag in private:
            if int(tag) not in keep:
                del ds[tag]


#: Text value representations that action C cleans.
_TEXT = frozenset(["LO", "SH", "LT", "ST", "UT", "UC", "PN", "CS"])
#: Identifying attributes whose words are blanked out of descriptions (action C).
_IDENTIFYING = ("PatientID", "OtherPatientIDs", "AccessionNumber", "PatientBirthDate",
                "IssuerOfPatientID", "StudyID", "InstitutionName", "PatientAddress")  # fmt: skip


def _cleaner(ds: Dataset) -> re.Pattern[str] | None:
    """A pattern matching the identifying words of `ds`: names (every PN), IDs, dates.

    Words of fewer than 3 characters are left out (they would blank ordinary text).
    """
    words: set[str] = set()
    for elem in ds.iterall():
        if elem.VR == "PN" or elem.keyword in _IDENTIFYING:
            values = elem.value if type(elem.value).__name__ == "MultiValue" else [elem.value]
            for value in values:
                words |= {w for w in re.split(r"[\^=\s,]+", str(value or "")) if len(w) >= 3}
    if not words:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])", re.IGNORECASE)


def _blank(value: Any, cleaner: re.Pattern[str]) -> Any:
    """`value` (text, or several) with every match of `cleaner` replaced by ``X``."""
    if type(value).__name__ == "MultiValue" or isinstance(value, list):
        return [_blank(v, cleaner) for v in value]
    return cleaner.sub("X", str(value))


#: UIDs that name a class, an encoding or a code system (not an instance): kept.
_DEFINITIONAL = ("ClassUID", "TransferSyntaxUID", "CodingSchemeUID", "MappingResourceUID")


def _is_instance_uid(elem: DataElement) -> bool:
    """A UID outside the table that identifies something (kept: class, syntax, code system)."""
    return not (elem.keyword or "").endswith(_DEFINITIONAL)


def _shift_date(value: str, days: int) -> str:
    """`value` (DA ``YYYYMMDD`` or the date part of a DT) moved by `days`."""
    date = datetime.datetime.strptime(value[:8], "%Y%m%d").date() + datetime.timedelta(days=days)
    return date.strftime("%Y%m%d") + value[8:]


def deidentify(ds: Dataset, **options: Any) -> Dataset:
    """A de-identified copy of `ds` (keyword arguments: those of :class:`Options`)."""
    return Deidentifier(Options(**options)).dataset(ds)


def anonymize_series(si: Any, deidentifier: Deidentifier | None = None, **options: Any) -> Any:
    """The header of `si` (anything with ``.header``) with a de-identified template.

    Geometry, axes and the array are untouched; the template gets new UIDs from the
    deidentifier's map, so series anonymized with one :class:`Deidentifier` keep
    their shared study and frame of reference.
    """
    deid = deidentifier if deidentifier is not None else Deidentifier(Options(**options))
    header = si.header
    return header.replace(template=deid.dataset(header.template, source="the series' template"))


def anonymize_study(series: Iterable[Any], **options: Any) -> list[Any]:
    """:func:`anonymize_series` for each of `series` with one UID map (one new study)."""
    deid = Deidentifier(Options(**options))
    return [anonymize_series(si, deid) for si in series]
