"""Headers only from a PACS: each image's header without its pixel data.

``Series(url, headers_only=True)`` asks the PACS for the image headers only:

- DICOMweb: the WADO-RS metadata resource of the series (one request,
  ``GET {root}/studies/{study}/series/{series}/metadata``), the whole header of
  every instance as DICOM JSON, without bulk data;
- DICOM network: an IMAGE-level C-FIND asking for :data:`CFIND_KEYS`, the
  attributes the DICOM reader uses to group, sort and place images plus the common
  patient/study/series/equipment attributes.  A C-FIND answer is not the whole
  header: attributes outside that list (private tags, sequences) are missing.

Each header is encoded as a DICOM file with an empty Pixel Data element, in memory,
and read by the DICOM reader with ``headers_only=True``, so the shape, geometry, tag
axes and template header come from the same code as for complete files.  The
encoding is done here directly from the C-FIND answer's bytes or the DICOM JSON
(pydicom is used only for what this does not handle, such as other character sets).
"""

from __future__ import annotations

import base64
import io
import logging
import struct
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from imagedata._fastscan import FAST_KEYWORDS, US_KEYWORDS
from imagedata.archives import Member
from imagedata.header import TEMPLATE_KEYWORDS
from imagedata.transports._base import PartialTransferError, Progress, part10_header
from imagedata.transports._url import PacsURL

logger = logging.getLogger(__name__)

