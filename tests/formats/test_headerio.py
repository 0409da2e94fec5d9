"""The embedded header's DICOM template: raw elements copied, same dataset as a full encode.

:func:`imagedata.formats._headerio.template_to_dicom_bytes` copies elements that are
still raw (as read from an explicit VR little endian file) byte for byte.  The checks
here compare it, on real scanner series of every transfer syntax, with the encoding
it replaced: every element decoded by pydicom and written by pydicom's own
``write_dataset``; both are decoded by pydicom and must give the same dataset.
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_dataset

from imagedata import geometry
from imagedata.formats import _headerio, _template
from imagedata.testing import make_dicom_series
from tests.conftest import SHARED_DATA, read_dcm_qa

QA = SHARED_DATA / "dcm_qa"
#: Real series: explicit/implicit VR, big endian and compressed files (dcm_qa_ts), Siemens
#: mosaics (dcm_qa_12bit), GE with many private elements, Siemens and GE from one site,
#: enhanced multi-frame files (functional group sequences).
REAL = [
    "dcm_qa_ts/In",
    "dcm_qa_12bit/In",
    "dcm_qa_ge_dwi/In",
    "dcm_qa_nih/In/20180918Si/mr_0003",
    "dcm_qa_nih/In/20180918GE/mr_0004",
    "dcm_qa_enh/In",
]


def _full_strip(ds: Dataset) -> Dataset:
    """The previous way: decode every element, drop pixel data and binary values > 1 KiB."""
    out = Dataset()
    for elem in ds:  # iterating a Dataset decodes each element
        if elem.tag.group == 0x7FE0:
            continue
        if elem.VR in _template._BINARY_VRS and len(elem.value or b"") > _headerio.BULK_LIMIT:
            continue
        if elem.VR == "SQ":
            new = copy.copy(elem)
            new.value = [_full_strip(item) for item in elem.value]
            out.add(new)
        else:
            out.add(elem)
    return out


def _reference_bytes(template: Dataset) -> bytes:
    """pydicom's own encoding of the fully decoded template (explicit VR little endian)."""
    buf = DicomBytesIO()
    buf.is_little_endian = True
    buf.is_implicit_VR = False
    write_dataset(buf, _full_strip(copy.deepcopy(template)))
    return buf.getvalue()


def _decoded(data: bytes) -> Dataset:
    ds = read_dataset(BytesIO(data), False, True)
    for _ in ds:  # decode every element
        pass
    return ds


def _assert_same(ours: Dataset, ref: Dataset, where: str) -> None:
    assert list(ours.keys()) == list(ref.keys()), where
    for elem in ref:
        mine = ours[elem.tag]
        assert (mine.VR, mine.value) == (elem.VR, elem.value), f"{where}: {elem}"


@pytest.mark.parametrize("folder", REAL)
def test_binary_template_same_as_full_encoding(folder: str) -> None:
    for key, si in read_dcm_qa(folder):
        template = si.header.template
        ours = _headerio.template_to_dicom_bytes(template)
        ref = _reference_bytes(template)
        _assert_same(_decoded(ours), _decoded(ref), f"{folder} {key}")
        # nibabel's reader of NIfTI dicom extensions (pydicom, its own guess of the encoding)
        back = _headerio.template_from_dicom_bytes(ours)
        assert back.PatientID == template.PatientID
        assert back.SeriesInstanceUID == template.SeriesInstanceUID


@pytest.mark.parametrize("folder", ["dcm_qa_ts/In", "dcm_qa_ge_dwi/In"])
def test_json_template_same_as_full_decoding(folder: str) -> None:
    """MetaImage/NRRD/MATLAB's DICOM JSON template: the same as from a fully decoded one."""
    for key, si in read_dcm_qa(folder):
        template = si.header.template
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the values left out are named in a warning
            ours = _headerio.template_to_json(template)
        assert ours == _reference_json(template), f"{folder} {key}"


def _reference_json(template: Dataset) -> dict[str, object]:
    """pydicom's DICOM JSON of the fully decoded template, element by element (values
    pydicom cannot put in JSON, such as a DS 'P1:' in a GE file, are left out)."""
    out: dict[str, object] = {}
    for elem in _full_strip(copy.deepcopy(template)):
        single = Dataset()
        single.add(elem)
        with contextlib.suppress(TypeError, ValueError, AttributeError):
            out.update(single.to_json_dict(bulk_data_threshold=_headerio.BULK_LIMIT))
    return out


