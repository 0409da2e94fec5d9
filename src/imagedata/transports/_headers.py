"""Headers only from a PACS: each image's header without its pixel data.

``Series(url, headers_only=True)`` asks the PACS for the image headers only:

- DICOMweb: the WADO-RS metadata resource of the series (one request,
  ``GET {root}/studies/{study}/series/{series}/metadata``), the whole header of
  every instance as DICOM JSON, without bulk data;
- DICOM network: an IMAGE-level C-FIND asking for :data:`CFIND_KEYS`, the
  attributes the DICOM reader uses to group, sort and place images plus the common
  patient/study/series/equipment attributes.  A C-FIND answer is not the whole
  header: attributes outside that list (private tags, sequences) are missing.

Each header is filed as a DICOM file with an empty Pixel Data element in a
temporary folder, and read by the DICOM reader with ``headers_only=True``, so the
shape, geometry, tag axes and template header come from the same code as for
complete files.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from imagedata.formats.dicom._fastscan import FAST_KEYWORDS, US_KEYWORDS
from imagedata.transports._base import (
    PartialTransferError,
    Progress,
    instance_path,
    write_atomic,
)
from imagedata.transports._url import PacsURL

logger = logging.getLogger(__name__)

#: Attributes asked for in the IMAGE-level C-FIND of a ``dicom://`` headers_only read.
CFIND_KEYS: tuple[str, ...] = tuple(
    dict.fromkeys(
        [
            # identification, patient, study, series, equipment
            "SpecificCharacterSet",
            "SOPClassUID",
            "SOPInstanceUID",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "FrameOfReferenceUID",
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "PatientSex",
            "PatientAge",
            "PatientWeight",
            "StudyDate",
            "StudyTime",
            "StudyID",
            "StudyDescription",
            "AccessionNumber",
            "ReferringPhysicianName",
            "SeriesDate",
            "SeriesTime",
            "SeriesNumber",
            "SeriesDescription",
            "ProtocolName",
            "Modality",
            "BodyPartExamined",
            "PatientPosition",
            "Manufacturer",
            "ManufacturerModelName",
            "InstitutionName",
            "StationName",
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
_QUERY_ONLY = ("QueryRetrieveLevel", "RetrieveAETitle", "InstanceAvailability")
_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)


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


def cfind_headers(url: PacsURL, study: str, series: str) -> list[Dataset]:
    """The headers of a series' images from an IMAGE-level C-FIND (empty answers dropped)."""
    from imagedata.transports import dimse

    match = {"StudyInstanceUID": study, "SeriesInstanceUID": series}
    with warnings.catch_warnings():  # empty return keys of binary VRs (US, FD) are fine
        warnings.filterwarnings("ignore", message="A value of type 'str' cannot be assigned")
        found = dimse.find(url, "IMAGE", match, CFIND_KEYS)
    out = []
    for answer in found:
        ds = Dataset()
        for elem in answer:
            if elem.keyword in _QUERY_ONLY or elem.tag.group == 0x0002:
                continue
            if elem.value is None or elem.value == "" or elem.value == b"":
                continue  # asked for but absent (a C-FIND answer cannot tell them apart)
            ds.add(elem)
        out.append(ds)
    return out


def web_headers(url: PacsURL, study: str, series: str) -> list[Dataset]:
    """The headers of a series' instances from the WADO-RS metadata resource.

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
            return [Dataset.from_json(item, bulk_data_uri_handler=bulk) for item in items]
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


def header_file(folder: Path, ds: Dataset) -> Path:
    """Write `ds` as a DICOM file with an empty Pixel Data element; return its path.

    The File Meta describes this file (Explicit VR Little Endian), not the original.
    """
    float_pixels = [t for t in _PIXEL_TAGS[1:] if t in ds]
    for tag in _PIXEL_TAGS:
        if tag in ds:
            del ds[tag]
    if float_pixels:
        ds.add_new(float_pixels[0], "OF" if float_pixels[0] == 0x7FE00008 else "OD", b"")
    else:
        ds.add_new(0x7FE00010, "OW", b"")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7")
    meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", "")
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    path = instance_path(folder, ds, str(ds.get("SOPInstanceUID", "") or "instance"))

    def save(fh: Any) -> None:
        ds.save_as(fh, enforce_file_format=True)

    write_atomic(path, save)
    return path


def fetch_headers(
    url: PacsURL, series: Dataset, folder: Path, *, progress: Progress, expected: int | None
) -> int:
    """File the headers of the images of `series` (a series-level answer) into `folder`.

    Returns the number of headers, or -1 when the images need their whole files
    (multi-frame or mosaic images over ``dicom://``): the caller then retrieves them.

    Raises
    ------
    PartialTransferError
        If fewer headers than `expected` arrive.
    NetworkError
    """
    study, uid = str(series.StudyInstanceUID), str(series.SeriesInstanceUID)
    if url.is_web:
        headers = web_headers(url, study, uid)
    else:
        headers = cfind_headers(url, study, uid)
        why = needs_whole_files(headers)
        if why:
            logger.warning(
                "series %s has %s, which C-FIND answers cannot describe; retrieving the whole "
                "files for headers_only",
                uid,
                why,
            )
            return -1
    for ds in headers:
        header_file(folder, ds)
        progress()
    if expected is not None and len(headers) < expected:
        raise PartialTransferError(
            f"only {len(headers)} of {expected} image headers of series {uid} arrived from "
            f"{url.where()}; retry, or read the PACS's log",
            len(headers),
            expected,
        )
    logger.debug("%d headers of series %s from %s", len(headers), uid, url.where())
    return len(headers)
