"""Parse PACS URLs: ``dicom://``, ``dicoms://``, ``dicomweb+http(s)://``.

A URL names where a PACS is and which images to take::

    dicom://host:port/CALLED_AET?PatientID=P1&SeriesNumber=3&move=MYAET
    dicomweb+https://user:secret@host/dicom-web?StudyInstanceUID=1.2.3

Query keys are DICOM attributes to match (:data:`QUERY_KEYS`) and transport
options (:data:`OPTION_KEYS`).  Keyword arguments given to
:func:`parse_url` override options from the query.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from imagedata.errors import ImageDataError

#: Attributes a URL may match on, with the query/retrieve level they belong to.
QUERY_KEYS: dict[str, str] = {
    "PatientID": "PATIENT",
    "PatientName": "PATIENT",
    "StudyInstanceUID": "STUDY",
    "AccessionNumber": "STUDY",
    "StudyDate": "STUDY",
    "StudyID": "STUDY",
    "StudyDescription": "STUDY",
    "SeriesInstanceUID": "SERIES",
    "SeriesNumber": "SERIES",
    "Modality": "SERIES",
    "SeriesDescription": "SERIES",
}

#: Transport options accepted in the query string (and as keyword arguments).
OPTION_KEYS: tuple[str, ...] = (
    "move",
    "move_port",
    "calling_aet",
    "timeout",
    "connect_timeout",
    "cafile",
    "certfile",
    "keyfile",
    "verify",
    "token",
    "username",
    "password",
)

DEFAULT_PORTS = {"dicom": 104, "dicoms": 2762, "dicomweb+http": 80, "dicomweb+https": 443}
DEFAULT_CALLING_AET = "IMAGEDATA"
DEFAULT_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Longest time any single network operation may take (seconds); timeouts are never infinite.
MAX_TIMEOUT = 3600.0

_AET_RE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")
_DATE_RE = re.compile(r"^(\d{8})?(-)?(\d{8})?$")


class URLError(ImageDataError, ValueError):
    """A PACS URL is malformed or has an unknown query key."""


@dataclass(frozen=True)
class PacsURL:
    """A parsed PACS URL.

    Attributes
    ----------
    scheme
        'dicom', 'dicoms', 'dicomweb+http' or 'dicomweb+https'.
    host, port
        Where the PACS listens.
    called_aet
        The PACS's AE title (DIMSE only; '' for DICOMweb).
    root
        The DICOMweb service's base path (e.g. '/dicom-web'); '' for DIMSE.
    match
        DICOM keyword -> value to match.
    """

    scheme: str
    host: str
    port: int
    called_aet: str = ""
    root: str = ""
    match: dict[str, str] = field(default_factory=dict)
    move: str | None = None
    move_port: int | None = None
    calling_aet: str = DEFAULT_CALLING_AET
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    cafile: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    verify: bool = True
    username: str | None = None
    password: str | None = None
    token: str | None = None

    @property
    def is_web(self) -> bool:
        """True for DICOMweb URLs."""
        return self.scheme.startswith("dicomweb")

    @property
    def tls(self) -> bool:
        """True when the connection is encrypted (dicoms://, dicomweb+https://)."""
        return self.scheme in ("dicoms", "dicomweb+https")

    @property
    def base_url(self) -> str:
        """The DICOMweb service URL (http(s)://host:port/root), without credentials."""
        http = self.scheme.split("+", 1)[-1]
        return f"{http}://{self.host}:{self.port}{self.root}"

    def where(self) -> str:
        """Short description of the peer, for messages (no credentials)."""
        if self.is_web:
            return self.base_url
        return f"{self.called_aet}@{self.host}:{self.port}"

    def level(self) -> str:
        """The deepest level the match keys name: 'PATIENT', 'STUDY' or 'SERIES'."""
        levels = {QUERY_KEYS[k] for k in self.match}
        for lev in ("SERIES", "STUDY", "PATIENT"):
            if lev in levels:
                return lev
        return "PATIENT"

    def with_match(self, **match: str) -> PacsURL:
        """Return a copy matching on these attributes too."""
        return replace(self, match={**self.match, **match})


def _check_match(key: str, value: str) -> str:
    if key == "StudyDate" and not _DATE_RE.match(value):
        raise URLError(
            f"StudyDate={value!r}: expected YYYYMMDD or a range YYYYMMDD-YYYYMMDD, "
            "-YYYYMMDD or YYYYMMDD-"
        )
    if key == "SeriesNumber" and not value.lstrip("-").isdigit():
        raise URLError(f"SeriesNumber={value!r}: expected an integer")
    if key.endswith("UID") and not re.match(r"^[0-9.]{1,64}$", value):
        raise URLError(f"{key}={value!r}: a UID has only digits and dots")
    return value


def _float(key: str, value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError) as err:
        raise URLError(f"{key}={value!r}: expected a number of seconds") from err
    if not 0 < out <= MAX_TIMEOUT:
        raise URLError(f"{key}={value!r}: must be > 0 and <= {MAX_TIMEOUT:g} s (never infinite)")
    return out


def _check_aet(key: str, value: str) -> str:
    if not _AET_RE.match(value) or value.strip() == "":
        raise URLError(f"{key}={value!r}: an AE title has 1-16 characters, no backslash")
    return value


def _options(raw: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if value is None:
            continue
        if key in ("timeout", "connect_timeout"):
            out[key] = _float(key, value)
        elif key == "move_port":
            try:
                out[key] = int(value)
            except ValueError as err:
                raise URLError(f"move_port={value!r}: expected a port number") from err
        elif key in ("move", "calling_aet"):
            out[key] = _check_aet(key, str(value))
        elif key == "verify":
            out[key] = str(value).lower() not in ("0", "false", "no", "off")
        else:
            out[key] = str(value)
    return out


def split_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split keyword options into (transport options, other options)."""
    ours = {k: v for k, v in options.items() if k in OPTION_KEYS or k == "progress"}
    rest = {k: v for k, v in options.items() if k not in ours}
    return ours, rest


def parse_url(url: str, **overrides: Any) -> PacsURL:
    """Parse a PACS URL; keyword arguments override options from the query.

    Raises
    ------
    URLError
        For an unknown scheme or query key, a bad port, AE title, date or timeout.

    Examples
    --------
    >>> u = parse_url("dicom://127.0.0.1:4242/ORTHANC?PatientID=P1&timeout=10")
    >>> u.called_aet, u.port, u.match, u.timeout
    ('ORTHANC', 4242, {'PatientID': 'P1'}, 10.0)
    >>> parse_url("dicomweb+http://localhost:8042/dicom-web?SeriesNumber=3").base_url
    'http://localhost:8042/dicom-web'
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise URLError(f"{url}: unknown scheme {scheme!r}; use one of {', '.join(DEFAULT_PORTS)}")
    if not parts.hostname:
        raise URLError(f"{url}: no host; write e.g. dicom://127.0.0.1:4242/ORTHANC")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as err:
        raise URLError(f"{url}: bad port ({err})") from err
    path = unquote(parts.path).rstrip("/")
    match: dict[str, str] = {}
    raw: dict[str, Any] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in QUERY_KEYS:
            match[key] = _check_match(key, value)
        elif key in OPTION_KEYS:
            raw[key] = value
        else:
            raise URLError(
                f"{url}: unknown query key {key!r}; match keys: {', '.join(QUERY_KEYS)}; "
                f"options: {', '.join(OPTION_KEYS)}"
            )
    if parts.username:
        raw["username"] = unquote(parts.username)
    if parts.password:
        raw["password"] = unquote(parts.password)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    unknown = set(raw) - set(OPTION_KEYS)
    if unknown:
        raise URLError(f"unknown transport option(s) {sorted(unknown)}; known: {OPTION_KEYS}")
    opts = _options(raw)
    if scheme.startswith("dicomweb"):
        return PacsURL(scheme, parts.hostname, port, root=path, match=match, **opts)
    aet = path.lstrip("/")
    if not aet:
        raise URLError(f"{url}: no AE title; write dicom://host:port/AET")
    return PacsURL(scheme, parts.hostname, port, _check_aet("AE title", aet), match=match, **opts)
