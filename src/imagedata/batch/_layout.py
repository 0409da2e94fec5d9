"""Output names of a batch conversion: layout patterns, safe names, no collisions.

A layout is a :meth:`str.format` pattern over DICOM keywords, e.g.
``{PatientID}/{StudyDate}_{StudyDescription}/{SeriesNumber:03d}_{SeriesDescription}``.
Each ``/``-separated part becomes one folder (or, last, the file or folder of the
series), made safe for every file system: only letters, digits, ``-``, ``_`` and
``.``; no leading dot; no Windows device name (CON, NUL, COM1 ...); at most 100
characters.  Two series that get the same name (compared case-insensitively, as on
macOS and Windows) get distinct ones: ``name``, ``name_2``, ``name_3`` ...

Examples
--------
>>> attrs = {"PatientID": "P 1", "SeriesNumber": 3, "SeriesDescription": "T2 / tra"}
>>> render("{PatientID}/{SeriesNumber:03d}_{SeriesDescription}", attrs)
'P_1/003_T2_tra'
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from imagedata.errors import ImageDataError

#: The default layout.
DEFAULT_LAYOUT = "{PatientID}/{StudyDate}_{StudyDescription}/{SeriesNumber:03d}_{SeriesDescription}"

#: File name endings that make the last part of a layout a file, by output format.
EXTENSIONS = {
    "nifti": (".nii.gz", ".nii"),
    "itk": (".mha", ".mhd"),
    "nrrd": (".nrrd", ".nhdr"),
    "mat": (".mat",),
    "dicom": (".zip",),
}

#: Attributes that hold numbers (so that ``{SeriesNumber:03d}`` works).
NUMERIC = frozenset({"SeriesNumber", "AcquisitionNumber", "Images", "Files"})

_WINDOWS_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|COM[1-9]|LPT[1-9])(\..*)?$", re.IGNORECASE)

#: What an empty attribute becomes in a name.
EMPTY = "none"


class LayoutError(ImageDataError, ValueError):
    """A layout pattern that cannot be used (unknown attribute, bad format)."""


def safe_part(text: str, limit: int = 100) -> str:
    """One path component safe on every file system.

    Examples
    --------
    >>> safe_part("T1 / post-contrast (3D)"), safe_part("..."), safe_part("con")
    ('T1_post-contrast_3D', 'none', 'con_')
    """
    out: list[str] = []
    for ch in str(text):
        if ch.isascii() and (ch.isalnum() or ch in "-."):
            out.append(ch)
        elif out and out[-1] != "_":
            out.append("_")
    name = "".join(out).strip("_.")[:limit].rstrip("_.")
    if not name:
        return EMPTY
    if _WINDOWS_RESERVED.match(name):
        name += "_"
    return name


def fields(pattern: str) -> list[str]:
    """The attribute names a pattern uses.

    Examples
    --------
    >>> fields("{PatientID}/{SeriesNumber:03d}")
    ['PatientID', 'SeriesNumber']
    """
    try:
        return [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as err:
        raise LayoutError(f"layout {pattern!r}: {err}") from err


def check(pattern: str, available: Iterable[str]) -> None:
    """Raise :class:`LayoutError` when `pattern` uses an attribute not in `available`."""
    known = set(available)
    for f in fields(pattern):
        if not f or not f.isidentifier():
            raise LayoutError(
                f"layout {pattern!r}: use attribute names in braces, e.g. {{PatientID}}"
            )
        if f not in known:
            raise LayoutError(
                f"layout {pattern!r}: unknown attribute {f!r}; "
                f"use one of {', '.join(sorted(known))}"
            )


def _value(name: str, attrs: Mapping[str, Any]) -> Any:
    value = attrs.get(name)
    if name in NUMERIC:
        try:
            return int(value) if value not in (None, "") else 0
        except (TypeError, ValueError):
            return 0
    return "" if value is None else str(value).replace("/", "_").replace("\\", "_")


def render(pattern: str, attrs: Mapping[str, Any], extension: str = "") -> str:
    """The relative path `pattern` gives for `attrs` (safe parts joined by ``/``).

    A pattern ending in `extension` keeps it after making the name safe.
    """
    body = pattern[: len(pattern) - len(extension)] if extension else pattern
    values = {f: _value(f, attrs) for f in fields(body)}
    try:
        text = body.format(**values)
    except (ValueError, KeyError, IndexError) as err:
        raise LayoutError(f"layout {pattern!r} cannot format {values}: {err}") from err
    parts = [safe_part(p) for p in text.split("/")]
    parts[-1] += extension
    return "/".join(parts)


def extension_of(pattern: str, fmt: str) -> str:
    """The known extension `pattern` ends with for format `fmt` ('' for a folder)."""
    low = pattern.lower()
    return next((e for e in EXTENSIONS.get(fmt, ()) if low.endswith(e)), "")


def with_suffix(relpath: str, suffix: str, extension: str) -> str:
    """Insert `suffix` before `extension` in the last part of `relpath`.

    Examples
    --------
    >>> with_suffix("P1/003_T1.nii.gz", "_2", ".nii.gz"), with_suffix("P1/003_T1", "_2", "")
    ('P1/003_T1_2.nii.gz', 'P1/003_T1_2')
    """
    stem = relpath[: len(relpath) - len(extension)] if extension else relpath
    return f"{stem}{suffix}{extension}"


class Names:
    """Hands out distinct relative paths (case-insensitive), remembering those taken.

    `exists` tells whether a relative path is already taken on disk by something that
    is not ours (it is then never handed out).
    """

    def __init__(
        self, taken: Iterable[str] = (), exists: Callable[[str], bool] | None = None
    ) -> None:
        self._taken = {t.lower() for t in taken}
        self._exists = exists

    def reserve(self, relpath: str) -> None:
        """Mark `relpath` as used."""
        self._taken.add(relpath.lower())

    def free(self, relpath: str) -> bool:
        """True when `relpath` (and no path inside or above it) is used yet."""
        low = relpath.lower()
        if self._exists is not None and self._exists(relpath):
            return False
        return not any(
            t == low or t.startswith(low + "/") or low.startswith(t + "/") for t in self._taken
        )

    def unique(self, relpath: str, extension: str) -> str:
        """`relpath`, or `relpath` with ``_2``, ``_3`` ... when taken; reserved on return."""
        candidate, k = relpath, 1
        while not self.free(candidate):
            k += 1
            if k > 10_000:
                raise LayoutError(f"{relpath}: no free name (a folder above it is an output?)")
            candidate = with_suffix(relpath, f"_{k}", extension)
        self.reserve(candidate)
        return candidate


# --- BIDS-like layout ------------------------------------------------------------------------

_DATATYPE = {"MR": "anat", "CT": "ct", "PT": "pet", "NM": "pet"}


def bids_label(text: Any) -> str:
    """A BIDS label: letters and digits only.

    Examples
    --------
    >>> bids_label("P-001/x"), bids_label("")
    ('P001x', 'none')
    """
    label = "".join(ch for ch in str(text or "") if ch.isascii() and ch.isalnum())
    return label or EMPTY


def bids_path(attrs: Mapping[str, Any]) -> str:
    """``sub-<PatientID>/ses-<StudyDate>/<datatype>/sub-.._ses-.._acq-<desc>_run-<n>_<mod>.nii.gz``.

    The datatype folder is ``anat`` for MR, ``ct`` for CT, ``pet`` for PT/NM and the
    lower-case modality otherwise; the suffix is the modality (BIDS-like: not every
    BIDS entity is known from the DICOM header alone).
    """
    sub = bids_label(attrs.get("PatientID"))
    ses = bids_label(attrs.get("StudyDate"))
    modality = str(attrs.get("Modality") or "OT").upper()
    datatype = _DATATYPE.get(modality, bids_label(modality).lower())
    acq = bids_label(attrs.get("SeriesDescription"))
    run = _value("SeriesNumber", attrs)
    name = f"sub-{sub}_ses-{ses}_acq-{acq}_run-{run}_{bids_label(modality)}.nii.gz"
    return f"sub-{sub}/ses-{ses}/{datatype}/{name}"