#: Attributes asked for in the IMAGE-level C-FIND of a ``dicom://`` headers_only read.
CFIND_KEYS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            # identification, then what a template keeps (patient, study, equipment)
            "SpecificCharacterSet",
            "SOPClassUID",
            "SOPInstanceUID",
            "SeriesInstanceUID",
            *TEMPLATE_KEYWORDS,
            "SeriesDate",
            "SeriesTime",
            "SeriesNumber",
            "SeriesDescription",
            "ProtocolName",
            # image identification and timing
            "ImageType",
            "InstanceNumber",
            "AcquisitionNumber",
            "AcquisitionDate",
            "AcquisitionTime",
            "AcquisitionDateTime",
            "ContentDate",
            "ContentTime",
            "TemporalPositionIdentifier",
            "NumberOfTemporalPositions",
            "TriggerTime",
            # acquisition parameters (tag axes)
            "EchoTime",
            "EchoNumbers",
            "EchoTrainLength",
            "RepetitionTime",
            "InversionTime",
            "FlipAngle",
            "MagneticFieldStrength",
            "ScanningSequence",
            "SequenceVariant",
            "ScanOptions",
            "MRAcquisitionType",
            "SequenceName",
            "DiffusionBValue",
            "DiffusionGradientOrientation",
            "DiffusionDirectionality",
            "KVP",
            "ConvolutionKernel",
            # geometry
            "ImagePositionPatient",
            "ImageOrientationPatient",
            "SliceLocation",
            "SliceThickness",
            "SpacingBetweenSlices",
            "PixelSpacing",
            "ImagerPixelSpacing",
            "NominalScannedPixelSpacing",
            "StackID",
            "InStackPositionNumber",
            # pixel description and value scaling
            "Rows",
            "Columns",
            "SamplesPerPixel",
            "PhotometricInterpretation",
            "BitsAllocated",
            "BitsStored",
            "HighBit",
            "PixelRepresentation",
            "PlanarConfiguration",
            "NumberOfFrames",
            "RescaleSlope",
            "RescaleIntercept",
            "RescaleType",
            "WindowCenter",
            "WindowWidth",
            *FAST_KEYWORDS,
            *US_KEYWORDS,
        ]
    )
)
#: C-FIND bookkeeping attributes that are not part of an image header.
_QUERY_ONLY = frozenset({0x00080052, 0x00080054, 0x00080056})  # level, AE title, availability
_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
_ROWS = 0x00280010
#: Explicit VR Little Endian: VRs with a 4-byte length.
_LONG_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_NUMBERS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}
#: Python codecs of the character sets the JSON encoder handles (others go through pydicom).
_CODECS = {"": "latin-1", "ISO_IR 6": "latin-1", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
_ITEM = struct.pack("<HH", 0xFFFE, 0xE000)


class _Unsupported(Exception):
    """A value the direct encoder does not handle: encode that dataset with pydicom."""


def needs_whole_files(datasets: Iterable[Dataset]) -> str:
    """Why C-FIND answers cannot describe these images ('' when they can).

    Multi-frame images need their functional group sequences and mosaics their
    private Siemens headers, neither of which a C-FIND returns.
    """
    for ds in datasets:
        try:
            frames = int(ds.get("NumberOfFrames") or 1)
        except (TypeError, ValueError):
            frames = 1
        if frames > 1:
            return f"multi-frame images (NumberOfFrames {frames})"
        if "MOSAIC" in [str(v).upper() for v in _as_list(ds.get("ImageType"))]:
            return "Siemens mosaic images"
    return ""


def _as_list(value: Any) -> list[Any]:
    if value is None or isinstance(value, (str, bytes)):
        return [] if not value else [value]
    try:
        return list(value)
    except TypeError:
        return [value]


def element(tag: int, vr: str | None, value: bytes) -> bytes:
    """One encoded data element: Implicit VR Little Endian when `vr` is None, else Explicit.

    Examples
    --------
    >>> element(0x00280010, "US", b"\\x05\\x00").hex()
    '28001000555302000500'
    """
    if len(value) % 2:
        value += b"\0" if vr in (None, "UI", "OB", "UN") else b" "
    group, elem = tag >> 16, tag & 0xFFFF
    if vr is None:
        return struct.pack("<HHI", group, elem, len(value)) + value
    if vr in _LONG_VRS:
        return struct.pack("<HH2s2xI", group, elem, vr.encode(), len(value)) + value
    if len(value) > 0xFFFF:
        raise _Unsupported(f"({tag:08X}) {vr} value of {len(value)} bytes")
    return struct.pack("<HH2sH", group, elem, vr.encode(), len(value)) + value


def _part10(body: bytes, sop_class: str, sop_instance: str, syntax: str) -> bytes:
    return part10_header(sop_class or "1.2.840.10008.5.1.4.1.1.7", sop_instance, syntax) + body


def _text(raw: bytes | str | None) -> str:
    if isinstance(raw, bytes):
        return raw.decode("latin-1").strip(" \0")
    return str(raw or "").strip()


def cfind_file(answer: Dataset) -> bytes:
    """A C-FIND answer as DICOM file bytes, elements copied as received (empty ones dropped).

    The answer's own encoding is kept (Implicit or Explicit VR Little Endian); images
    (answers with Rows) get an empty Pixel Data element.
    """
    implicit, little = answer.original_encoding
    if little is False:
        return _pydicom_file(_cfind_dataset(answer))
    parts = []
    for tag in sorted(answer.keys()):  # raw elements: no value conversion
        elem = answer.get_item(tag)
        if tag.group == 0x0002 or tag in _QUERY_ONLY:
            continue
        if isinstance(elem, RawDataElement):
            if elem.value:  # empty: asked for but absent (C-FIND cannot tell them apart)
                parts.append(element(tag, None if implicit else elem.VR, elem.value))
        elif not elem.is_empty:  # already decoded (read by someone): encode it back
            parts.append(_encoded(elem, bool(implicit)))
    if _ROWS in answer:
        parts.append(element(_PIXEL_TAGS[0], None if implicit else "OW", b""))
    sop = [_text(answer[t].value) if t in answer else "" for t in (0x80016, 0x80018)]
    syntax = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    return _part10(b"".join(parts), sop[0], sop[1], syntax)


def _encoded(elem: Any, implicit: bool) -> bytes:
    """One pydicom data element encoded in Little Endian (pydicom's writer)."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, implicit
    write_data_element(fp, elem)
    return bytes(fp.getvalue())


def _cfind_dataset(answer: Dataset) -> Dataset:
    ds = Dataset()
    for elem in answer:
        if elem.tag.group != 0x0002 and elem.tag not in _QUERY_ONLY and not elem.is_empty:
            ds.add(elem)
    if "Rows" in ds:
        ds.add_new(_PIXEL_TAGS[0], "OW", b"")
    return ds


def _pydicom_file(ds: Dataset) -> bytes:
    """`ds` as Explicit VR Little Endian file bytes, written by pydicom (the slow path)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7")
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.preamble = b"\0" * 128
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _ds_text(v: Any) -> str:
    """A DS value from a JSON number, always with a decimal point.

    JSON drops the decimals of whole numbers (Orthanc sends -50 for '-50.0'); the
    reader takes the number of decimals as the resolution of positions, so 1 mm
    would be far too coarse.

    Examples
    --------
    >>> [_ds_text(v) for v in (-50, 0.5, 1 / 3, None)]
    ['-50.0', '0.5', '0.3333333333', '']
    """
    if v is None:
        return ""
    text = repr(float(v))
    return text if len(text) <= 16 else f"{float(v):.10g}"


def _pn_text(v: Any) -> str:
    if not isinstance(v, dict):
        return "" if v is None else str(v)
    groups = [str(v.get(k, "") or "") for k in ("Alphabetic", "Ideographic", "Phonetic")]
    return "=".join(groups).rstrip("=")


def _json_value(attr: dict[str, Any], vr: str, codec: str, bulk: Callable[..., bytes]) -> bytes:
    """The encoded value of one DICOM JSON attribute."""
    if "InlineBinary" in attr:
        return base64.b64decode(attr["InlineBinary"])
    if "BulkDataURI" in attr:
        return bulk(attr["BulkDataURI"])
    values = attr.get("Value", [])
    if vr == "SQ":
        items = (json_dataset(v, codec, bulk) for v in values)
        return b"".join(_ITEM + struct.pack("<I", len(b)) + b for b in items)
    if vr in _NUMBERS:
        return struct.pack(f"<{len(values)}{_NUMBERS[vr]}", *values)
    if vr == "AT":
        return b"".join(struct.pack("<HH", int(v, 16) >> 16, int(v, 16) & 0xFFFF) for v in values)
    if vr in _LONG_VRS - {"UC", "UR", "UT", "SQ"}:
        raise _Unsupported(f"{vr} given as Value")
    if vr == "PN":
        texts = [_pn_text(v) for v in values]
    elif vr == "DS":
        texts = [_ds_text(v) for v in values]
    elif vr == "IS":
        texts = ["" if v is None else str(int(v)) for v in values]
    else:
        texts = ["" if v is None else str(v) for v in values]
    return "\\".join(texts).encode(codec)


def json_dataset(item: dict[str, Any], codec: str, bulk: Callable[..., bytes]) -> bytes:
    """A DICOM JSON dataset (PS3.18 F.2) encoded as Explicit VR Little Endian elements."""
    out = []
    for key in sorted(item, key=lambda k: int(k, 16)):
        tag, attr = int(key, 16), item[key]
        if tag >> 16 == 0x0002:
            continue
        vr = attr.get("vr")
        if not isinstance(vr, str) or len(vr) != 2:
            raise _Unsupported(f"({key}) has VR {vr!r}")
        fetch = partial(bulk, key, vr)
        out.append(element(tag, vr, _json_value(attr, vr, codec, fetch)))
    return b"".join(out)


def json_file(item: dict[str, Any], bulk: Callable[[str, str, str], bytes]) -> bytes:
    """A DICOM JSON dataset as DICOM file bytes (pixel data left empty by `bulk`)."""
    charset = item.get("00080005", {}).get("Value", [""])
    codec = _CODECS.get(str(charset[-1] or "") if len(charset) == 1 else "?")
    try:
        if codec is None:
            raise _Unsupported(f"SpecificCharacterSet {charset}")
        body = json_dataset(item, codec, bulk)
    except (_Unsupported, struct.error, TypeError, ValueError, UnicodeEncodeError) as err:
        logger.debug("encoding a JSON header with pydicom: %s", err)
        return _pydicom_file(Dataset.from_json(item, bulk_data_uri_handler=bulk))
    sop = [str((item.get(k, {}).get("Value") or [""])[0]) for k in ("00080016", "00080018")]
    return _part10(body, sop[0], sop[1], ExplicitVRLittleEndian)


def cfind_headers(url: PacsURL, study: str, series: str) -> list[Dataset]:
    """The IMAGE-level C-FIND answers for the images of a series (asking for CFIND_KEYS)."""
    from imagedata.transports import dimse

    match = {"StudyInstanceUID": study, "SeriesInstanceUID": series}
    found: list[Dataset] = dimse.find(url, "IMAGE", match, CFIND_KEYS)
    return found


def web_headers(url: PacsURL, study: str, series: str) -> list[bytes]:
    """The headers of a series' instances from the WADO-RS metadata resource, as files.

    Bulk data other than pixel data (private binary headers, for instance) are fetched
    by their BulkDataURI when it is on the same server; pixel data are not.
    """
    from imagedata.transports.dicomweb import client, session, translate_errors

    what = f"WADO-RS metadata of series {series}"
    with client(url) as web, translate_errors(url, what):
        items = web.retrieve_series_metadata(study, series)
    http = session(url)

    def bulk(tag: str, vr: str, uri: str) -> bytes:
        if int(tag, 16) in _PIXEL_TAGS:
            return b""
        return _bulk_data(url, http, uri, tag)

    try:
        with translate_errors(url, f"WADO-RS bulk data of series {series}"):
            return [json_file(item, bulk) for item in items]
    finally:
        http.close()


def _bulk_data(url: PacsURL, http: Any, uri: str, tag: str) -> bytes:
    """The value of one bulk data element (a multipart/related octet-stream response).

    Only URIs on the server of `url` are followed, so credentials go nowhere else.
    """
    from urllib.parse import urlsplit

    from imagedata.transports.dicomweb import boundary_of, split_multipart

    ours, theirs = urlsplit(url.base_url), urlsplit(uri)
    # servers build the URI from the Host header and may drop the port: same host is enough
    if theirs.hostname not in (None, ours.hostname) or not theirs.path.startswith(
        ours.path.rstrip("/") + "/"
    ):
        logger.warning("(%s) bulk data at %s, not on %s: left empty", tag, uri, url.base_url)
        return b""
    target = f"{ours.scheme}://{ours.netloc}{theirs.path}" + (
        f"?{theirs.query}" if theirs.query else ""
    )
    rsp = http.get(
        target,
        headers={"Accept": 'multipart/related; type="application/octet-stream"'},
        timeout=(url.connect_timeout, url.timeout),
    )
    rsp.raise_for_status()
    boundary = boundary_of(rsp.headers.get("Content-Type", ""))
    if boundary is None:
        return bytes(rsp.content)
    events = split_multipart([rsp.content], boundary)
    data = []
    for kind, payload in events:
        if kind == "data":
            data.append(payload)
        elif kind == "end":
            break
    return b"".join(data)


def fetch_headers(
    url: PacsURL, series: Dataset, *, progress: Progress, expected: int | None
) -> list[Member] | None:
    """The image headers of `series` (a series-level answer) as in-memory DICOM files.

    Returns None when the images need their whole files (multi-frame or mosaic
    images over ``dicom://``): the caller then retrieves them.

    Raises
    ------
    PartialTransferError
        If fewer headers than `expected` arrive.
    NetworkError
    """
    study, uid = str(series.StudyInstanceUID), str(series.SeriesInstanceUID)
    if url.is_web:
        files = web_headers(url, study, uid)
    else:
        answers = cfind_headers(url, study, uid)
        why = needs_whole_files(answers)
        if why:
            logger.warning(
                "series %s has %s, which C-FIND answers cannot describe; retrieving the whole "
                "files for headers_only",
                uid,
                why,
            )
            return None
        files = [cfind_file(a) for a in answers]
    members = []
    for k, data in enumerate(files):
        members.append(Member(f"{url.where()} image {k + 1}", opener=partial(io.BytesIO, data)))
        progress()
    if expected is not None and len(files) < expected:
        raise PartialTransferError(
            f"only {len(files)} of {expected} image headers of series {uid} arrived from "
            f"{url.where()}; retry, or read the PACS's log",
            len(files),
            expected,
        )
    logger.debug("%d headers of series %s from %s", len(files), uid, url.where())
    return members
