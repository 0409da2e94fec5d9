"""Public test helpers: synthetic DICOM series with known truth.

:func:`make_dicom_series` writes a realistic DICOM series (MR or CT image storage,
explicit VR little endian, complete file meta) into a folder and returns a
:class:`SyntheticSeries` with the truth: the voxel array in (tag, slice, row,
column) order, the affine, the slice positions and the tag values.  File names
are shuffled by default so that no reader can get away with file order.

Every voxel has a value that encodes its (tag, slice, row, column) index, so a
misplaced slice or a swapped axis shows up as wrong values.

Examples
--------
>>> import tempfile
>>> truth = make_dicom_series(tempfile.mkdtemp(), shape=(4, 6, 8))
>>> truth.data.shape, len(truth.files)
((4, 6, 8), 4)
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    generate_uid,
)

from imagedata import geometry

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"

#: Named orientations (ImageOrientationPatient).
ORIENTATIONS: dict[str, tuple[float, ...]] = {
    "axial": (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "sagittal": (0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
    "coronal": (1.0, 0.0, 0.0, 0.0, 0.0, -1.0),
}

#: DICOM keyword varied for each tag order.
ORDER_KEYWORD = {
    "time": "AcquisitionTime",
    "triggertime": "TriggerTime",
    "b": "DiffusionBValue",
    "te": "EchoTime",
    "fa": "FlipAngle",
    "ti": "InversionTime",
}


def oblique_orientation(
    angle_deg: float = 20.0, axis: Sequence[float] = (1.0, 1.0, 0.0)
) -> tuple[float, ...]:
    """An oblique IOP: the axial orientation rotated by `angle_deg` about `axis`."""
    a = np.asarray(axis, dtype=np.float64)
    a /= np.linalg.norm(a)
    th = np.deg2rad(angle_deg)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    rot = np.eye(3) + np.sin(th) * k + (1 - np.cos(th)) * (k @ k)
    x = rot @ np.array([1.0, 0.0, 0.0])
    y = rot @ np.array([0.0, 1.0, 0.0])
    return tuple(float(v) for v in np.concatenate([x, y]))


@dataclass
class SyntheticSeries:
    """The truth about a written synthetic series."""

    path: Path
    files: list[Path]
    data: npt.NDArray[np.generic]
    affine: npt.NDArray[np.float64]
    positions: npt.NDArray[np.float64]
    iop: tuple[float, ...]
    pixel_spacing: tuple[float, float]
    order: str
    tag_values: npt.NDArray[np.float64]
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    patient_name: str
    attributes: dict[str, object] = field(default_factory=dict)

    @property
    def timeline(self) -> npt.NDArray[np.float64]:
        """Seconds of each time point from the first (time order only)."""
        return np.asarray(self.tag_values, dtype=np.float64) - float(self.tag_values[0])


def voxel_values(
    shape: tuple[int, ...], dtype: npt.DTypeLike = np.uint16
) -> npt.NDArray[np.generic]:
    """Deterministic voxel values that encode their index (unique per slice and tag)."""
    idx = np.indices(shape)
    value = np.zeros(shape, dtype=np.int64)
    weights = [97, 31, 7, 1][-len(shape) :]
    for w, i in zip(weights, idx):
        value += w * i
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        value %= int(min(np.iinfo(dt).max, 4095)) + 1
    return value.astype(dt)


def _base_dataset(
    modality: str, series_uid: str, study_uid: str, for_uid: str, **attrs: object
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
    ds.SOPClassUID = MR_IMAGE_STORAGE if modality == "MR" else CT_IMAGE_STORAGE
    ds.StudyDate = "20240229"
    ds.SeriesDate = "20240229"
    ds.AcquisitionDate = "20240229"
    ds.StudyTime = "120000"
    ds.SeriesTime = "120500"
    ds.AccessionNumber = "ACC0001"
    ds.Modality = modality
    ds.Manufacturer = "imagedata.testing"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Synthetic study"
    ds.SeriesDescription = "Synthetic series"
    ds.PatientName = "Synthetic^Patient"
    ds.PatientID = "SYN0001"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = for_uid
    ds.StudyID = "1"
    ds.SeriesNumber = 3
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    if modality == "MR":
        ds.ScanningSequence = "GR"
        ds.SequenceVariant = "SP"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.RepetitionTime = 100.0
        ds.EchoTime = 5.0
        ds.FlipAngle = 15.0
        ds.MagneticFieldStrength = 1.5
    else:
        ds.KVP = 120.0
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PatientPosition = "HFS"
    for k, v in attrs.items():
        setattr(ds, k, v)
    return ds


def _set_tag(ds: Dataset, order: str, value: float, start: _dt.datetime) -> None:
    if order == "time":
        t = start + _dt.timedelta(seconds=float(value))
        ds.AcquisitionDate = t.strftime("%Y%m%d")
        ds.AcquisitionTime = t.strftime("%H%M%S.%f")
        ds.AcquisitionDateTime = t.strftime("%Y%m%d%H%M%S.%f")
    elif order == "b":
        ds.DiffusionBValue = float(value)
    elif order in ORDER_KEYWORD:
        setattr(ds, ORDER_KEYWORD[order], float(value))
    elif order != "none":
        setattr(ds, order, value)


def make_dicom_series(
    folder: str | Path,
    shape: tuple[int, ...] = (10, 12, 16),
    *,
    orientation: str | Sequence[float] = "axial",
    pixel_spacing: tuple[float, float] = (0.5, 0.8),
    slice_spacing: float | Sequence[float] = 2.0,
    position: Sequence[float] = (-100.0, -120.0, -50.0),
    order: str = "none",
    tag_values: Sequence[float] | None = None,
    modality: str = "MR",
    dtype: npt.DTypeLike = np.uint16,
    rescale: tuple[float, float] | None = None,
    shuffle: bool = True,
    seed: int = 0,
    start_time: _dt.datetime | None = None,
    edit: Callable[[Dataset, int, int], None] | None = None,
    **attributes: object,
) -> SyntheticSeries:
    """Write a synthetic DICOM series with known truth into `folder`.

    Parameters
    ----------
    folder
        Where to write the files (created if missing).
    shape
        (slices, rows, columns), or (tags, slices, rows, columns) with ``order``.
    orientation
        'axial', 'sagittal', 'coronal', 'oblique', or six IOP numbers.
    pixel_spacing
        (row spacing, column spacing) in mm.
    slice_spacing
        Distance between slices along the normal, or a 3-vector slice step (tilt).
    position
        ImagePositionPatient of the first slice (LPS, mm).
    order
        Which attribute varies along the first axis of a 4D shape: 'time', 'b', 'te',
        'fa', 'ti', 'triggertime' or a DICOM keyword.
    tag_values
        Values of that attribute (seconds from the first for 'time').
    modality
        'MR' or 'CT'.
    dtype
        Stored pixel type: uint16 or int16.
    rescale
        (slope, intercept) written as RescaleSlope/RescaleIntercept; the truth is in
        real-world units.
    shuffle
        Give files random names, so file order is not slice order.
    seed
        Seed for the shuffling.
    start_time
        Acquisition time of the first volume.
    edit
        Called as ``edit(dataset, tag index, slice index)`` before each file is written
        (vendor private tags, per-image changes; see :mod:`imagedata.testing.vendor`).
    **attributes
        Extra DICOM attributes for every file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shape4 = tuple(shape) if len(shape) == 4 else (1, *shape)
    ntag, nslice = shape4[:2]
    if isinstance(orientation, str):
        iop = oblique_orientation() if orientation == "oblique" else ORIENTATIONS[orientation]
    else:
        iop = tuple(float(v) for v in orientation)
    affine = geometry.affine_from_parts(position, iop, pixel_spacing, slice_spacing)
    positions = geometry.slice_positions(affine, nslice)
    if tag_values is None:
        tag_values = [float(i) * (2.5 if order == "time" else 1.0) for i in range(ntag)]
        if order == "b":
            tag_values = [0.0, 500.0, 1000.0, 1500.0, 2000.0][:ntag] + [
                2000.0 + 500 * i for i in range(1, ntag - 4)
            ]
    tags = np.asarray(tag_values, dtype=np.float64)
    stored = voxel_values(shape4, dtype)
    data: npt.NDArray[np.generic] = stored
    if rescale is not None:
        slope, intercept = rescale
        data = stored.astype(np.float64) * slope + intercept
    start = start_time or _dt.datetime(2024, 2, 29, 12, 5, 0)
    series_uid, study_uid, for_uid = generate_uid(), generate_uid(), generate_uid()
    base = _base_dataset(modality, series_uid, study_uid, for_uid, **attributes)
    rng = np.random.default_rng(seed)
    names = [f"{i:05d}" for i in range(ntag * nslice)]
    if shuffle:
        names = [f"IM{n:08x}" for n in rng.choice(2**31, size=len(names), replace=False)]
    files = []
    locations = geometry.slice_locations(affine, positions)
    i = 0
    for t in range(ntag):
        for k in range(nslice):
            ds = _image_dataset(base, stored[t, k], positions[k], iop, pixel_spacing, slice_spacing)
            ds.InstanceNumber = i + 1
            ds.SliceLocation = round(float(locations[k]), 6)
            ds.AcquisitionNumber = t + 1 if order == "time" else 1
            ds.AcquisitionTime = start.strftime("%H%M%S.%f")
            _set_tag(ds, order, float(tags[t]), start)
            if order == "time":
                ds.TemporalPositionIdentifier = t + 1
                ds.NumberOfTemporalPositions = ntag
            if rescale is None and modality == "CT":
                ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1.0, 0.0, "HU"
            if rescale is not None:
                ds.RescaleSlope = rescale[0]
                ds.RescaleIntercept = rescale[1]
                ds.RescaleType = "HU" if modality == "CT" else "US"
            if edit is not None:
                edit(ds, t, k)
            path = folder / names[i]
            ds.save_as(path, enforce_file_format=True)
            files.append(path)
            i += 1
    return SyntheticSeries(
        path=folder,
        files=files,
        data=data if len(shape) == 4 else data[0],
        affine=affine,
        positions=positions,
        iop=iop,
        pixel_spacing=tuple(pixel_spacing),  # type: ignore[arg-type]
        order=order,
        tag_values=tags,
        series_instance_uid=series_uid,
        study_instance_uid=study_uid,
        patient_id=str(base.PatientID),
        patient_name=str(base.PatientName),
        attributes=dict(attributes),
    )


def _image_dataset(
    base: Dataset,
    pixels: npt.NDArray[np.generic],
    position: npt.NDArray[np.float64],
    iop: Sequence[float],
    pixel_spacing: Sequence[float],
    slice_spacing: float | Sequence[float],
) -> Dataset:
    ds = Dataset()
    ds.update(base)
    sop_uid = generate_uid()
    ds.SOPInstanceUID = sop_uid
    ds.ImagePositionPatient = [round(float(v), 6) for v in position]
    ds.ImageOrientationPatient = [round(float(v), 8) for v in iop]
    ds.PixelSpacing = [float(v) for v in pixel_spacing]
    step = np.asarray(slice_spacing, dtype=np.float64).reshape(-1)
    ds.SliceThickness = float(np.linalg.norm(step)) if step.size == 3 else float(step[0])
    ds.Rows, ds.Columns = pixels.shape
    signed = pixels.dtype.kind == "i"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = np.ascontiguousarray(pixels.astype("<i2" if signed else "<u2")).tobytes()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = base.SOPClassUID
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    return ds


__all__ = [
    "ORIENTATIONS",
    "SyntheticSeries",
    "make_dicom_series",
    "oblique_orientation",
    "voxel_values",
]