def test_explicit_file_copied_raw_without_decoding(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, (2, 4, 5))
    ds = pydicom.dcmread(truth.files[0])
    ds.add_new(0x00091010, "LO", "CREATOR")
    ds.add_new(0x00091011, "OB", b"\1" * 4096)  # long binary value: bulk, left out
    ds.save_as(tmp_path / "x.dcm")
    read = pydicom.dcmread(tmp_path / "x.dcm")
    assert read.original_encoding == (False, True)
    stripped = _headerio.strip_bulk(read)
    charset = 0x00080005  # decoded by pydicom to know how text is encoded
    raw = {t: isinstance(stripped.get_item(t), RawDataElement) for t in stripped._dict}
    assert len(raw) > 20 and all(v for t, v in raw.items() if t != charset)  # not decoded
    assert 0x7FE00010 not in stripped and 0x00091011 not in stripped
    assert 0x00091010 in stripped
    # the source dataset is left as read: still raw
    assert all(isinstance(read.get_item(t), RawDataElement) for t in read._dict if t != charset)
    encoded = _headerio.template_to_dicom_bytes(read)
    _assert_same(_decoded(encoded), _decoded(_reference_bytes(read)), "x.dcm")


def test_implicit_vr_standard_elements_copied_with_dictionary_vr(tmp_path: Path) -> None:
    truth = make_dicom_series(tmp_path, (2, 4, 5))
    ds = pydicom.dcmread(truth.files[0])
    ds.add_new(0x00091010, "LO", "CREATOR")
    ds.add_new(0x00091011, "DS", "1.5")  # private: its VR is not in the file, decoded
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian
    ds.save_as(tmp_path / "i.dcm")
    read = pydicom.dcmread(tmp_path / "i.dcm")
    assert read.original_encoding == (True, True)
    stripped = _headerio.strip_bulk(read)
    patient = stripped.get_item(0x00100020)
    assert isinstance(patient, RawDataElement) and patient.VR == "LO"
    assert not isinstance(stripped.get_item(0x00091011), RawDataElement)
    encoded = _headerio.template_to_dicom_bytes(read)
    _assert_same(_decoded(encoded), _decoded(_reference_bytes(read)), "i.dcm")


def test_changed_character_set_is_reencoded(tmp_path: Path) -> None:
    """Text read in one character set and labelled with another: pydicom re-encodes all."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Müller"
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_dataset(buf, ds)
    read = read_dataset(BytesIO(buf.getvalue()), False, True)
    read.SpecificCharacterSet = "ISO_IR 192"
    back = _decoded(_headerio.template_to_dicom_bytes(read))
    assert str(back.PatientName) == "Müller"


def test_ambiguous_vr_element_resolved() -> None:
    ds = Dataset()
    ds.PixelRepresentation = 1
    ds.SmallestImagePixelValue = -5  # 'US or SS' until pydicom resolves it
    back = _decoded(_headerio.template_to_dicom_bytes(ds))
    assert back["SmallestImagePixelValue"].VR == "SS" and back.SmallestImagePixelValue == -5


def test_written_nifti_matches_dcm2niix_reference(tmp_path: Path) -> None:
    """dcm_qa_12bit: every voxel at the world position of the same value in dcm2niix's file."""
    nib = pytest.importorskip("nibabel")
    from tests.formats.test_nifti import _same_world

    series = read_dcm_qa("dcm_qa_12bit/In")
    assert len(series) == 3
    for _key, si in series:
        number = int(si.header.template.SeriesNumber)
        si.write(tmp_path / f"{number}.nii", formats=["nifti"])
        ref = QA / "dcm_qa_12bit" / "Ref" / f"{number}.nii"
        _same_world(nib.load(tmp_path / f"{number}.nii"), nib.load(ref))


@pytest.mark.parametrize("folder", ["dcm_qa_nih/In/20180918Si/mr_0003", "dcm_qa_12bit/In"])
def test_nibabel_reads_written_nifti(folder: str, tmp_path: Path) -> None:
    """nibabel sees the voxels, the affine and the DICOM template of a written real series."""
    nib = pytest.importorskip("nibabel")
    for i, (_key, si) in enumerate(read_dcm_qa(folder)):
        path = tmp_path / f"s{i}.nii"
        si.write(path, formats=["nifti"])
        img = nib.load(path)
        data = np.asarray(img.dataobj)
        arr = np.asarray(si)
        np.testing.assert_array_equal(np.transpose(data, range(data.ndim - 1, -1, -1)), arr)
        np.testing.assert_allclose(img.affine, geometry.nifti_from_affine(si.affine), atol=1e-4)
        assert int(img.header["sform_code"]) == 1
        codes = [int(e.get_code()) for e in img.header.extensions]
        assert codes == [2, 6]
        theirs = img.header.extensions[0].get_content()  # decoded by nibabel with pydicom
        ref = _decoded(_reference_bytes(si.header.template))
        for _ in theirs:
            pass
        _assert_same(theirs, ref, f"{folder} {path.name}")
